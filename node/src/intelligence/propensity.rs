//! Redemption propensity: the chance that a member redeems a coupon of a given incentive
//! within [`PropensityConfig::horizon_days`] of its allocation.
//!
//! **Training data** are the org's own allocations (one per member and pool: the first)
//! at least `horizon_days` old "as of", labelled by whether the member redeemed that pool
//! within the horizon. **Features** are what was known on the allocation's day (nothing
//! from after it leaks in): log days since the member's last visit, log visit days in the
//! year before, log order totals in that year, the member's earlier redemption rate
//! (smoothed), and the pool's incentive (percent or fixed, its depth in basis points of
//! the org's typical order, a minimum spend or not).
//!
//! At most [`MAX_TRAINING_SAMPLES`] allocations are used (every k-th beyond it).
//!
//! **Model**: a logistic regression (linfa-logistic, L2-regularised) fitted on 80 % of
//! the allocations (a member-and-pool hash decides, so the split is the same at every
//! height), then calibrated by Platt scaling on the other 20 % (a one-feature logistic
//! fit of the outcome on the model's log-odds), which is also where its quality is
//! measured: Brier score against the base rate's, and a reliability table. With fewer
//! than [`PropensityConfig::min_samples`] allocations, or fewer than 10 of either outcome,
//! or a failed fit, the **rule** answers: the member's own redemption rate shrunk towards
//! the incentive's base rate (`(redeemed + 2·base) / (allocated + 2)`).
#![allow(clippy::float_arithmetic)] // a statistical model: features and weights are floating point

use super::IntelError;
use crate::analytics::members::{AllocationOutcome, MemberData, MemberDay};
use couponcactus_chaincode::types::{Discount, PoolSpec};
use linfa::Dataset;
use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Features per sample.
pub const FEATURES: usize = 7;
/// The feature names, in order (shown with the weights).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "log_days_since_visit",
    "log_visit_days",
    "log_order_total",
    "prior_redemption_rate",
    "percent_incentive",
    "depth",
    "min_spend",
];
/// Look-back of the member features, days.
const LOOKBACK_DAYS: u32 = 365;
/// Reliability table bins.
const BINS: usize = 5;
/// Most allocations the regression is fitted on: beyond it every k-th is kept (in the
/// store's member-and-pool order, so the same height keeps the same ones). 100,000 fit
/// in about half a second here (docs/performance.md); the fit's cost grows faster than
/// the samples.
pub const MAX_TRAINING_SAMPLES: usize = 100_000;

/// How propensity is trained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropensityConfig {
    /// Days after an allocation a redemption counts (1–365).
    pub horizon_days: u32,
    /// Fewest mature allocations the model is trained on (at least 50).
    pub min_samples: usize,
}

impl Default for PropensityConfig {
    fn default() -> Self {
        PropensityConfig {
            horizon_days: 30,
            min_samples: 200,
        }
    }
}

impl PropensityConfig {
    /// Refuses values out of range, naming the field.
    pub fn validate(&self) -> Result<(), IntelError> {
        if !(1..=365).contains(&self.horizon_days) {
            return Err(IntelError::Invalid(format!(
                "horizon_days must be 1 to 365, not {}",
                self.horizon_days
            )));
        }
        if self.min_samples < 50 {
            return Err(IntelError::Invalid(format!(
                "min_samples must be at least 50, not {}",
                self.min_samples
            )));
        }
        Ok(())
    }
}

/// What a coupon offers, as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Incentive {
    /// A share of the order.
    Percent,
    /// A fixed amount.
    Fixed,
}

impl Incentive {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Incentive::Percent => "percent",
            Incentive::Fixed => "fixed",
        }
    }
}

/// A pool's offer, reduced to the model's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Percent or fixed.
    pub incentive: Incentive,
    /// Depth in basis points of the typical order (a percent pool's own bps; a fixed
    /// pool's amount ÷ the org's median order), capped at 10,000.
    pub depth_bps: u32,
    /// Whether a minimum spend applies.
    pub min_spend: bool,
}

impl Offer {
    /// The offer of `spec`, given the org's typical order total (minor units).
    pub fn of(spec: &PoolSpec, typical_order_minor: u64) -> Offer {
        let (incentive, depth_bps) = match spec.discount {
            Discount::Percent { bps } => (Incentive::Percent, bps),
            Discount::Fixed { amount_minor } => (
                Incentive::Fixed,
                u32::try_from(amount_minor.saturating_mul(10_000) / typical_order_minor.max(1))
                    .unwrap_or(10_000),
            ),
        };
        Offer {
            incentive,
            depth_bps: depth_bps.min(10_000),
            min_spend: spec.min_spend_minor > 0,
        }
    }
}

