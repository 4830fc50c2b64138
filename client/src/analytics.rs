//! The analytics API of a node (`GET /v1/analytics/kpis|redemptions|rejections`): typed
//! requests and answers, signed as reads with the caller's key.
//!
//! The answers mirror the node's (`node/src/analytics/report.rs`; docs/api.md,
//! "Analytics"): counts as whole numbers, money in integer minor units per currency, rates
//! as exact fractions with basis points rounded down, and a [`Stamp`] naming the height,
//! block hash, state root and certificate the numbers were computed at.

use crate::signed_read::ReadSignature;
use couponcactus_chaincode::block::Certificate;
use couponcactus_chaincode::ids::ChainId;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// What went wrong talking to the analytics API.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsClientError {
    /// The request did not complete.
    #[error("GET {path}: {source}")]
    Http {
        /// The request.
        path: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The node answered with an error.
    #[error("{code}: {message} (HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's error code (`invalid_input`, `forbidden`, …).
        code: String,
        /// Its message.
        message: String,
    },
    /// The answer did not decode.
    #[error("GET {path}: unexpected answer: {why}")]
    Decode {
        /// The request.
        path: String,
        /// Why.
        why: String,
    },
}

/// Where an answer was computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stamp {
    /// The chain.
    pub chain_id: String,
    /// The height every counted event is at or below.
    pub height: u64,
    /// That block's hash (hex).
    pub block_hash: String,
    /// The state root after it (hex).
    pub state_root: String,
    /// Its time, ms.
    pub time_ms: u64,
    /// The last event counted.
    pub cursor: Option<String>,
    /// The latest certificate at or above `height`.
    #[schema(value_type = Option<Object>)]
    pub certificate: Option<Certificate>,
}

/// A rate: exact fraction and basis points rounded down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rate {
    /// Numerator.
    pub num: u64,
    /// Denominator.
    pub den: u64,
    /// `floor(num * 10000 / den)`, absent when `den` is 0.
    pub bp: Option<u64>,
}

impl Rate {
    /// `num / den`, basis points rounded down.
    pub fn of(num: u64, den: u64) -> Rate {
        let bp = (den > 0).then(|| {
            let v = u128::from(num) * 10_000 / u128::from(den);
            u64::try_from(v).unwrap_or(u64::MAX)
        });
        Rate { num, den, bp }
    }

    /// `12.34%`, or `-` without a denominator.
    pub fn percent(&self) -> String {
        self.bp
            .map(|bp| format!("{}.{:02}%", bp / 100, bp % 100))
            .unwrap_or_else(|| "-".into())
    }
}

/// Money KPIs of one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// ISO 4217 code.
    pub currency: String,
    /// Redemptions.
    pub redemptions: u64,
    /// Order totals before discount.
    pub gross_order_minor: i64,
    /// Order totals after discount.
    pub net_order_minor: i64,
    /// Gross per redemption, rounded down.
    pub average_basket_minor: Option<i64>,
    /// Discount granted.
    pub discount_minor: i64,
    /// Discount of rolled-back redemptions.
    pub rolled_back_discount_minor: i64,
    /// Discount net of rollbacks.
    pub net_discount_minor: i64,
}

/// KPIs of one group and bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiRow {
    /// Group values by dimension.
    pub group: BTreeMap<String, String>,
    /// Period bucket.
    pub bucket: Option<String>,
    /// Codes issued.
    pub issued: u64,
    /// Coupons allocated.
    pub allocated: u64,
    /// Redemptions.
    pub redeemed: u64,
    /// Rollbacks.
    pub rolled_back: u64,
    /// Revocations.
    pub revoked: u64,
    /// Transfers.
    pub transferred: u64,
    /// Refused txs.
    pub rejected: u64,
    /// Redemptions by other orgs' terminals.
    pub partner_redemptions: u64,
    /// Redeemed / allocated.
    pub redemption_rate_allocated: Rate,
    /// Redeemed / issued.
    pub redemption_rate_issued: Rate,
    /// Money per currency.
    pub money: Vec<Money>,
}

/// Cross-brand redemptions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRow {
    /// Pool owner.
    pub pool_org: String,
    /// Redeeming org.
    pub redeeming_org: String,
    /// Currency.
    pub currency: String,
    /// Redemptions.
    pub redemptions: u64,
    /// Discount.
    pub discount_minor: i64,
    /// Order totals.
    pub gross_order_minor: i64,
}

