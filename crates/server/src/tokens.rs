//! API tokens and roles: creation (the secret is shown once), listing,
//! revocation, and checking a presented token in constant time.
//!
//! Tokens look like `st_<8 hex id>_<43 base64url secret>`. Only the SHA-256
//! of the secret is kept, in `STATE/tokens.json`: a state directory outside
//! the store (default `STORE.state`, beside it; `--state`), so whoever may
//! write the store's files cannot add a token; written atomically under a
//! lock. A token carries one
//! role and, for gateways, the sources it may push; for patients, the one
//! patient whose accounting it may read.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use sealtrail_format::model::Ts;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Pushes logs of its own sources.
    Gateway,
    /// Builds packs and handles accounting requests.
    Officer,
    /// Reads integrity material: checkpoints, proofs, segments, manifests, keys.
    Auditor,
    /// Reads its own patient's accounting.
    Patient,
}

impl Role {
    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "gateway" => Some(Role::Gateway),
            "officer" => Some(Role::Officer),
            "auditor" => Some(Role::Auditor),
            "patient" => Some(Role::Patient),
            _ => None,
        }
    }
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Officer => "officer",
            Role::Auditor => "auditor",
            Role::Patient => "patient",
        }
    }
}

/// One stored token (never the secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    /// Public id (`st_<id>_…`), named in self-audit leaves.
    pub id: String,
    /// Role.
    pub role: Role,
    /// For patients: the patient id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// For gateways: the sources it may push.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Expiry (µs since epoch), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    /// Revoked.
    #[serde(default)]
    pub revoked: bool,
    /// Created (µs since epoch).
    pub created: i64,
    /// Hex SHA-256 of the secret.
    pub secret_sha256: String,
}

/// Errors of the token store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The file could not be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, String),
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
}

/// Why a presented token is refused (all answer 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No or malformed token.
    Missing,
    /// Unknown id or wrong secret.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

/// The state directory of a store: `explicit`, or `STORE.state` beside the
/// store directory (never inside it: secrets are never in the store).
pub fn state_dir(store: &Path, explicit: Option<&Path>) -> PathBuf {
    match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let clean: PathBuf = store.components().collect();
            match clean.file_name() {
                Some(n) => clean.with_file_name(format!("{}.state", n.to_string_lossy())),
                None => clean.join("..").join("sealtrail.state"),
            }
        }
    }
}

/// Refuses a store that still keeps its tokens inside (before tokens moved
/// to the state directory), saying what to do.
pub fn check_not_in_store(store: &Path, state: &Path) -> Result<(), TokenError> {
    let old = store.join("tokens").join("tokens.json");
    if old.exists() {
        return Err(TokenError::Invalid(format!(
            "{} holds tokens inside the store, where anyone who may write the store could add one; move it out: mkdir -p {} && mv {} {}",
            old.display(),
            state.display(),
            old.display(),
            tokens_path(state).display()
        )));
    }
    Ok(())
}

/// The token file in a state directory.
pub fn tokens_path(state: &Path) -> PathBuf {
    state.join("tokens.json")
}

/// Reads all tokens from the file.
pub fn load(state: &Path) -> Result<Vec<TokenRecord>, TokenError> {
    read_file(state)
}

/// The tokens as the server checks them on every request: read again only
/// when the file changed (its modification time, size or inode), so a
/// revocation takes effect on the next request without a read per request.
pub fn load_cached(state: &Path) -> Result<std::sync::Arc<Vec<TokenRecord>>, TokenError> {
    use std::collections::HashMap;
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Arc, Mutex};
    type Stamp = (i64, i64, u64, u64);
    type Cached = HashMap<PathBuf, (Stamp, Arc<Vec<TokenRecord>>)>;
    static CACHE: Mutex<Option<Cached>> = Mutex::new(None);
    let p = tokens_path(state);
    let stamp: Stamp = match std::fs::metadata(&p) {
        Ok(m) => (m.mtime(), m.mtime_nsec(), m.size(), m.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, 0, 0, 0),
        Err(e) => return Err(TokenError::Io(p, e.to_string())),
    };
    if let Ok(c) = CACHE.lock()
        && let Some((s, t)) = c.as_ref().and_then(|m| m.get(&p))
        && *s == stamp
    {
        return Ok(t.clone());
    }
    let fresh = Arc::new(read_file(state)?);
    if let Ok(mut c) = CACHE.lock() {
        c.get_or_insert_with(HashMap::new)
            .insert(p, (stamp, fresh.clone()));
    }
    Ok(fresh)
}

