//! Member segments of one org: RFM scores, named groups, churn risk, lifetime value and
//! home store per pseudonymous member, and k-means clusters over the same features.
//!
//! - **Recency** is the days from the member's last visit (a redemption, checkout or
//!   points earn) to "as of" (the block time of the analytics position); **frequency** the
//!   days with a visit inside the window; **monetary** the order totals inside the window.
//!   Each becomes a score 1–5 by quintile of rank among the org's members who visited at
//!   all (equal values share a score, so the scores do not depend on member ids).
//! - **Groups** follow the usual RFM map ([`Group::of`]): champions, loyal, potential
//!   loyalists, new, promising, need attention, about to sleep, cannot lose, at risk,
//!   hibernating, dormant; members allocated coupons who never visited are prospects, and
//!   a member whose first visit is under [`NEW_DAYS`] old with at most two visit days is
//!   new.
//! - **Churn risk** is days since the last visit ÷ the member's usual gap between visits
//!   (the org's median gap for members with one visit), in percent: low below 150 %,
//!   medium below 300 %, high from there.
//! - **Lifetime value** is every order total minus every discount, all time (what the
//!   member brought in net of what coupons cost), minor units.
//! - **Clusters** (the "AI" path): k-means (linfa) on standardised log recency, frequency
//!   and monetary of the members who visited, seeded, so a height gives the same clusters;
//!   each cluster is named by the group its average scores map to. Fewer members than
//!   [`SegmentConfig::min_cluster_members`], or a failed fit, fall back to the RFM groups
//!   ([`Method::Rfm`]).
#![allow(clippy::float_arithmetic)] // k-means features and centroids are floating point

use super::IntelError;
use crate::analytics::members::{MemberData, MemberDay};
use linfa::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_clustering::KMeans;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Days a member counts as new after a first visit (with at most two visit days).
pub const NEW_DAYS: u32 = 30;

/// How segments are computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentConfig {
    /// Days of activity frequency and monetary count (1–3,650).
    pub window_days: u32,
    /// Clusters k-means looks for (2–12).
    pub clusters: usize,
    /// Fewest visiting members k-means runs on (at least 10 per cluster).
    pub min_cluster_members: usize,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            window_days: 365,
            clusters: 5,
            min_cluster_members: 50,
        }
    }
}

impl SegmentConfig {
    /// Refuses values out of range, naming the field.
    pub fn validate(&self) -> Result<(), IntelError> {
        if !(1..=3_650).contains(&self.window_days) {
            return Err(IntelError::Invalid(format!(
                "window_days must be 1 to 3650, not {}",
                self.window_days
            )));
        }
        if !(2..=12).contains(&self.clusters) {
            return Err(IntelError::Invalid(format!(
                "clusters must be 2 to 12, not {}",
                self.clusters
            )));
        }
        if self.min_cluster_members < self.clusters * 10 {
            return Err(IntelError::Invalid(format!(
                "min_cluster_members must be at least 10 per cluster ({}), not {}",
                self.clusters * 10,
                self.min_cluster_members
            )));
        }
        Ok(())
    }
}

/// A named RFM group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Recent, frequent, big spenders.
    Champions,
    /// Frequent, still active.
    Loyal,
    /// Recent with a few visits.
    PotentialLoyalist,
    /// Just arrived, one visit.
    New,
    /// Fairly recent, one visit.
    Promising,
    /// Middling on all counts.
    NeedAttention,
    /// Middling recency, one visit.
    AboutToSleep,
    /// Were frequent big spenders, now gone quiet.
    CannotLose,
    /// Were frequent, now gone quiet.
    AtRisk,
    /// Few visits, long ago.
    Hibernating,
    /// Few visits, longest ago.
    Dormant,
    /// Allocated coupons, never visited.
    Prospect,
}

impl Group {
    /// Every group, in display order.
    pub const ALL: [Group; 12] = [
        Group::Champions,
        Group::Loyal,
        Group::PotentialLoyalist,
        Group::New,
        Group::Promising,
        Group::NeedAttention,
        Group::AboutToSleep,
        Group::CannotLose,
        Group::AtRisk,
        Group::Hibernating,
        Group::Dormant,
        Group::Prospect,
    ];

    /// The group of scores `r`, `f`, `m` (each 1–5); the rules are tried in order.
    #[allow(overlapping_range_endpoints)] // earlier rules take the shared scores on purpose
    pub fn of(r: u8, f: u8, m: u8) -> Group {
        match (r, f, m) {
            (4.., 4.., 4..) => Group::Champions,
            (3.., 4.., _) => Group::Loyal,
            (4.., 2..=3, _) => Group::PotentialLoyalist,
            (5, _, _) => Group::New,
            (4, _, _) => Group::Promising,
            (3, 2..=3, _) => Group::NeedAttention,
            (3, _, _) => Group::AboutToSleep,
            (_, 4.., 4..) => Group::CannotLose,
            (_, 3.., _) => Group::AtRisk,
            (2, _, _) => Group::Hibernating,
            _ => Group::Dormant,
        }
    }

