//! The routes, their role checks and their OpenAPI description.
//!
//! Every handler takes a [`Caller`] (or [`MaybeCaller`] for the public
//! routes) and states the roles it admits with [`Caller::require`]; the
//! OpenAPI document is generated from the `#[utoipa::path]` annotations, and
//! a test walks it to check that every non-public route refuses a request
//! without a token. Errors are `{"error": {"code", "message"}}` and name
//! fields and positions, never values.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::tokens::{self, Refusal, Role, TokenRecord};
use crate::model::{Kind, Record, Ts};
use crate::store::Reader;

type St = State<Arc<AppState>>;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
}

/// The error body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// Error code and message.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    code: String,
    message: String,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub(super) fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
    pub(super) fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
        // the detail goes to the server log (it names files, not PHI); the client gets the step
        tracing::error!(step = what, error = %e, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{what} failed; the server log has the details"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code.to_string(),
                    message: self.message,
                },
            }),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller(pub TokenRecord);

impl Caller {
    /// Refuses with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> ApiResult<()> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("a {} token may not use this route", self.0.role.as_str()),
            ))
        }
    }
}

/// The client's address: the peer's, or, when the peer is one of the
/// configured `trusted_proxies`, the last `X-Forwarded-For` address (the one
/// that proxy appended; earlier ones were written by the client).
pub(super) fn client_ip(parts: &Parts, state: &AppState) -> Option<std::net::IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if !state.config.trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .next_back();
    Some(forwarded.unwrap_or(peer))
}

/// Counts one use of a patient token today and refuses beyond the daily
/// limit (429): a patient token may not be used to hammer the accounting
/// or have letters built without end. Other roles are not counted here.
pub(super) fn patient_quota(s: &AppState, c: &Caller, request: bool) -> ApiResult<()> {
    if c.0.role != Role::Patient {
        return Ok(());
    }
    let day = Ts::now().0.div_euclid(86_400_000_000);
    let reads_max = s.config.patient_reads_per_day;
    let requests_max = (reads_max / 10).max(1);
    let mut m = s
        .patient_use
        .lock()
        .map_err(|_| ApiError::internal("patient limits", "lock poisoned"))?;
    m.retain(|_, (d, _, _)| *d == day);
    let e = m.entry(c.0.id.clone()).or_insert((day, 0, 0));
    let over = if request {
        e.2 += 1;
        e.2 > requests_max
    } else {
        e.1 += 1;
        e.1 > reads_max
    };
    if over {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "this patient token has reached today's limit; try again tomorrow or contact the privacy office",
        ));
    }
    Ok(())
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<TokenRecord>, ApiError> {
    let Some(h) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let presented = h
        .to_str()
        .ok()
        // the scheme is case-insensitive (RFC 9110 §11.1)
        .and_then(|v| {
            v.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .map(|_| &v[7..])
        })
        .unwrap_or("");
    check_token(state, client_ip(parts, state), presented.trim()).map(Some)
}

/// Checks a presented token (from the Authorization header or the console's
/// sign-in form), counting failures per client address and refusing with
/// 429 once they pass the per-minute limit.
pub(super) fn check_token(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    presented: &str,
) -> Result<TokenRecord, ApiError> {
    let minute = Ts::now().0 / 60_000_000;
    // the token first: a valid token is never refused for others' failures
    // from its address (behind a proxy, that is everyone's address)
    let all =
        tokens::load_cached(&state.state).map_err(|e| ApiError::internal("reading tokens", e))?;
    match tokens::check(&all, presented, Ts::now().0) {
        Ok(t) => Ok(t.clone()),
        Err(why) => {
            if let (Some(ip), Ok(mut m)) = (ip, state.auth_failures.lock()) {
                // only this minute's counts are kept: the map cannot grow
                // beyond the addresses that failed in the last minute
                m.retain(|_, (m0, _)| *m0 == minute);
                let e = m.entry(ip).or_insert((minute, 0));
                e.1 += 1;
                if e.1 > state.config.auth_failures_per_minute {
                    return Err(ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        "too many failed authentications from this address; wait a minute",
                    ));
                }
            }
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                refusal_message(why),
            ))
        }
    }
}

/// What a refused token's holder should do.
pub(super) fn refusal_message(why: Refusal) -> &'static str {
    match why {
        Refusal::Missing => "the Authorization header must be `Bearer st_<id>_<secret>`",
        Refusal::Invalid => "the token is not valid",
        Refusal::Expired => "the token has expired; ask for a new one",
        Refusal::Revoked => "the token was revoked",
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match authenticate(parts, state)? {
            Some(t) => Ok(Caller(t)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this route needs a token: Authorization: Bearer st_<id>_<secret>",
            )),
        }
    }
}

