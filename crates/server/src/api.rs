//! The JSON API: one handler per route, each a thin shell over an
//! operation in `ops` (which checks the role and writes the
//! self-audit leaf), the request and answer shapes, and the OpenAPI
//! document generated from the `#[utoipa::path]` annotations. A test walks
//! that document to check that every non-public route refuses a request
//! without a token. Errors are `{"error": {"code", "message"}}` and name
//! fields and positions, never values.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::caller::{Caller, MaybeCaller};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ops::integrity::SegmentInfo;
use crate::ops::{self, accounting, day, integrity, packs, today};
use crate::tokens::Role;

type St = State<Arc<AppState>>;

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Liveness and the sealed tree size.
#[derive(Serialize, ToSchema)]
pub struct Health {
    status: String,
    tree_size: u64,
}

#[utoipa::path(get, path = "/healthz", tag = "public", responses((status = 200, body = Health)))]
async fn healthz(State(s): St) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        tree_size: s.metrics.tree_size(),
    })
}

#[utoipa::path(get, path = "/v1/checkpoint", tag = "integrity",
    responses((status = 200, description = "The latest signed checkpoint (C2SP signed note)", content_type = "text/plain"), (status = 401, body = ErrorBody)))]
async fn checkpoint(State(s): St, MaybeCaller(c): MaybeCaller) -> ApiResult<Response> {
    Ok(text(integrity::checkpoint_text(&s, c.as_ref())?))
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics in the OpenMetrics text format (Prometheus scrapes it)", content_type = "application/openmetrics-text"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn metrics(State(s): St, c: Caller) -> ApiResult<Response> {
    c.require(&[Role::Auditor, Role::Officer])?;
    Ok((
        [(header::CONTENT_TYPE, crate::metrics::Metrics::CONTENT_TYPE)],
        s.metrics.render(),
    )
        .into_response())
}

/// What happened to a pushed body.
#[derive(Serialize, ToSchema)]
pub struct IngestAnswer {
    /// Records read from the body: always `accepted + duplicates +
    /// quarantined_count + not_events` (nothing is dropped unaccounted).
    read: u64,
    /// Records accepted and durable.
    accepted: u64,
    /// Records already present (same source event id and content; re-sent).
    duplicates: u64,
    /// Records quarantined (durable, with their raw bytes).
    quarantined_count: u64,
    /// Records read and understood but not events (e.g. a Postfix
    /// `connect from` line), by reason.
    not_events: std::collections::BTreeMap<String, u64>,
    /// Accepted records whose source event id an earlier, different record
    /// has: both are kept (counted in `accepted`).
    collisions: u64,
    /// Records quarantined, with their line and reason.
    quarantined: Vec<QuarantinedLine>,
}

/// A quarantined input line.
#[derive(Serialize, ToSchema)]
pub struct QuarantinedLine {
    line: u64,
    reason: String,
}

#[utoipa::path(post, path = "/v1/ingest/{source}", tag = "ingest",
    params(("source" = String, Path, description = "Source format, e.g. postfix, okta")),
    request_body(content = String, description = "The source's native body (NDJSON, CSV, syslog text); gzip accepted", content_type = "application/octet-stream"),
    responses((status = 202, body = IngestAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn ingest(
    State(s): St,
    c: Caller,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<IngestAnswer>)> {
    ops::ingest::admit(&c, &source)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body exceeds {} bytes; send smaller batches",
                    s.config.max_body_bytes
                ),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "the body could not be read",
            )
        }
    })?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let sum = ops::ingest::push(&s, &c, &source, &body, gzip).await?;
    let quarantined = sum
        .quarantine_refs
        .iter()
        .map(|(r, reason)| QuarantinedLine {
            line: r
                .rsplit(':')
                .next()
                .and_then(|l| l.parse().ok())
                .unwrap_or(0),
            reason: reason.clone(),
        })
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(IngestAnswer {
            read: sum.read,
            accepted: sum.sealed,
            duplicates: sum.duplicates,
            quarantined_count: sum.quarantined_total(),
            not_events: sum.skipped.clone(),
            collisions: sum.collisions,
            quarantined,
        }),
    ))
}

/// Inclusion proof parameters.
#[derive(Deserialize, IntoParams)]
pub struct InclusionParams {
    /// Leaf index.
    idx: u64,
    /// Tree size of a kept checkpoint (default: latest).
    size: Option<u64>,
}

