//! The web console: server-drawn HTML pages for officers, auditors and
//! patients, at `/` of `sealtrail serve`.
//!
//! Owns sessions (token sign-in → an in-memory session behind an HttpOnly,
//! SameSite=Strict cookie), CSRF tokens on every form that changes state,
//! and the page routes. It owns no rules: every page calls the same
//! operations as the JSON API (`routes.rs`), which check the caller's role
//! and write the self-audit leaves, so a page cannot allow what the API
//! refuses. No JavaScript; the only asset is one stylesheet, embedded.

mod chart;
mod pages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::AppState;
use crate::api;
use crate::caller::{self, Caller};
use crate::error::ApiError;
use crate::ops::{self, accounting, integrity, packs};
use crate::tokens::Role;
use sealtrail_format::model::Ts;

type St = State<Arc<AppState>>;

/// Console sessions by SHA-256 of the cookie value (the value itself is
/// never kept, so a memory dump does not hand out live cookies).
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<[u8; 32], Session>>);

struct Session {
    token_id: String,
    csrf: String,
    expires: i64,
}

fn random_b64() -> String {
    let mut b = [0u8; 32];
    let _ = getrandom::fill(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn session_cookie(s: &AppState) -> &'static str {
    // the __Host- prefix pins the cookie to this host, path / and HTTPS
    if s.tls {
        "__Host-sealtrail"
    } else {
        "sealtrail"
    }
}

fn signin_cookie(s: &AppState) -> &'static str {
    if s.tls {
        "__Host-sealtrail-signin"
    } else {
        "sealtrail-signin"
    }
}

fn set_cookie(s: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let c = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age))
        .secure(s.tls)
        .build();
    HeaderValue::from_str(&c.encoded().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("sealtrail=; Max-Age=0"))
}

/// The value of cookie `name` in the request, if any.
fn cookie(parts: &Parts, name: &str) -> Option<String> {
    CookieJar::from_headers(&parts.headers)
        .get(name)
        .map(|c| c.value().to_string())
}

/// A signed-in console user: the same [`Caller`] the API authenticates,
/// plus the session's CSRF token.
pub struct Signed {
    caller: Caller,
    csrf: String,
    sid: [u8; 32],
}

impl Signed {
    fn role(&self) -> Role {
        self.caller.0.role
    }
    /// Refuses a form whose CSRF token is missing or wrong.
    fn check_csrf(&self, presented: &str) -> Result<(), ApiError> {
        if bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "this form has expired or did not come from this console; reload the page and try again",
            ))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Signed {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let to_signin = || Redirect::to("/").into_response();
        let Some(value) = cookie(parts, session_cookie(state)) else {
            return Err(to_signin());
        };
        let sid: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        let now = Ts::now().0;
        let found = state.sessions.0.lock().ok().and_then(|m| {
            m.get(&sid)
                .filter(|s| s.expires > now)
                .map(|s| (s.token_id.clone(), s.csrf.clone()))
        });
        let Some((token_id, csrf)) = found else {
            return Err(to_signin());
        };
        // the token is checked again on every request: revoking it ends the session
        match caller::of_session(state, &token_id).map_err(|e| page_error(None, e))? {
            Some(caller) => Ok(Signed { caller, csrf, sid }),
            None => {
                if let Ok(mut m) = state.sessions.0.lock() {
                    m.remove(&sid);
                }
                Err(to_signin())
            }
        }
    }
}

/// Renders an operation's refusal as a page, with the API's status code
/// and message (which name fields, never values).
fn page_error(who: Option<&Signed>, e: ApiError) -> Response {
    let body = pages::error(who.map(pages::Who::from), e.status, &e.message);
    (e.status, html(body)).into_response()
}