/// A caller on a route that may be public.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<Arc<AppState>> for MaybeCaller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeCaller(authenticate(parts, state)?.map(Caller)))
    }
}

/// Appends a self-audit leaf (a read of evidence), durably, before the
/// evidence is returned. The detail never holds a patient id.
pub(super) async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    detail: String,
) -> ApiResult<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut r = Record::new(Kind::Admin, Ts::now(), "sealtrail-server");
    r.action = Some(action.to_string());
    r.user = Some(format!("token:{}", caller.0.id));
    r.detail = Some(detail);
    state
        .writer
        .try_run(Box::new(move |app, _| {
            let res = app
                .append(r)
                .and_then(|_| app.commit())
                .map_err(|e| e.to_string());
            let _ = tx.send(res);
        }))
        .map_err(|_| busy(state))?;
    rx.await
        .map_err(|e| ApiError::internal("self-audit", e))?
        .map_err(|e| ApiError::internal("self-audit", e))
}

pub(super) fn busy(state: &AppState) -> ApiError {
    state.metrics.busy();
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the writer queue is full; retry after the Retry-After delay",
    )
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

// ---------------------------------------------------------------- public

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
    Ok(text(checkpoint_text(&s, c.as_ref())?))
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text metrics", content_type = "text/plain"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn metrics(State(s): St, c: Caller) -> ApiResult<Response> {
    c.require(&[Role::Auditor, Role::Officer])?;
    Ok(text(s.metrics.render()))
}

// ---------------------------------------------------------------- ingest

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

fn gunzip(s: &AppState, body: &[u8]) -> ApiResult<Vec<u8>> {
    use std::io::Read;
    let cap = s
        .config
        .max_decompressed_bytes
        .min(body.len().saturating_mul(s.config.max_gzip_ratio))
        .max(1024);
    let mut out = Vec::new();
    let mut d = flate2::read::MultiGzDecoder::new(body).take(cap as u64 + 1);
    d.read_to_end(&mut out).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_gzip",
            "the body is not valid gzip",
        )
    })?;
    if out.len() > cap {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "decompressed_too_large",
            format!(
                "the gzip body expands beyond {cap} bytes (limit: {} bytes and {}x the compressed size); send smaller batches",
                s.config.max_decompressed_bytes, s.config.max_gzip_ratio
            ),
        ));
    }
    Ok(out)
}

/// Prepared records handed to the writer per job: a large body is appended
/// in parts of this size, the writer free to seal between them.
const INGEST_CHUNK: usize = 10_000;

/// One part of an ingest body, appended by the writer.
type ChunkJob = Box<
    dyn FnOnce(
            &mut crate::store::Appender,
            &mut super::writer::Coverage,
        ) -> Result<crate::ingest::Summary, String>
        + Send,
>;

