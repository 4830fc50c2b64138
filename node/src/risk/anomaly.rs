//! The statistical anomaly model of fraud scoring (issue 20): how unlike the org's recent
//! traffic a redemption or a refused attempt is, as a score from 0 to 100 that the engine
//! turns into one more reason, `anomaly`, which **never holds alone** (see
//! [`super::engine`]: a verdict is `hold` only when the other rules reach `hold_at`).
//!
//! It owns the model's whole memory, saved with the engine (bincode, exact):
//!
//! - a **reservoir** of the last [`RESERVOIR`] scored observations' signals (integers the
//!   engine already tracks: the member's, code's and terminal's counts in the rules'
//!   windows, allocation-to-redemption latency, local minute of day, refused or not, store
//!   closed or not), with the fingerprints of their member, terminal and code;
//! - the **model**: a robust scaling (median and interquartile range per feature, read
//!   from the training set), [`CLUSTERS`] k-means centroids and, per cluster, the
//!   [`RADIUS_PERMILLE`] quantile of its training points' distances. An observation's
//!   score is its distance to the nearest centroid over that cluster's radius, times 50:
//!   50 is as far out as the 99th percentile of the training data, 100 twice as far;
//! - the **labels** the chain gives (a hold confirmed: fraud; a hold lifted while pending
//!   review: not fraud): observations of a subject labelled fraud leave the reservoir and
//!   never enter it again (the last [`MAX_FRAUD_LABELS`] such subjects), and a lift raises
//!   the threshold above the anomaly score that subject had, up to [`MAX_RAISED`].
//!
//! **Schedule.** Every [`RETRAIN_EVERY`] scored observations the model is trained again on
//! the reservoir, with a fixed-seed RNG; below [`MIN_TRAIN`] samples it abstains (no
//! score). Training points are a function of the observations alone (a count, not the
//! clock), so live scoring and a backtest over the same blocks train at the same points on
//! the same samples and give the same scores; a saved and restored engine goes on exactly
//! as one that never stopped (tested).
//!
//! Why `linfa`: k-means (k-means++ initialisation, several runs, the best inertia kept) is
//! a maintained crate's job, `linfa-clustering`; the rest (features, scaling, radii,
//! scores) is a few lines around it.
//!
//! Floating point is allowed here (the workspace denies it elsewhere): the model is
//! distances in a scaled feature space. Floats stay in this module: the engine hands in
//! integers and gets back an integer score; nothing here reaches the chain.
#![allow(clippy::float_arithmetic)]

use bincode::{Decode, Encode};
use couponcactus_chaincode::risk::HoldTarget;
use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::KMeans;
use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::VecDeque;

/// Most samples the reservoir keeps (the newest).
pub const RESERVOIR: usize = 2_048;
/// Scored observations between two trainings.
pub const RETRAIN_EVERY: u32 = 512;
/// Fewest samples to train on; below it the model abstains.
pub const MIN_TRAIN: usize = 500;
/// Clusters of the k-means model.
pub const CLUSTERS: usize = 8;
/// The quantile of a cluster's training distances that scores 50, per mille.
pub const RADIUS_PERMILLE: usize = 990;
/// Most subjects labelled fraud that are kept out of the reservoir.
pub const MAX_FRAUD_LABELS: usize = 1_024;
/// Most tripped anomaly reasons remembered, to raise the threshold when a hold is lifted.
pub const MAX_TRIPPED: usize = 4_096;
/// Highest threshold a lifted hold can raise the anomaly rule to.
pub const MAX_RAISED: u8 = 98;
/// The k-means RNG's seed.
const SEED: u64 = 0x20;
/// k-means runs (the best inertia kept) and iterations per run.
const RUNS: usize = 1;
const MAX_ITERATIONS: u64 = 50;
/// A cluster with fewer training points takes the radius of the whole training set.
const MIN_CLUSTER: usize = 20;
/// Smallest feature scale and cluster radius (a feature that never varies in training
/// would otherwise make any change infinitely anomalous).
const MIN_SCALE: f64 = 0.5;
const MIN_RADIUS: f64 = 0.5;
const FEATURES: usize = 10;

