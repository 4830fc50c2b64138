//! Pool specs as people write them: a TOML file (or command-line flags) with defaults for
//! everything that has a sensible one, turned into the chaincode's [`PoolSpec`].
//!
//! ```toml
//! id = "spring"                 # the pool id (or --id)
//! name = "Spring sale"
//! kind = "unique_codes"         # or "shared_code"; default unique_codes
//! currency = "EUR"              # ISO 4217, any case ("eur")
//! percent = "10"                # 10 % off; or percent_bps = 1000, or fixed = "5.00"
//! max_discount = "20.00"        # optional cap of one discount
//! min_spend = "50.00"           # default 0
//! valid_from = "2026-12-01"     # default: a minute ago
//! valid_until = "2026-12-24"    # or valid_for = "30d"; default valid_for 90 days
//! total_cap = 10000
//! per_member_cap = 1
//! allowed_channels = ["pos"]    # empty: all
//! allowed_stores = []
//! excluded_categories = ["tobacco"]
//! partner_orgs = ["globex"]
//! transferable = false
//! velocity = [                  # optional: redemptions per member, terminal or store
//!   { per = "member", max = 3, window = "1h" },
//!   { per = "terminal", max = 30, window = "1m" },
//! ]
//! requires_consent = "marketing" # optional: or "profiling", "partner:globex"
//! ```
//!
//! **Amounts** are decimal text in the pool's currency, with at most its ISO 4217 decimals
//! (`fixed`, `max_discount`, `min_spend`: `"20.00"` EUR, `"500"` JPY); each may instead be
//! given in integer minor units under its old name (`fixed_minor = 500`,
//! `max_discount_minor = 2000`, `min_spend_minor = 5000`), but not both ways.
//!
//! **Validity** (see [`crate::times`]): `valid_from` and `valid_until` are ISO 8601
//! (`"2026-12-24T18:00+01:00"`, `"2026-12-24T17:00Z"`, or a bare date in UTC); a bare date
//! is the START of that day for `valid_from` and the END of that day (the next midnight,
//! since `valid_until` is exclusive) for `valid_until`, so `valid_until = "2026-12-24"`
//! still redeems all of the 24th. `valid_for` is a duration from `valid_from` (`"30d"`,
//! `"12h"`, `"90m"`). The old forms still work: `valid_from_ms`, `valid_until_ms` (ms since
//! the epoch) and `valid_days`. Give the start one way at most, and the end one way at most
//! (`valid_until`, `valid_until_ms`, `valid_for` or `valid_days`). An end that is not in
//! the future is refused: such a pool could never be used.
//!
//! Layers (file, then flags) override per *group*: a layer that sets any form of the
//! discount, the cap, the minimum spend, the start or the end replaces every form of it in
//! the layer below, so `--valid-for 7d` on top of a file's `valid_until` just works.
//!
//! Percentages are decimal text with at most two decimals (`"12.5"` = 1,250 basis points);
//! no floating point is involved anywhere.

use crate::amounts::{amount_either, currency_decimals, format_decimal, parse_currency};
use crate::times::{Edge, format_duration_ms, format_time_ms, parse_duration_ms, parse_instant};
use couponcactus_chaincode::consent::Purpose;
use couponcactus_chaincode::ids::{Category, Channel, IdError, OrgId, PoolId, StoreId};
use couponcactus_chaincode::risk::{VelocityLimit, VelocityScope, validate_limits};
use couponcactus_chaincode::types::{Currency, Discount, PoolKind, PoolSpec};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};