/// Which way the answer was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropensityMethod {
    /// The calibrated logistic regression.
    Logistic,
    /// The rule (too little history, one outcome only, or a failed fit).
    Rule,
}

/// How well the model does on the held-out allocations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Held-out allocations.
    pub holdout: usize,
    /// Brier score of the calibrated model there (lower is better).
    pub brier: f64,
    /// Brier score of always answering the base rate.
    pub brier_base_rate: f64,
    /// Per bin of predicted chance: `(predicted mean, observed rate, samples)`.
    pub reliability: Vec<(f64, f64, usize)>,
}

/// A trained propensity model (or the rule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Logistic or rule.
    pub method: PropensityMethod,
    /// Why the rule answers, when it does.
    pub fallback_reason: Option<String>,
    /// Mature allocations seen.
    pub samples: usize,
    /// Of them, redeemed within the horizon.
    pub positives: usize,
    /// Redemption rate per incentive (the rule's prior).
    pub base_rate: BTreeMap<Incentive, f64>,
    /// Feature means and standard deviations (standardisation).
    pub scale: Vec<(f64, f64)>,
    /// Intercept and weights, on standardised features.
    pub intercept: f64,
    /// Weights in [`FEATURE_NAMES`] order.
    pub weights: Vec<f64>,
    /// Platt scaling `(a, b)`: calibrated = σ(a·logit + b).
    pub platt: (f64, f64),
    /// Held-out quality (logistic only).
    pub quality: Option<Quality>,
}

/// One member's history up to a day.
#[derive(Clone, Copy, Debug, Default)]
pub struct History {
    /// Days since the last visit (look-back + 1 when none).
    pub days_since: u32,
    /// Visit days in the look-back.
    pub visit_days: u32,
    /// Order totals in the look-back, minor units.
    pub gross: i64,
    /// Allocations before the day.
    pub allocated: u32,
    /// Of those, redeemed before the day.
    pub redeemed: u32,
}

fn logistic(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The raw feature vector of `h` with `offer`.
fn raw_features(h: &History, offer: &Offer) -> [f64; FEATURES] {
    [
        f64::from(h.days_since).ln_1p(),
        f64::from(h.visit_days).ln_1p(),
        (h.gross.max(0) as f64 / 100.0).ln_1p(),
        (f64::from(h.redeemed) + 1.0) / (f64::from(h.allocated) + 2.0),
        f64::from(u8::from(offer.incentive == Incentive::Percent)),
        f64::from(offer.depth_bps) / 10_000.0,
        f64::from(u8::from(offer.min_spend)),
    ]
}

/// A member's history before `day` from its day rows and outcomes.
pub fn history(days: &[MemberDay], outcomes: &[&AllocationOutcome], day: u32) -> History {
    let from = day.saturating_sub(LOOKBACK_DAYS);
    let mut h = History {
        days_since: LOOKBACK_DAYS + 1,
        ..History::default()
    };
    for d in days
        .iter()
        .filter(|d| d.day < day && d.day >= from && d.visits > 0)
    {
        h.days_since = day - d.day;
        h.visit_days += 1;
        h.gross += d.gross;
    }
    for o in outcomes.iter().filter(|o| o.day < day) {
        h.allocated += 1;
        h.redeemed += u32::from(o.redeemed_day.is_some_and(|r| r < day));
    }
    h
}

impl Model {
    /// The calibrated chance that a member with history `h` redeems `offer`.
    pub fn predict(&self, h: &History, offer: &Offer) -> f64 {
        let base = self.base_rate.get(&offer.incentive).copied().unwrap_or(0.1);
        if self.method == PropensityMethod::Rule {
            return (f64::from(h.redeemed) + 2.0 * base) / (f64::from(h.allocated) + 2.0);
        }
        let x = raw_features(h, offer);
        let z = self.intercept
            + x.iter()
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|((v, (mu, sd)), w)| w * (v - mu) / sd)
                .sum::<f64>();
        logistic(self.platt.0 * z + self.platt.1)
    }
}

/// A labelled sample.
struct Sample {
    x: [f64; FEATURES],
    y: bool,
    holdout: bool,
    incentive: Incentive,
}

