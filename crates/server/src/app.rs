//! The application: the JSON API's routes and the console's merged into one
//! router, the OpenAPI document served, and the layers every request passes
//! (body limit, timeout, the request log and the security headers).

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// The complete router with its layers.
pub fn router(state: Arc<AppState>) -> axum::Router {
    let (r, api) = crate::api::routes();
    let r = r.merge(crate::console::router());
    let api = Arc::new(api);
    let limit = state.config.max_body_bytes;
    let timeout = std::time::Duration::from_secs(state.config.request_timeout_secs.max(1));
    r.route(
        "/openapi.json",
        axum::routing::get(move || {
            let api = api.clone();
            async move { Json((*api).clone()) }
        }),
    )
    .fallback(|| async {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route; /openapi.json lists them",
        )
    })
    .layer(axum::extract::DefaultBodyLimit::max(limit))
    .layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        timeout,
    ))
    .layer(axum::middleware::from_fn(request_log))
    .with_state(state)
}

/// One JSON log line per request: id, method, route template (never the
/// concrete path, which may hold a patient id), status, duration.
async fn request_log(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let mut id_bytes = [0u8; 8];
    let _ = getrandom::fill(&mut id_bytes);
    let request_id = hex::encode(id_bytes);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".into());
    let mut resp = next.run(req).await;
    tracing::info!(request_id = %request_id, method = %method, route = %route, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    // axum's own rejections (a malformed path, query or JSON body) are
    // plain text that may echo the input: answered as JSON naming no value
    if resp.status().is_client_error()
        && resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    {
        let status = resp.status();
        let id = resp.headers().get("x-request-id").cloned();
        resp = ApiError::new(
            status,
            "bad_request",
            "the request's path, query or body could not be read; /openapi.json describes each route",
        )
        .into_response();
        if let Some(v) = id {
            resp.headers_mut().insert("x-request-id", v);
        }
    }
    let h = resp.headers_mut();
    // evidence and PHI are never kept by caches or proxies
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // browsers ignore it over plain HTTP (RFC 6797 §8.1), so it is sent always
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    resp
}