/// Why an ingest body could not be taken.
enum IngestFailure {
    /// The writer's queue was full for the body's first part.
    Busy,
    /// Reading the body failed.
    Ingest(crate::ingest::IngestError),
    /// The writer failed.
    Internal(String),
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
    c.require(&[Role::Gateway])?;
    if !c.0.sources.contains(&source) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this gateway token may not push this source",
        ));
    }
    let Ok(src) = crate::ingest::source_by_name(&source) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!(
                "unknown source; expected one of: {}",
                crate::ingest::source_names().join(", ")
            ),
        ));
    };
    drop(src);
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
    let gz = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
        || body.starts_with(&[0x1f, 0x8b]);
    let data = if gz {
        gunzip(&s, &body)?
    } else {
        body.to_vec()
    };
    // a budget across requests: the bodies being parsed and appended at once
    // are bounded (503 beyond it), not only each body on its own
    let kib = u32::try_from(data.len() / 1024 + 1).unwrap_or(u32::MAX);
    let _in_flight = s
        .in_flight
        .clone()
        .try_acquire_many_owned(kib)
        .map_err(|_| busy(&s))?;
    let label = format!("http:{}", &hex::encode(Sha256::digest(&data))[..12]);
    // Parse on the blocking pool and hand the writer one chunk at a time,
    // each a job of its own: a large body is never held prepared whole, and
    // the writer may seal between chunks, which frees what it held. Only
    // after the last chunk is everything committed (fsync) and answered.
    let src_name = source.clone();
    // canonical records may name only the sources this token is bound to
    let allowed: Vec<String> = c.0.sources.iter().map(|s| s.to_string()).collect();
    let writer = s.writer.clone();
    let sum =
        tokio::task::spawn_blocking(move || -> Result<crate::ingest::Summary, IngestFailure> {
            let src = crate::ingest::source_by_name(&src_name).map_err(IngestFailure::Ingest)?;
            let mut total = crate::ingest::Summary::default();
            // the first part is refused at once when the writer is busy (503);
            // later parts of an admitted body wait for room
            let mut first = true;
            let mut send = |job: ChunkJob| -> Result<crate::ingest::Summary, IngestFailure> {
                let (tx, rx) = std::sync::mpsc::channel();
                let wrapped: super::writer::Job = Box::new(move |app, cov| {
                    let _ = tx.send(job(app, cov));
                });
                let queued = if first {
                    writer.try_run(wrapped)
                } else {
                    writer.run_waiting(wrapped)
                };
                first = false;
                queued.map_err(|_| IngestFailure::Busy)?;
                rx.recv()
                    .map_err(|_| IngestFailure::Internal("the writer stopped".into()))?
                    .map_err(IngestFailure::Internal)
            };
            let mut failed: Option<IngestFailure> = None;
            let parsed = crate::ingest::parse_in_chunks(
                src,
                &mut &data[..],
                &label,
                Some(&allowed),
                INGEST_CHUNK,
                &mut |steps| {
                    let name = src_name.clone();
                    let part = send(Box::new(move |app, cov| {
                        let res = (|| {
                            let src = crate::ingest::source_by_name(&name)?;
                            let mut run = crate::ingest::Ingest::new(
                                app,
                                src,
                                crate::ingest::Options {
                                    strict: false,
                                    seal_every: usize::MAX,
                                    coverage: false,
                                    allowed_sources: None,
                                },
                            );
                            run.accept_prepared(steps)?;
                            run.append_only()
                        })();
                        if let Ok(sum) = &res {
                            cov.add(&name, sum.sealed);
                        }
                        res.map_err(|e| e.to_string())
                    }));
                    match part {
                        Ok(part) => {
                            total.add(part);
                            Ok(())
                        }
                        Err(f) => {
                            // stop reading; the failure itself is returned below
                            failed = Some(f);
                            Err(crate::ingest::IngestError::Io {
                                file: "http body".into(),
                                source: std::io::Error::other("the writer refused a part"),
                            })
                        }
                    }
                },
            );
            if let Some(f) = failed {
                return Err(f);
            }
            parsed.map_err(IngestFailure::Ingest)?;
            // durable (fsync) before the request is answered
            send(Box::new(|app, _| {
                app.commit().map_err(|e| e.to_string())?;
                Ok(crate::ingest::Summary::default())
            }))?;
            Ok(total)
        })
        .await
        .map_err(|e| ApiError::internal("ingest", e))?
        .map_err(|e| match e {
            IngestFailure::Busy => busy(&s),
            IngestFailure::Ingest(e) => ApiError::internal("ingest", e),
            IngestFailure::Internal(e) => ApiError::internal("ingest", e),
        })?;
    s.metrics
        .ingested(&source, sum.sealed, sum.quarantined_total(), sum.duplicates);
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

// ---------------------------------------------------------------- operations
//
// Each operation below states the roles it admits and writes its self-audit
// leaf. The JSON handlers and the web console (`console/`) both call these,
// so a page can never allow what the API refuses.

/// The latest signed checkpoint note; without a caller only when the server
/// publishes its checkpoint.
pub(super) fn checkpoint_text(s: &AppState, c: Option<&Caller>) -> ApiResult<String> {
    if c.is_none() && !s.config.public_checkpoint {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this route needs a token: Authorization: Bearer st_<id>_<secret>",
        ));
    }
    let r = Reader::open(&s.store).map_err(|e| ApiError::internal("opening the store", e))?;
    r.checkpoint_note()
        .map_err(|e| ApiError::internal("reading the checkpoint", e))
}

/// Reads a file of the store for serving: never through a symbolic link
/// (neither the file nor its directory), and only a regular file, so a link
/// planted in the store (`keys/x.vkey -> ../../signing.key`) serves nothing.
fn read_store_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent()
        && std::fs::symlink_metadata(dir)?.file_type().is_symlink()
    {
        return Err(std::io::Error::other("the directory is a symbolic link"));
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut v = Vec::new();
    f.read_to_end(&mut v)?;
    Ok(v)
}

