//! The deterministic cluster simulator; this session only its network.
//!
//! [`net`] is a pure, seeded simulation of the network between replicas: virtual time in
//! milliseconds, no threads, no clocks, no sockets. The same seed and the same calls give
//! the same deliveries and the same counters, so a failing run is replayed from its seed.

pub mod net;