fn html(m: maud::Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// Whether `id` has the shape of an accounting request id (`AR-` and 12
/// hex digits): notices echo only ids of that shape, so a crafted link
/// cannot make a page say something the server did not.
fn is_request_id(id: &str) -> bool {
    id.strip_prefix("AR-")
        .is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Percent-encodes one URL path segment (everything but RFC 3986's
/// unreserved characters).
fn segment(s: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, RESERVED).to_string()
}

/// The console's routes (no token or cookie needed for `/`, `/signin` and
/// the stylesheet; every other one redirects to `/` without a session).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home))
        .route("/signin", post(signin))
        .route("/signout", post(signout))
        .route("/console", get(console_home))
        .route("/console/packs", post(pack_form))
        .route("/console/packs/{id}", get(pack_download))
        .route("/console/requests", get(requests_page))
        .route("/console/requests/{id}/extend", post(extend_form))
        .route("/console/requests/{id}/fulfil", post(fulfil_form))
        .route("/console/requests/{id}/letter.pdf", get(sent_letter))
        .route("/console/patients/{patient}", get(patient_page))
        .route(
            "/console/patients/{patient}/requests",
            post(patient_request),
        )
        .route(
            "/console/patients/{patient}/letter.pdf",
            get(patient_letter),
        )
        .route("/console/checkpoint", get(checkpoint_download))
        .route("/console/keys", get(keys_download))
        .route("/console/segments/{name}", get(segment_download))
        .route("/console/manifests/{size}", get(manifest_download))
        .route("/console/proof", get(proof))
        .route("/assets/console.css", get(css))
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers for every console response: nothing may be framed, sniffed,
/// cached or loaded from elsewhere.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

// ---------------------------------------------------------------- sign-in

async fn home(State(s): St, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    if Signed::from_request_parts(&mut parts, &s).await.is_ok() {
        return Redirect::to("/console").into_response();
    }
    signin_page(&s, StatusCode::OK, None)
}

fn signin_page(s: &AppState, status: StatusCode, message: Option<&str>) -> Response {
    // double-submit token: the form must come from a page this browser loaded
    let nonce = random_b64();
    let mut r = (status, html(pages::signin(&nonce, message))).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(s, signin_cookie(s), &nonce, 600),
    );
    r
}

#[derive(Deserialize)]
struct SigninForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

async fn signin(State(s): St, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let nonce = cookie(&parts, signin_cookie(&s));
    let ip = caller::client_ip(&parts, &s);
    let form = Form::<SigninForm>::from_request(Request::from_parts(parts, body), &s).await;
    let Ok(Form(f)) = form else {
        return signin_page(
            &s,
            StatusCode::BAD_REQUEST,
            Some("the form could not be read; try again"),
        );
    };
    // no sign-in cookie, or not the nonce of this form: refused
    let fresh = nonce
        .filter(|n| !n.is_empty())
        .is_some_and(|n| bool::from(n.as_bytes().ct_eq(f.csrf.as_bytes())));
    if !fresh {
        return signin_page(
            &s,
            StatusCode::FORBIDDEN,
            Some("this sign-in form has expired; enter the token again"),
        );
    }
    let rec = match caller::check_token(&s, ip, f.token.trim()) {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(status = e.status.as_u16(), "console sign-in refused");
            return signin_page(&s, e.status, Some(&e.message));
        }
    };
    if rec.role == Role::Gateway {
        return signin_page(
            &s,
            StatusCode::FORBIDDEN,
            Some(
                "gateway tokens push logs and cannot sign in; use an officer, auditor or patient token",
            ),
        );
    }
    let now = Ts::now().0;
    let mut expires = now + (s.config.session_minutes.max(1) as i64) * 60_000_000;
    if let Some(e) = rec.expires {
        expires = expires.min(e);
    }
    // the sign-in is sealed first: no session without its audit leaf
    let token_id = rec.id.clone();
    if let Err(e) = ops::audit(
        &s,
        &Caller(rec),
        "console:signin",
        "web console session".into(),
    )
    .await
    {
        return signin_page(&s, e.status, Some(&e.message));
    }
    let value = random_b64();
    let sid: [u8; 32] = Sha256::digest(value.as_bytes()).into();
    if let Ok(mut m) = s.sessions.0.lock() {
        m.retain(|_, v| v.expires > now);
        m.insert(
            sid,
            Session {
                token_id,
                csrf: random_b64(),
                expires,
            },
        );
    }
    let mut r = Redirect::to("/console").into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&s, session_cookie(&s), &value, (expires - now) / 1_000_000),
    );
    h.append(header::SET_COOKIE, set_cookie(&s, signin_cookie(&s), "", 0));
    r
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// A state-changing form: it carries the session's CSRF token.
trait WithCsrf {
    fn csrf(&self) -> &str;
}