/// The verifier keys (Go note format), one per line: every key file must
/// be a verifier key, or the answer is an error naming it (never a silent
/// omission).
pub(super) fn keys_text(s: &AppState, c: &Caller) -> ApiResult<String> {
    c.require(&[Role::Auditor])?;
    let dir = crate::store::Layout::new(&s.store).keys_dir();
    let mut out = String::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| ApiError::internal("listing keys", e))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let text = read_store_file(&f)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|t| crate::tlog::Verifier::parse(t.trim()).is_ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "bad_key_file",
                    format!(
                        "keys/{name} is not a verifier key file (a link, another file, or unreadable): the key list is incomplete until it is removed"
                    ),
                )
            })?;
        out.push_str(&text);
    }
    Ok(out)
}

/// The sealed segment files.
pub(super) fn segment_list(s: &AppState, c: &Caller) -> ApiResult<Vec<SegmentInfo>> {
    c.require(&[Role::Auditor])?;
    let r = Reader::open(&s.store).map_err(|e| ApiError::internal("opening the store", e))?;
    let files = r
        .segment_files()
        .map_err(|e| ApiError::internal("listing segments", e))?;
    Ok(files
        .into_iter()
        .map(|(name, first, last)| {
            let bytes = std::fs::metadata(r.layout().segment(&name))
                .map(|m| m.len())
                .unwrap_or(0);
            SegmentInfo {
                name,
                first,
                last,
                bytes,
            }
        })
        .collect())
}

/// One segment file's bytes.
pub(super) async fn segment_bytes(s: &AppState, c: &Caller, name: &str) -> ApiResult<Vec<u8>> {
    c.require(&[Role::Auditor])?;
    if crate::store::layout::parse_segment_name(name).is_none() {
        return Err(ApiError::not_found());
    }
    // only a file the latest signed manifest names
    let r = Reader::open(&s.store).map_err(|e| ApiError::internal("opening the store", e))?;
    let listed = r
        .checkpoint(&s.keys)
        .and_then(|cp| r.manifest(cp.size, &s.keys))
        .map_err(|e| ApiError::internal("reading the signed manifest", e))?
        .segments
        .iter()
        .any(|seg| seg.name == name);
    if !listed {
        return Err(ApiError::not_found());
    }
    let path = crate::store::Layout::new(&s.store).segment(name);
    let bytes = tokio::task::spawn_blocking(move || read_store_file(&path))
        .await
        .map_err(|e| ApiError::internal("reading a segment", e))?;
    let bytes = bytes.map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such segment file (run `sealtrail verify` if it should exist)",
        )
    })?;
    audit(s, c, "read:segment", format!("segment {name}")).await?;
    Ok(bytes)
}

/// Tree sizes with a kept signed manifest (the latest two), ascending.
pub(super) fn manifest_sizes(s: &AppState, c: &Caller) -> ApiResult<Vec<u64>> {
    c.require(&[Role::Auditor])?;
    let dir = crate::store::Layout::new(&s.store).manifests_dir();
    let mut sizes: Vec<u64> = std::fs::read_dir(&dir)
        .map_err(|e| ApiError::internal("listing manifests", e))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".note")
                .and_then(|n| n.parse().ok())
        })
        .collect();
    sizes.sort_unstable();
    Ok(sizes)
}

/// The signed manifest note at `size`.
pub(super) async fn manifest_note(s: &AppState, c: &Caller, size: u64) -> ApiResult<String> {
    c.require(&[Role::Auditor])?;
    let p = crate::store::Layout::new(&s.store).manifest(size);
    read_store_file(&p)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(ApiError::not_found)
}

/// An inclusion proof for leaf `idx` in the tree of `size` (default: latest).
pub(super) async fn inclusion(
    s: &AppState,
    c: &Caller,
    idx: u64,
    size: Option<u64>,
) -> ApiResult<String> {
    c.require(&[Role::Auditor])?;
    let latest = latest_size(s)?;
    let size = size.unwrap_or(latest);
    if idx >= size || size > latest {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "out_of_range",
            format!("idx must be below size, and size at most {latest}"),
        ));
    }
    let p = proof_text(s, move |r, keys| r.inclusion_proof(idx, size, keys)).await?;
    audit(
        s,
        c,
        "read:proof",
        format!("inclusion idx {idx} size {size}"),
    )
    .await?;
    Ok(p)
}

/// A consistency proof from `from` to `to` (default: latest).
pub(super) async fn consistency(
    s: &AppState,
    c: &Caller,
    from: u64,
    to: Option<u64>,
) -> ApiResult<String> {
    c.require(&[Role::Auditor])?;
    let latest = latest_size(s)?;
    let to = to.unwrap_or(latest);
    if from == 0 || from > to || to > latest {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "out_of_range",
            format!("need 0 < from <= to <= {latest}"),
        ));
    }
    let p = proof_text(s, move |r, keys| r.consistency_proof(from, to, keys)).await?;
    audit(s, c, "read:proof", format!("consistency {from} to {to}")).await?;
    Ok(p)
}