    /// The group's stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Group::Champions => "champions",
            Group::Loyal => "loyal",
            Group::PotentialLoyalist => "potential_loyalist",
            Group::New => "new",
            Group::Promising => "promising",
            Group::NeedAttention => "need_attention",
            Group::AboutToSleep => "about_to_sleep",
            Group::CannotLose => "cannot_lose",
            Group::AtRisk => "at_risk",
            Group::Hibernating => "hibernating",
            Group::Dormant => "dormant",
            Group::Prospect => "prospect",
        }
    }

    /// Parses a name of [`Group::name`].
    pub fn parse(s: &str) -> Result<Group, IntelError> {
        Group::ALL
            .into_iter()
            .find(|g| g.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
                IntelError::Invalid(format!(
                    "unknown segment {s:?}; known: {}",
                    known.join(", ")
                ))
            })
    }
}

/// How likely a member is to have churned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnLevel {
    /// Under 150 % of the usual gap since the last visit.
    Low,
    /// 150 % to 300 %.
    Medium,
    /// 300 % and more.
    High,
}

/// One member's segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSegment {
    /// The pseudonymous member id.
    pub member: String,
    /// Days since the last visit (`None`: never visited).
    pub recency_days: Option<u32>,
    /// Days with a visit inside the window.
    pub frequency: u32,
    /// Order totals inside the window, minor units.
    pub monetary_minor: i64,
    /// Scores 1–5 (0 for a prospect).
    pub r: u8,
    /// Frequency score.
    pub f: u8,
    /// Monetary score.
    pub m: u8,
    /// The RFM group.
    pub group: Group,
    /// Days between visits, on average (`None`: fewer than two visits).
    pub usual_gap_days: Option<u32>,
    /// Days since the last visit ÷ the usual gap (or the org's median gap), percent.
    pub churn_ratio_pct: Option<u32>,
    /// Its level.
    pub churn: Option<ChurnLevel>,
    /// Order totals minus discounts, all time, minor units.
    pub ltv_minor: i64,
    /// Points earned, all time.
    pub points: i64,
    /// The store with most of its redemptions and checkouts.
    pub home_store: Option<String>,
    /// The k-means cluster (an index into [`Segments::clusters`]).
    pub cluster: Option<usize>,
}

/// How members were grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// k-means clusters, named by their average scores.
    Kmeans,
    /// The RFM groups only (too few members, or the fit failed).
    Rfm,
}

/// A k-means cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// The group its average scores map to (`name` distinguishes two of one group).
    pub group: Group,
    /// Display name: the group's, with a number when two clusters share it.
    pub name: String,
    /// Members in it.
    pub members: u64,
    /// Average scores ×100 (e.g. 425 = 4.25).
    pub r_x100: u32,
    /// Frequency score average ×100.
    pub f_x100: u32,
    /// Monetary score average ×100.
    pub m_x100: u32,
}

/// A group's totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// Members in it.
    pub members: u64,
    /// Of them, at high churn risk.
    pub high_churn: u64,
    /// Sum of their lifetime values, minor units.
    pub ltv_minor: i64,
    /// Sum of their order totals in the window, minor units.
    pub monetary_minor: i64,
    /// Coupons allocated to them and redeemed by them (all pools).
    pub allocated: u64,
    /// Of those, redeemed.
    pub redeemed: u64,
}

/// An org's segments at one position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segments {
    /// The day (`time_ms / 86,400,000`) "as of".
    pub as_of_day: u32,
    /// How the clusters were made.
    pub method: Method,
    /// Every member with activity, by member id.
    pub members: Vec<MemberSegment>,
    /// Totals per RFM group.
    pub groups: BTreeMap<Group, GroupSummary>,
    /// The k-means clusters (empty with [`Method::Rfm`]).
    pub clusters: Vec<Cluster>,
    /// The org's median gap between visits, days.
    pub median_gap_days: Option<u32>,
}

/// One member's raw figures, before scoring.
#[derive(Clone, Debug, Default)]
struct Raw {
    first: Option<u32>,
    last: Option<u32>,
    visit_days: u32,
    window_days: u32,
    window_gross: i64,
    gross: i64,
    discount: i64,
    points: i64,
}

fn raw_of(days: &[MemberDay], from_day: u32, as_of: u32) -> Raw {
    let mut r = Raw::default();
    for d in days.iter().filter(|d| d.day <= as_of) {
        r.gross += d.gross;
        r.discount += d.discount;
        r.points += d.points;
        if d.visits > 0 {
            r.first.get_or_insert(d.day);
            r.last = Some(d.day);
            r.visit_days += 1;
            if d.day >= from_day {
                r.window_days += 1;
                r.window_gross += d.gross;
            }
        }
    }
    r
}

