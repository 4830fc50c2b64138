//! What the doc-vector tests share: a generated section of a markdown document (between
//! two marker lines) that the test checks against the code, and rewrites when
//! `UPDATE_VECTORS` is set; the fenced blocks and vectors it holds; the hand encoder's
//! primitives; and the pool specs, holds and velocity limits both parts of the document use.

use couponcactus_chaincode::loyalty::EngagementRule;
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::GENESIS_MS;

/// A generated section of a document.
pub struct GeneratedDoc {
    /// The document.
    pub path: &'static str,
    /// The marker line the section starts after.
    pub begin: &'static str,
    /// The marker line it ends before.
    pub end: &'static str,
    /// Suffix of the temporary file a rewrite goes through (distinct per test binary, so
    /// two binaries rewriting the same document do not share it).
    pub tmp_suffix: &'static str,
}

impl GeneratedDoc {
    /// The document, after rewriting its generated section with `render()` if
    /// `UPDATE_VECTORS` is set (once per test run).
    pub fn read(&self, render: fn() -> String, done: &'static std::sync::OnceLock<()>) -> String {
        if update_requested() {
            done.get_or_init(|| self.rewrite(render()));
        }
        self.read_file()
    }

    /// The generated section of `doc`.
    pub fn section<'d>(&self, doc: &'d str) -> &'d str {
        let start = doc
            .find(self.begin)
            .unwrap_or_else(|| panic!("{} lacks the marker line\n{}", self.path, self.begin));
        let body_start = start + self.begin.len();
        let len = doc[body_start..]
            .find(self.end)
            .unwrap_or_else(|| panic!("{} lacks the marker line\n{}", self.path, self.end));
        &doc[body_start..body_start + len]
    }

    fn read_file(&self) -> String {
        std::fs::read_to_string(self.path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.path))
            .replace("\r\n", "\n")
    }

    fn rewrite(&self, generated: String) {
        let doc = self.read_file();
        let old = self.section(&doc);
        if old == generated {
            return;
        }
        let start = doc.find(self.begin).unwrap() + self.begin.len();
        let new_doc = format!(
            "{}{}{}",
            &doc[..start],
            generated,
            &doc[start + old.len()..]
        );
        // Write then rename, so that no reader sees a half-written file.
        let tmp = format!("{}{}", self.path, self.tmp_suffix);
        std::fs::write(&tmp, new_doc).unwrap();
        std::fs::rename(&tmp, self.path).unwrap();
        eprintln!(
            "rewrote the generated section of {} after {}",
            self.path, self.begin
        );
    }
}