/// Builds a pack for `from..=to`, keeps it for download, returns its id.
pub(super) async fn build_pack(
    s: &Arc<AppState>,
    c: &Caller,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    org: Option<String>,
) -> ApiResult<String> {
    c.require(&[Role::Officer])?;
    if to < from {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_period",
            "`to` is before `from`",
        ));
    }
    let org = org
        .filter(|o| !o.trim().is_empty())
        .unwrap_or_else(|| s.config.organisation.clone());
    let st = s.clone();
    let zip = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let built = crate::report::pack::build(&crate::report::pack::PackRequest {
            store: &st.store,
            keys: &st.keys,
            from,
            to,
            org: &org,
            previous_checkpoint: None,
            queries: &st.config.queries,
            reports: &st.config.reports,
            signer: None,
            verify_state: st.config.verify_state.as_deref(),
        })
        .map_err(|e| e.to_string())?;
        crate::report::pack::to_zip(&built, crate::report::pack::sealed_at(&built))
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::internal("building the pack", e))?
    .map_err(|e| ApiError::internal("building the pack", e))?;
    let id = format!("pk-{}", &hex::encode(Sha256::digest(&zip))[..16]);
    s.packs.put(&id, zip);
    audit(s, c, "read:pack", format!("pack {id} {from} to {to}")).await?;
    Ok(id)
}

/// A built pack's zip.
pub(super) async fn pack_zip(s: &AppState, c: &Caller, id: &str) -> ApiResult<Vec<u8>> {
    c.require(&[Role::Officer])?;
    let zip = s.packs.get(id).ok_or_else(ApiError::not_found)?;
    audit(s, c, "read:pack", format!("download {id}")).await?;
    Ok(zip)
}

fn own_patient(c: &Caller, patient: &str) -> ApiResult<()> {
    match c.0.role {
        Role::Officer => Ok(()),
        // another patient's id answers 404, exactly as a patient with no data would
        Role::Patient
            if c.0.patient.as_deref().map(crate::model::patient_key)
                == Some(crate::model::patient_key(patient)) =>
        {
            Ok(())
        }
        Role::Patient => Err(ApiError::not_found()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("a {} token may not use this route", c.0.role.as_str()),
        )),
    }
}

/// The day an accounting is computed or a request received: the server's
/// today for a patient (a patient cannot move it to lift a suspension,
/// 164.528(a)(2), or to backdate a request past the fee rule); an officer
/// may name another day.
fn day_for(c: &Caller, asked: Option<chrono::NaiveDate>) -> chrono::NaiveDate {
    match asked {
        Some(d) if c.0.role != Role::Patient => d,
        _ => today(),
    }
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn refused(what: &str) -> impl FnOnce(crate::accounting::AccountingError) -> ApiError + '_ {
    move |e| match e {
        crate::accounting::AccountingError::Refused(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "refused", m)
        }
        crate::accounting::AccountingError::UnknownRequest(_) => ApiError::not_found(),
        e => ApiError::internal(what, e),
    }
}

/// Every accounting request, read from the sealed log (off the runtime).
async fn all_requests(s: &Arc<AppState>) -> ApiResult<Vec<crate::accounting::RequestState>> {
    let st = s.clone();
    tokio::task::spawn_blocking(move || {
        crate::accounting::requests(&st.store, &st.keys, &st.config.queries)
    })
    .await
    .map_err(|e| ApiError::internal("reading requests", e))?
    .map_err(|e| ApiError::internal("reading requests", e))
}

/// Records a new accounting request for `patient`.
pub(super) async fn request_accounting(
    s: &Arc<AppState>,
    c: &Caller,
    patient: &str,
    received: Option<chrono::NaiveDate>,
    from: Option<chrono::NaiveDate>,
) -> ApiResult<crate::accounting::RequestState> {
    own_patient(c, patient)?;
    patient_quota(s, c, true)?;
    let received = day_for(c, received);
    let settings = crate::accounting::Settings::load(&s.config.reports)
        .map_err(|e| ApiError::internal("accounting settings", e))?;
    let existing = all_requests(s).await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let patient = patient.to_string();
    s.writer
        .try_run(Box::new(move |app, _| {
            let r = crate::accounting::record_request(
                app, &existing, &settings, &patient, received, from,
            );
            let _ = tx.send(r);
        }))
        .map_err(|_| busy(s))?;
    let state = rx
        .await
        .map_err(|e| ApiError::internal("recording the request", e))?
        .map_err(refused("recording the request"))?;
    audit(
        s,
        c,
        "write:accounting-request",
        format!("request {}", state.id),
    )
    .await?;
    Ok(state)
}