/// How long a pool stays valid when no end is given.
pub const DEFAULT_VALID_DAYS: u64 = 90;
/// How far before now `valid_from_ms` defaults to (clock skew between machines).
pub const DEFAULT_VALID_FROM_SLACK_MS: u64 = 60_000;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Why a pool spec is not usable.
#[derive(Debug, thiserror::Error)]
pub enum PoolSpecError {
    /// The spec file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The spec file is not valid TOML of the expected shape.
    #[error("{path}: {why}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A required field is missing.
    #[error("the pool spec needs {0}")]
    Missing(&'static str),
    /// A field's value is out of range or malformed.
    #[error("invalid {field}: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
    /// An id breaks the slug rule.
    #[error("invalid {field}: {source}")]
    BadId {
        /// The field.
        field: &'static str,
        /// Why.
        #[source]
        source: IdError,
    },
}

type Result<T> = std::result::Result<T, PoolSpecError>;

/// A pool spec with every field optional: what a spec file or flags say. Later layers
/// override earlier ones ([`PoolSpecDraft::overridden_by`]); [`PoolSpecDraft::into_spec`]
/// fills in defaults and checks the result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpecDraft {
    /// The pool's id.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Unique codes (default) or one shared code.
    pub kind: Option<PoolKind>,
    /// ISO 4217 currency (any case in a file).
    #[serde(default, deserialize_with = "iso_currency_code")]
    pub currency: Option<Currency>,
    /// Percent off as decimal text (`"10"`, `"12.5"`).
    pub percent: Option<String>,
    /// Percent off in basis points.
    pub percent_bps: Option<u32>,
    /// Fixed amount off, decimal in the currency (`"5.00"`).
    pub fixed: Option<String>,
    /// Fixed amount off, minor units.
    pub fixed_minor: Option<u64>,
    /// Cap of one discount, decimal in the currency (`"20.00"`).
    pub max_discount: Option<String>,
    /// Cap of one discount, minor units.
    pub max_discount_minor: Option<u64>,
    /// Eligible amount needed, decimal in the currency (default 0).
    pub min_spend: Option<String>,
    /// Eligible amount needed, minor units (default 0).
    pub min_spend_minor: Option<u64>,
    /// First valid instant, ISO 8601 (a bare date: its 00:00 UTC).
    pub valid_from: Option<String>,
    /// First valid instant, ms since the epoch (default: a minute ago).
    pub valid_from_ms: Option<u64>,
    /// End of validity (exclusive), ISO 8601 (a bare date: the END of that day, UTC).
    pub valid_until: Option<String>,
    /// End of validity (exclusive), ms since the epoch.
    pub valid_until_ms: Option<u64>,
    /// Length of validity from the start, a duration (`"30d"`, `"12h"`).
    pub valid_for: Option<String>,
    /// Days of validity from the start (default 90 when no end is given).
    pub valid_days: Option<u64>,
    /// Most tokens (unique codes) or redemptions in force (shared code).
    pub total_cap: Option<u64>,
    /// Most allocations or redemptions per member (default 1).
    pub per_member_cap: Option<u32>,
    /// Channels where it may be redeemed (default: all).
    pub allowed_channels: Option<Vec<String>>,
    /// Stores where it may be redeemed (default: all).
    pub allowed_stores: Option<Vec<String>>,
    /// Categories not eligible for the discount.
    pub excluded_categories: Option<Vec<String>>,
    /// Stacking group.
    pub stacking_group: Option<String>,
    /// Partner orgs that may honour and read it.
    pub partner_orgs: Option<Vec<String>>,
    /// Whether tokens may change hands (default false).
    pub transferable: Option<bool>,
    /// Velocity limits (default none).
    pub velocity: Option<Vec<VelocityDraft>>,
    /// The consent purpose a member must have granted to be allocated a token:
    /// `marketing`, `profiling` or `partner:ORG` (default none).
    pub requires_consent: Option<String>,
}

/// A velocity limit as written: `{ per = "member", max = 3, window = "1h" }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VelocityDraft {
    /// `member`, `terminal` or `store`.
    pub per: VelocityScope,
    /// Most redemptions in the window.
    pub max: u32,
    /// The rolling window, a duration (`"1h"`, `"10m"`, `"1d"`).
    pub window: String,
}