fn update_requested() -> bool {
    std::env::var_os("UPDATE_VECTORS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The fenced blocks of `text` (from `path`, for the message): (info string, lines).
pub fn fenced_blocks(text: &str, path: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        match current.as_mut() {
            None => {
                if let Some(info) = line.trim_start().strip_prefix("```") {
                    current = Some((info.trim().to_string(), Vec::new()));
                }
            }
            Some((_, lines)) => {
                if line.trim() == "```" {
                    blocks.extend(current.take());
                } else {
                    lines.push(line.to_string());
                }
            }
        }
    }
    assert!(current.is_none(), "unterminated fenced block in {path}");
    blocks
}

/// A second encoder, written from the document's rules alone: bytes with a note per
/// segment. Each test adds the types of its part of the document on top of these
/// primitives.
#[derive(Debug, Default)]
pub struct Hand {
    /// The bytes so far.
    pub bytes: Vec<u8>,
    /// (offset, length, meaning) of each segment.
    pub notes: Vec<(usize, usize, String)>,
}

/// The loyalty program's encoding, from the document's tables (both parts of the document
/// carry a program, with its checkout rules and engagement rules: the `set_program` tx and
/// the `program` state record), and the loyalty enums both parts use (segments, adjustment
/// directions and reasons).
impl Hand {
    pub fn program(&mut self, s: &ProgramSpec, path: &str) {
        let p = |f: &str| format!("{path}.{f}");
        self.string(&s.name, &p("name"));
        self.currency(&s.currency, &p("currency"));
        self.vec(&s.segments, &p("segments"), |h, r, q| h.segment_rule(r, q));
        self.earn(&s.earn, &p("earn"));
        let t = &s.tiers;
        self.vec(&t.tiers, &p("tiers.tiers"), |h, tier, q| {
            h.string(&tier.name, &format!("{q}.name"));
            h.u64(tier.min_points, &format!("{q}.min_points"));
            h.u32(
                tier.multiplier_permille,
                &format!("{q}.multiplier_permille"),
            );
        });
        match t.basis {
            TierBasis::PointsCollected => self.variant(0, "PointsCollected", &p("tiers.basis")),
            TierBasis::Balance => self.variant(1, "Balance", &p("tiers.basis")),
        }
        self.u32(t.window_days, &p("tiers.window_days"));
        self.u32(t.grace_days, &p("tiers.grace_days"));
        self.boolean(t.keep_on_rule_change, &p("tiers.keep_on_rule_change"));
        self.u64(s.adjust_approval_above, &p("adjust_approval_above"));
        self.boolean(s.transfers, &p("transfers"));
        self.vec(&s.partner_orgs, &p("partner_orgs"), |h, o, q| {
            h.string(o.as_str(), q)
        });
        let c = &s.checkout;
        let cap = p("checkout.max_order_discount_minor");
        self.option(&c.max_order_discount_minor, &cap, |h, v| h.u64(*v, &cap));
        self.u64(c.point_value_minor, &p("checkout.point_value_minor"));
        self.vec(
            &c.not_combinable_pools,
            &p("checkout.not_combinable_pools"),
            |h, pool, q| h.string(pool.as_str(), q),
        );
        self.vec(&s.engagement, &p("engagement"), |h, r, q| {
            h.engagement_rule(r, q)
        });
        let consent = p("requires_consent");
        self.option(&s.requires_consent, &consent, |h, c| h.purpose(c, &consent));
    }
    pub fn engagement_rule(&mut self, r: &EngagementRule, path: &str) {
        let p = |f: &str| format!("{path}.{f}");
        self.string(&r.action, &p("action"));
        self.u64(r.points, &p("points"));
        let referred = p("referred_points");
        self.option(&r.referred_points, &referred, |h, v| h.u64(*v, &referred));
        self.u32(r.limit, &p("limit"));
        self.u32(r.window_days, &p("window_days"));
    }
    pub fn segment_rule(&mut self, r: &SegmentRule, path: &str) {
        let p = |f: &str| format!("{path}.{f}");
        self.segment(r.segment, &p("segment"));
        match r.unit {
            Unit::Money { currency } => {
                self.variant(0, "Money", &p("unit"));
                self.currency(&currency, &p("unit.currency"));
            }
            Unit::Points => self.variant(1, "Points", &p("unit")),
        }
        self.u8(r.spend_priority, &p("spend_priority"));
        match &r.expiry {
            ExpiryPolicy::Never => self.variant(0, "Never", &p("expiry")),
            ExpiryPolicy::MonthsAfterEarning { months } => {
                self.variant(1, "MonthsAfterEarning", &p("expiry"));
                self.u16(*months, &p("expiry.months"));
            }
            ExpiryPolicy::FixedDates { dates_ms } => {
                self.variant(2, "FixedDates", &p("expiry"));
                self.vec(dates_ms, &p("expiry.dates_ms"), |h, d, q| h.u64(*d, q));
            }
            ExpiryPolicy::Inactivity { days } => {
                self.variant(3, "Inactivity", &p("expiry"));
                self.u32(*days, &p("expiry.days"));
            }
        }
    }
    pub fn earn(&mut self, e: &EarnRule, path: &str) {
        let p = |f: &str| format!("{path}.{f}");
        self.u64(e.points, &p("points"));
        self.u64(e.per_minor, &p("per_minor"));
        self.vec(
            &e.excluded_categories,
            &p("excluded_categories"),
            |h, c, q| h.string(c.as_str(), q),
        );
        self.vec(&e.promotions, &p("promotions"), |h, promo, q| {
            h.u64(promo.from_ms, &format!("{q}.from_ms"));
            h.u64(promo.until_ms, &format!("{q}.until_ms"));
            h.u32(
                promo.multiplier_permille,
                &format!("{q}.multiplier_permille"),
            );
        });
        self.option(&e.per_tx_cap, &p("per_tx_cap"), |h, v| {
            h.u64(*v, &p("per_tx_cap"))
        });
        self.option(&e.period_cap, &p("period_cap"), |h, c| {
            h.u32(c.days, &p("period_cap.days"));
            h.u64(c.cap, &p("period_cap.cap"));
        });
        self.option(&e.max_balance, &p("max_balance"), |h, v| {
            h.u64(*v, &p("max_balance"))
        });
        self.u32(e.pending_days, &p("pending_days"));
        self.boolean(e.release_on_event, &p("release_on_event"));
    }
    pub fn currency(&mut self, c: &Currency, path: &str) {
        let text = String::from_utf8_lossy(&c.0).into_owned();
        self.raw(&c.0, format!("{path}: 3 raw bytes {text:?}"));
    }
    pub fn segment(&mut self, s: Segment, path: &str) {
        let (i, name) = match s {
            Segment::CashDeposit => (0, "CashDeposit"),
            Segment::Gift => (1, "Gift"),
            Segment::Mileage => (2, "Mileage"),
            Segment::RefundCredit => (3, "RefundCredit"),
        };
        self.variant(i, name, path);
    }
    pub fn direction(&mut self, d: Direction, path: &str) {
        match d {
            Direction::Credit => self.variant(0, "Credit", path),
            Direction::Debit => self.variant(1, "Debit", path),
        }
    }
    pub fn adjust_reason(&mut self, r: AdjustReason, path: &str) {
        let (i, name) = match r {
            AdjustReason::Goodwill => (0, "Goodwill"),
            AdjustReason::Correction => (1, "Correction"),
            AdjustReason::Migration => (2, "Migration"),
            AdjustReason::Fraud => (3, "Fraud"),
            AdjustReason::Other => (4, "Other"),
        };
        self.variant(i, name, path);
    }
}

/// The fraud rules' encoding, from the document's tables (both parts carry them: a pool
/// spec's velocity limits in the `create_pool` tx and the `pool` record; a hold's target
/// and reason in the hold txs, the `hold` record and key, and the hold events).
impl Hand {
    pub fn velocity_limit(&mut self, l: &VelocityLimit, path: &str) {
        let (i, name) = match l.per {
            VelocityScope::Member => (0, "Member"),
            VelocityScope::Terminal => (1, "Terminal"),
            VelocityScope::Store => (2, "Store"),
        };
        self.variant(i, name, &format!("{path}.per"));
        self.u32(l.max, &format!("{path}.max"));
        self.u64(l.window_ms, &format!("{path}.window_ms"));
    }
    pub fn hold_target(&mut self, t: &HoldTarget, path: &str) {
        let q = format!("{path}.0");
        match t {
            HoldTarget::Member(m) => {
                self.variant(0, "Member", path);
                self.array(&m.0, &q);
            }
            HoldTarget::Terminal(k) => {
                self.variant(1, "Terminal", path);
                self.array(&k.0, &q);
            }
            HoldTarget::Code(h) => {
                self.variant(2, "Code", path);
                self.array(&h.0, &q);
            }
        }
    }
    /// A consent purpose (issue 21): in pool and program specs, the consent tx, the
    /// `consent` key and the consent event.
    pub fn purpose(&mut self, c: &Purpose, path: &str) {
        match c {
            Purpose::Marketing => self.variant(0, "Marketing", path),
            Purpose::Profiling => self.variant(1, "Profiling", path),
            Purpose::PartnerSharing(org) => {
                self.variant(2, "PartnerSharing", path);
                self.string(org.as_str(), &format!("{path}.0"));
            }
        }
    }
    pub fn hold_reason(&mut self, r: HoldReason, path: &str) {
        let (i, name) = match r {
            HoldReason::Velocity => (0, "Velocity"),
            HoldReason::Enumeration => (1, "Enumeration"),
            HoldReason::Bot => (2, "Bot"),
            HoldReason::Leakage => (3, "Leakage"),
            HoldReason::ImpossibleTravel => (4, "ImpossibleTravel"),
            HoldReason::Collusion => (5, "Collusion"),
            HoldReason::Canary => (6, "Canary"),
            HoldReason::CustomerRequest => (7, "CustomerRequest"),
            HoldReason::Other => (8, "Other"),
        };
        self.variant(i, name, path);
    }
}

impl Hand {
    pub fn raw(&mut self, b: &[u8], note: String) {
        self.notes.push((self.bytes.len(), b.len(), note));
        self.bytes.extend_from_slice(b);
    }
    pub fn u8(&mut self, v: u8, path: &str) {
        self.raw(&[v], format!("{path}: u8 {v}"));
    }
    pub fn u16(&mut self, v: u16, path: &str) {
        self.raw(&v.to_le_bytes(), format!("{path}: u16 {v}"));
    }
    pub fn u32(&mut self, v: u32, path: &str) {
        self.raw(&v.to_le_bytes(), format!("{path}: u32 {v}"));
    }
    pub fn u64(&mut self, v: u64, path: &str) {
        self.raw(&v.to_le_bytes(), format!("{path}: u64 {v}"));
    }
    pub fn boolean(&mut self, v: bool, path: &str) {
        self.raw(&[u8::from(v)], format!("{path}: bool {v}"));
    }
    pub fn len(&mut self, n: usize, path: &str, what: &str) {
        self.raw(&(n as u64).to_le_bytes(), format!("{path}: {what} {n}"));
    }
    pub fn string(&mut self, s: &str, path: &str) {
        self.len(s.len(), path, "length");
        if !s.is_empty() {
            self.raw(s.as_bytes(), format!("{path}: {s:?}"));
        }
    }
    pub fn array(&mut self, b: &[u8], path: &str) {
        self.raw(b, format!("{path}: {} raw bytes", b.len()));
    }
    pub fn variant(&mut self, index: u32, name: &str, path: &str) {
        self.raw(
            &index.to_le_bytes(),
            format!("{path}: variant {index} = {name}"),
        );
    }
    pub fn option<T>(&mut self, v: &Option<T>, path: &str, mut some: impl FnMut(&mut Self, &T)) {
        match v {
            None => self.raw(&[0], format!("{path}: None")),
            Some(x) => {
                self.raw(&[1], format!("{path}: Some"));
                some(self, x);
            }
        }
    }
    pub fn vec<T>(&mut self, items: &[T], path: &str, mut each: impl FnMut(&mut Self, &T, &str)) {
        self.len(items.len(), path, "count");
        for (i, item) in items.iter().enumerate() {
            each(self, item, &format!("{path}[{i}]"));
        }
    }
    /// A map: its entry count as u64 LE, then each key and its value, in ascending key
    /// order (a `BTreeMap` iterates so).
    pub fn map<K, V>(
        &mut self,
        map: &std::collections::BTreeMap<K, V>,
        path: &str,
        mut each: impl FnMut(&mut Self, &K, &V, &str),
    ) {
        self.len(map.len(), path, "entries");
        for (i, (k, v)) in map.iter().enumerate() {
            each(self, k, v, &format!("{path}[{i}]"));
        }
    }

    /// One line per segment: offset, hex, meaning.
    pub fn annotated(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (offset, len, note) in &self.notes {
            let hex = hex::encode(&self.bytes[*offset..offset + len]);
            writeln!(out, "{offset:>4}  {hex:<16}  {note}").unwrap();
        }
        out
    }
}

/// One vector: its fenced-block kind (`…-vector`), name and `key: value` fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Vector {
    pub kind: String,
    pub name: String,
    pub fields: Vec<(String, String)>,
}