/// Every accounting request (officers only).
pub(super) async fn request_list(
    s: &Arc<AppState>,
    c: &Caller,
) -> ApiResult<Vec<crate::accounting::RequestState>> {
    c.require(&[Role::Officer])?;
    let all = all_requests(s).await?;
    audit(
        s,
        c,
        "read:accounting-requests",
        format!("{} requests", all.len()),
    )
    .await?;
    Ok(all)
}

/// Extends request `id` to `until` with a written `reason`, decided today.
pub(super) async fn extend_request(
    s: &Arc<AppState>,
    c: &Caller,
    id: &str,
    until: chrono::NaiveDate,
    reason: &str,
) -> ApiResult<chrono::NaiveDate> {
    c.require(&[Role::Officer])?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let rid = id.to_string();
    let (st, id, reason) = (s.clone(), id.to_string(), reason.to_string());
    s.writer
        .try_run(Box::new(move |app, _| {
            // read the request inside the single writer, so two extensions race to one
            let r = crate::accounting::request(&st.store, &st.keys, &st.config.queries, &id)
                .and_then(|req| crate::accounting::extend(app, &req, &reason, until, today()));
            let _ = tx.send(r);
        }))
        .map_err(|_| busy(s))?;
    let until = rx
        .await
        .map_err(|e| ApiError::internal("extending the request", e))?
        .map_err(refused("extending the request"))?;
    audit(
        s,
        c,
        "write:accounting-extend",
        format!("request {rid} to {until}"),
    )
    .await?;
    Ok(until)
}

/// Answers request `id` today: builds the accounting, renders the letter,
/// records the fulfilment with both hashes, returns the letter (PDF).
pub(super) async fn fulfil_request(s: &Arc<AppState>, c: &Caller, id: &str) -> ApiResult<Vec<u8>> {
    c.require(&[Role::Officer])?;
    let settings = crate::accounting::Settings::load(&s.config.reports)
        .map_err(|e| ApiError::internal("accounting settings", e))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (st, rid) = (s.clone(), id.to_string());
    s.writer
        .try_run(Box::new(move |app, _| {
            let id = rid;
            // inside the single writer: a request is fulfilled at most once
            let r = (|| {
                let (store, keys, q) = (&st.store, &st.keys, &st.config.queries);
                let req = crate::accounting::request(store, keys, q, &id)?;
                if let Some(f) = req.fulfilled {
                    return Err(crate::accounting::AccountingError::Refused(format!(
                        "request {} was already fulfilled on {f}",
                        req.id
                    )));
                }
                let acc = st
                    .accountant
                    .build(&req.patient_id, req.to, Some(req.from))?;
                // never the hash of an empty document: refuse instead
                let json = serde_json::to_vec_pretty(&acc).map_err(|_| {
                    crate::accounting::AccountingError::Refused(
                        "the accounting could not be written as JSON".into(),
                    )
                })?;
                let on = today();
                let pdf = crate::report::letter::render(&acc, &settings, &on.to_string());
                if pdf.is_empty() {
                    return Err(crate::accounting::AccountingError::Refused(
                        "the letter could not be rendered".into(),
                    ));
                }
                let sent = vec![
                    ("accounting.json".to_string(), Sha256::digest(&json).into()),
                    (
                        "accounting-letter.pdf".to_string(),
                        Sha256::digest(&pdf).into(),
                    ),
                ];
                crate::accounting::record_fulfilment(app, &req, on, &acc.checkpoint, &sent)?;
                Ok(pdf)
            })();
            let _ = tx.send(r);
        }))
        .map_err(|_| busy(s))?;
    let pdf = rx
        .await
        .map_err(|e| ApiError::internal("fulfilling the request", e))?
        .map_err(refused("fulfilling the request"))?;
    s.letters.put(id, pdf.clone());
    audit(s, c, "write:accounting-fulfil", format!("request {id}")).await?;
    Ok(pdf)
}

/// The letter sent when request `id` was fulfilled by this server process
/// (kept in memory, the last 64; its hash is sealed in the fulfilment leaf).
pub(super) async fn sent_letter(s: &AppState, c: &Caller, id: &str) -> ApiResult<Vec<u8>> {
    c.require(&[Role::Officer])?;
    let pdf = s.letters.get(id).ok_or_else(ApiError::not_found)?;
    audit(s, c, "read:accounting-letter", format!("letter for {id}")).await?;
    Ok(pdf)
}