/// Score 1–5 of each value by quintile of rank (higher value, higher score; equal
/// values, equal score).
fn quintiles(values: &[i64]) -> Vec<u8> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len().max(1);
    values
        .iter()
        .map(|v| {
            let below = sorted.partition_point(|x| x < v);
            u8::try_from(1 + below * 5 / n).unwrap_or(5).min(5)
        })
        .collect()
}

fn median(mut v: Vec<u32>) -> Option<u32> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// The segments of `data`'s members as of day `as_of` (each member's days must be
/// contiguous in `data.days`, as the store returns them).
pub fn compute(data: &MemberData, as_of: u32, cfg: &SegmentConfig) -> Result<Segments, IntelError> {
    cfg.validate()?;
    let from_day = as_of.saturating_sub(cfg.window_days - 1);
    let raws = raws_by_member(data, from_day, as_of);
    let gaps: Vec<u32> = raws.iter().filter_map(usual_gap).collect();
    let median_gap = median(gaps);
    let mut members = score(data, &raws, as_of, median_gap);
    let homes = home_stores(data);
    for (i, m) in members.iter_mut().enumerate() {
        m.home_store = homes.get(&i).cloned();
    }
    let (method, clusters) = cluster(&mut members, &raws, cfg);
    let groups = summarise(data, &members);
    Ok(Segments {
        as_of_day: as_of,
        method,
        members,
        groups,
        clusters,
        median_gap_days: median_gap,
    })
}

fn raws_by_member(data: &MemberData, from_day: u32, as_of: u32) -> Vec<Raw> {
    let mut raws = vec![Raw::default(); data.members.len()];
    let mut start = 0;
    while start < data.days.len() {
        let member = data.days[start].member;
        let end = start + data.days[start..].partition_point(|d| d.member == member);
        if let Some(r) = raws.get_mut(member as usize) {
            *r = raw_of(&data.days[start..end], from_day, as_of);
        }
        start = end;
    }
    raws
}

fn usual_gap(r: &Raw) -> Option<u32> {
    match (r.first, r.last) {
        (Some(a), Some(b)) if r.visit_days >= 2 => Some(((b - a) / (r.visit_days - 1)).max(1)),
        _ => None,
    }
}

fn score(
    data: &MemberData,
    raws: &[Raw],
    as_of: u32,
    median_gap: Option<u32>,
) -> Vec<MemberSegment> {
    let visited: Vec<usize> = (0..raws.len())
        .filter(|&i| raws[i].last.is_some())
        .collect();
    let recency = |i: usize| i64::from(as_of - raws[i].last.unwrap_or(as_of).min(as_of));
    let r = quintiles(&visited.iter().map(|&i| -recency(i)).collect::<Vec<_>>());
    let f = quintiles(
        &visited
            .iter()
            .map(|&i| i64::from(raws[i].window_days))
            .collect::<Vec<_>>(),
    );
    let m = quintiles(
        &visited
            .iter()
            .map(|&i| raws[i].window_gross)
            .collect::<Vec<_>>(),
    );
    let mut scores = BTreeMap::new();
    for (k, &i) in visited.iter().enumerate() {
        scores.insert(i, (r[k], f[k], m[k]));
    }
    (0..raws.len())
        .map(|i| {
            let raw = &raws[i];
            let (r, f, m) = scores.get(&i).copied().unwrap_or((0, 0, 0));
            let recency_days = raw.last.map(|l| as_of.saturating_sub(l));
            let gap = usual_gap(raw);
            let ratio = recency_days.zip(gap.or(median_gap)).map(|(d, g)| {
                u32::try_from(u64::from(d) * 100 / u64::from(g.max(1))).unwrap_or(u32::MAX)
            });
            MemberSegment {
                member: data.members[i].clone(),
                recency_days,
                frequency: raw.window_days,
                monetary_minor: raw.window_gross,
                r,
                f,
                m,
                group: group_of(raw, as_of, (r, f, m)),
                usual_gap_days: gap,
                churn_ratio_pct: ratio,
                churn: ratio.map(churn_level),
                ltv_minor: (raw.gross - raw.discount).max(0),
                points: raw.points,
                home_store: None,
                cluster: None,
            }
        })
        .collect()
}

/// A member's group: prospects never visited; a member whose first visit is under
/// [`NEW_DAYS`] old with at most two visit days is new whatever the quintiles say (ranks
/// by day put a two-day-old first visit mid-field when regulars come every few days);
/// the rest by [`Group::of`].
fn group_of(raw: &Raw, as_of: u32, (r, f, m): (u8, u8, u8)) -> Group {
    match raw.first {
        None => Group::Prospect,
        Some(first) if first + NEW_DAYS > as_of && raw.visit_days <= 2 => Group::New,
        Some(_) => Group::of(r, f, m),
    }
}