/// Trains on `data` as of day `as_of`; `offers` maps pool ids to their offers (pools not
/// in it, e.g. of another org, are skipped).
pub fn train(
    data: &MemberData,
    offers: &BTreeMap<String, Offer>,
    as_of: u32,
    cfg: &PropensityConfig,
) -> Result<Model, IntelError> {
    cfg.validate()?;
    let samples = thin(samples(data, offers, as_of, cfg.horizon_days));
    let positives = samples.iter().filter(|s| s.y).count();
    let base_rate = base_rates(&samples);
    let mut model = Model {
        method: PropensityMethod::Rule,
        fallback_reason: None,
        samples: samples.len(),
        positives,
        base_rate,
        scale: Vec::new(),
        intercept: 0.0,
        weights: Vec::new(),
        platt: (1.0, 0.0),
        quality: None,
    };
    let negatives = samples.len() - positives;
    let why = if samples.len() < cfg.min_samples {
        Some(format!(
            "{} mature allocations, fewer than {}",
            samples.len(),
            cfg.min_samples
        ))
    } else if positives < 10 || negatives < 10 {
        Some(format!(
            "{positives} redeemed and {negatives} not: fewer than 10 of one outcome"
        ))
    } else {
        fit(&samples, &mut model).err()
    };
    model.fallback_reason = why;
    if model.fallback_reason.is_none() {
        model.method = PropensityMethod::Logistic;
    }
    Ok(model)
}

/// The mature allocations of `data` as samples.
fn samples(
    data: &MemberData,
    offers: &BTreeMap<String, Offer>,
    as_of: u32,
    horizon: u32,
) -> Vec<Sample> {
    let by_member = outcomes_by_member(data);
    let days = days_by_member(data);
    let mut out = Vec::new();
    for o in &data.outcomes {
        let Some(offer) = offers.get(&o.pool) else {
            continue;
        };
        if o.day + horizon > as_of {
            continue;
        }
        let mine = by_member.get(&o.member).map(Vec::as_slice).unwrap_or(&[]);
        let h = history(days.get(&o.member).copied().unwrap_or(&[]), mine, o.day);
        out.push(Sample {
            x: raw_features(&h, offer),
            y: o.redeemed_day.is_some_and(|r| r <= o.day + horizon),
            holdout: is_holdout(&data.members[o.member as usize], &o.pool),
            incentive: offer.incentive,
        });
    }
    out
}

/// Every k-th sample, so that at most [`MAX_TRAINING_SAMPLES`] remain.
fn thin(samples: Vec<Sample>) -> Vec<Sample> {
    let step = samples.len().div_ceil(MAX_TRAINING_SAMPLES).max(1);
    samples.into_iter().step_by(step).collect()
}

/// Each member's outcomes.
pub fn outcomes_by_member(data: &MemberData) -> BTreeMap<u32, Vec<&AllocationOutcome>> {
    let mut m: BTreeMap<u32, Vec<&AllocationOutcome>> = BTreeMap::new();
    for o in &data.outcomes {
        m.entry(o.member).or_default().push(o);
    }
    m
}

/// Each member's day rows (contiguous in `data.days`).
pub fn days_by_member(data: &MemberData) -> BTreeMap<u32, &[MemberDay]> {
    let mut m = BTreeMap::new();
    let mut start = 0;
    while start < data.days.len() {
        let member = data.days[start].member;
        let end = start + data.days[start..].partition_point(|d| d.member == member);
        m.insert(member, &data.days[start..end]);
        start = end;
    }
    m
}

/// One allocation in five is held out, chosen by a hash of member and pool.
fn is_holdout(member: &str, pool: &str) -> bool {
    let h = blake3::hash(format!("{member}\u{0}{pool}").as_bytes());
    h.as_bytes()[0].is_multiple_of(5)
}

fn base_rates(samples: &[Sample]) -> BTreeMap<Incentive, f64> {
    let mut n: BTreeMap<Incentive, (f64, f64)> = BTreeMap::new();
    for s in samples {
        let e = n.entry(s.incentive).or_insert((0.0, 0.0));
        e.0 += 1.0;
        e.1 += f64::from(u8::from(s.y));
    }
    n.into_iter()
        .map(|(k, (total, yes))| (k, (yes + 1.0) / (total + 2.0)))
        .collect()
}

fn standardise(samples: &[&Sample]) -> Vec<(f64, f64)> {
    let n = samples.len().max(1) as f64;
    (0..FEATURES)
        .map(|j| {
            let mean = samples.iter().map(|s| s.x[j]).sum::<f64>() / n;
            let var = samples.iter().map(|s| (s.x[j] - mean).powi(2)).sum::<f64>() / n;
            (mean, if var > 1e-12 { var.sqrt() } else { 1.0 })
        })
        .collect()
}

