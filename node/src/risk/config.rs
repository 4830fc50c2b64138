//! An org's fraud-scoring settings: the thresholds that send a redemption to review or
//! hold its subject, shadow mode, each rule's limit and weight, its stores' places and
//! hours, and its canary codes. Read from the node's `risk.toml` (docs/intelligence.md);
//! [`RiskConfig::validate`] refuses what cannot work, with the field it is about.

use couponcactus_chaincode::ids::{CodeHash, StoreId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most stores and canary codes a configuration lists.
pub const MAX_LISTED: usize = 10_000;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A field is out of range; the text says which and why.
    #[error("risk config: {field}: {why}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        why: String,
    },
}

fn invalid(field: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        why: why.into(),
    }
}

/// A rule's limit (what it allows; above it the rule fires) and weight (what it adds to
/// the score, 0 to 100; 0 turns the rule off).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// What is allowed (a count, or ms, or km/h: the rule says).
    pub limit: u64,
    /// Points added to the score when it fires.
    pub weight: u8,
}

/// Every rule's limit and weight (docs/intelligence.md, "Scoring").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Redemptions of one member in an hour.
    pub member_per_hour: Rule,
    /// Redemptions at one terminal in a minute.
    pub terminal_per_minute: Rule,
    /// Redemptions at one store in a minute.
    pub store_per_minute: Rule,
    /// Attempts (applied or refused) on one code in ten minutes.
    pub code_attempts: Rule,
    /// Failed validations (unknown code, wrong member, revoked, redeemed, expired) at one
    /// terminal in five minutes: someone guessing codes.
    pub failed_validations: Rule,
    /// Fastest allocation-to-redemption, ms: quicker is a bot.
    pub bot_latency_ms: Rule,
    /// Fastest travel between two stores for one member, km/h: quicker is impossible.
    pub travel_kmh: Rule,
    /// Earlier refusals of a code for another member, store or channel: a leaked code.
    pub leaked_attempts: Rule,
    /// Visits of one member at one terminal in a day (redemptions within five minutes
    /// are one visit): a terminal working for someone.
    pub same_member_at_terminal: Rule,
    /// A redemption outside its store's hours (limit unused).
    pub off_hours: Rule,
    /// A canary code, which no customer ever received (limit unused).
    pub canary: Rule,
    /// The statistical model's anomaly score (0 to 100, [`super::anomaly`]) above `limit`
    /// (1 to 99). It never holds alone: a verdict is `hold` only when the other rules reach
    /// `hold_at` without it.
    pub anomaly: Rule,
}

impl Default for Rules {
    fn default() -> Self {
        let rule = |limit, weight| Rule { limit, weight };
        Rules {
            member_per_hour: rule(6, 40),
            terminal_per_minute: rule(20, 35),
            store_per_minute: rule(40, 25),
            code_attempts: rule(3, 45),
            failed_validations: rule(8, 80),
            bot_latency_ms: rule(3_000, 70),
            travel_kmh: rule(500, 80),
            leaked_attempts: rule(0, 75),
            same_member_at_terminal: rule(3, 70),
            off_hours: rule(0, 25),
            canary: rule(0, 100),
            anomaly: rule(90, 65),
        }
    }
}

/// Where a store is and when it is open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreInfo {
    /// Latitude, millionths of a degree.
    pub lat_e6: i32,
    /// Longitude, millionths of a degree.
    pub lon_e6: i32,
    /// Opening, minutes after local midnight (absent: always open).
    pub opens_min: Option<u16>,
    /// Closing, minutes after local midnight (may be past midnight: less than opening).
    pub closes_min: Option<u16>,
    /// The store's offset from UTC, minutes.
    pub utc_offset_min: i16,
}

/// One org's scoring settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// A score at or above this goes to the review queue.
    pub review_at: u8,
    /// A score at or above this holds the subject (pending review), unless in shadow.
    pub hold_at: u8,
    /// Score and queue, never hold.
    pub shadow: bool,
    /// The rules.
    pub rules: Rules,
    /// The org's stores.
    pub stores: BTreeMap<StoreId, StoreInfo>,
    /// Codes (hashes) that no customer received; any attempt on one is fraud.
    pub canaries: BTreeSet<CodeHash>,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            review_at: 65,
            hold_at: 75,
            shadow: false,
            rules: Rules::default(),
            stores: BTreeMap::new(),
            canaries: BTreeSet::new(),
        }
    }
}

impl RiskConfig {
    /// Refuses thresholds and rules that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=100).contains(&self.review_at) {
            return Err(invalid("review_at", "1 to 100"));
        }
        if !(self.review_at..=100).contains(&self.hold_at) {
            return Err(invalid("hold_at", "from review_at to 100"));
        }
        for (name, rule) in self.rules.named() {
            if rule.weight > 100 {
                return Err(invalid(format!("rules.{name}.weight"), "0 to 100"));
            }
            let needs_limit = !matches!(name, "off_hours" | "canary" | "leaked_attempts");
            if needs_limit && rule.weight > 0 && rule.limit == 0 {
                return Err(invalid(format!("rules.{name}.limit"), "at least 1"));
            }
        }
        let anomaly = self.rules.anomaly;
        if anomaly.weight > 0 && !(1..=99).contains(&anomaly.limit) {
            return Err(invalid("rules.anomaly.limit", "an anomaly score, 1 to 99"));
        }
        if self.stores.len() > MAX_LISTED || self.canaries.len() > MAX_LISTED {
            return Err(invalid("stores", "at most 10,000 stores and canaries"));
        }
        for (id, s) in &self.stores {
            validate_store(id, s)?;
        }
        Ok(())
    }
}