/// The chaincode's limits from their drafts: windows parsed, ranges checked.
fn velocity_limits(drafts: Vec<VelocityDraft>) -> Result<Vec<VelocityLimit>> {
    let limits = drafts
        .into_iter()
        .map(|d| {
            let window_ms = parse_duration_ms(&d.window).map_err(|e| PoolSpecError::Invalid {
                field: "velocity",
                why: format!("window {:?}: {e}", d.window),
            })?;
            Ok(VelocityLimit {
                per: d.per,
                max: d.max,
                window_ms,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    validate_limits(&limits).map_err(|why| PoolSpecError::Invalid {
        field: "velocity",
        why,
    })?;
    Ok(limits)
}

/// A currency code in a spec file: any case, ISO 4217 only.
fn iso_currency_code<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Currency>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| parse_currency(&text).map_err(serde::de::Error::custom))
        .transpose()
}

macro_rules! override_fields {
    ($base:ident, $top:ident, $($field:ident),* $(,)?) => {
        PoolSpecDraft { $($field: $top.$field.or($base.$field),)* }
    };
}

/// Clears every field of a group in `$base` when `$top` sets any of them.
macro_rules! override_group {
    ($base:ident, $top:ident, $($field:ident),+) => {
        if false $(|| $top.$field.is_some())+ {
            $($base.$field = None;)+
        }
    };
}

impl PoolSpecDraft {
    /// Parses a spec file's text.
    pub fn from_toml(text: &str) -> Result<PoolSpecDraft> {
        toml::from_str(text).map_err(|e| PoolSpecError::Parse {
            path: "<string>".into(),
            why: e.to_string(),
        })
    }

    /// The draft that gives exactly `spec` (and the pool id `id`, if any): amounts as
    /// decimal text in the currency, the percentage as decimal text, instants in RFC 3339
    /// (UTC), windows as durations; defaults written out. [`PoolSpecDraft::into_spec`] of
    /// it gives `spec` back, whatever `now_ms` (as long as the end is after it).
    pub fn from_spec(id: Option<&str>, spec: &PoolSpec) -> PoolSpecDraft {
        let c = spec.currency;
        let (percent, fixed) = match spec.discount {
            Discount::Percent { bps } => (Some(percent_text(bps)), None),
            Discount::Fixed { amount_minor } => (None, Some(format_decimal(amount_minor, c))),
        };
        let strings = |v: Vec<String>| Some(v);
        PoolSpecDraft {
            id: id.map(str::to_string),
            name: Some(spec.name.clone()),
            kind: Some(spec.kind),
            currency: Some(c),
            percent,
            fixed,
            max_discount: spec.max_discount_minor.map(|m| format_decimal(m, c)),
            min_spend: Some(format_decimal(spec.min_spend_minor, c)),
            valid_from: Some(rfc3339(spec.valid_from_ms)),
            valid_until: Some(rfc3339(spec.valid_until_ms)),
            total_cap: Some(spec.total_cap),
            per_member_cap: Some(spec.per_member_cap),
            allowed_channels: strings(spec.allowed_channels.iter().map(|x| x.0.clone()).collect()),
            allowed_stores: strings(spec.allowed_stores.iter().map(|x| x.0.clone()).collect()),
            excluded_categories: strings(
                spec.excluded_categories
                    .iter()
                    .map(|x| x.0.clone())
                    .collect(),
            ),
            stacking_group: spec.stacking_group.clone(),
            partner_orgs: strings(spec.partner_orgs.iter().map(|x| x.0.clone()).collect()),
            transferable: Some(spec.transferable),
            velocity: Some(
                spec.velocity
                    .iter()
                    .map(|v| VelocityDraft {
                        per: v.per,
                        max: v.max,
                        window: format_duration_ms(v.window_ms),
                    })
                    .collect(),
            ),
            requires_consent: spec.requires_consent.as_ref().map(Purpose::label),
            ..PoolSpecDraft::default()
        }
    }

    /// The draft as spec-file TOML (what [`PoolSpecDraft::from_toml`] reads).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| PoolSpecError::Invalid {
            field: "spec",
            why: format!("cannot be written as TOML: {e}"),
        })
    }

    /// Reads a spec file.
    pub fn load(path: &Path) -> Result<PoolSpecDraft> {
        let text = std::fs::read_to_string(path).map_err(|source| PoolSpecError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            PoolSpecError::Parse { why, .. } => PoolSpecError::Parse {
                path: path.into(),
                why,
            },
            other => other,
        })
    }

    /// This draft with every field `top` sets taken from `top`; a group of alternative
    /// forms (the discount, the cap, the minimum spend, the start, the end) that `top`
    /// sets in any form replaces the whole group.
    pub fn overridden_by(self, top: PoolSpecDraft) -> PoolSpecDraft {
        let mut base = self;
        override_group!(base, top, percent, percent_bps, fixed, fixed_minor);
        override_group!(base, top, max_discount, max_discount_minor);
        override_group!(base, top, min_spend, min_spend_minor);
        override_group!(base, top, valid_from, valid_from_ms);
        override_group!(
            base,
            top,
            valid_until,
            valid_until_ms,
            valid_for,
            valid_days
        );
        override_fields!(
            base,
            top,
            id,
            name,
            kind,
            currency,
            percent,
            percent_bps,
            fixed,
            fixed_minor,
            max_discount,
            max_discount_minor,
            min_spend,
            min_spend_minor,
            valid_from,
            valid_from_ms,
            valid_until,
            valid_until_ms,
            valid_for,
            valid_days,
            total_cap,
            per_member_cap,
            allowed_channels,
            allowed_stores,
            excluded_categories,
            stacking_group,
            partner_orgs,
            transferable,
            velocity,
            requires_consent,
        )
    }

    /// The pool id, if the draft names one.
    pub fn pool_id(&self) -> Result<Option<PoolId>> {
        self.id
            .as_deref()
            .map(|id| {
                PoolId::new(id).map_err(|source| PoolSpecError::BadId {
                    field: "id",
                    source,
                })
            })
            .transpose()
    }

    /// The chaincode spec: defaults filled in, ids, amounts, dates and ranges checked.
    /// `now_ms` anchors the default validity window, and the end must be after it.
    pub fn into_spec(self, now_ms: u64) -> Result<PoolSpec> {
        let name = self
            .name
            .clone()
            .ok_or(PoolSpecError::Missing("a name (name = \"…\" or --name)"))?;
        if name.is_empty() || name.len() > 200 {
            return Err(PoolSpecError::Invalid {
                field: "name",
                why: "1 to 200 bytes".into(),
            });
        }
        let currency = self.currency.ok_or(PoolSpecError::Missing(
            "a currency (currency = \"EUR\" or --currency)",
        ))?;
        if currency_decimals(currency).is_none() {
            return Err(PoolSpecError::Invalid {
                field: "currency",
                why: format!("{currency} is not an ISO 4217 currency code"),
            });
        }
        let discount = self.discount(currency)?;
        let max_discount_minor = amount(
            "max_discount",
            self.max_discount.as_deref(),
            self.max_discount_minor,
            currency,
        )?;
        let min_spend_minor = amount(
            "min_spend",
            self.min_spend.as_deref(),
            self.min_spend_minor,
            currency,
        )?
        .unwrap_or(0);
        let (valid_from_ms, valid_until_ms) = self.validity(now_ms)?;
        let total_cap = self.total_cap.ok_or(PoolSpecError::Missing(
            "a total cap (total_cap = … or --total-cap)",
        ))?;
        Ok(PoolSpec {
            name,
            kind: self.kind.unwrap_or(PoolKind::UniqueCodes),
            currency,
            discount,
            max_discount_minor,
            min_spend_minor,
            valid_from_ms,
            valid_until_ms,
            total_cap,
            per_member_cap: self.per_member_cap.unwrap_or(1),
            allowed_channels: slugs("allowed_channels", self.allowed_channels)?
                .into_iter()
                .map(Channel)
                .collect(),
            allowed_stores: slugs("allowed_stores", self.allowed_stores)?
                .into_iter()
                .map(StoreId)
                .collect(),
            excluded_categories: slugs("excluded_categories", self.excluded_categories)?
                .into_iter()
                .map(Category)
                .collect(),
            stacking_group: self.stacking_group,
            partner_orgs: slugs("partner_orgs", self.partner_orgs)?
                .into_iter()
                .map(OrgId)
                .collect(),
            transferable: self.transferable.unwrap_or(false),
            velocity: velocity_limits(self.velocity.unwrap_or_default())?,
            requires_consent: self
                .requires_consent
                .as_deref()
                .map(|text| {
                    text.parse::<Purpose>().map_err(|e| PoolSpecError::Invalid {
                        field: "requires_consent",
                        why: e.to_string(),
                    })
                })
                .transpose()?,
        })
    }

    /// The discount from whichever one form is given.
    fn discount(&self, currency: Currency) -> Result<Discount> {
        let fixed = amount("fixed", self.fixed.as_deref(), self.fixed_minor, currency)?;
        match (&self.percent, self.percent_bps, fixed) {
            (Some(text), None, None) => Ok(Discount::Percent {
                bps: parse_percent(text)?,
            }),
            (None, Some(bps), None) => {
                if !(1..=10_000).contains(&bps) {
                    return Err(PoolSpecError::Invalid {
                        field: "percent_bps",
                        why: "1 to 10,000 basis points".into(),
                    });
                }
                Ok(Discount::Percent { bps })
            }
            (None, None, Some(0)) => Err(PoolSpecError::Invalid {
                field: "fixed",
                why: "must be above 0".into(),
            }),
            (None, None, Some(amount_minor)) => Ok(Discount::Fixed { amount_minor }),
            (None, None, None) => Err(PoolSpecError::Missing(
                "a discount: percent (--percent 10), percent_bps or fixed (--fixed 5.00)",
            )),
            _ => Err(PoolSpecError::Invalid {
                field: "discount",
                why: "give exactly one of percent, percent_bps and fixed (or fixed_minor)".into(),
            }),
        }
    }

    /// `(valid_from_ms, valid_until_ms)` from whichever forms are given; the end must be
    /// after the start and after `now_ms`.
    fn validity(&self, now_ms: u64) -> Result<(u64, u64)> {
        let from = match (&self.valid_from, self.valid_from_ms) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "valid_from",
                    "give valid_from or valid_from_ms, not both",
                ));
            }
            (Some(text), None) => parse_instant(text, Edge::Start)
                .map_err(|e| invalid("valid_from", e.to_string()))?,
            (None, Some(ms)) => ms,
            (None, None) => now_ms.saturating_sub(DEFAULT_VALID_FROM_SLACK_MS),
        };
        let ends = [
            self.valid_until.is_some(),
            self.valid_until_ms.is_some(),
            self.valid_for.is_some(),
            self.valid_days.is_some(),
        ];
        if ends.iter().filter(|set| **set).count() > 1 {
            return Err(invalid(
                "validity",
                "give the end one way: valid_until, valid_until_ms, valid_for or valid_days",
            ));
        }
        let until = if let Some(text) = &self.valid_until {
            parse_instant(text, Edge::End).map_err(|e| invalid("valid_until", e.to_string()))?
        } else if let Some(ms) = self.valid_until_ms {
            ms
        } else if let Some(text) = &self.valid_for {
            from.saturating_add(
                parse_duration_ms(text).map_err(|e| invalid("valid_for", e.to_string()))?,
            )
        } else {
            let days = self.valid_days.unwrap_or(DEFAULT_VALID_DAYS);
            from.saturating_add(days.saturating_mul(DAY_MS))
        };
        if until <= now_ms {
            return Err(invalid(
                "validity",
                format!(
                    "the end {} is in the past (now is {}): the pool could never be used",
                    format_time_ms(until),
                    format_time_ms(now_ms)
                ),
            ));
        }
        if until <= from {
            return Err(invalid(
                "validity",
                format!(
                    "the end {} is not after the start {}",
                    format_time_ms(until),
                    format_time_ms(from)
                ),
            ));
        }
        Ok((from, until))
    }
}