macro_rules! with_csrf {
    ($($t:ty),*) => { $(impl WithCsrf for $t { fn csrf(&self) -> &str { &self.csrf } })* };
}
with_csrf!(CsrfForm, PackForm, ExtendForm);

/// The form's fields once it was read and its CSRF token matched.
fn checked<T: WithCsrf>(who: &Signed, form: Result<Form<T>, FormRejection>) -> Result<T, ApiError> {
    let Ok(Form(f)) = form else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_form",
            "the form could not be read; reload the page and try again",
        ));
    };
    who.check_csrf(f.csrf())?;
    Ok(f)
}

async fn signout(
    State(s): St,
    who: Signed,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    if let Err(e) = checked(&who, form) {
        return page_error(Some(&who), e);
    }
    if let Ok(mut m) = s.sessions.0.lock() {
        m.remove(&who.sid);
    }
    let _ = ops::audit(
        &s,
        &who.caller,
        "console:signout",
        "web console session".into(),
    )
    .await;
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&s, session_cookie(&s), "", 0),
    );
    r
}

// ---------------------------------------------------------------- officer

#[derive(Deserialize)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
    /// A pack just built, to offer for download.
    pack: Option<String>,
}

fn opt_day(field: &str, v: Option<&str>) -> Result<Option<chrono::NaiveDate>, ApiError> {
    v.filter(|v| !v.trim().is_empty())
        .map(|v| ops::day(field, v))
        .transpose()
}

async fn console_home(State(s): St, who: Signed, Query(q): Query<PeriodQuery>) -> Response {
    match who.role() {
        Role::Officer => {
            let period = opt_day("from", q.from.as_deref())
                .and_then(|f| Ok((f, opt_day("to", q.to.as_deref())?)));
            let (from, to) = match period {
                Ok(p) => p,
                Err(e) => return page_error(Some(&who), e),
            };
            match packs::dashboard(&s, &who.caller, from, to).await {
                Ok(d) => {
                    let pack = q.pack.filter(|id| s.packs.contains(id));
                    html(pages::officer(&(&who).into(), &d, pack.as_deref()))
                }
                Err(e) => page_error(Some(&who), e),
            }
        }
        Role::Auditor => auditor(&s, &who),
        Role::Patient => {
            let own = who.caller.0.patient.clone().unwrap_or_default();
            Redirect::to(&format!("/console/patients/{}", segment(&own))).into_response()
        }
        Role::Gateway => page_error(
            Some(&who),
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a gateway token has no console page",
            ),
        ),
    }
}

#[derive(Deserialize)]
struct PackForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

async fn pack_form(
    State(s): St,
    who: Signed,
    form: Result<Form<PackForm>, FormRejection>,
) -> Response {
    let f = match checked(&who, form) {
        Ok(f) => f,
        Err(e) => return page_error(Some(&who), e),
    };
    let period = ops::day("from", &f.from).and_then(|a| Ok((a, ops::day("to", &f.to)?)));
    let (from, to) = match period {
        Ok(p) => p,
        Err(e) => return page_error(Some(&who), e),
    };
    match packs::build_pack(&s, &who.caller, from, to, None).await {
        Ok(id) => {
            Redirect::to(&format!("/console?from={from}&to={to}&pack={id}#pack")).into_response()
        }
        Err(e) => page_error(Some(&who), e),
    }
}