fn churn_level(pct: u32) -> ChurnLevel {
    match pct {
        0..150 => ChurnLevel::Low,
        150..300 => ChurnLevel::Medium,
        _ => ChurnLevel::High,
    }
}

/// Each member's store with the most redemptions and checkouts (ties: the smaller id).
fn home_stores(data: &MemberData) -> BTreeMap<usize, String> {
    let mut best: BTreeMap<usize, (i64, String)> = BTreeMap::new();
    for (m, store, n) in &data.stores {
        let e = best.entry(*m as usize).or_insert((0, String::new()));
        if *n > e.0 {
            *e = (*n, store.clone());
        }
    }
    best.into_iter().map(|(m, (_, s))| (m, s)).collect()
}

/// The standardised features of the visiting members: log recency, log frequency, log
/// monetary, each centred and scaled to unit variance.
fn features(members: &[MemberSegment], rows: &[usize]) -> Array2<f64> {
    let mut x = Array2::<f64>::zeros((rows.len(), 3));
    for (k, &i) in rows.iter().enumerate() {
        let m = &members[i];
        x[[k, 0]] = f64::from(m.recency_days.unwrap_or(0)).ln_1p();
        x[[k, 1]] = f64::from(m.frequency).ln_1p();
        x[[k, 2]] = (m.monetary_minor.max(0) as f64 / 100.0).ln_1p();
    }
    for mut col in x.columns_mut() {
        let n = col.len().max(1) as f64;
        let mean = col.sum() / n;
        let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        col.mapv_inplace(|v| if sd > 0.0 { (v - mean) / sd } else { 0.0 });
    }
    x
}

/// k-means over the visiting members; the RFM groups when that cannot run.
fn cluster(
    members: &mut [MemberSegment],
    raws: &[Raw],
    cfg: &SegmentConfig,
) -> (Method, Vec<Cluster>) {
    let rows: Vec<usize> = (0..raws.len()).filter(|&i| members[i].r > 0).collect();
    if rows.len() < cfg.min_cluster_members {
        return (Method::Rfm, Vec::new());
    }
    let x = features(members, &rows);
    let data = DatasetBase::from(x.clone());
    let fit = KMeans::params(cfg.clusters)
        .n_runs(4)
        .max_n_iterations(200)
        .tolerance(1e-6)
        .fit(&data);
    let Ok(model) = fit else {
        tracing::warn!("k-means did not fit the member features: falling back to RFM groups");
        return (Method::Rfm, Vec::new());
    };
    let labels = model.predict(&x);
    let mut sums = vec![(0u64, 0u64, 0u64, 0u64); cfg.clusters];
    for (k, &i) in rows.iter().enumerate() {
        let c = labels[k];
        members[i].cluster = Some(c);
        let s = &mut sums[c];
        *s = (
            s.0 + 1,
            s.1 + u64::from(members[i].r),
            s.2 + u64::from(members[i].f),
            s.3 + u64::from(members[i].m),
        );
    }
    (Method::Kmeans, name_clusters(&sums))
}

fn name_clusters(sums: &[(u64, u64, u64, u64)]) -> Vec<Cluster> {
    let mut seen: BTreeMap<Group, u32> = BTreeMap::new();
    sums.iter()
        .map(|&(n, r, f, m)| {
            let avg = |v: u64| u32::try_from(v * 100 / n.max(1)).unwrap_or(500);
            let round = |v: u32| u8::try_from((v + 50) / 100).unwrap_or(5).clamp(1, 5);
            let (r, f, m) = (avg(r), avg(f), avg(m));
            let group = Group::of(round(r), round(f), round(m));
            let k = seen.entry(group).or_insert(0);
            *k += 1;
            let name = if *k == 1 {
                group.name().to_string()
            } else {
                format!("{} ({k})", group.name())
            };
            Cluster {
                group,
                name,
                members: n,
                r_x100: r,
                f_x100: f,
                m_x100: m,
            }
        })
        .collect()
}

fn summarise(data: &MemberData, members: &[MemberSegment]) -> BTreeMap<Group, GroupSummary> {
    let mut groups: BTreeMap<Group, GroupSummary> = BTreeMap::new();
    for m in members {
        let g = groups.entry(m.group).or_default();
        g.members += 1;
        g.high_churn += u64::from(m.churn == Some(ChurnLevel::High));
        g.ltv_minor += m.ltv_minor;
        g.monetary_minor += m.monetary_minor;
    }
    for o in &data.outcomes {
        if let Some(m) = members.get(o.member as usize) {
            let g = groups.entry(m.group).or_default();
            g.allocated += 1;
            g.redeemed += u64::from(o.redeemed_day.is_some());
        }
    }
    groups
}