/// A `key: value` field of a vector.
pub fn field(key: &str, value: impl Into<String>) -> (String, String) {
    (key.to_string(), value.into())
}

/// The vectors among fenced `blocks`: those whose info string ends in `-vector`, each a
/// list of `key: value` lines with a `name:`.
pub fn parse_vectors(blocks: &[(String, Vec<String>)]) -> Vec<Vector> {
    blocks
        .iter()
        .filter(|(info, _)| info.ends_with("-vector"))
        .map(|(kind, lines)| {
            let fields: Vec<(String, String)> = lines
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let (k, v) = l
                        .split_once(": ")
                        .unwrap_or_else(|| panic!("line {l:?} of a {kind} is not `key: value`"));
                    (k.trim().to_string(), v.trim().to_string())
                })
                .collect();
            let name = fields
                .iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("a {kind} block has no `name:` line"));
            Vector {
                kind: kind.clone(),
                name,
                fields,
            }
        })
        .collect()
}

/// Two differing values, shortened around their first difference.
pub fn show_difference(doc: &str, code: &str) -> String {
    let (d, c): (Vec<char>, Vec<char>) = (doc.chars().collect(), code.chars().collect());
    let at = d
        .iter()
        .zip(&c)
        .position(|(a, b)| a != b)
        .unwrap_or(d.len().min(c.len()));
    let window = |v: &[char]| -> String {
        let from = at.saturating_sub(24);
        let to = (at + 40).min(v.len());
        format!(
            "{}{}{}",
            if from > 0 { "…" } else { "" },
            v[from..to].iter().collect::<String>(),
            if to < v.len() { "…" } else { "" }
        )
    };
    format!(
        "first difference at character {at} (lengths {} and {})\n      document: {}\n      \
         code:     {}",
        d.len(),
        c.len(),
        window(&d),
        window(&c)
    )
}