async fn pack_download(State(s): St, who: Signed, Path(id): Path<String>) -> Response {
    match packs::pack_zip(&s, &who.caller, &id).await {
        Ok(zip) => api::attachment("application/zip", &format!("{id}.zip"), zip),
        Err(e) => page_error(Some(&who), e),
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
    id: Option<String>,
}

async fn requests_page(State(s): St, who: Signed, Query(q): Query<DoneQuery>) -> Response {
    match accounting::request_list(&s, &who.caller).await {
        Ok(list) => {
            let today = chrono::Utc::now().date_naive();
            let letter_kept = |id: &str| s.letters.contains(id);
            let notice = match (q.done.as_deref(), q.id.as_deref()) {
                (Some("fulfilled"), Some(id)) if letter_kept(id) => {
                    Some(pages::Notice::Fulfilled(id.to_string()))
                }
                (Some("extended"), Some(id)) if is_request_id(id) => {
                    Some(pages::Notice::Extended(id.to_string()))
                }
                _ => None,
            };
            html(pages::requests(&(&who).into(), &list, today, notice))
        }
        Err(e) => page_error(Some(&who), e),
    }
}

#[derive(Deserialize)]
struct ExtendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    reason: String,
}

async fn extend_form(
    State(s): St,
    who: Signed,
    Path(id): Path<String>,
    form: Result<Form<ExtendForm>, FormRejection>,
) -> Response {
    let f = match checked(&who, form) {
        Ok(f) => f,
        Err(e) => return page_error(Some(&who), e),
    };
    let until = match ops::day("until", &f.until) {
        Ok(d) => d,
        Err(e) => return page_error(Some(&who), e),
    };
    match accounting::extend_request(&s, &who.caller, &id, until, &f.reason).await {
        Ok(_) => Redirect::to(&format!(
            "/console/requests?done=extended&id={}",
            segment(&id)
        ))
        .into_response(),
        Err(e) => page_error(Some(&who), e),
    }
}

async fn fulfil_form(
    State(s): St,
    who: Signed,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    if let Err(e) = checked(&who, form) {
        return page_error(Some(&who), e);
    }
    match accounting::fulfil_request(&s, &who.caller, &id).await {
        Ok(_) => Redirect::to(&format!(
            "/console/requests?done=fulfilled&id={}",
            segment(&id)
        ))
        .into_response(),
        Err(e) => page_error(Some(&who), e),
    }
}

async fn sent_letter(State(s): St, who: Signed, Path(id): Path<String>) -> Response {
    match accounting::sent_letter(&s, &who.caller, &id).await {
        Ok(pdf) => api::attachment(
            "application/pdf",
            &format!("accounting-letter-{}.pdf", segment(&id)),
            pdf,
        ),
        Err(e) => page_error(Some(&who), e),
    }
}

// ---------------------------------------------------------------- patient

#[derive(Deserialize)]
struct RequestedQuery {
    requested: Option<String>,
    due: Option<String>,
}

async fn patient_page(
    State(s): St,
    who: Signed,
    Path(patient): Path<String>,
    Query(q): Query<RequestedQuery>,
) -> Response {
    let settings = match sealtrail_accounting::Settings::load(&s.config.reports) {
        Ok(x) => x,
        Err(e) => {
            return page_error(Some(&who), ApiError::internal("accounting settings", e));
        }
    };
    match accounting::accounting_for(&s, &who.caller, &patient, None, None).await {
        Ok(acc) => {
            let notice = match (q.requested, q.due.as_deref().map(|d| ops::day("due", d))) {
                (Some(id), Some(Ok(due))) if is_request_id(&id) => {
                    Some(pages::Notice::Requested(id, due.to_string()))
                }
                _ => None,
            };
            html(pages::patient(
                &(&who).into(),
                &acc,
                &settings,
                &format!("/console/patients/{}", segment(&patient)),
                notice,
            ))
        }
        Err(e) => page_error(Some(&who), e),
    }
}

