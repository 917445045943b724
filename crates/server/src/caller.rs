//! Who is calling: the bearer token checked against the state directory's
//! token list, failed attempts limited per client address, and the daily
//! limits of patient tokens. [`Caller`] is the axum extractor every
//! non-public route takes; the console's sign-in form uses [`check_token`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::tokens::{self, Refusal, Role, TokenRecord};
use sealtrail_format::model::Ts;

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
pub(crate) fn client_ip(parts: &Parts, state: &AppState) -> Option<std::net::IpAddr> {
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
pub(crate) fn patient_quota(s: &AppState, c: &Caller, request: bool) -> ApiResult<()> {
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
pub(crate) fn check_token(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    presented: &str,
) -> Result<TokenRecord, ApiError> {
    // the token first: a valid token is never refused for others' failures
    // from its address (behind a proxy, that is everyone's address)
    let all =
        tokens::load_cached(&state.state).map_err(|e| ApiError::internal("reading tokens", e))?;
    match tokens::check(&all, presented, Ts::now().0) {
        Ok(t) => Ok(t.clone()),
        Err(why) => {
            if let Some(ip) = ip {
                // the limiter keeps one entry per address that failed; it is
                // pruned of settled ones before it can grow large
                if state.auth_failures.len() > 10_000 {
                    state.auth_failures.retain_recent();
                }
                if state.auth_failures.check_key(&ip).is_err() {
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

/// The caller a console session stands for: its token, read again on
/// every request, so revoking or expiring it ends the session (`None`).
pub(crate) fn of_session(state: &AppState, token_id: &str) -> ApiResult<Option<Caller>> {
    let all =
        tokens::load_cached(&state.state).map_err(|e| ApiError::internal("reading tokens", e))?;
    Ok(tokens::current(&all, token_id, Ts::now().0)
        .ok()
        .map(|t| Caller(t.clone())))
}

/// What a refused token's holder should do.
pub(crate) fn refusal_message(why: Refusal) -> &'static str {
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