/// The accounting for `patient` as of `as_of` (default today).
pub(super) async fn accounting_for(
    s: &Arc<AppState>,
    c: &Caller,
    patient: &str,
    as_of: Option<chrono::NaiveDate>,
    from: Option<chrono::NaiveDate>,
) -> ApiResult<crate::accounting::Accounting> {
    own_patient(c, patient)?;
    patient_quota(s, c, false)?;
    let as_of = day_for(c, as_of);
    let st = s.clone();
    let p2 = patient.to_string();
    let acc = tokio::task::spawn_blocking(move || st.accountant.build(&p2, as_of, from))
        .await
        .map_err(|e| ApiError::internal("building the accounting", e))?
        .map_err(|e| ApiError::internal("building the accounting", e))?;
    audit(
        s,
        c,
        "read:accounting",
        // who read, not whom: no patient reference (a hash of a patient id
        // is recovered by brute force in under a second)
        format!("accounting as of {as_of}"),
    )
    .await?;
    Ok(acc)
}

/// The plain-language letter (PDF) for `patient` as of `as_of` (default today).
pub(super) async fn letter_pdf(
    s: &Arc<AppState>,
    c: &Caller,
    patient: &str,
    as_of: Option<chrono::NaiveDate>,
    from: Option<chrono::NaiveDate>,
) -> ApiResult<Vec<u8>> {
    let settings = crate::accounting::Settings::load(&s.config.reports)
        .map_err(|e| ApiError::internal("accounting settings", e))?;
    let acc = accounting_for(s, c, patient, as_of, from).await?;
    let dated = day_for(c, as_of).to_string();
    tokio::task::spawn_blocking(move || crate::report::letter::render(&acc, &settings, &dated))
        .await
        .map_err(|e| ApiError::internal("rendering the letter", e))
}

/// The officer's dashboard for `from..=to` (default: the 12 weeks to today).
pub(super) async fn dashboard(
    s: &Arc<AppState>,
    c: &Caller,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> ApiResult<crate::report::dashboard::Dashboard> {
    c.require(&[Role::Officer])?;
    let to = to.unwrap_or_else(today);
    let from = from.unwrap_or_else(|| to - chrono::Days::new(83));
    if to < from {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_period",
            "`to` is before `from`",
        ));
    }
    let requests = all_requests(s).await?;
    let st = s.clone();
    let d = tokio::task::spawn_blocking(move || {
        crate::report::dashboard::build(
            &st.store,
            &st.keys,
            &st.config.queries,
            &requests,
            from,
            to,
            Ts::now(),
        )
    })
    .await
    .map_err(|e| ApiError::internal("building the dashboard", e))?
    .map_err(|e| ApiError::internal("building the dashboard", e))?;
    audit(s, c, "read:dashboard", format!("dashboard {from} to {to}")).await?;
    Ok(d)
}

// ---------------------------------------------------------------- integrity

/// Inclusion proof parameters.
#[derive(Deserialize, IntoParams)]
pub struct InclusionParams {
    /// Leaf index.
    idx: u64,
    /// Tree size of a kept checkpoint (default: latest).
    size: Option<u64>,
}

/// The latest checkpoint's tree size.
fn latest_size(s: &AppState) -> ApiResult<u64> {
    let r = Reader::open(&s.store).map_err(|e| ApiError::internal("opening the store", e))?;
    Ok(r.checkpoint(&s.keys)
        .map_err(|e| ApiError::internal("reading the checkpoint", e))?
        .size)
}

/// Computes proof text off the async runtime (it reads every leaf hash).
async fn proof_text(
    s: &AppState,
    make: impl FnOnce(&Reader, &[crate::tlog::Verifier]) -> crate::store::Result<String>
    + Send
    + 'static,
) -> ApiResult<String> {
    let (store, keys) = (s.store.clone(), s.keys.clone());
    tokio::task::spawn_blocking(move || Reader::open(&store).and_then(|r| make(&r, &keys)))
        .await
        .map_err(|e| ApiError::internal("proof", e))?
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "no_checkpoint",
                "no checkpoint was signed at that tree size",
            )
        })
}

