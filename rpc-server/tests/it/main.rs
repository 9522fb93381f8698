//! The rpc-server's integration tests, one binary for all but the heavy
//! ones (compiled and linked once): real Redis, etcd and Thrift clients
//! against the server run in-process, or the real binary where a test needs
//! a process. The harness crate (`rpc-server/harness`) starts them.
//!
//! Kept apart, each a binary of its own because it loads the machine for
//! long stretches and measures time or memory under that load:
//! `tests/redis_topologies.rs` (Redis Cluster and Sentinel failover and
//! resharding under load) and `tests/fuzz_wire.rs` (wire fuzzing).
mod abuse;
mod admin;
mod etcd_registry;
mod properties;
mod store_conformance;
mod thrift_api;
mod wire;
