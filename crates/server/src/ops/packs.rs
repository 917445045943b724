//! Evidence packs and the officer's dashboard.

use std::sync::Arc;

use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use super::{accounting::all_requests, audit, today};
use crate::AppState;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::tokens::Role;
use sealtrail_format::model::Ts;

/// Builds a pack for `from..=to`, keeps it for download, returns its id.
pub(crate) async fn build_pack(
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
        let built = sealtrail_report::pack::build(&sealtrail_report::pack::PackRequest {
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
            spark: None,
            witnesses: &[],
        })
        .map_err(|e| e.to_string())?;
        sealtrail_report::pack::to_zip(&built, sealtrail_report::pack::sealed_at(&built))
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
pub(crate) async fn pack_zip(s: &AppState, c: &Caller, id: &str) -> ApiResult<Vec<u8>> {
    c.require(&[Role::Officer])?;
    let zip = s.packs.get(id).ok_or_else(ApiError::not_found)?;
    audit(s, c, "read:pack", format!("download {id}")).await?;
    Ok(zip)
}

/// The officer's dashboard for `from..=to` (default: the 12 weeks to today).
pub(crate) async fn dashboard(
    s: &Arc<AppState>,
    c: &Caller,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> ApiResult<sealtrail_report::dashboard::Dashboard> {
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
        sealtrail_report::dashboard::build(st.evidence(), &requests, from, to, Ts::now())
    })
    .await
    .map_err(|e| ApiError::internal("building the dashboard", e))?
    .map_err(|e| ApiError::internal("building the dashboard", e))?;
    audit(s, c, "read:dashboard", format!("dashboard {from} to {to}")).await?;
    Ok(d)
}