/// Differences between the documented and the regenerated vectors, one line each.
pub fn vector_differences(doc: &[Vector], code: &[Vector]) -> Vec<String> {
    let mut diffs = Vec::new();
    let doc_by_name: std::collections::BTreeMap<&str, &Vector> =
        doc.iter().map(|v| (v.name.as_str(), v)).collect();
    for v in code {
        let Some(d) = doc_by_name.get(v.name.as_str()) else {
            diffs.push(format!("vector `{}` is missing from the document", v.name));
            continue;
        };
        if d.kind != v.kind {
            diffs.push(format!(
                "vector `{}`: documented as a {}, generated as a {}",
                v.name, d.kind, v.kind
            ));
        }
        for (k, val) in &v.fields {
            match d.fields.iter().find(|(dk, _)| dk == k) {
                None => diffs.push(format!(
                    "vector `{}`: no `{k}` line in the document",
                    v.name
                )),
                Some((_, dv)) if dv != val => diffs.push(format!(
                    "vector `{}` field `{k}`: {}",
                    v.name,
                    show_difference(dv, val)
                )),
                Some(_) => {}
            }
        }
    }
    for d in doc {
        if !code.iter().any(|v| v.name == d.name) {
            diffs.push(format!(
                "vector `{}` is in the document but no longer generated",
                d.name
            ));
        }
    }
    diffs
}