async fn patient_request(
    State(s): St,
    who: Signed,
    Path(patient): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    if let Err(e) = checked(&who, form) {
        return page_error(Some(&who), e);
    }
    match accounting::request_accounting(&s, &who.caller, &patient, None, None).await {
        Ok(r) => Redirect::to(&format!(
            "/console/patients/{}?requested={}&due={}#requested",
            segment(&patient),
            segment(&r.id),
            r.due
        ))
        .into_response(),
        Err(e) => page_error(Some(&who), e),
    }
}

async fn patient_letter(State(s): St, who: Signed, Path(patient): Path<String>) -> Response {
    match accounting::letter_pdf(&s, &who.caller, &patient, None, None).await {
        Ok(pdf) => api::attachment("application/pdf", "accounting-letter.pdf", pdf),
        Err(e) => page_error(Some(&who), e),
    }
}

// ---------------------------------------------------------------- auditor

fn auditor(s: &AppState, who: &Signed) -> Response {
    let parts = (|| {
        Ok::<_, ApiError>((
            integrity::checkpoint_text(s, Some(&who.caller))?,
            integrity::keys_text(s, &who.caller)?,
            integrity::segment_list(s, &who.caller)?,
            integrity::manifest_sizes(s, &who.caller)?,
        ))
    })();
    match parts {
        Ok((cp, keys, segs, mans)) => html(pages::auditor(&who.into(), &cp, &keys, &segs, &mans)),
        Err(e) => page_error(Some(who), e),
    }
}

fn text(name: &str, body: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn checkpoint_download(State(s): St, who: Signed) -> Response {
    match integrity::checkpoint_text(&s, Some(&who.caller)) {
        Ok(t) => text("checkpoint", t),
        Err(e) => page_error(Some(&who), e),
    }
}

async fn keys_download(State(s): St, who: Signed) -> Response {
    match integrity::keys_text(&s, &who.caller) {
        Ok(t) => text("sealtrail.vkey", t),
        Err(e) => page_error(Some(&who), e),
    }
}

async fn segment_download(State(s): St, who: Signed, Path(name): Path<String>) -> Response {
    match integrity::segment_bytes(&s, &who.caller, &name).await {
        Ok(b) => api::attachment("application/vnd.apache.parquet", &segment(&name), b),
        Err(e) => page_error(Some(&who), e),
    }
}

async fn manifest_download(State(s): St, who: Signed, Path(size): Path<u64>) -> Response {
    match integrity::manifest_note(&s, &who.caller, size).await {
        Ok(t) => text(&format!("{size}.note"), t),
        Err(e) => page_error(Some(&who), e),
    }
}

#[derive(Deserialize)]
struct ProofQuery {
    idx: Option<u64>,
    from: Option<u64>,
    size: Option<u64>,
}

async fn proof(State(s): St, who: Signed, Query(q): Query<ProofQuery>) -> Response {
    let r = match (q.idx, q.from) {
        (Some(idx), _) => integrity::inclusion(&s, &who.caller, idx, q.size)
            .await
            .map(|p| (format!("inclusion-{idx}.tlog-proof"), p)),
        (None, Some(from)) => integrity::consistency(&s, &who.caller, from, q.size)
            .await
            .map(|p| (format!("consistency-{from}.proof"), p)),
        (None, None) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing",
            "give a leaf index (inclusion) or an older tree size (consistency)",
        )),
    };
    match r {
        Ok((name, p)) => text(&name, p),
        Err(e) => page_error(Some(&who), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_request_ids_are_echoed_and_segments_are_encoded() {
        assert!(is_request_id("AR-0123456789ab"));
        for bad in [
            "AR-0123456789a",
            "AR-0123456789abc",
            "AR-0123456789ag",
            "ar-0123456789ab",
            "<b>",
        ] {
            assert!(!is_request_id(bad), "{bad}");
        }
        assert_eq!(segment("MRN 001/../x?y"), "MRN%20001%2F..%2Fx%3Fy");
        assert_eq!(segment("MRN-00101"), "MRN-00101");
    }
}