/// What the engine tracked about one observation, in integers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Signals {
    /// The member's redemptions in the last hour.
    pub member_hour: u16,
    /// Attempts on the code in the last ten minutes.
    pub code_attempts: u16,
    /// The terminal's failed validations in the last five minutes.
    pub failures: u16,
    /// The member's visits at the terminal in the last day.
    pub visits: u16,
    /// Refusals of the code for another member, store or channel in the last day.
    pub leaks: u16,
    /// Allocation to this observation, ms (when the coupon's allocation was seen).
    pub latency_ms: Option<u32>,
    /// Local minute of the day at the store (UTC when the store is not configured).
    pub minute_of_day: u16,
    /// A refused attempt (not a redemption).
    pub refused: bool,
    /// The store is closed then (per its configured hours).
    pub closed: bool,
}

/// Fingerprints (first 8 bytes) of an observation's member, terminal and code: what a
/// label is matched against. A collision only drops a sample from training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Subjects(pub [Option<u64>; 3]);

fn fingerprint(bytes: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(first)
}

/// The slot and fingerprint of a hold's target in [`Subjects`].
fn slot_of(target: &HoldTarget) -> (usize, u64) {
    match target {
        HoldTarget::Member(m) => (0, fingerprint(&m.0)),
        HoldTarget::Terminal(k) => (1, fingerprint(&k.0)),
        HoldTarget::Code(h) => (2, fingerprint(&h.0)),
    }
}

impl Subjects {
    /// The subjects of an observation.
    pub fn new(
        member: Option<&[u8; 32]>,
        terminal: &[u8; 32],
        code: Option<&[u8; 32]>,
    ) -> Subjects {
        Subjects([
            member.map(fingerprint),
            Some(fingerprint(terminal)),
            code.map(fingerprint),
        ])
    }

    fn has(&self, (slot, fp): (usize, u64)) -> bool {
        self.0[slot] == Some(fp)
    }
}

/// One reservoir entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
struct Sample {
    signals: Signals,
    subjects: Subjects,
}

/// A trained model: the scaling, the centroids and their radii (`f64`, saved exactly).
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
struct Model {
    median: Vec<f64>,
    scale: Vec<f64>,
    centroids: Vec<Vec<f64>>,
    radius: Vec<f64>,
}

/// Counts of the labels the model has been given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct LabelCounts {
    /// Holds confirmed.
    pub fraud: u32,
    /// Holds lifted while pending review.
    pub honest: u32,
}

/// The model's memory (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Encode, Decode)]
pub struct Anomaly {
    reservoir: VecDeque<Sample>,
    since_training: u32,
    model: Option<Model>,
    fraud: VecDeque<(u8, u64)>,
    tripped: VecDeque<(Subjects, u8)>,
    raised: u8,
    labels: LabelCounts,
}

/// What the model said of one observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scored {
    /// 0 to 100.
    pub score: u8,
    /// The threshold in force (the configured one, or higher after lifted holds).
    pub threshold: u8,
}

impl Anomaly {
    /// Scores an observation with the current model (`None` while it abstains), then adds
    /// it to the reservoir and trains again when due. `limit` is the configured threshold.
    pub fn observe(&mut self, limit: u8, signals: Signals, subjects: Subjects) -> Option<Scored> {
        let scored = self.model.as_ref().map(|m| Scored {
            score: m.score(&signals),
            threshold: self.threshold(limit),
        });
        if let Some(s) = scored
            && s.score > s.threshold
        {
            if self.tripped.len() >= MAX_TRIPPED {
                self.tripped.pop_front();
            }
            self.tripped.push_back((subjects, s.score));
        }
        self.learn(Sample { signals, subjects });
        scored
    }

    /// The threshold in force for a configured `limit`.
    pub fn threshold(&self, limit: u8) -> u8 {
        limit.max(self.raised)
    }

    /// Labels given so far.
    pub fn labels(&self) -> LabelCounts {
        self.labels
    }

    /// Whether a model is trained (else the anomaly rule abstains).
    pub fn trained(&self) -> bool {
        self.model.is_some()
    }

