//! Patient accountings of disclosures: requests, extensions, fulfilments,
//! the accounting and its letter. A patient token reaches only its own
//! patient (another id answers 404, exactly as no data would) and only the
//! server's today.

use std::sync::Arc;

use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use super::{audit, on_writer, today};
use crate::AppState;
use crate::caller::{Caller, patient_quota};
use crate::error::{ApiError, ApiResult};
use crate::tokens::Role;

pub(crate) fn own_patient(c: &Caller, patient: &str) -> ApiResult<()> {
    match c.0.role {
        Role::Officer => Ok(()),
        // another patient's id answers 404, exactly as a patient with no data would
        Role::Patient
            if c.0
                .patient
                .as_deref()
                .map(sealtrail_format::model::patient_key)
                == Some(sealtrail_format::model::patient_key(patient)) =>
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

fn refused(what: &str) -> impl FnOnce(sealtrail_accounting::AccountingError) -> ApiError + '_ {
    move |e| match e {
        sealtrail_accounting::AccountingError::Refused(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "refused", m)
        }
        sealtrail_accounting::AccountingError::UnknownRequest(_) => ApiError::not_found(),
        e => ApiError::internal(what, e),
    }
}

/// Every accounting request, read from the sealed log (off the runtime).
pub(crate) async fn all_requests(
    s: &Arc<AppState>,
) -> ApiResult<Vec<sealtrail_accounting::RequestState>> {
    let st = s.clone();
    tokio::task::spawn_blocking(move || sealtrail_accounting::requests(st.evidence()))
        .await
        .map_err(|e| ApiError::internal("reading requests", e))?
        .map_err(|e| ApiError::internal("reading requests", e))
}

/// Records a new accounting request for `patient`.
pub(crate) async fn request_accounting(
    s: &Arc<AppState>,
    c: &Caller,
    patient: &str,
    received: Option<chrono::NaiveDate>,
    from: Option<chrono::NaiveDate>,
) -> ApiResult<sealtrail_accounting::RequestState> {
    own_patient(c, patient)?;
    patient_quota(s, c, true)?;
    let received = day_for(c, received);
    let settings = sealtrail_accounting::Settings::load(&s.config.reports)
        .map_err(|e| ApiError::internal("accounting settings", e))?;
    let existing = all_requests(s).await?;
    let patient = patient.to_string();
    let state = on_writer(s, "recording the request", move |app, _| {
        sealtrail_accounting::record_request(app, &existing, &settings, &patient, received, from)
    })
    .await?
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
pub(crate) async fn request_list(
    s: &Arc<AppState>,
    c: &Caller,
) -> ApiResult<Vec<sealtrail_accounting::RequestState>> {
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
pub(crate) async fn extend_request(
    s: &Arc<AppState>,
    c: &Caller,
    id: &str,
    until: chrono::NaiveDate,
    reason: &str,
) -> ApiResult<chrono::NaiveDate> {
    c.require(&[Role::Officer])?;
    let rid = id.to_string();
    let (st, id, reason) = (s.clone(), id.to_string(), reason.to_string());
    let until = on_writer(s, "extending the request", move |app, _| {
        // read the request inside the single writer, so two extensions race to one
        sealtrail_accounting::request(st.evidence(), &id)
            .and_then(|req| sealtrail_accounting::extend(app, &req, &reason, until, today()))
    })
    .await?
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
pub(crate) async fn fulfil_request(s: &Arc<AppState>, c: &Caller, id: &str) -> ApiResult<Vec<u8>> {
    c.require(&[Role::Officer])?;
    let settings = sealtrail_accounting::Settings::load(&s.config.reports)
        .map_err(|e| ApiError::internal("accounting settings", e))?;
    let (st, rid) = (s.clone(), id.to_string());
    let pdf = on_writer(s, "fulfilling the request", move |app, _| {
        // inside the single writer: a request is fulfilled at most once
        fulfil(app, &st, &settings, &rid)
    })
    .await?
    .map_err(refused("fulfilling the request"))?;
    s.letters.put(id, pdf.clone());
    audit(s, c, "write:accounting-fulfil", format!("request {id}")).await?;
    Ok(pdf)
}

/// Fulfils request `id` (on the writer): builds the accounting as of the
/// request's period, renders the letter, and records the fulfilment with
/// both documents' SHA-256; returns the letter.
fn fulfil(
    app: &mut sealtrail_store::Appender,
    st: &AppState,
    settings: &sealtrail_accounting::Settings,
    id: &str,
) -> Result<Vec<u8>, sealtrail_accounting::AccountingError> {
    let req = sealtrail_accounting::request(st.evidence(), id)?;
    if let Some(f) = req.fulfilled {
        return Err(sealtrail_accounting::AccountingError::Refused(format!(
            "request {} was already fulfilled on {f}",
            req.id
        )));
    }
    let acc = st
        .accountant
        .build(&req.patient_id, req.to, Some(req.from))?;
    // never the hash of an empty document: refuse instead
    let json = serde_json::to_vec_pretty(&acc).map_err(|_| {
        sealtrail_accounting::AccountingError::Refused(
            "the accounting could not be written as JSON".into(),
        )
    })?;
    let on = today();
    let pdf = sealtrail_report::letter::render(&acc, settings, &on.to_string());
    if pdf.is_empty() {
        return Err(sealtrail_accounting::AccountingError::Refused(
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
    sealtrail_accounting::record_fulfilment(app, &req, on, &acc.checkpoint, &sent)?;
    Ok(pdf)
}

/// The letter sent when request `id` was fulfilled by this server process
/// (kept in memory, the last 64; its hash is sealed in the fulfilment leaf).
pub(crate) async fn sent_letter(s: &AppState, c: &Caller, id: &str) -> ApiResult<Vec<u8>> {
    c.require(&[Role::Officer])?;
    let pdf = s.letters.get(id).ok_or_else(ApiError::not_found)?;
    audit(s, c, "read:accounting-letter", format!("letter for {id}")).await?;
    Ok(pdf)
}

/// The accounting for `patient` as of `as_of` (default today).
pub(crate) async fn accounting_for(
    s: &Arc<AppState>,
    c: &Caller,
    patient: &str,
    as_of: Option<chrono::NaiveDate>,
    from: Option<chrono::NaiveDate>,
) -> ApiResult<sealtrail_accounting::Accounting> {
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
pub(crate) async fn letter_pdf(
    s: &Arc<AppState>,
    c: &Caller,
    patient: &str,
    as_of: Option<chrono::NaiveDate>,
    from: Option<chrono::NaiveDate>,
) -> ApiResult<Vec<u8>> {
    let settings = sealtrail_accounting::Settings::load(&s.config.reports)
        .map_err(|e| ApiError::internal("accounting settings", e))?;
    let acc = accounting_for(s, c, patient, as_of, from).await?;
    let dated = day_for(c, as_of).to_string();
    tokio::task::spawn_blocking(move || sealtrail_report::letter::render(&acc, &settings, &dated))
        .await
        .map_err(|e| ApiError::internal("rendering the letter", e))
}
