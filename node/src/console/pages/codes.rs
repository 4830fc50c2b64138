//! `POST /console/pools/{id}/codes`: issue random codes to one of the org's unique-code
//! pools. The codes are generated on the node from the operating system's generator
//! (the client library's `issuance`, as `cactus codes issue` does), sealed under the org's
//! data key (`[console] data_key_file`), issued in ONE signed tx (all or nothing), and the
//! plaintext goes back to the user as a CSV download only: it is never stored, logged or
//! shown in a page. One request issues at most [`MAX_CODES`] (and the chain's
//! `max_batch_codes`), so a refused tx never leaves part of a download issued.

use super::super::csrf::CheckedForm;
use super::super::view::{self, PageError};
use super::super::{Console, write};
use super::pool::the_pool;
use axum::extract::{Path, State};
use axum::response::Response;
use couponcactus_chaincode::codes::CodePattern;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{IssueCodesTx, TxKind};
use couponcactus_chaincode::types::PoolKind;
use couponcactus_client::issuance::{generate_codes, seal_codes};
use serde::Deserialize;
use std::sync::Arc;

/// Most codes one console request issues.
pub const MAX_CODES: usize = 10_000;

/// The form.
#[derive(Debug, Deserialize)]
pub(super) struct IssueForm {
    count: String,
}

/// How many codes this chain lets one request issue.
fn limit(console: &Console) -> Result<usize, PageError> {
    let chain_max = match console.node.store().get(&StateKey::Params)? {
        Some(StateValue::Params(p)) => p.max_batch_codes as usize,
        _ => return Err(PageError::Internal("the chain has no parameters".into())),
    };
    Ok(MAX_CODES.min(chain_max))
}

fn count(text: &str, max: usize) -> Result<usize, PageError> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(PageError::BadRequest(format!(
            "give how many codes to issue: a whole number from 1 to {max}, not {:?}",
            text.chars().take(20).collect::<String>()
        ))),
    }
}

/// The CSV download of `codes`.
fn download(pool: &str, height: u64, codes: &[String]) -> Response {
    let mut body = String::with_capacity(16 * (codes.len() + 1));
    body.push_str("code\n");
    for c in codes {
        body.push_str(c);
        body.push('\n');
    }
    view::attachment(
        body.into_bytes(),
        "text/csv; charset=utf-8",
        &format!("codes-{pool}-h{height}.csv"),
        height,
    )
}

/// `POST /console/pools/{id}/codes`.
pub(super) async fn issue(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    CheckedForm(staff, form): CheckedForm<IssueForm>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let data_key = *console.data_key().ok_or_else(|| {
        PageError::Forbidden(
            "this console issues no codes: no [console] data_key_file is configured on this node"
                .into(),
        )
    })?;
    let pool = the_pool(&console, &id)?;
    if pool.spec.kind != PoolKind::UniqueCodes {
        return Err(PageError::BadRequest(format!(
            "pool {} has one shared code, not unique codes",
            pool.id
        )));
    }
    let n = count(&form.count, limit(&console)?)?;
    let (pool_id, generated) = tokio::task::spawn_blocking(move || {
        let codes = generate_codes(&CodePattern::default(), n)?;
        let sealed = seal_codes(&data_key, &pool.id, &codes)?;
        Ok::<_, couponcactus_client::issuance::IssuanceError>((pool.id, (codes, sealed)))
    })
    .await
    .map_err(|e| PageError::Internal(format!("generating codes: {e}")))?
    .map_err(|e| PageError::Internal(format!("generating codes: {e}")))?;
    let (codes, sealed) = generated;
    let kind = TxKind::IssueCodes(IssueCodesTx {
        pool: pool_id.clone(),
        codes: sealed,
    });
    let written = write::submit(&console, &staff, kind).await?;
    let plain: Vec<String> = codes.into_iter().map(|c| c.code).collect();
    Ok(download(pool_id.as_str(), written.height, &plain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn counts_are_bounded() {
        assert_eq!(count(" 3 ", 10).unwrap(), 3);
        for bad in ["0", "11", "-1", "x", ""] {
            let e = count(bad, 10).unwrap_err().to_string();
            assert!(e.contains("from 1 to 10"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_download_is_an_attachment_of_the_codes() {
        let r = download("spring", 7, &["AB".into(), "CD".into()]);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        assert_eq!(
            h[header::CONTENT_DISPOSITION],
            "attachment; filename=\"codes-spring-h7.csv\""
        );
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
    }
}