// ---- fixtures the vectors of both parts of the document use -------------------------

/// The note of the risk key's hold on the code `SPRING-CODE-00000001`: the tx vector
/// `place_hold_code` places it, the state vector `hold_code_pending` keeps it (a note says
/// why: 1 to 280 bytes, not blank).
pub const HELD_CODE_NOTE: &str = "posted on a coupon forum: 9 tries at 4 stores in 1 h";

/// A slug id (pool, org, store, channel, …) from a literal.
pub fn slug<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

/// Pool `spring`: unique codes, 15 % off capped at 20.00 EUR, every optional field set
/// and every list non-empty (velocity limits of each scope: at most 3 redemptions per
/// member a day, 30 per terminal an hour, 500 per store a day).
pub fn full_spec() -> PoolSpec {
    PoolSpec {
        name: "Spring sale".into(),
        kind: PoolKind::UniqueCodes,
        currency: Currency(*b"EUR"),
        discount: Discount::Percent { bps: 1_500 },
        max_discount_minor: Some(2_000),
        min_spend_minor: 5_000,
        valid_from_ms: GENESIS_MS,
        valid_until_ms: GENESIS_MS + 30 * 24 * 3_600_000,
        total_cap: 10_000,
        per_member_cap: 2,
        allowed_channels: vec![slug("pos"), slug("web")],
        allowed_stores: vec![slug("berlin-1")],
        excluded_categories: vec![slug("tobacco")],
        stacking_group: Some("spring".into()),
        partner_orgs: vec![slug("globex")],
        transferable: true,
        velocity: vec![
            VelocityLimit {
                per: VelocityScope::Member,
                max: 3,
                window_ms: 24 * 3_600_000,
            },
            VelocityLimit {
                per: VelocityScope::Terminal,
                max: 30,
                window_ms: 3_600_000,
            },
            VelocityLimit {
                per: VelocityScope::Store,
                max: 500,
                window_ms: 24 * 3_600_000,
            },
        ],
        requires_consent: Some(Purpose::PartnerSharing(slug("globex"))),
    }
}

/// Pool `summer`: one shared code, 10.00 USD off, no optional field, every list empty.
pub fn shared_spec() -> PoolSpec {
    PoolSpec {
        name: "Summer 10".into(),
        kind: PoolKind::SharedCode,
        currency: Currency(*b"USD"),
        discount: Discount::Fixed {
            amount_minor: 1_000,
        },
        max_discount_minor: None,
        min_spend_minor: 0,
        valid_from_ms: GENESIS_MS,
        valid_until_ms: GENESIS_MS + 90 * 24 * 3_600_000,
        total_cap: 500,
        per_member_cap: 1,
        allowed_channels: vec![],
        allowed_stores: vec![],
        excluded_categories: vec![],
        stacking_group: None,
        partner_orgs: vec![],
        transferable: false,
        velocity: vec![],
        requires_consent: None,
    }
}
