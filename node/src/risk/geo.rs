//! Where and when: the distance between two of an org's stores and whether a store is
//! closed at a block time, from the stores' places and hours in the risk configuration.
//!
//! The distance is the haversine great-circle distance on a sphere of 6,371 km, in `f64`
//! (the only floating point in scoring), rounded to whole km/h: the same inputs give the
//! same speed on one node, which is what backtests compare. Floating point is allowed
//! here alone (the workspace denies it elsewhere): trigonometry has no integer form worth
//! keeping, and nothing here reaches the chain.
#![allow(clippy::float_arithmetic)]

use super::config::{RiskConfig, StoreInfo};
use couponcactus_chaincode::ids::StoreId;

const EARTH_RADIUS_KM: f64 = 6_371.0;
/// Two visits closer in time than this are one minute apart for the speed (block times
/// are seconds apart; a zero interval would make every distance infinitely fast).
const MIN_INTERVAL_MS: u64 = 60_000;

/// Great-circle distance between two stores, km.
pub fn distance_km(a: &StoreInfo, b: &StoreInfo) -> f64 {
    let rad = |e6: i32| f64::from(e6) / 1e6_f64 * std::f64::consts::PI / 180.0;
    let (lat1, lon1, lat2, lon2) = (rad(a.lat_e6), rad(a.lon_e6), rad(b.lat_e6), rad(b.lon_e6));
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The speed a member would have travelled between two visits, km/h; `None` when a store
/// is not in the configuration or the visits are at one store.
pub fn speed_kmh(
    config: &RiskConfig,
    (from, then): (&StoreId, u64),
    (to, now): (&StoreId, u64),
) -> Option<u64> {
    if from == to {
        return None;
    }
    let (a, b) = (config.stores.get(from)?, config.stores.get(to)?);
    let hours = now.saturating_sub(then).max(MIN_INTERVAL_MS) as f64 / 3_600_000.0;
    Some((distance_km(a, b) / hours).round() as u64)
}

/// Whether the store is closed at block time `time_ms` (a store without hours never is).
pub fn closed_at(store: &StoreInfo, time_ms: u64) -> bool {
    let (Some(opens), Some(closes)) = (store.opens_min, store.closes_min) else {
        return false;
    };
    let minutes = (time_ms / 60_000) as i64 + i64::from(store.utc_offset_min);
    let local = minutes.rem_euclid(1_440) as u16;
    let open = if opens < closes {
        (opens..closes).contains(&local)
    } else {
        local >= opens || local < closes
    };
    !open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(lat_e6: i32, lon_e6: i32) -> StoreInfo {
        StoreInfo {
            lat_e6,
            lon_e6,
            opens_min: Some(8 * 60),
            closes_min: Some(20 * 60),
            utc_offset_min: 60,
        }
    }

    #[test]
    fn berlin_to_paris_is_about_878_km_and_hours_are_local() {
        let (berlin, paris) = (store(52_520_000, 13_405_000), store(48_856_600, 2_352_200));
        let d = distance_km(&berlin, &paris);
        assert!((870.0..890.0).contains(&d), "{d}");
        // 07:30 UTC is 08:30 in Berlin (UTC+1): open; 19:30 UTC is 20:30: closed.
        let day = 20_000 * 86_400_000;
        assert!(!closed_at(&berlin, day + (7 * 60 + 30) * 60_000));
        assert!(closed_at(&berlin, day + (19 * 60 + 30) * 60_000));
        // A night store, 22:00 to 06:00 local.
        let night = StoreInfo {
            opens_min: Some(22 * 60),
            closes_min: Some(6 * 60),
            ..berlin
        };
        assert!(!closed_at(&night, day + 23 * 3_600_000));
        assert!(closed_at(&night, day + 12 * 3_600_000));
    }
}
