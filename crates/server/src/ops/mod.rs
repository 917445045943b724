//! The operations, one module per resource: [`integrity`], [`packs`],
//! [`accounting`], [`ingest`]. Each operation states the roles it admits,
//! does the work and writes its self-audit leaf before it returns evidence.
//! The JSON API ([`crate::api`]) and the web console ([`crate::console`])
//! are transports over these, so a page can never allow what the API
//! refuses. Writes reach the store only through [`on_writer`] (the one
//! writer thread's `Appender`).

pub(crate) mod accounting;
pub(crate) mod ingest;
pub(crate) mod integrity;
pub(crate) mod packs;

use axum::http::StatusCode;

use crate::AppState;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::writer::{Admit, Coverage};
use sealtrail_format::model::{Kind, Record, Ts};
use sealtrail_store::Appender;

/// Runs `job` on the writer thread (the one `Appender`) and waits for its
/// answer, refusing at once with 503 when the writer's queue is full. The
/// job's own result, error type included, is the caller's to map.
pub(crate) async fn on_writer<T: Send + 'static>(
    s: &AppState,
    what: &str,
    job: impl FnOnce(&mut Appender, &mut Coverage) -> T + Send + 'static,
) -> ApiResult<T> {
    let answer = s.writer.submit(Admit::Now, job).map_err(|_| busy(s))?;
    answer.await.map_err(|e| ApiError::internal(what, e))
}

/// Appends a self-audit leaf (a read of evidence), durably, before the
/// evidence is returned. The detail never holds a patient id.
pub(crate) async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    detail: String,
) -> ApiResult<()> {
    let mut r = Record::new(Kind::Admin, Ts::now(), "sealtrail-server");
    r.action = Some(action.to_string());
    r.user = Some(format!("token:{}", caller.0.id));
    r.detail = Some(detail);
    on_writer(state, "self-audit", move |app, _| {
        app.append(r).and_then(|_| app.commit())
    })
    .await?
    .map_err(|e| ApiError::internal("self-audit", e))
}

pub(crate) fn busy(state: &AppState) -> ApiError {
    state.metrics.busy();
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the writer queue is full; retry after the Retry-After delay",
    )
}

/// Parses a `YYYY-MM-DD` field, naming the field (never the value) on error.
pub(crate) fn day(field: &str, s: &str) -> ApiResult<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_date",
            format!("`{field}` must be a date YYYY-MM-DD"),
        )
    })
}

pub(crate) fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}