#[utoipa::path(get, path = "/v1/proof/inclusion", tag = "integrity", params(InclusionParams),
    responses((status = 200, description = "C2SP tlog-proof", content_type = "text/plain"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn proof_inclusion(
    State(s): St,
    c: Caller,
    Query(q): Query<InclusionParams>,
) -> ApiResult<Response> {
    Ok(text(integrity::inclusion(&s, &c, q.idx, q.size).await?))
}

/// Consistency proof parameters.
#[derive(Deserialize, IntoParams)]
pub struct ConsistencyParams {
    /// Older tree size.
    from: u64,
    /// Newer tree size (default: latest).
    to: Option<u64>,
}

#[utoipa::path(get, path = "/v1/proof/consistency", tag = "integrity", params(ConsistencyParams),
    responses((status = 200, description = "Consistency proof text", content_type = "text/plain"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn proof_consistency(
    State(s): St,
    c: Caller,
    Query(q): Query<ConsistencyParams>,
) -> ApiResult<Response> {
    Ok(text(integrity::consistency(&s, &c, q.from, q.to).await?))
}

#[utoipa::path(get, path = "/v1/segments", tag = "integrity",
    responses((status = 200, body = Vec<SegmentInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn segments(State(s): St, c: Caller) -> ApiResult<Json<Vec<SegmentInfo>>> {
    Ok(Json(integrity::segment_list(&s, &c)?))
}

#[utoipa::path(get, path = "/v1/segments/{name}", tag = "integrity", params(("name" = String, Path, description = "Segment file name")),
    responses((status = 200, description = "The Parquet file", content_type = "application/vnd.apache.parquet"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn segment(State(s): St, c: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    let bytes = integrity::segment_bytes(&s, &c, &name).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/vnd.apache.parquet")],
        bytes,
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/manifests", tag = "integrity",
    responses((status = 200, body = Vec<u64>, description = "Tree sizes with a signed manifest kept: the latest checkpoint's and the one before it (FORMAT.md §8)"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn manifests(State(s): St, c: Caller) -> ApiResult<Json<Vec<u64>>> {
    Ok(Json(integrity::manifest_sizes(&s, &c)?))
}

#[utoipa::path(get, path = "/v1/manifests/{size}", tag = "integrity", params(("size" = u64, Path, description = "Tree size")),
    responses((status = 200, description = "The signed manifest note", content_type = "text/plain"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn manifest(State(s): St, c: Caller, Path(size): Path<u64>) -> ApiResult<Response> {
    Ok(text(integrity::manifest_note(&s, &c, size).await?))
}

#[utoipa::path(get, path = "/v1/keys", tag = "integrity",
    responses((status = 200, description = "Verifier keys (Go note format), one per line", content_type = "text/plain"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn keys(State(s): St, c: Caller) -> ApiResult<Response> {
    Ok(text(integrity::keys_text(&s, &c)?))
}

/// A pack to build.
#[derive(Deserialize, ToSchema)]
pub struct PackRequestBody {
    /// First day (YYYY-MM-DD).
    from: String,
    /// Last day, included.
    to: String,
    /// Organisation name (default: the server's).
    org: Option<String>,
}

/// A built pack.
#[derive(Serialize, ToSchema)]
pub struct PackCreated {
    id: String,
}

fn opt_day(field: &str, s: Option<&str>) -> ApiResult<Option<chrono::NaiveDate>> {
    s.filter(|v| !v.trim().is_empty())
        .map(|v| day(field, v))
        .transpose()
}

#[utoipa::path(post, path = "/v1/packs", tag = "packs", request_body = PackRequestBody,
    responses((status = 201, body = PackCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_pack(
    State(s): St,
    c: Caller,
    body: Result<Json<PackRequestBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<PackCreated>)> {
    c.require(&[Role::Officer])?;
    let Json(b) = body.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            "expected {\"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\", \"org\": \"…\"}",
        )
    })?;
    let (from, to) = (day("from", &b.from)?, day("to", &b.to)?);
    let id = packs::build_pack(&s, &c, from, to, b.org).await?;
    Ok((StatusCode::CREATED, Json(PackCreated { id })))
}

pub(crate) fn attachment(content_type: &str, filename: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/packs/{id}", tag = "packs", params(("id" = String, Path, description = "Pack id")),
    responses((status = 200, description = "The pack (zip)", content_type = "application/zip"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_pack(State(s): St, c: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let zip = packs::pack_zip(&s, &c, &id).await?;
    Ok(attachment("application/zip", &format!("{id}.zip"), zip))
}

/// A new accounting request.
#[derive(Deserialize, ToSchema)]
pub struct AccountingRequestBody {
    /// Patient id (a patient token may only give its own).
    patient_id: String,
    /// Day received (default: today).
    received: Option<String>,
    /// Start of a shorter period.
    from: Option<String>,
}

/// A recorded request.
#[derive(Serialize, ToSchema)]
pub struct AccountingRequestCreated {
    request: String,
    received: String,
    due: String,
    fee: String,
}

#[utoipa::path(post, path = "/v1/accounting/requests", tag = "accounting", request_body = AccountingRequestBody,
    responses((status = 201, body = AccountingRequestCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn accounting_request(
    State(s): St,
    c: Caller,
    body: Result<Json<AccountingRequestBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<AccountingRequestCreated>)> {
    let Json(b) = body.map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_json", "expected {\"patient_id\": \"…\", \"received\": \"YYYY-MM-DD\", \"from\": \"YYYY-MM-DD\"}"))?;
    accounting::own_patient(&c, &b.patient_id)?;
    let received = opt_day("received", b.received.as_deref())?;
    let from = opt_day("from", b.from.as_deref())?;
    let r = accounting::request_accounting(&s, &c, &b.patient_id, received, from).await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountingRequestCreated {
            request: r.id,
            received: r.received.to_string(),
            due: r.due.to_string(),
            fee: r.detail,
        }),
    ))
}

/// An accounting request and where it stands.
#[derive(Serialize, ToSchema)]
pub struct AccountingRequestInfo {
    request: String,
    patient_id: String,
    received: String,
    period_from: String,
    period_to: String,
    deadline: String,
    extended: bool,
    fulfilled: Option<String>,
    /// Days left to the deadline (negative: late); absent once fulfilled.
    days_left: Option<i64>,
    fee: String,
}

#[utoipa::path(get, path = "/v1/accounting/requests", tag = "accounting",
    responses((status = 200, body = Vec<AccountingRequestInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn accounting_requests(
    State(s): St,
    c: Caller,
) -> ApiResult<Json<Vec<AccountingRequestInfo>>> {
    let now = today();
    Ok(Json(
        accounting::request_list(&s, &c)
            .await?
            .into_iter()
            .map(|r| AccountingRequestInfo {
                days_left: r
                    .fulfilled
                    .is_none()
                    .then(|| (r.deadline() - now).num_days()),
                deadline: r.deadline().to_string(),
                request: r.id,
                patient_id: r.patient_id,
                received: r.received.to_string(),
                period_from: r.from.to_string(),
                period_to: r.to.to_string(),
                extended: r.extensions > 0,
                fulfilled: r.fulfilled.map(|f| f.to_string()),
                fee: r.detail,
            })
            .collect(),
    ))
}

/// An extension of a request's deadline.
#[derive(Deserialize, ToSchema)]
pub struct ExtendBody {
    /// New deadline (at most 30 days after the first).
    until: String,
    /// The written reason sent to the individual.
    reason: String,
}

/// The new deadline.
#[derive(Serialize, ToSchema)]
pub struct Extended {
    request: String,
    deadline: String,
}

#[utoipa::path(post, path = "/v1/accounting/requests/{id}/extend", tag = "accounting", request_body = ExtendBody,
    params(("id" = String, Path, description = "Request id (AR-…)")),
    responses((status = 200, body = Extended), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn accounting_extend(
    State(s): St,
    c: Caller,
    Path(id): Path<String>,
    body: Result<Json<ExtendBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<Extended>> {
    c.require(&[Role::Officer])?;
    let Json(b) = body.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            "expected {\"until\": \"YYYY-MM-DD\", \"reason\": \"…\"}",
        )
    })?;
    let until = day("until", &b.until)?;
    let deadline = accounting::extend_request(&s, &c, &id, until, &b.reason).await?;
    Ok(Json(Extended {
        request: id,
        deadline: deadline.to_string(),
    }))
}

#[utoipa::path(post, path = "/v1/accounting/requests/{id}/fulfil", tag = "accounting",
    params(("id" = String, Path, description = "Request id (AR-…)")),
    responses((status = 200, description = "The letter sent (PDF); its SHA-256 and the accounting's are sealed in the fulfilment leaf", content_type = "application/pdf"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn accounting_fulfil(State(s): St, c: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let pdf = accounting::fulfil_request(&s, &c, &id).await?;
    Ok(attachment(
        "application/pdf",
        &format!("accounting-letter-{id}.pdf"),
        pdf,
    ))
}

/// Accounting parameters.
#[derive(Deserialize, IntoParams)]
pub struct AccountingParams {
    /// Request date the six years count back from (default: today).
    as_of: Option<String>,
    /// Start of a shorter period.
    from: Option<String>,
}

impl AccountingParams {
    /// `as_of` and `from`, each a day or absent.
    fn days(&self) -> ApiResult<(Option<chrono::NaiveDate>, Option<chrono::NaiveDate>)> {
        Ok((
            opt_day("as_of", self.as_of.as_deref())?,
            opt_day("from", self.from.as_deref())?,
        ))
    }
}

#[utoipa::path(get, path = "/v1/accounting/{patient_id}", tag = "accounting",
    params(("patient_id" = String, Path, description = "Patient id"), AccountingParams),
    responses((status = 200, description = "The accounting (FORMAT.md §17.3)"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn accounting_show(
    State(s): St,
    c: Caller,
    Path(patient): Path<String>,
    Query(q): Query<AccountingParams>,
) -> ApiResult<Response> {
    accounting::own_patient(&c, &patient)?;
    let (as_of, from) = q.days()?;
    Ok(Json(accounting::accounting_for(&s, &c, &patient, as_of, from).await?).into_response())
}

#[utoipa::path(get, path = "/v1/accounting/{patient_id}/letter", tag = "accounting",
    params(("patient_id" = String, Path, description = "Patient id"), AccountingParams),
    responses((status = 200, description = "The accounting as a plain-language letter", content_type = "application/pdf"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn accounting_letter(
    State(s): St,
    c: Caller,
    Path(patient): Path<String>,
    Query(q): Query<AccountingParams>,
) -> ApiResult<Response> {
    accounting::own_patient(&c, &patient)?;
    let (as_of, from) = q.days()?;
    let pdf = accounting::letter_pdf(&s, &c, &patient, as_of, from).await?;
    Ok(attachment("application/pdf", "accounting-letter.pdf", pdf))
}

/// Dashboard period.
#[derive(Deserialize, IntoParams)]
pub struct DashboardParams {
    /// First day (default: 83 days before `to`, i.e. 12 weeks).
    from: Option<String>,
    /// Last day, included (default: today).
    to: Option<String>,
}

#[utoipa::path(get, path = "/v1/dashboard", tag = "packs", params(DashboardParams),
    responses((status = 200, description = "The officer's dashboard figures (docs/SERVER.md)"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn dashboard_json(
    State(s): St,
    c: Caller,
    Query(q): Query<DashboardParams>,
) -> ApiResult<Response> {
    c.require(&[Role::Officer])?;
    let from = opt_day("from", q.from.as_deref())?;
    let to = opt_day("to", q.to.as_deref())?;
    Ok(Json(packs::dashboard(&s, &c, from, to).await?).into_response())
}

/// The OpenAPI document's info.
#[derive(OpenApi)]
#[openapi(
    info(title = "sealtrail", description = "Tamper-evident HIPAA evidence: ingest, integrity material, evidence packs and patient accountings. Errors are {\"error\": {\"code\", \"message\"}}."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("st_<id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// Routes needing no token (the route-walk test checks every other one
/// refuses a request without a token).
pub const PUBLIC_ROUTES: &[&str] = &["/healthz", "/openapi.json"];

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

pub(crate) fn routes() -> (axum::Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(checkpoint))
        .routes(routes!(metrics))
        .routes(routes!(ingest))
        .routes(routes!(proof_inclusion))
        .routes(routes!(proof_consistency))
        .routes(routes!(segments))
        .routes(routes!(segment))
        .routes(routes!(manifests))
        .routes(routes!(manifest))
        .routes(routes!(keys))
        .routes(routes!(create_pack))
        .routes(routes!(get_pack))
        .routes(routes!(accounting_request))
        .routes(routes!(accounting_requests))
        .routes(routes!(accounting_extend))
        .routes(routes!(accounting_fulfil))
        .routes(routes!(accounting_show))
        .routes(routes!(accounting_letter))
        .routes(routes!(dashboard_json))
        .split_for_parts()
}