    /// Samples in the reservoir.
    pub fn reservoir_len(&self) -> usize {
        self.reservoir.len()
    }

    /// A label from the chain: `fraud` (a hold confirmed) keeps the subject out of
    /// training; not fraud (a hold lifted while pending) raises the threshold above the
    /// highest anomaly score remembered for the subject, up to [`MAX_RAISED`].
    pub fn label(&mut self, target: &HoldTarget, fraud: bool) {
        let (slot, fp) = slot_of(target);
        if fraud {
            self.labels.fraud = self.labels.fraud.saturating_add(1);
            self.reservoir.retain(|s| !s.subjects.has((slot, fp)));
            if !self.fraud.contains(&(slot as u8, fp)) {
                if self.fraud.len() >= MAX_FRAUD_LABELS {
                    self.fraud.pop_front();
                }
                self.fraud.push_back((slot as u8, fp));
            }
        } else {
            self.labels.honest = self.labels.honest.saturating_add(1);
            let highest = self
                .tripped
                .iter()
                .filter(|(s, _)| s.has((slot, fp)))
                .map(|(_, score)| *score)
                .max();
            if let Some(h) = highest {
                self.raised = self.raised.max(h.min(MAX_RAISED));
            }
        }
    }

    fn learn(&mut self, sample: Sample) {
        let fraud = self
            .fraud
            .iter()
            .any(|(slot, fp)| sample.subjects.has((usize::from(*slot), *fp)));
        if !fraud {
            if self.reservoir.len() >= RESERVOIR {
                self.reservoir.pop_front();
            }
            self.reservoir.push_back(sample);
        }
        self.since_training += 1;
        let first = self.model.is_none() && self.reservoir.len() >= MIN_TRAIN;
        if first || self.since_training >= RETRAIN_EVERY {
            self.since_training = 0;
            let signals: Vec<Signals> = self.reservoir.iter().map(|s| s.signals).collect();
            if let Some(m) = Model::train(&signals) {
                self.model = Some(m);
            }
        }
    }
}

/// The feature vector of `s`: counts on a log scale, the latency's log (NaN when not
/// known: it scales to the median), the time of day on the circle, two flags. A store's
/// or a terminal's volume is left to the rules: a lunchtime rush is honest but rare, and
/// a model of the last two thousand observations calls it anomalous (on the tuning seeds
/// it was most of the honest traffic flagged).
fn features(s: &Signals) -> [f64; FEATURES] {
    let ln = |x: u16| f64::from(x).ln_1p();
    let angle = f64::from(s.minute_of_day) / 1_440.0 * std::f64::consts::TAU;
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    [
        ln(s.member_hour),
        ln(s.code_attempts),
        ln(s.failures),
        ln(s.visits),
        ln(s.leaks),
        s.latency_ms.map_or(f64::NAN, |ms| f64::from(ms).ln_1p()),
        angle.sin(),
        angle.cos(),
        flag(s.refused),
        flag(s.closed),
    ]
}

/// The `permille` quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], permille: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (sorted.len() - 1) * permille / 1_000;
    sorted[rank]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Euclidean distance.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

impl Model {
    /// Trains on `samples`: `None` below [`MIN_TRAIN`] or when k-means fails.
    fn train(samples: &[Signals]) -> Option<Model> {
        if samples.len() < MIN_TRAIN {
            return None;
        }
        let raw: Vec<[f64; FEATURES]> = samples.iter().map(features).collect();
        let (median, scale) = robust_scale(&raw);
        let mut model = Model {
            median,
            scale,
            centroids: Vec::new(),
            radius: Vec::new(),
        };
        let rows: Vec<Vec<f64>> = raw.iter().map(|r| model.scaled(r)).collect();
        let x = Array2::from_shape_fn((rows.len(), FEATURES), |(i, j)| rows[i][j]);
        let fitted = KMeans::params_with_rng(CLUSTERS, StdRng::seed_from_u64(SEED))
            .n_runs(RUNS)
            .max_n_iterations(MAX_ITERATIONS)
            .tolerance(1e-4)
            .fit(&DatasetBase::from(x))
            .ok()?;
        model.centroids = fitted
            .centroids()
            .outer_iter()
            .map(|c| c.to_vec())
            .collect();
        model.radius = model.radii(&rows);
        Some(model)
    }