#[utoipa::path(get, path = "/v1/proof/inclusion", tag = "integrity", params(InclusionParams),
    responses((status = 200, description = "C2SP tlog-proof", content_type = "text/plain"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn proof_inclusion(
    State(s): St,
    c: Caller,
    Query(q): Query<InclusionParams>,
) -> ApiResult<Response> {
    Ok(text(inclusion(&s, &c, q.idx, q.size).await?))
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
    Ok(text(consistency(&s, &c, q.from, q.to).await?))
}

/// A segment file.
#[derive(Serialize, ToSchema)]
pub struct SegmentInfo {
    /// File name.
    pub name: String,
    /// First leaf index.
    pub first: u64,
    /// Last leaf index.
    pub last: u64,
    /// Size in bytes.
    pub bytes: u64,
}

#[utoipa::path(get, path = "/v1/segments", tag = "integrity",
    responses((status = 200, body = Vec<SegmentInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn segments(State(s): St, c: Caller) -> ApiResult<Json<Vec<SegmentInfo>>> {
    Ok(Json(segment_list(&s, &c)?))
}

#[utoipa::path(get, path = "/v1/segments/{name}", tag = "integrity", params(("name" = String, Path, description = "Segment file name")),
    responses((status = 200, description = "The Parquet file", content_type = "application/vnd.apache.parquet"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn segment(State(s): St, c: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    let bytes = segment_bytes(&s, &c, &name).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/vnd.apache.parquet")],
        bytes,
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/manifests", tag = "integrity",
    responses((status = 200, body = Vec<u64>, description = "Tree sizes with a signed manifest kept: the latest checkpoint's and the one before it (FORMAT.md §8)"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn manifests(State(s): St, c: Caller) -> ApiResult<Json<Vec<u64>>> {
    Ok(Json(manifest_sizes(&s, &c)?))
}

#[utoipa::path(get, path = "/v1/manifests/{size}", tag = "integrity", params(("size" = u64, Path, description = "Tree size")),
    responses((status = 200, description = "The signed manifest note", content_type = "text/plain"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn manifest(State(s): St, c: Caller, Path(size): Path<u64>) -> ApiResult<Response> {
    Ok(text(manifest_note(&s, &c, size).await?))
}

#[utoipa::path(get, path = "/v1/keys", tag = "integrity",
    responses((status = 200, description = "Verifier keys (Go note format), one per line", content_type = "text/plain"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn keys(State(s): St, c: Caller) -> ApiResult<Response> {
    Ok(text(keys_text(&s, &c)?))
}

// ---------------------------------------------------------------- packs

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

/// Parses a `YYYY-MM-DD` field, naming the field (never the value) on error.
pub(super) fn day(field: &str, s: &str) -> ApiResult<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_date",
            format!("`{field}` must be a date YYYY-MM-DD"),
        )
    })
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
    let id = build_pack(&s, &c, from, to, b.org).await?;
    Ok((StatusCode::CREATED, Json(PackCreated { id })))
}

pub(super) fn attachment(content_type: &str, filename: &str, bytes: Vec<u8>) -> Response {
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
    let zip = pack_zip(&s, &c, &id).await?;
    Ok(attachment("application/zip", &format!("{id}.zip"), zip))
}

// ---------------------------------------------------------------- accounting

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
    own_patient(&c, &b.patient_id)?;
    let received = opt_day("received", b.received.as_deref())?;
    let from = opt_day("from", b.from.as_deref())?;
    let r = request_accounting(&s, &c, &b.patient_id, received, from).await?;
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
        request_list(&s, &c)
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
    let deadline = extend_request(&s, &c, &id, until, &b.reason).await?;
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
    let pdf = fulfil_request(&s, &c, &id).await?;
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

#[utoipa::path(get, path = "/v1/accounting/{patient_id}", tag = "accounting",
    params(("patient_id" = String, Path, description = "Patient id"), AccountingParams),
    responses((status = 200, description = "The accounting (FORMAT.md §17.3)"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn accounting_show(
    State(s): St,
    c: Caller,
    Path(patient): Path<String>,
    Query(q): Query<AccountingParams>,
) -> ApiResult<Response> {
    own_patient(&c, &patient)?;
    let as_of = opt_day("as_of", q.as_of.as_deref())?;
    let from = opt_day("from", q.from.as_deref())?;
    Ok(Json(accounting_for(&s, &c, &patient, as_of, from).await?).into_response())
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
    own_patient(&c, &patient)?;
    let as_of = opt_day("as_of", q.as_of.as_deref())?;
    let from = opt_day("from", q.from.as_deref())?;
    let pdf = letter_pdf(&s, &c, &patient, as_of, from).await?;
    Ok(attachment("application/pdf", "accounting-letter.pdf", pdf))
}

// ---------------------------------------------------------------- dashboard

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
    Ok(Json(dashboard(&s, &c, from, to).await?).into_response())
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
    build().1
}

fn build() -> (axum::Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
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

/// The complete router with its layers.
pub fn router(state: Arc<AppState>) -> axum::Router {
    let (r, api) = build();
    let r = r.merge(super::console::router());
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
