//! Pool specs as people write them: a TOML file (or command-line flags) with defaults for
//! everything that has a sensible one, turned into the chaincode's [`PoolSpec`].
//!
//! ```toml
//! id = "spring"                 # the pool id (or --id)
//! name = "Spring sale"
//! kind = "unique_codes"         # or "shared_code"; default unique_codes
//! currency = "EUR"
//! percent = "10"                # 10 % off; or percent_bps = 1000, or fixed_minor = 500
//! max_discount_minor = 2000     # optional cap of one discount
//! min_spend_minor = 0
//! valid_days = 90               # or valid_until_ms; valid_from_ms defaults to a minute ago
//! total_cap = 10000
//! per_member_cap = 1
//! allowed_channels = ["pos"]    # empty: all
//! allowed_stores = []
//! excluded_categories = ["tobacco"]
//! partner_orgs = ["globex"]
//! transferable = false
//! ```
//!
//! Percentages are decimal text with at most two decimals (`"12.5"` = 1,250 basis points);
//! no floating point is involved anywhere.

use couponcactus_chaincode::ids::{Category, Channel, IdError, OrgId, PoolId, StoreId};
use couponcactus_chaincode::types::{Currency, Discount, PoolKind, PoolSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How long a pool stays valid when neither `valid_until_ms` nor `valid_days` is given.
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
    /// ISO 4217 currency.
    pub currency: Option<Currency>,
    /// Percent off as decimal text (`"10"`, `"12.5"`).
    pub percent: Option<String>,
    /// Percent off in basis points.
    pub percent_bps: Option<u32>,
    /// Fixed amount off, minor units.
    pub fixed_minor: Option<u64>,
    /// Cap of one discount, minor units.
    pub max_discount_minor: Option<u64>,
    /// Eligible amount needed, minor units (default 0).
    pub min_spend_minor: Option<u64>,
    /// First valid instant, ms since the epoch (default: a minute ago).
    pub valid_from_ms: Option<u64>,
    /// End of validity (exclusive), ms since the epoch.
    pub valid_until_ms: Option<u64>,
    /// Days of validity from `valid_from_ms` (default 90, unless `valid_until_ms` is set).
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
}

macro_rules! override_fields {
    ($base:ident, $top:ident, $($field:ident),* $(,)?) => {
        PoolSpecDraft { $($field: $top.$field.or($base.$field),)* }
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

    /// This draft with every field `top` sets taken from `top`.
    pub fn overridden_by(self, top: PoolSpecDraft) -> PoolSpecDraft {
        let base = self;
        override_fields!(
            base,
            top,
            id,
            name,
            kind,
            currency,
            percent,
            percent_bps,
            fixed_minor,
            max_discount_minor,
            min_spend_minor,
            valid_from_ms,
            valid_until_ms,
            valid_days,
            total_cap,
            per_member_cap,
            allowed_channels,
            allowed_stores,
            excluded_categories,
            stacking_group,
            partner_orgs,
            transferable,
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

    /// The chaincode spec: defaults filled in, ids and ranges checked. `now_ms` anchors the
    /// default validity window.
    pub fn into_spec(self, now_ms: u64) -> Result<PoolSpec> {
        let name = self
            .name
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
        let discount = match (self.percent, self.percent_bps, self.fixed_minor) {
            (Some(text), None, None) => Discount::Percent {
                bps: parse_percent(&text)?,
            },
            (None, Some(bps), None) => {
                if !(1..=10_000).contains(&bps) {
                    return Err(PoolSpecError::Invalid {
                        field: "percent_bps",
                        why: "1 to 10,000 basis points".into(),
                    });
                }
                Discount::Percent { bps }
            }
            (None, None, Some(amount_minor)) => {
                if amount_minor == 0 {
                    return Err(PoolSpecError::Invalid {
                        field: "fixed_minor",
                        why: "must be above 0".into(),
                    });
                }
                Discount::Fixed { amount_minor }
            }
            (None, None, None) => {
                return Err(PoolSpecError::Missing(
                    "a discount: percent (--percent 10), percent_bps or fixed_minor (--fixed-minor 500)",
                ));
            }
            _ => {
                return Err(PoolSpecError::Invalid {
                    field: "discount",
                    why: "give exactly one of percent, percent_bps and fixed_minor".into(),
                });
            }
        };
        let valid_from_ms = self
            .valid_from_ms
            .unwrap_or(now_ms.saturating_sub(DEFAULT_VALID_FROM_SLACK_MS));
        let valid_until_ms = match (self.valid_until_ms, self.valid_days) {
            (Some(_), Some(_)) => {
                return Err(PoolSpecError::Invalid {
                    field: "validity",
                    why: "give valid_until_ms or valid_days, not both".into(),
                });
            }
            (Some(until), None) => until,
            (None, days) => valid_from_ms
                .saturating_add(days.unwrap_or(DEFAULT_VALID_DAYS).saturating_mul(DAY_MS)),
        };
        if valid_until_ms <= valid_from_ms {
            return Err(PoolSpecError::Invalid {
                field: "validity",
                why: format!(
                    "valid_until_ms {valid_until_ms} is not after valid_from_ms {valid_from_ms}"
                ),
            });
        }
        let total_cap = self.total_cap.ok_or(PoolSpecError::Missing(
            "a total cap (total_cap = … or --total-cap)",
        ))?;
        let slugs = |field: &'static str, names: Option<Vec<String>>| -> Result<Vec<String>> {
            let names = names.unwrap_or_default();
            for n in &names {
                couponcactus_chaincode::ids::validate_slug(n)
                    .map_err(|source| PoolSpecError::BadId { field, source })?;
            }
            Ok(names)
        };
        Ok(PoolSpec {
            name,
            kind: self.kind.unwrap_or(PoolKind::UniqueCodes),
            currency,
            discount,
            max_discount_minor: self.max_discount_minor,
            min_spend_minor: self.min_spend_minor.unwrap_or(0),
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
        })
    }
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
        // Flags set fixed_minor; the file's percent stays: two discounts is an error.
        assert!(
            draft
                .clone()
                .overridden_by(flags.clone())
                .into_spec(now)
                .is_err()
        );
        let file_without_percent = PoolSpecDraft {
            percent: None,
            ..draft
        };
        let spec = file_without_percent
            .overridden_by(flags)
            .into_spec(now)
            .unwrap();
        assert_eq!(spec.discount, Discount::Fixed { amount_minor: 500 });
        assert_eq!(spec.total_cap, 5);
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
            ..base
        }
        .into_spec(0)
        .unwrap_err();
        assert!(err.to_string().contains("validity"), "{err}");
    }
}