fn matrix(samples: &[&Sample], scale: &[(f64, f64)]) -> Array2<f64> {
    let mut x = Array2::zeros((samples.len(), FEATURES));
    for (i, s) in samples.iter().enumerate() {
        for j in 0..FEATURES {
            x[[i, j]] = (s.x[j] - scale[j].0) / scale[j].1;
        }
    }
    x
}

/// Fits the regression on the training part and Platt scaling on the held-out part.
fn fit(samples: &[Sample], model: &mut Model) -> Result<(), String> {
    let (held, train): (Vec<&Sample>, Vec<&Sample>) = samples.iter().partition(|s| s.holdout);
    if held.len() < 20 || train.len() < 20 {
        return Err(format!(
            "{} training and {} held-out allocations: too few to fit and calibrate",
            train.len(),
            held.len()
        ));
    }
    model.scale = standardise(&train);
    let x = matrix(&train, &model.scale);
    let y: Array1<usize> = train.iter().map(|s| usize::from(s.y)).collect();
    let fitted = LogisticRegression::default()
        .alpha(1.0)
        .max_iterations(200)
        .fit(&Dataset::new(x, y))
        .map_err(|e| format!("the logistic regression did not fit: {e}"))?;
    let (intercept, weights) = oriented(&fitted);
    model.intercept = intercept;
    model.weights = weights;
    let xh = matrix(&held, &model.scale);
    let logits: Vec<f64> = xh
        .rows()
        .into_iter()
        .map(|r| model.intercept + r.dot(&Array1::from(model.weights.clone())))
        .collect();
    model.platt = platt(&logits, &held)?;
    model.quality = Some(quality(model, &logits, &held));
    Ok(())
}

/// Platt scaling: a one-feature logistic fit of the outcome on the logits.
fn platt(logits: &[f64], held: &[&Sample]) -> Result<(f64, f64), String> {
    let x =
        Array2::from_shape_vec((logits.len(), 1), logits.to_vec()).map_err(|e| e.to_string())?;
    let y: Array1<usize> = held.iter().map(|s| usize::from(s.y)).collect();
    let both = y.iter().any(|&v| v == 1) && y.iter().any(|&v| v == 0);
    if !both {
        return Ok((1.0, 0.0));
    }
    let fitted = LogisticRegression::default()
        .alpha(0.01)
        .max_iterations(200)
        .fit(&Dataset::new(x, y))
        .map_err(|e| format!("Platt scaling did not fit: {e}"))?;
    let (b, a) = oriented(&fitted);
    Ok((a[0], b))
}

/// Intercept and weights of the log-odds of class 1 (redeemed). linfa-logistic models the
/// log-odds of its "positive" class, which is the more frequent label, not the larger: a
/// fit where most allocations went unredeemed is turned around here.
fn oriented(fitted: &linfa_logistic::FittedLogisticRegression<f64, usize>) -> (f64, Vec<f64>) {
    let sign = if fitted.labels().pos.class == 1 {
        1.0
    } else {
        -1.0
    };
    (
        sign * fitted.intercept(),
        fitted.params().iter().map(|w| sign * w).collect(),
    )
}

fn quality(model: &Model, logits: &[f64], held: &[&Sample]) -> Quality {
    let p: Vec<f64> = logits
        .iter()
        .map(|z| logistic(model.platt.0 * z + model.platt.1))
        .collect();
    let y: Vec<f64> = held.iter().map(|s| f64::from(u8::from(s.y))).collect();
    let n = p.len().max(1) as f64;
    let base = y.iter().sum::<f64>() / n;
    let brier = p.iter().zip(&y).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / n;
    let brier_base_rate = y.iter().map(|y| (base - y).powi(2)).sum::<f64>() / n;
    let mut bins = vec![(0.0, 0.0, 0usize); BINS];
    for (p, y) in p.iter().zip(&y) {
        let b = ((p * BINS as f64) as usize).min(BINS - 1);
        bins[b] = (bins[b].0 + p, bins[b].1 + y, bins[b].2 + 1);
    }
    let reliability = bins
        .into_iter()
        .filter(|b| b.2 > 0)
        .map(|(p, y, k)| (p / k as f64, y / k as f64, k))
        .collect();
    Quality {
        holdout: held.len(),
        brier,
        brier_base_rate,
        reliability,
    }
}
