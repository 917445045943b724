//! Ingest of a pushed body: the gateway token's binding to its sources,
//! gzip with a bomb guard, a byte budget across requests, parsing on the
//! blocking pool and appending in parts through the writer, committed
//! (fsync) before the answer.

use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use super::busy;
use crate::AppState;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::tokens::Role;
use crate::writer::Admit;

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
            &mut sealtrail_store::Appender,
            &mut crate::writer::Coverage,
        ) -> Result<sealtrail_ingest::Summary, String>
        + Send,
>;

/// Why an ingest body could not be taken.
enum IngestFailure {
    /// The writer's queue was full for the body's first part.
    Busy,
    /// Reading the body failed.
    Ingest(sealtrail_ingest::IngestError),
    /// The writer failed.
    Internal(String),
}

/// Refuses unless the caller is a gateway token bound to `source` and the
/// source exists (before the body is looked at).
pub(crate) fn admit(c: &Caller, source: &str) -> ApiResult<()> {
    c.require(&[Role::Gateway])?;
    if !c.0.sources.iter().any(|s| s == source) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this gateway token may not push this source",
        ));
    }
    let Ok(src) = sealtrail_ingest::source_by_name(source) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!(
                "unknown source; expected one of: {}",
                sealtrail_ingest::source_names().join(", ")
            ),
        ));
    };
    drop(src);
    Ok(())
}

/// Parses `body` as `source` and appends it, committed (fsync) before this
/// returns: the summary may be acknowledged. `gzip` says the transport
/// declared it compressed (it is also recognised by its magic bytes).
pub(crate) async fn push(
    s: &AppState,
    c: &Caller,
    source: &str,
    body: &[u8],
    gzip: bool,
) -> ApiResult<sealtrail_ingest::Summary> {
    admit(c, source)?;
    let data = if gzip || body.starts_with(&[0x1f, 0x8b]) {
        gunzip(s, body)?
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
        .map_err(|_| busy(s))?;
    let label = format!("http:{}", &hex::encode(Sha256::digest(&data))[..12]);
    // Parse on the blocking pool and hand the writer one chunk at a time,
    // each a job of its own: a large body is never held prepared whole, and
    // the writer may seal between chunks, which frees what it held. Only
    // after the last chunk is everything committed (fsync) and answered.
    let src_name = source.to_string();
    // canonical records may name only the sources this token is bound to
    let allowed: Vec<String> = c.0.sources.iter().map(|s| s.to_string()).collect();
    let writer = s.writer.clone();
    let sum = tokio::task::spawn_blocking(
        move || -> Result<sealtrail_ingest::Summary, IngestFailure> {
            let src = sealtrail_ingest::source_by_name(&src_name).map_err(IngestFailure::Ingest)?;
            let mut total = sealtrail_ingest::Summary::default();
            // the first part is refused at once when the writer is busy (503);
            // later parts of an admitted body wait for room
            let mut first = true;
            let mut send = |job: ChunkJob| -> Result<sealtrail_ingest::Summary, IngestFailure> {
                let admit = if first { Admit::Now } else { Admit::Wait };
                first = false;
                writer
                    .submit(admit, job)
                    .map_err(|_| IngestFailure::Busy)?
                    .blocking_recv()
                    .map_err(|_| IngestFailure::Internal("the writer stopped".into()))?
                    .map_err(IngestFailure::Internal)
            };
            let mut failed: Option<IngestFailure> = None;
            let parsed = sealtrail_ingest::parse_in_chunks(
                src,
                &mut &data[..],
                &label,
                Some(&allowed),
                INGEST_CHUNK,
                &mut |steps| {
                    let name = src_name.clone();
                    let part = send(Box::new(move |app, cov| {
                        let res = (|| {
                            let src = sealtrail_ingest::source_by_name(&name)?;
                            let mut run = sealtrail_ingest::Ingest::new(
                                app,
                                src,
                                sealtrail_ingest::Options {
                                    strict: false,
                                    seal_every: usize::MAX,
                                    coverage: false,
                                    allowed_sources: None,
                                    ..Default::default()
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
                            Err(sealtrail_ingest::IngestError::Io {
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
            // durable (fsync, shared with the commits queued beside it)
            // before the request is answered
            // (refused at once, like a first part, when nothing was sent)
            let admit = if first { Admit::Now } else { Admit::Wait };
            writer
                .commit(admit)
                .map_err(|_| IngestFailure::Busy)?
                .blocking_recv()
                .map_err(|_| IngestFailure::Internal("the writer stopped".into()))?
                .map_err(IngestFailure::Internal)?;
            Ok(total)
        },
    )
    .await
    .map_err(|e| ApiError::internal("ingest", e))?
    .map_err(|e| match e {
        IngestFailure::Busy => busy(s),
        IngestFailure::Ingest(e) => ApiError::internal("ingest", e),
        IngestFailure::Internal(e) => ApiError::internal("ingest", e),
    })?;
    s.metrics
        .ingested(source, sum.sealed, sum.quarantined_total(), sum.duplicates);
    Ok(sum)
}
