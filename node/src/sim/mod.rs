//! The deterministic cluster simulator: replica cores over real storage, a simulated
//! network, virtual time, one thread; the same seed replays the same run.
//!
//! - [`net`]: the seeded simulated network (delay, jitter, loss, duplication,
//!   reordering, symmetric and one-way partitions, crashes), pure and bounded.
//! - `cluster` (tests only): the simulator's driver of [`crate::replica::Core`]: nodes on
//!   RocksDB in a temporary directory, crash and restart at any step (at a chosen write
//!   among others), full disks, clock skew, snapshot fetches over the simulated network,
//!   and a client load of competing redemptions.
//! - `check` (tests only): the invariants checked after every step and at the end.
//! - `workload` (tests only): the genesis and txs, from the chaincode's testkit.
//! - `scenarios` (tests only): named fault scenarios and the seeded swarm of random fault
//!   schedules (`CACTUS_SIM_SEEDS` seeds; `CACTUS_SIM_SEED` replays one).
//!
//! The cluster lives in tests because its workload comes from the chaincode's testkit (a
//! dev-dependency), not from anything cactusd ships.

pub mod net;

#[cfg(test)]
mod check;
#[cfg(test)]
mod cluster;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod workload;