    /// Per cluster, the [`RADIUS_PERMILLE`] quantile of its training points' distances
    /// (the whole set's for a small cluster), at least [`MIN_RADIUS`].
    fn radii(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        let mut by_cluster = vec![Vec::new(); self.centroids.len()];
        for r in rows {
            let (c, d) = self.nearest(r);
            by_cluster[c].push(d);
        }
        let all = sorted(by_cluster.iter().flatten().copied().collect());
        let overall = quantile(&all, RADIUS_PERMILLE);
        by_cluster
            .into_iter()
            .map(|d| {
                let r = if d.len() < MIN_CLUSTER {
                    overall
                } else {
                    quantile(&sorted(d), RADIUS_PERMILLE)
                };
                r.max(MIN_RADIUS)
            })
            .collect()
    }

    fn scaled(&self, raw: &[f64; FEATURES]) -> Vec<f64> {
        raw.iter()
            .enumerate()
            .map(|(j, x)| {
                if x.is_nan() {
                    0.0
                } else {
                    (x - self.median[j]) / self.scale[j]
                }
            })
            .collect()
    }

    /// The nearest centroid and the distance to it.
    fn nearest(&self, row: &[f64]) -> (usize, f64) {
        let mut best = (0, f64::INFINITY);
        for (i, c) in self.centroids.iter().enumerate() {
            let d = distance(row, c);
            if d < best.1 {
                best = (i, d);
            }
        }
        best
    }

    /// The anomaly score of `s`: 50 × distance / radius of the nearest cluster, ≤ 100.
    fn score(&self, s: &Signals) -> u8 {
        let (c, d) = self.nearest(&self.scaled(&features(s)));
        let ratio = d / self.radius[c];
        (50.0 * ratio).round().clamp(0.0, 100.0) as u8
    }
}

