//! A node's compliance routes (docs/api.md, "Access log" and "Retention"): the access log
//! (`GET /v1/access-log`, org admins and auditors), the retention status and legal holds
//! (`/v1/retention…`, the node's org admins; auditors read).
//!
//! Every call is a signed request ([`crate::signed_read`]); a POST's body is covered by
//! `?body_sha256=` in the signed target ([`crate::webhooks::signed_target`]).

use crate::signed_read::SignedApi;
use couponcactus_chaincode::ids::ChainId;
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Entries one access-log page asks for.
pub const PAGE: u64 = 10_000;

/// Why a compliance call failed (the shared [`crate::signed_read::ApiClientError`]).
pub type ComplianceError = crate::signed_read::ApiClientError;

/// Who made a request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `key`, `console` or `anonymous`.
    pub kind: String,
    /// The signing key (hex).
    pub key: Option<String>,
    /// The console user.
    pub user: Option<String>,
    /// The actor's org.
    pub org: Option<String>,
    /// Its role.
    pub role: Option<String>,
}

/// One access-log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// Row id.
    pub id: u64,
    /// When, ms since the Unix epoch.
    pub time_ms: u64,
    /// Who.
    pub actor: Actor,
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// Ids from the path.
    pub targets: BTreeMap<String, String>,
    /// Status.
    pub status: u16,
    /// Duration, ms.
    pub duration_ms: u64,
}

#[derive(Deserialize)]
struct AccessPage {
    entries: Vec<AccessEntry>,
    next_after: Option<u64>,
}

/// A legal hold in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Its id.
    pub id: u64,
    /// Class or `all`.
    pub class: String,
    /// Only this member (hex).
    pub member: Option<String>,
    /// Why.
    pub reason: String,
    /// Who placed it.
    pub placed_by: String,
    /// When, ms.
    pub placed_ms: u64,
}

#[derive(Deserialize)]
struct HoldList {
    holds: Vec<Hold>,
}

/// A client of one node's compliance routes, signing with one key.
#[derive(Clone, Debug)]
pub struct ComplianceClient {
    /// The node's signed routes.
    api: SignedApi,
}

type Result<T> = std::result::Result<T, ComplianceError>;

impl ComplianceClient {
    /// A client of the node at `base` on `chain_id`, signing with `key`.
    pub fn new(base: &str, chain_id: ChainId, key: SigningKey) -> ComplianceClient {
        ComplianceClient {
            api: SignedApi::new(base, chain_id, key, Duration::from_secs(60)),
        }
    }

    /// Every access-log entry from `from_ms` to `to_ms` (inclusive) the key may read,
    /// oldest first, page by page; at most `max` entries.
    pub async fn access_log(&self, from_ms: u64, to_ms: u64, max: u64) -> Result<Vec<AccessEntry>> {
        let mut out: Vec<AccessEntry> = Vec::new();
        let mut after = 0u64;
        while (out.len() as u64) < max {
            let limit = PAGE.min(max - out.len() as u64);
            let path =
                format!("/v1/access-log?from={from_ms}&to={to_ms}&limit={limit}&after={after}");
            let page: AccessPage = self.api.json(Method::GET, &path, None).await?;
            out.extend(page.entries);
            match page.next_after {
                Some(next) if next > after => after = next,
                _ => break,
            }
        }
        Ok(out)
    }

    /// `GET /v1/retention`, as the node answers it.
    pub async fn retention(&self) -> Result<serde_json::Value> {
        self.api.json(Method::GET, "/v1/retention", None).await
    }

    /// The legal holds in force.
    pub async fn holds(&self) -> Result<Vec<Hold>> {
        let list: HoldList = self
            .api
            .json(Method::GET, "/v1/retention/holds", None)
            .await?;
        Ok(list.holds)
    }

    /// Places a legal hold on `class` (or `all`), optionally only `member`'s rows.
    pub async fn place_hold(
        &self,
        class: &str,
        member: Option<&str>,
        reason: &str,
    ) -> Result<Hold> {
        let body = serde_json::json!({"class": class, "member": member, "reason": reason});
        self.api
            .json(Method::POST, "/v1/retention/holds", Some(body))
            .await
    }

    /// Lifts hold `id`.
    pub async fn remove_hold(&self, id: u64) -> Result<Hold> {
        self.api
            .json(Method::DELETE, &format!("/v1/retention/holds/{id}"), None)
            .await
    }
}

/// The entries as CSV: a header row, then one row per entry (time as RFC 3339 UTC and ms;
/// the path ids as `name=value` pairs joined by `;`).
pub fn to_csv(entries: &[AccessEntry]) -> std::result::Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "time",
        "time_ms",
        "actor_kind",
        "actor_key",
        "actor_user",
        "org",
        "role",
        "method",
        "route",
        "targets",
        "status",
        "duration_ms",
    ])?;
    for e in entries {
        let targets: Vec<String> = e.targets.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        w.write_record([
            e.id.to_string(),
            crate::times::format_time_ms(e.time_ms),
            e.time_ms.to_string(),
            e.actor.kind.clone(),
            opt(&e.actor.key),
            opt(&e.actor.user),
            opt(&e.actor.org),
            opt(&e.actor.role),
            e.method.clone(),
            e.route.clone(),
            targets.join(";"),
            e.status.to_string(),
            e.duration_ms.to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_one_row_per_entry_with_the_ids_as_pairs() {
        let entry = AccessEntry {
            id: 7,
            time_ms: 1_767_225_600_000,
            actor: Actor {
                kind: "key".into(),
                key: Some("ab".into()),
                org: Some("acme".into()),
                role: Some("issuer".into()),
                user: None,
            },
            method: "GET".into(),
            route: "/v1/tokens/{pool}/{serial}".into(),
            targets: [
                ("pool".to_string(), "spring".to_string()),
                ("serial".into(), "3".into()),
            ]
            .into(),
            status: 200,
            duration_ms: 4,
        };
        let text = String::from_utf8(to_csv(&[entry]).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("id,time,time_ms,actor_kind"));
        assert!(lines[1].starts_with("7,2026-01-01"), "{}", lines[1]);
        assert!(
            lines[1].contains(
                ",key,ab,,acme,issuer,GET,/v1/tokens/{pool}/{serial},pool=spring;serial=3,200,4"
            ),
            "{}",
            lines[1]
        );
    }
}
