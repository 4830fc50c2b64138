//! When a failed delivery is tried again: about now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
//! 14 h, 20 h and 24 h after the previous attempt, each with random jitter, then every
//! 24 h until the endpoint has failed for five days (then it is disabled).

use rand::Rng as _;

/// The default delays after attempt 1, 2, … failed, ms.
pub const DEFAULT_DELAYS_MS: [u64; 9] = [
    5_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    5 * 3_600_000,
    10 * 3_600_000,
    14 * 3_600_000,
    20 * 3_600_000,
    24 * 3_600_000,
];

/// The delay before attempt `failed + 1` after `failed` failed attempts (from 1), without
/// jitter: `delays[failed - 1]`, the last delay once the list is exhausted, 0 for none.
pub fn base_delay_ms(delays: &[u64], failed: u32) -> u64 {
    let i = (failed.max(1) - 1) as usize;
    delays.get(i).or(delays.last()).copied().unwrap_or(0)
}

/// [`base_delay_ms`] plus a random 0..=`jitter_percent` % of it (so endpoints that failed
/// together do not all retry at the same instant).
pub fn delay_ms(delays: &[u64], failed: u32, jitter_percent: u64) -> u64 {
    let base = base_delay_ms(delays, failed);
    let spread = base.saturating_mul(jitter_percent.min(100)) / 100;
    base + if spread == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..=spread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_the_documented_one() {
        let want_s = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];
        for (i, s) in want_s.iter().enumerate() {
            assert_eq!(base_delay_ms(&DEFAULT_DELAYS_MS, i as u32 + 1), s * 1_000);
        }
        // After the list: the last delay, again and again.
        assert_eq!(base_delay_ms(&DEFAULT_DELAYS_MS, 10), 86_400_000);
        assert_eq!(base_delay_ms(&DEFAULT_DELAYS_MS, 500), 86_400_000);
        assert_eq!(base_delay_ms(&[], 3), 0);
        // Ten attempts (now + nine retries) take about three days; the five-day rule then
        // disables an endpoint after a few more daily attempts.
        let total: u64 = DEFAULT_DELAYS_MS.iter().sum();
        assert_eq!(total, 75 * 3_600_000 + 35 * 60_000 + 5_000);
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        for failed in 1..12 {
            let base = base_delay_ms(&DEFAULT_DELAYS_MS, failed);
            for _ in 0..50 {
                let d = delay_ms(&DEFAULT_DELAYS_MS, failed, 10);
                assert!(
                    d >= base && d <= base + base / 10,
                    "{failed}: {d} vs {base}"
                );
            }
        }
        assert_eq!(delay_ms(&DEFAULT_DELAYS_MS, 1, 0), 5_000);
    }
}