/// A pool's use of its cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRow {
    /// Pool.
    pub pool: String,
    /// `unique_codes` or `shared_code`.
    pub kind: String,
    /// The cap.
    pub total_cap: u64,
    /// Used.
    pub used: u64,
    /// Used / cap.
    pub burn: Rate,
}

/// `GET /v1/analytics/kpis`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiReport {
    /// Where computed.
    pub stamp: Stamp,
    /// Range start, ms.
    pub from_ms: Option<u64>,
    /// Range end (exclusive), ms.
    pub to_ms: Option<u64>,
    /// Period.
    pub period: String,
    /// Grouping.
    pub group_by: Vec<String>,
    /// Rows.
    pub rows: Vec<KpiRow>,
    /// Partner redemptions.
    pub partner: Vec<PartnerRow>,
    /// Budget burn.
    pub budget: Vec<BudgetRow>,
}

/// Rejections of one group, bucket and reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionRow {
    /// Group values.
    pub group: BTreeMap<String, String>,
    /// Bucket.
    pub bucket: Option<String>,
    /// Rejection code.
    pub reason: String,
    /// How many.
    pub count: u64,
}

/// `GET /v1/analytics/rejections`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionReport {
    /// Where computed.
    pub stamp: Stamp,
    /// Range start, ms.
    pub from_ms: Option<u64>,
    /// Range end, ms.
    pub to_ms: Option<u64>,
    /// Period.
    pub period: String,
    /// Grouping.
    pub group_by: Vec<String>,
    /// Rows.
    pub rows: Vec<RejectionRow>,
}

/// One redemption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionRow {
    /// Event id.
    pub id: String,
    /// Height.
    pub height: u64,
    /// Time, ms.
    pub time_ms: u64,
    /// Redeem tx id.
    pub tx_id: String,
    /// Pool owner.
    pub org: String,
    /// Pool.
    pub pool: String,
    /// Token.
    pub token: Option<String>,
    /// Store.
    pub store: String,
    /// Channel.
    pub channel: String,
    /// Terminal key.
    pub terminal: String,
    /// Terminal's org.
    pub signer_org: String,
    /// Currency.
    pub currency: String,
    /// Order total.
    pub order_total_minor: Option<i64>,
    /// Eligible amount.
    pub eligible_minor: i64,
    /// Discount.
    pub discount_minor: i64,
    /// Rollback height.
    pub rolled_back_height: Option<u64>,
    /// Partner redemption.
    pub partner: bool,
}

/// `GET /v1/analytics/redemptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionsReport {
    /// Where computed.
    pub stamp: Stamp,
    /// Range start, ms.
    pub from_ms: Option<u64>,
    /// Range end, ms.
    pub to_ms: Option<u64>,
    /// Rows.
    pub rows: Vec<RedemptionRow>,
    /// Next page cursor.
    pub next: Option<String>,
}

/// The query of an analytics request (every field optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnalyticsQuery {
    /// Range start, ms (on a whole hour).
    pub from_ms: Option<u64>,
    /// Range end, ms, exclusive (on a whole hour).
    pub to_ms: Option<u64>,
    /// Pool owner.
    pub org: Option<String>,
    /// Pool.
    pub pool: Option<String>,
    /// Store.
    pub store: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Terminal key (hex).
    pub terminal: Option<String>,
    /// Grouping dimensions.
    pub group_by: Vec<String>,
    /// `total`, `hour`, `day`, `week`, `month`.
    pub period: Option<String>,
    /// Listing page size.
    pub limit: Option<u32>,
    /// Listing cursor.
    pub after: Option<String>,
}

fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~,".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl AnalyticsQuery {
    /// The query string (without `?`), parameters in a fixed order.
    pub fn to_query(&self) -> String {
        let group = (!self.group_by.is_empty()).then(|| self.group_by.join(","));
        let pairs: [(&str, Option<String>); 11] = [
            ("from", self.from_ms.map(|v| v.to_string())),
            ("to", self.to_ms.map(|v| v.to_string())),
            ("org", self.org.clone()),
            ("pool", self.pool.clone()),
            ("store", self.store.clone()),
            ("channel", self.channel.clone()),
            ("terminal", self.terminal.clone()),
            ("group_by", group),
            ("period", self.period.clone()),
            ("limit", self.limit.map(|v| v.to_string())),
            ("after", self.after.clone()),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A client of one node's analytics API, signing reads with `key`.
#[derive(Clone, Debug)]
pub struct AnalyticsClient {
    http: reqwest::Client,
    base_url: String,
    chain_id: ChainId,
    key: SigningKey,
}

impl AnalyticsClient {
    /// A client of the node at `base_url` (`http://host:port`) on `chain_id`.
    pub fn new(base_url: &str, chain_id: ChainId, key: SigningKey) -> AnalyticsClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        AnalyticsClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            chain_id,
            key,
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        route: &str,
        query: &AnalyticsQuery,
    ) -> Result<T, AnalyticsClientError> {
        let q = query.to_query();
        let path = if q.is_empty() {
            format!("/v1/analytics/{route}")
        } else {
            format!("/v1/analytics/{route}?{q}")
        };
        self.fetch(path).await
    }

    /// A signed GET of `path` (with its query), decoded.
    async fn fetch<T: serde::de::DeserializeOwned>(
        &self,
        path: String,
    ) -> Result<T, AnalyticsClientError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let sig = ReadSignature::sign(&self.key, &self.chain_id, now, "GET", &path);
        let mut req = self.http.get(format!("{}{path}", self.base_url));
        for (name, value) in sig.headers() {
            req = req.header(name, value);
        }
        let http = |source| AnalyticsClientError::Http {
            path: path.clone(),
            source,
        };
        let response = req.send().await.map_err(http)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(http)?;
        if !status.is_success() {
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let field = |k: &str| body["error"][k].as_str().unwrap_or_default().to_string();
            return Err(AnalyticsClientError::Api {
                status: status.as_u16(),
                code: field("code"),
                message: field("message"),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| AnalyticsClientError::Decode {
            path,
            why: e.to_string(),
        })
    }

    /// KPIs (`GET /v1/analytics/kpis`).
    pub async fn kpis(&self, q: &AnalyticsQuery) -> Result<KpiReport, AnalyticsClientError> {
        self.get("kpis", q).await
    }

    /// Rejections by reason (`GET /v1/analytics/rejections`).
    pub async fn rejections(
        &self,
        q: &AnalyticsQuery,
    ) -> Result<RejectionReport, AnalyticsClientError> {
        self.get("rejections", q).await
    }

    /// The finance report of `org` (default: the key's org) (`GET /v1/reports/finance`).
    pub async fn finance(
        &self,
        org: Option<&str>,
    ) -> Result<crate::finance::FinanceReport, AnalyticsClientError> {
        let path = match org {
            Some(o) => format!("/v1/reports/finance?org={}", encode(o)),
            None => "/v1/reports/finance".to_string(),
        };
        self.fetch(path).await
    }

    /// The privacy report of `org` (default: the key's org) (`GET /v1/reports/privacy`).
    pub async fn privacy(
        &self,
        org: Option<&str>,
    ) -> Result<crate::privacy_report::PrivacyReport, AnalyticsClientError> {
        let path = match org {
            Some(o) => format!("/v1/reports/privacy?org={}", encode(o)),
            None => "/v1/reports/privacy".to_string(),
        };
        self.fetch(path).await
    }

    /// One page of redemptions (`GET /v1/analytics/redemptions`).
    pub async fn redemptions(
        &self,
        q: &AnalyticsQuery,
    ) -> Result<RedemptionsReport, AnalyticsClientError> {
        self.get("redemptions", q).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded_in_a_fixed_order() {
        let q = AnalyticsQuery {
            from_ms: Some(1),
            pool: Some("acme spring".into()),
            group_by: vec!["pool".into(), "store".into()],
            period: Some("day".into()),
            ..AnalyticsQuery::default()
        };
        assert_eq!(
            q.to_query(),
            "from=1&pool=acme%20spring&group_by=pool,store&period=day"
        );
        assert_eq!(AnalyticsQuery::default().to_query(), "");
        let r = Rate {
            num: 1,
            den: 3,
            bp: Some(3333),
        };
        assert_eq!(r.percent(), "33.33%");
    }
}