/// Basis points as the percentage text [`parse_percent`] reads: 1,000 → `"10"`, 1,250 →
/// `"12.5"`, 1 → `"0.01"`.
pub fn percent_text(bps: u32) -> String {
    let (whole, frac) = (bps / 100, bps % 100);
    match frac {
        0 => whole.to_string(),
        f if f.is_multiple_of(10) => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// An instant in RFC 3339, UTC (`2026-12-01T00:00:00Z`, with fractions of a second when
/// it has them): what [`parse_instant`] reads back to the same millisecond.
fn rfc3339(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// A list of slugs, each checked; none given is empty.
fn slugs(field: &'static str, names: Option<Vec<String>>) -> Result<Vec<String>> {
    let names = names.unwrap_or_default();
    for n in &names {
        couponcactus_chaincode::ids::validate_slug(n)
            .map_err(|source| PoolSpecError::BadId { field, source })?;
    }
    Ok(names)
}

fn invalid(field: &'static str, why: impl Into<String>) -> PoolSpecError {
    PoolSpecError::Invalid {
        field,
        why: why.into(),
    }
}

/// One amount given as decimal text or minor units, read in `currency`.
fn amount(
    field: &'static str,
    decimal: Option<&str>,
    minor: Option<u64>,
    currency: Currency,
) -> Result<Option<u64>> {
    amount_either(field, decimal, minor, Some(currency)).map_err(|e| invalid(field, e.to_string()))
}

/// A percentage as decimal text (at most two decimals, above 0, at most 100) in basis
/// points: `"10"` → 1,000, `"12.5"` → 1,250, `"0.01"` → 1.
pub fn parse_percent(text: &str) -> Result<u32> {
    let bad = |why: &str| PoolSpecError::Invalid {
        field: "percent",
        why: format!("{text:?}: {why}"),
    };
    let t = text.trim().trim_end_matches('%');
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(bad("not a number"));
    }
    if frac.len() > 2 {
        return Err(bad("at most two decimals (basis points)"));
    }
    if !whole
        .bytes()
        .chain(frac.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return Err(bad("not a decimal number"));
    }
    let whole: u32 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad("too large"))?
    };
    let frac: u32 = format!("{frac:0<2}")
        .parse()
        .map_err(|_| bad("not a number"))?;
    let bps = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| bad("too large"))?;
    if !(1..=10_000).contains(&bps) {
        return Err(bad("must be above 0 and at most 100"));
    }
    Ok(bps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_written_as_toml_reads_back_the_same() {
        let now = 1_767_225_600_000;
        let base = PoolSpecDraft::from_toml(
            r#"
            name = "Win back \"at risk\" — 20 % off"
            currency = "EUR"
            percent = "12.5"
            max_discount = "20.00"
            min_spend = "50"
            valid_from = "2026-02-01T10:00:00.250Z"
            valid_for = "30d"
            total_cap = 120
            per_member_cap = 2
            allowed_channels = ["pos", "web"]
            allowed_stores = ["berlin-1"]
            excluded_categories = ["tobacco"]
            stacking_group = "spring"
            partner_orgs = ["globex"]
            transferable = true
            velocity = [{ per = "member", max = 3, window = "1h 30m" }, { per = "store", max = 9, window = "250ms" }]
            requires_consent = "partner:globex"
            "#,
        )
        .unwrap()
        .into_spec(now)
        .unwrap();
        let fixed = PoolSpec {
            discount: Discount::Fixed { amount_minor: 505 },
            max_discount_minor: None,
            kind: PoolKind::SharedCode,
            currency: "JPY".parse().unwrap(),
            min_spend_minor: 0,
            velocity: Vec::new(),
            requires_consent: None,
            ..base.clone()
        };
        assert_eq!(
            base.requires_consent,
            Some(Purpose::PartnerSharing(OrgId("globex".into())))
        );
        let one_bp = PoolSpec {
            discount: Discount::Percent { bps: 1 },
            requires_consent: Some(Purpose::Marketing),
            ..base.clone()
        };
        for spec in [base, fixed, one_bp] {
            let text = PoolSpecDraft::from_spec(Some("win-back-7"), &spec)
                .to_toml()
                .unwrap();
            let draft = PoolSpecDraft::from_toml(&text).unwrap();
            assert_eq!(draft.pool_id().unwrap().unwrap().as_str(), "win-back-7");
            assert_eq!(draft.into_spec(now).unwrap(), spec, "{text}");
        }
        assert_eq!(percent_text(1_000), "10");
        assert_eq!(percent_text(1_250), "12.5");
        assert_eq!(percent_text(1_205), "12.05");
    }

    #[test]
    fn percentages_are_exact_basis_points() {
        assert_eq!(parse_percent("10").unwrap(), 1_000);
        assert_eq!(parse_percent("12.5").unwrap(), 1_250);
        assert_eq!(parse_percent("0.01").unwrap(), 1);
        assert_eq!(parse_percent("100%").unwrap(), 10_000);
        assert_eq!(parse_percent(".5").unwrap(), 50);
        for bad in ["0", "100.01", "1.234", "ten", "", "-5", "1e2"] {
            assert!(parse_percent(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_spec_file_gets_defaults_and_flags_override_it() {
        let draft = PoolSpecDraft::from_toml(
            r#"
            id = "spring"
            name = "Spring sale"
            currency = "EUR"
            percent = "10"
            total_cap = 100
            excluded_categories = ["tobacco"]
            "#,
        )
        .unwrap();
        assert_eq!(
            draft.pool_id().unwrap(),
            Some(PoolId::new("spring").unwrap())
        );
        let now = 1_767_225_600_000;
        let spec = draft.clone().into_spec(now).unwrap();
        assert_eq!(spec.kind, PoolKind::UniqueCodes);
        assert_eq!(spec.discount, Discount::Percent { bps: 1_000 });
        assert_eq!(spec.valid_from_ms, now - 60_000);
        assert_eq!(spec.valid_until_ms, now - 60_000 + 90 * DAY_MS);
        assert_eq!(spec.per_member_cap, 1);
        assert_eq!(spec.excluded_categories, vec![Category("tobacco".into())]);

        let flags = PoolSpecDraft {
            percent: None,
            fixed_minor: Some(500),
            total_cap: Some(5),
            ..Default::default()
        };
        // Flags give the discount in another form: it replaces the file's percent.
        let spec = draft.clone().overridden_by(flags).into_spec(now).unwrap();
        assert_eq!(spec.discount, Discount::Fixed { amount_minor: 500 });
        assert_eq!(spec.total_cap, 5);
        // Two forms of one thing in one layer are an error.
        let two = PoolSpecDraft {
            fixed: Some("5.00".into()),
            ..draft.clone()
        };
        assert!(two.into_spec(now).is_err());
        let both = PoolSpecDraft {
            max_discount: Some("20.00".into()),
            max_discount_minor: Some(2000),
            ..draft
        };
        let err = both.into_spec(now).unwrap_err();
        assert!(err.to_string().contains("max_discount"), "{err}");
    }

    /// 2026-01-01T00:00:00Z.
    const NOW: u64 = 1_767_225_600_000;

    fn spec_of(toml: &str) -> Result<PoolSpec> {
        let base = "name = \"x\"\npercent = \"10\"\ntotal_cap = 1\n";
        PoolSpecDraft::from_toml(&format!("{base}{toml}"))?.into_spec(NOW)
    }

    #[test]
    fn amounts_are_decimal_in_the_currency_or_minor_units() {
        let spec =
            spec_of("currency = \"eur\"\nmax_discount = \"20.00\"\nmin_spend = \"50\"\n").unwrap();
        assert_eq!(spec.currency, "EUR".parse().unwrap());
        assert_eq!(spec.max_discount_minor, Some(2_000));
        assert_eq!(spec.min_spend_minor, 5_000);
        let spec = spec_of("currency = \"JPY\"\nmax_discount = \"500\"\n").unwrap();
        assert_eq!(spec.max_discount_minor, Some(500));
        let spec = spec_of("currency = \"EUR\"\nmax_discount_minor = 2000\n").unwrap();
        assert_eq!(spec.max_discount_minor, Some(2_000));
        let fixed = PoolSpecDraft::from_toml(
            "name = \"x\"\ncurrency = \"KWD\"\nfixed = \"1.5\"\ntotal_cap = 1\n",
        )
        .unwrap()
        .into_spec(NOW)
        .unwrap();
        assert_eq!(
            fixed.discount,
            Discount::Fixed {
                amount_minor: 1_500
            }
        );

        for (bad, field) in [
            (
                "currency = \"EUR\"\nmax_discount = \"20.001\"\n",
                "max_discount",
            ),
            ("currency = \"EUR\"\nmin_spend = \"-5\"\n", "min_spend"),
            ("currency = \"JPY\"\nmin_spend = \"5.5\"\n", "min_spend"),
        ] {
            let err = spec_of(bad).unwrap_err();
            assert!(err.to_string().contains(field), "{bad}: {err}");
        }
        let err = spec_of("currency = \"ZZZ\"\n").unwrap_err();
        assert!(err.to_string().contains("ISO 4217"), "{err}");
    }

    #[test]
    fn validity_in_iso_8601_dates_and_durations() {
        let day = DAY_MS;
        let eur = "currency = \"EUR\"\n";
        let spec = spec_of(&format!(
            "{eur}valid_from = \"2026-12-01\"\nvalid_until = \"2026-12-24\"\n"
        ))
        .unwrap();
        // 2026-12-01T00:00Z, and the END of the 24th (the 25th, 00:00Z, exclusive).
        assert_eq!(spec.valid_from_ms, NOW + 334 * day);
        assert_eq!(spec.valid_until_ms, NOW + 358 * day);
        let spec = spec_of(&format!(
            "{eur}valid_from = \"2026-12-01T10:00+01:00\"\nvalid_for = \"12h\"\n"
        ))
        .unwrap();
        assert_eq!(spec.valid_from_ms, NOW + 334 * day + 9 * 3_600_000);
        assert_eq!(spec.valid_until_ms, spec.valid_from_ms + 12 * 3_600_000);
        let spec = spec_of(&format!("{eur}valid_for = \"30d\"\n")).unwrap();
        assert_eq!(spec.valid_until_ms - spec.valid_from_ms, 30 * day);

        for (bad, says) in [
            ("valid_until = \"2025-12-24\"\n", "in the past"),
            ("valid_until_ms = 1000\n", "in the past"),
            ("valid_until = \"2026-12-24T18:00\"\n", "no time zone"),
            ("valid_for = \"30\"\n", "not a duration"),
            ("valid_for = \"1 month\"\n", "not a duration"),
            ("valid_until = \"2026-12-24\"\nvalid_days = 3\n", "one way"),
            (
                "valid_from = \"2026-12-24\"\nvalid_until = \"2026-12-01\"\n",
                "not after",
            ),
            (
                "valid_from = \"2026-12-24\"\nvalid_from_ms = 5\n",
                "not both",
            ),
            ("valid_from = \"24.12.2026\"\n", "ISO 8601"),
        ] {
            let err = spec_of(&format!("{eur}{bad}")).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn a_flag_replaces_the_files_form_of_the_same_thing() {
        let file = PoolSpecDraft::from_toml(
            "name = \"x\"\ncurrency = \"EUR\"\npercent = \"10\"\ntotal_cap = 1\n\
             valid_until = \"2026-12-24\"\nmax_discount_minor = 100\n",
        )
        .unwrap();
        let flags = PoolSpecDraft {
            valid_for: Some("7d".into()),
            max_discount: Some("2.50".into()),
            ..Default::default()
        };
        let spec = file.overridden_by(flags).into_spec(NOW).unwrap();
        assert_eq!(spec.valid_until_ms - spec.valid_from_ms, 7 * DAY_MS);
        assert_eq!(spec.max_discount_minor, Some(250));
    }

    #[test]
    fn bad_specs_say_what_is_missing_or_wrong() {
        assert!(
            PoolSpecDraft::from_toml("nmae = \"typo\"").is_err(),
            "unknown fields are refused"
        );
        let base = PoolSpecDraft {
            name: Some("x".into()),
            currency: Some("EUR".parse().unwrap()),
            percent_bps: Some(100),
            total_cap: Some(1),
            ..Default::default()
        };
        assert!(base.clone().into_spec(10_000_000).is_ok());
        let err = PoolSpecDraft {
            name: None,
            ..base.clone()
        }
        .into_spec(0)
        .unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
        let err = PoolSpecDraft {
            allowed_stores: Some(vec!["Not A Slug".into()]),
            ..base.clone()
        }
        .into_spec(10_000_000)
        .unwrap_err();
        assert!(err.to_string().contains("allowed_stores"), "{err}");
        let err = PoolSpecDraft {
            valid_from_ms: Some(10),
            valid_until_ms: Some(10),
            ..base.clone()
        }
        .into_spec(0)
        .unwrap_err();
        assert!(err.to_string().contains("validity"), "{err}");
        for bad in ["advertising", "partner:", "partner:Not A Slug"] {
            let err = PoolSpecDraft {
                requires_consent: Some(bad.into()),
                ..base.clone()
            }
            .into_spec(10_000_000)
            .unwrap_err();
            assert!(err.to_string().contains("requires_consent"), "{err}");
        }
        assert!(
            PoolSpecDraft::from_toml("currency = \"EURO\"").is_err(),
            "a currency outside ISO 4217 is refused when the file is read"
        );
    }
}
