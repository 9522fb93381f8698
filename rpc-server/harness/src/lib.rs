//! The rpc-server's integration-test harness, compiled once for the test
//! binaries that share it: `tests/it` (most tests, one binary) and the heavy,
//! timing-bound ones kept apart (`tests/redis_topologies.rs`,
//! `tests/fuzz_wire.rs`). A crate rather than a module each binary compiles
//! again: built once, and no binary carries helpers it does not use.
//!
//! One way to start the server in each case, neither racing for a port:
//!
//! - [`InProcessServer`]: `rpc_server::server::serve` inside the test
//!   process, on a listener bound to 127.0.0.1:0. The default.
//! - [`RpcServer`]: the real binary, for what needs a process of its own
//!   (signals, the environment, an fd limit, memory use, a process-wide
//!   log limit). It binds 127.0.0.1:0 itself and writes the addresses it
//!   bound to its `--listen-addr-file`, which the harness reads.
//!
//! Around them: a real [`Redis`] and [`Etcd`] ([`topologies`]: Redis Cluster
//! and Sentinel), Volo [`Client`]s in the three framings, the API
//! [`contract`] as functions, and a [`proxy`] that cuts links silently.
//! Everything binds 127.0.0.1 and is stopped when its guard is dropped.
//! Thrift requests built by hand come from `rpc_server::thrift_bytes`.
pub mod contract;
pub mod proxy;
pub mod topologies;

mod client;
mod process;
mod server;
mod services;

pub use client::{ALL_FRAMINGS, Client, Framing, SERVICE, send_request, texts};
pub use process::{eventually, free_port, listening_ports, wait_until};
pub use server::{CapturedLog, InProcessServer, ProcessMemory, RpcServer, wait_storage_ready};
pub use services::{Etcd, Redis};