/// Per feature, the median and the interquartile range (at least [`MIN_SCALE`]) of the
/// known values (a feature never known scales from 0 by 1).
fn robust_scale(raw: &[[f64; FEATURES]]) -> (Vec<f64>, Vec<f64>) {
    (0..FEATURES)
        .map(|j| {
            let v = sorted(raw.iter().map(|r| r[j]).filter(|x| !x.is_nan()).collect());
            if v.is_empty() {
                return (0.0, 1.0);
            }
            let iqr = quantile(&v, 750) - quantile(&v, 250);
            (quantile(&v, 500), iqr.max(MIN_SCALE))
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::super::config::RiskConfig;
    use super::super::engine::{ANOMALY, Engine};
    use super::super::scenario::generate;
    use super::*;
    use couponcactus_chaincode::encoding::{decode, encode};
    use couponcactus_chaincode::ids::MemberId;

    /// Ordinary traffic: one redemption, an allocation hours before, in the day.
    fn ordinary(i: u32) -> Signals {
        Signals {
            member_hour: 1 + u16::from(i.is_multiple_of(3)),
            code_attempts: 1,
            visits: 1,
            latency_ms: Some(3_600_000 + (i % 97) * 600_000),
            minute_of_day: 8 * 60 + (i * 37 % 660) as u16,
            ..Signals::default()
        }
    }

    /// A burst of failures at night: unlike anything ordinary.
    fn odd() -> Signals {
        Signals {
            failures: 30,
            code_attempts: 5,
            leaks: 3,
            minute_of_day: 3 * 60,
            refused: true,
            closed: true,
            ..Signals::default()
        }
    }

    fn member(n: u64) -> Subjects {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&n.to_be_bytes());
        Subjects::new(Some(&id), &[7; 32], None)
    }

    #[test]
    fn it_abstains_below_the_minimum_training_size() {
        let mut a = Anomaly::default();
        for i in 0..MIN_TRAIN as u32 {
            assert_eq!(a.observe(90, ordinary(i), member(u64::from(i))), None);
        }
        assert!(a.trained(), "trained on the {MIN_TRAIN}th sample");
        let s = a
            .observe(90, odd(), member(1))
            .expect("scored once trained");
        assert!(s.score > 90, "{s:?}");
        let s = a.observe(90, ordinary(3), member(2)).unwrap();
        assert!(s.score < 90, "{s:?}");
    }

    #[test]
    fn fraud_labels_leave_training_and_a_lift_raises_the_threshold() {
        let mut a = Anomaly::default();
        for i in 0..MIN_TRAIN as u32 {
            a.observe(90, ordinary(i), member(u64::from(i % 50)));
        }
        let before = a.reservoir_len();
        let fraud = HoldTarget::Member(MemberId(member_id(7)));
        a.label(&fraud, true);
        assert_eq!(a.reservoir_len(), before - MIN_TRAIN / 50);
        a.observe(90, ordinary(1), member(7));
        assert_eq!(a.reservoir_len(), before - MIN_TRAIN / 50, "kept out");
        a.observe(90, ordinary(1), member(8));
        assert_eq!(a.reservoir_len(), before - MIN_TRAIN / 50 + 1);
        // A tripped subject whose hold an admin lifts raises the threshold above its score.
        let tripped = a.observe(90, odd(), member(9)).unwrap();
        assert!(tripped.score > 90 && tripped.threshold == 90, "{tripped:?}");
        a.label(&HoldTarget::Member(MemberId(member_id(8))), false);
        assert_eq!(
            a.threshold(90),
            90,
            "a lift on an untripped subject changes nothing"
        );
        a.label(&HoldTarget::Member(MemberId(member_id(9))), false);
        assert_eq!(a.threshold(90), tripped.score.min(MAX_RAISED));
        // Raised at most to MAX_RAISED: lifts never silence the model entirely.
        assert_eq!((tripped.score, a.threshold(90)), (100, MAX_RAISED));
        let again = a.observe(90, odd(), member(10)).unwrap();
        assert!(again.score > again.threshold, "{again:?}");
        let (mut b, near) = (a.clone(), 95);
        b.raised = 0;
        b.tripped.clear();
        b.tripped.push_back((member(11), near));
        b.label(&HoldTarget::Member(MemberId(member_id(11))), false);
        assert_eq!(
            b.threshold(90),
            near,
            "raised to the lifted subject's score"
        );
        assert_eq!(
            a.labels(),
            LabelCounts {
                fraud: 1,
                honest: 2
            }
        );
    }

    fn member_id(n: u64) -> [u8; 32] {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&n.to_be_bytes());
        id
    }

    /// The same observations give the same model and scores; an engine saved and restored
    /// mid-stream (as `risk.sqlite` does) scores on exactly as one that never stopped.
    #[test]
    fn scores_are_deterministic_and_survive_a_save_and_restore() {
        let s = generate(4);
        let run = |cut: Option<usize>| {
            let mut engine = Engine::default();
            let mut out = Vec::new();
            for (i, l) in s.events.iter().enumerate() {
                if cut == Some(i) {
                    engine = decode(&encode(&engine)).expect("decodes");
                }
                out.push(engine.observe(&s.config, &l.observation));
            }
            (out, encode(&engine))
        };
        let (first, saved) = run(None);
        let tripped = first
            .iter()
            .flatten()
            .filter(|a| a.reasons.iter().any(|r| r.rule == ANOMALY))
            .count();
        assert!(tripped > 0, "the model scored and tripped");
        assert_eq!(run(None), (first.clone(), saved.clone()));
        for cut in [s.events.len() / 3, s.events.len() * 3 / 4] {
            assert_eq!(run(Some(cut)).0, first, "restored at {cut}");
        }
    }

    #[test]
    fn with_the_rule_off_no_model_is_kept() {
        let s = generate(4);
        let mut config: RiskConfig = s.config.clone();
        config.rules.anomaly.weight = 0;
        let mut engine = Engine::default();
        for l in &s.events {
            engine.observe(&config, &l.observation);
        }
        assert!(!engine.anomaly().trained());
        assert_eq!(engine.anomaly().reservoir_len(), 0);
    }
}
