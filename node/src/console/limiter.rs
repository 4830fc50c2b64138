//! The login rate limit: failed logins counted per user name and per client address in a
//! sliding window; at the limit, logins of that name or from that address are refused
//! with the time until the oldest failure leaves the window.
//!
//! In memory (a restart forgets it) and bounded: at most [`MAX_TRACKED_KEYS`] names and
//! addresses, each with at most `max_failures` timestamps; when full, expired entries are
//! dropped, then the entry with the oldest last failure.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// Most names and addresses tracked at once.
pub const MAX_TRACKED_KEYS: usize = 10_000;

/// Failed logins per key in a sliding window.
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: u32,
    window_ms: u64,
    failures: Mutex<HashMap<String, VecDeque<u64>>>,
}

impl LoginLimiter {
    /// `max_failures` (≥ 1) failures per key within `window`.
    pub fn new(max_failures: u32, window: Duration) -> LoginLimiter {
        LoginLimiter {
            max_failures: max_failures.max(1),
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<u64>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(seconds to wait)` when any of `keys` is at the limit.
    pub fn check(&self, keys: &[String], now_ms: u64) -> Result<(), u64> {
        let map = self.lock();
        let mut wait_ms = 0u64;
        for key in keys {
            let Some(times) = map.get(key) else { continue };
            let live: Vec<u64> = times
                .iter()
                .copied()
                .filter(|t| now_ms.saturating_sub(*t) < self.window_ms)
                .collect();
            if live.len() >= self.max_failures as usize
                && let Some(oldest) = live.first()
            {
                wait_ms = wait_ms.max((oldest + self.window_ms).saturating_sub(now_ms));
            }
        }
        if wait_ms == 0 {
            Ok(())
        } else {
            Err(wait_ms.div_ceil(1000).max(1))
        }
    }

    /// Records a failed login against every key.
    pub fn record_failure(&self, keys: &[String], now_ms: u64) {
        let mut map = self.lock();
        for key in keys {
            if !map.contains_key(key) && map.len() >= MAX_TRACKED_KEYS {
                self.make_room(&mut map, now_ms);
            }
            let times = map.entry(key.clone()).or_default();
            times.push_back(now_ms);
            while times.len() > self.max_failures as usize {
                times.pop_front();
            }
        }
    }

    /// Forgets the failures of `key` (a successful login of that name).
    pub fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    fn make_room(&self, map: &mut HashMap<String, VecDeque<u64>>, now_ms: u64) {
        map.retain(|_, t| {
            t.back()
                .is_some_and(|last| now_ms.saturating_sub(*last) < self.window_ms)
        });
        if map.len() >= MAX_TRACKED_KEYS {
            let oldest = map
                .iter()
                .min_by_key(|(_, t)| t.back().copied().unwrap_or(0))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
    }

    /// The keys of a login attempt: the name and the client address.
    pub fn keys(name: &str, client: Option<std::net::IpAddr>) -> Vec<String> {
        let mut keys = vec![format!("user:{}", name.to_ascii_lowercase())];
        if let Some(ip) = client {
            keys.push(format!("ip:{ip}"));
        }
        keys
    }
}