/// Runs `edit` on the tokens under an exclusive lock on the token
/// directory's lock file, so two edits (a `create` beside a `revoke`)
/// cannot both read the old file and one of them be lost.
fn edit<T>(
    state: &Path,
    edit: impl FnOnce(&mut Vec<TokenRecord>) -> Result<T, TokenError>,
) -> Result<T, TokenError> {
    let p = tokens_path(state);
    let dir = p.parent().unwrap_or(state).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| TokenError::Io(dir.clone(), e.to_string()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    let lock_path = dir.join("tokens.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| TokenError::Io(lock_path.clone(), e.to_string()))?;
    lock.lock()
        .map_err(|e| TokenError::Io(lock_path.clone(), e.to_string()))?;
    let mut all = read_file(state)?;
    let out = edit(&mut all)?;
    save(state, &all)?;
    drop(lock);
    Ok(out)
}

fn read_file(state: &Path) -> Result<Vec<TokenRecord>, TokenError> {
    let p = tokens_path(state);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| TokenError::Io(p, format!("not a token file: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(TokenError::Io(p, e.to_string())),
    }
}

fn save(state: &Path, tokens: &[TokenRecord]) -> Result<(), TokenError> {
    let p = tokens_path(state);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|e| TokenError::Io(d.to_path_buf(), e.to_string()))?;
    }
    let bytes = serde_json::to_vec_pretty(tokens).map_err(|e| {
        TokenError::Io(
            p.clone(),
            format!("the token file could not be written: {e}"),
        )
    })?;
    sealtrail_store::atomic_write(&p, &bytes)
        .map_err(|e| TokenError::Io(p.clone(), e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// Parses a lifetime such as `30d`, `12h`, `90m`, `3600s` or `1h 30m`
/// (humantime's syntax) into microseconds; `None` if it is not one or is 0.
pub fn parse_duration(s: &str) -> Option<i64> {
    let d = humantime::parse_duration(s.trim()).ok()?;
    i64::try_from(d.as_micros()).ok().filter(|v| *v > 0)
}

/// Creates a token; returns the full token string (shown once) and its record.
pub fn create(
    state: &Path,
    role: Role,
    patient: Option<&str>,
    sources: &[String],
    expires_in: Option<i64>,
) -> Result<(String, TokenRecord), TokenError> {
    match role {
        Role::Patient
            if patient.is_none_or(|p| sealtrail_format::model::patient_key(p).is_empty()) =>
        {
            return Err(TokenError::Invalid(
                "a patient token needs --patient ID".into(),
            ));
        }
        Role::Gateway if sources.is_empty() => {
            return Err(TokenError::Invalid(
                "a gateway token needs at least one --source it may push".into(),
            ));
        }
        Role::Gateway => {
            let known = sealtrail_ingest::source_names();
            if let Some(s) = sources.iter().find(|s| !known.contains(&s.as_str())) {
                return Err(TokenError::Invalid(format!(
                    "unknown source `{s}`; expected one of: {}",
                    known.join(", ")
                )));
            }
        }
        _ if role != Role::Patient && patient.is_some() => {
            return Err(TokenError::Invalid(
                "--patient is only for patient tokens".into(),
            ));
        }
        _ => {}
    }
    let mut raw = [0u8; 36];
    getrandom::fill(&mut raw)
        .map_err(|_| TokenError::Invalid("the OS random generator failed".into()))?;
    let id = hex::encode(&raw[..4]);
    let secret = B64URL.encode(&raw[4..]);
    let now = Ts::now().0;
    let rec = TokenRecord {
        id: id.clone(),
        role,
        patient: patient.map(str::to_string),
        sources: sources.to_vec(),
        expires: expires_in.map(|d| now + d),
        revoked: false,
        created: now,
        secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
    };
    edit(state, |all| {
        all.push(rec.clone());
        Ok(())
    })?;
    Ok((format!("st_{id}_{secret}"), rec))
}

/// Revokes a token by id.
pub fn revoke(state: &Path, id: &str) -> Result<(), TokenError> {
    edit(state, |all| {
        let t = all.iter_mut().find(|t| t.id == id).ok_or_else(|| {
            TokenError::Invalid(format!(
                "no token with id {id}; `sealtrail token list` shows them"
            ))
        })?;
        t.revoked = true;
        Ok(())
    })
}

/// The record of token `id` if it is still usable (not revoked, not
/// expired): how a console session re-checks its token on every request.
pub fn current<'a>(
    tokens: &'a [TokenRecord],
    id: &str,
    now: i64,
) -> Result<&'a TokenRecord, Refusal> {
    let rec = tokens.iter().find(|t| t.id == id).ok_or(Refusal::Invalid)?;
    if rec.revoked {
        return Err(Refusal::Revoked);
    }
    if rec.expires.is_some_and(|e| now >= e) {
        return Err(Refusal::Expired);
    }
    Ok(rec)
}

/// Checks a presented token against the records, comparing the secret's
/// hash in constant time.
pub fn check<'a>(
    tokens: &'a [TokenRecord],
    presented: &str,
    now: i64,
) -> Result<&'a TokenRecord, Refusal> {
    let rest = presented.strip_prefix("st_").ok_or(Refusal::Missing)?;
    let (id, secret) = rest.split_once('_').ok_or(Refusal::Missing)?;
    let want = Sha256::digest(secret.as_bytes());
    // Look the id up, then always compare a hash, so timing does not tell
    // whether the id exists.
    let rec = tokens.iter().find(|t| t.id == id);
    let stored = rec
        .and_then(|t| hex::decode(&t.secret_sha256).ok())
        .unwrap_or_else(|| vec![0u8; 32]);
    let equal: bool = want.as_slice().ct_eq(&stored).into();
    let rec = rec.filter(|_| equal).ok_or(Refusal::Invalid)?;
    if rec.revoked {
        return Err(Refusal::Revoked);
    }
    if rec.expires.is_some_and(|e| now >= e) {
        return Err(Refusal::Expired);
    }
    Ok(rec)
}