fn validate_store(id: &StoreId, s: &StoreInfo) -> Result<(), ConfigError> {
    let field = |f: &str| format!("stores.{id}.{f}");
    if !(-90_000_000..=90_000_000).contains(&s.lat_e6) {
        return Err(invalid(field("lat_e6"), "-90 to 90 degrees"));
    }
    if !(-180_000_000..=180_000_000).contains(&s.lon_e6) {
        return Err(invalid(field("lon_e6"), "-180 to 180 degrees"));
    }
    match (s.opens_min, s.closes_min) {
        (None, None) => {}
        (Some(o), Some(c)) if o < 1_440 && c < 1_440 && o != c => {}
        _ => {
            return Err(invalid(
                field("opens_min"),
                "both hours or neither, each 0 to 1439, not equal",
            ));
        }
    }
    if !(-720..=840).contains(&s.utc_offset_min) {
        return Err(invalid(field("utc_offset_min"), "-720 to 840 minutes"));
    }
    Ok(())
}

impl Rules {
    /// Every rule with its name.
    pub fn named(&self) -> [(&'static str, Rule); 12] {
        [
            ("member_per_hour", self.member_per_hour),
            ("terminal_per_minute", self.terminal_per_minute),
            ("store_per_minute", self.store_per_minute),
            ("code_attempts", self.code_attempts),
            ("failed_validations", self.failed_validations),
            ("bot_latency_ms", self.bot_latency_ms),
            ("travel_kmh", self.travel_kmh),
            ("leaked_attempts", self.leaked_attempts),
            ("same_member_at_terminal", self.same_member_at_terminal),
            ("off_hours", self.off_hours),
            ("canary", self.canary),
            ("anomaly", self.anomaly),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_broken_settings_name_their_field() {
        assert_eq!(RiskConfig::default().validate(), Ok(()));
        let mut c = RiskConfig {
            hold_at: 50,
            ..RiskConfig::default()
        };
        assert!(
            matches!(c.validate(), Err(ConfigError::Invalid { field, .. }) if field == "hold_at")
        );
        c.hold_at = 75;
        c.rules.bot_latency_ms.limit = 0;
        assert!(
            matches!(c.validate(), Err(ConfigError::Invalid { field, .. }) if field == "rules.bot_latency_ms.limit")
        );
        c.rules.bot_latency_ms.limit = 1;
        let berlin = StoreId::new("berlin-1").unwrap();
        c.stores.insert(
            berlin,
            StoreInfo {
                lat_e6: 52_520_000,
                lon_e6: 13_405_000,
                opens_min: Some(480),
                closes_min: None,
                utc_offset_min: 60,
            },
        );
        assert!(
            matches!(c.validate(), Err(ConfigError::Invalid { field, .. }) if field == "stores.berlin-1.opens_min")
        );
        let toml =
            "review_at = 60\nhold_at = 90\nshadow = true\n[rules.canary]\nlimit = 0\nweight = 90\n";
        let parsed: RiskConfig = toml::from_str(toml).unwrap();
        assert_eq!(parsed.rules.canary.weight, 90);
        assert_eq!(
            parsed.rules.member_per_hour,
            Rules::default().member_per_hour
        );
        assert!(toml::from_str::<RiskConfig>("review_at = 60\nhld_at = 90\n").is_err());
    }

    #[test]
    fn a_malformed_anomaly_rule_is_refused() {
        let field = |c: &RiskConfig| match c.validate() {
            Err(ConfigError::Invalid { field, .. }) => field,
            Ok(()) => "ok".to_string(),
        };
        let mut c = RiskConfig::default();
        for (limit, weight, expected) in [
            (0, 65, "rules.anomaly.limit"),
            (100, 65, "rules.anomaly.limit"),
            (1_000, 65, "rules.anomaly.limit"),
            (90, 101, "rules.anomaly.weight"),
            (0, 0, "ok"),
            (99, 100, "ok"),
        ] {
            c.rules.anomaly = Rule { limit, weight };
            assert_eq!(field(&c), expected, "limit {limit}, weight {weight}");
        }
        let parsed: RiskConfig =
            toml::from_str("[rules.anomaly]\nlimit = 95\nweight = 70\n").unwrap();
        assert_eq!(
            parsed.rules.anomaly,
            Rule {
                limit: 95,
                weight: 70
            }
        );
        assert!(toml::from_str::<RiskConfig>("[rules.anomaly]\nthreshold = 95\n").is_err());
        let wrong: RiskConfig =
            toml::from_str("[rules.anomaly]\nlimit = 0\nweight = 65\n").unwrap();
        assert!(
            wrong
                .validate()
                .unwrap_err()
                .to_string()
                .contains("rules.anomaly.limit")
        );
    }
}
