//! Integrity material: the checkpoint, verifier keys, segment files,
//! signed manifests and proofs. Served files are read only if the signed
//! manifest lists them, never through a symbolic link.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::audit;
use crate::AppState;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::tokens::Role;
use sealtrail_store::Reader;

/// The latest signed checkpoint note; without a caller only when the server
/// publishes its checkpoint.
pub(crate) fn checkpoint_text(s: &AppState, c: Option<&Caller>) -> ApiResult<String> {
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
pub(crate) fn keys_text(s: &AppState, c: &Caller) -> ApiResult<String> {
    c.require(&[Role::Auditor])?;
    let dir = sealtrail_store::Layout::new(&s.store).keys_dir();
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
            .filter(|t| sealtrail_format::tlog::Verifier::parse(t.trim()).is_ok())
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

/// The sealed segment files.
pub(crate) fn segment_list(s: &AppState, c: &Caller) -> ApiResult<Vec<SegmentInfo>> {
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
pub(crate) async fn segment_bytes(s: &AppState, c: &Caller, name: &str) -> ApiResult<Vec<u8>> {
    c.require(&[Role::Auditor])?;
    if sealtrail_store::layout::parse_segment_name(name).is_none() {
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
    let path = sealtrail_store::Layout::new(&s.store).segment(name);
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
pub(crate) fn manifest_sizes(s: &AppState, c: &Caller) -> ApiResult<Vec<u64>> {
    c.require(&[Role::Auditor])?;
    let dir = sealtrail_store::Layout::new(&s.store).manifests_dir();
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
pub(crate) async fn manifest_note(s: &AppState, c: &Caller, size: u64) -> ApiResult<String> {
    c.require(&[Role::Auditor])?;
    let p = sealtrail_store::Layout::new(&s.store).manifest(size);
    read_store_file(&p)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(ApiError::not_found)
}

/// An inclusion proof for leaf `idx` in the tree of `size` (default: latest).
pub(crate) async fn inclusion(
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
pub(crate) async fn consistency(
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
    make: impl FnOnce(&Reader, &[sealtrail_format::tlog::Verifier]) -> sealtrail_store::Result<String>
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
