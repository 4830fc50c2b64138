//! Dev tooling of the `cactusd` binary, kept out of the node library and off its serving
//! paths: `cactusd --dev` ([`dev`]: a one-node chain with generated keys),
//! `cactusd localnet-init` ([`localnet`]: the genesis, keys and configs of a local
//! N-node consortium) and `cactusd --seed-demo` ([`demo`]: demo pools and coupons).
//! They use the library only through its public API, as any other program would.

pub mod demo;
pub mod dev;
pub mod localnet;
