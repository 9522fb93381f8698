//! All configuration: command-line flags, each with an environment variable.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::store::{Format, Retention};

/// Rust rpc-server for the pull-mode IM backend: serves the Thrift
/// `IMService` (`Send`/`Pull`) to the Hertz gateway or any Thrift client,
/// stores messages in Redis (or in memory) and registers in etcd like a Kitex
/// server.
#[derive(Debug, Clone, Parser)]
#[command(name = "rpc-server", version, about, long_about = None)]
pub struct Config {
    /// Threads that run requests. Default: one per CPU core. Where the
    /// server shares a small machine with Redis, fewer threads than cores
    /// spend less CPU per request (docs/performance-history.md). One thread
    /// runs on tokio's current-thread scheduler (`server::runtime`).
    #[arg(long, env = "RPC_WORKER_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,

    /// Address the Thrift server listens on (unframed, framed and TTHeader
    /// are all accepted on it).
    #[arg(long, env = "RPC_LISTEN", default_value = "0.0.0.0:8888")]
    pub listen: SocketAddr,

    /// Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for
    /// TLS, `redis-cluster://host:port?node=host:port` for Redis Cluster).
    /// Unset: messages are kept in memory only and lost on exit.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Connections to Redis. Each pipelines every request given to it, and
    /// one connection batches best: on a 2-core machine it gave 10-15%
    /// more throughput than four (docs/performance-history.md). Raise it
    /// when one core cannot keep up with one connection's traffic.
    #[arg(long, env = "REDIS_POOL_SIZE", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub redis_pool_size: u16,

    /// Replicas that must confirm each Send before it is acknowledged
    /// (Redis `WAIT` after the write, on the node that took it). 0: off, a
    /// Send is acknowledged once the primary stored it, and a failover may
    /// lose the last ones (replication is asynchronous). With N, a Send
    /// that fewer than N replicas confirm within --redis-wait-timeout-ms
    /// gets 500 `storage timeout: the message may have been stored`.
    #[arg(long, env = "REDIS_WAIT_REPLICAS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=64))]
    pub redis_wait_replicas: u32,

    /// How long a Send waits for --redis-wait-replicas, in milliseconds.
    #[arg(long, env = "REDIS_WAIT_TIMEOUT_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub redis_wait_timeout_ms: u64,

    /// The format new messages are stored in: `compact` (tag, time, flags,
    /// text: 10 bytes besides the text) or `json` (what versions before the
    /// compact format wrote and read). Every version that knows `compact`
    /// reads both, so a fleet is upgraded readers first: roll out with
    /// `json`, then switch to `compact` (docs/storage.md).
    #[arg(long, env = "STORED_FORMAT", value_enum, default_value_t = Format::Compact)]
    pub stored_format: Format,

    /// Keep at most this many messages per room, the newest; older ones are
    /// deleted as new ones arrive. Unset: no bound.
    #[arg(long, env = "RETENTION_MAX_MESSAGES",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub retention_max_messages: Option<u64>,

    /// Keep messages only this long, e.g. `30d`, `12h`; older ones are not
    /// returned and are deleted at the room's next Send, and a room with no
    /// Send for this long is deleted whole. Unset: no bound.
    #[arg(long, env = "RETENTION_MAX_AGE", value_parser = parse_age)]
    pub retention_max_age: Option<Duration>,

    /// Prefix of every Redis key; a room lives at `<prefix><member1>:<member2>`.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "im:chat:")]
    pub key_prefix: String,

    /// Longest a storage command may take, in milliseconds, before the call
    /// is answered with code 500. Kept below the gateway's 1 s RPC timeout so
    /// that HTTP clients see our error message rather than a timeout.
    #[arg(long, env = "STORAGE_TIMEOUT_MS", default_value_t = 800,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub storage_timeout_ms: u64,

    /// etcd endpoints, comma-separated, `host:port` with or without
    /// `http://`. Unset: the server does not register itself.
    #[arg(long, env = "ETCD_ENDPOINTS", value_delimiter = ',')]
    pub etcd_endpoints: Vec<String>,

    /// Service name registered in etcd (the gateway's Kitex client looks up
    /// this name).
    #[arg(long, env = "RPC_SERVICE_NAME", default_value = "demo.rpc.server")]
    pub service_name: String,

    /// `host:port` written to etcd for clients to dial. Default: the listen
    /// address, or the first non-loopback IPv4 address when listening on
    /// 0.0.0.0.
    #[arg(long, env = "RPC_ADVERTISE_ADDR")]
    pub advertise_addr: Option<String>,

    /// TTL of the etcd lease in seconds (the variable is Kitex's).
    #[arg(long, env = "KITEX_ETCD_REGISTRY_LEASE_TTL", default_value_t = 60,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub etcd_lease_ttl: i64,

    /// Largest message text accepted, in bytes (at most 16 MiB).
    #[arg(long, env = "MAX_TEXT_BYTES", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u32).range(1..=MAX_TEXT_LIMIT))]
    pub max_text_bytes: u32,

    /// Largest request accepted on any transport, in bytes. A connection
    /// that sends or declares more is closed before the bytes are read.
    /// Default: twice --max-text-bytes plus 64 KiB, at least 1 MiB.
    #[arg(long, env = "MAX_REQUEST_BYTES",
          value_parser = clap::value_parser!(u32).range(1024..=64 * 1024 * 1024))]
    pub max_request_bytes: Option<u32>,

    /// Bytes of requests still arriving, over all connections together. A
    /// connection whose request would go past it is closed. Default: 64 MiB,
    /// or 4 times --max-request-bytes if that is more.
    #[arg(long, env = "MAX_PENDING_REQUEST_BYTES",
          value_parser = clap::value_parser!(u64).range(1024..=16 * 1024 * 1024 * 1024))]
    pub max_pending_request_bytes: Option<u64>,

    /// Most client connections open at once; more are closed on arrival.
    /// Default: what the open file limit allows (its soft limit is raised to
    /// the hard limit at start), at most 10000.
    #[arg(long, env = "RPC_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// A request must arrive whole within this many milliseconds of its
    /// first byte, and a client must take its reply within as long; else
    /// the connection is closed.
    #[arg(long, env = "RPC_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub read_timeout_ms: u64,

    /// A connection with no request in progress is closed after this many
    /// milliseconds. Longer than a Kitex client keeps a pooled connection
    /// idle (1 minute by default), so the gateway never picks a connection
    /// the server has just closed.
    #[arg(long, env = "RPC_IDLE_TIMEOUT_MS", default_value_t = 300_000,
          value_parser = clap::value_parser!(u64).range(1_000..=86_400_000))]
    pub idle_timeout_ms: u64,

    /// Address of the admin HTTP listener (`/healthz`, `/readyz`,
    /// `/metrics`), e.g. `0.0.0.0:9090`. Unset: no admin listener and no
    /// request metrics.
    #[arg(long, env = "RPC_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// File to write the addresses the server listens on, once every
    /// listener is bound: `rpc=<address>` and, with --admin-listen,
    /// `admin=<address>`, a line each. With port 0 in --listen or
    /// --admin-listen the system picks a free port; this says which (the
    /// tests start the binary so). Written whole under another name, then
    /// renamed. Unset: no file.
    #[arg(long, env = "RPC_LISTEN_ADDR_FILE")]
    pub listen_addr_file: Option<PathBuf>,

    /// Largest page a Pull returns; larger limits are capped to it.
    #[arg(long, env = "MAX_PAGE_SIZE", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_page_size: u32,
}

/// Upper bound of `--max-text-bytes`.
const MAX_TEXT_LIMIT: i64 = 16 * 1024 * 1024;

/// A retention age: a duration such as `90s`, `12h` or `30d`, at least a
/// second (Redis expires keys in milliseconds; shorter would trim messages
/// before their Send was answered).
fn parse_age(text: &str) -> Result<Duration, String> {
    let age = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    if age < Duration::from_secs(1) {
        return Err(format!("{text:?} is shorter than a second"));
    }
    if age.as_micros() > i64::MAX as u128 {
        return Err(format!("{text:?} is too long"));
    }
    Ok(age)
}

impl Config {
    /// The request size bound: as configured, or derived from the text limit
    /// so that the longest valid Send always fits.
    pub fn max_request_bytes(&self) -> usize {
        match self.max_request_bytes {
            Some(bytes) => bytes as usize,
            None => (2 * self.max_text_bytes as usize + 64 * 1024).max(1024 * 1024),
        }
    }

    /// The bound on bytes of requests in progress over all connections.
    pub fn max_pending_request_bytes(&self) -> usize {
        match self.max_pending_request_bytes {
            Some(bytes) => usize::try_from(bytes).unwrap_or(usize::MAX),
            None => (4 * self.max_request_bytes()).max(64 * 1024 * 1024),
        }
    }

    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub fn storage_timeout(&self) -> Duration {
        Duration::from_millis(self.storage_timeout_ms)
    }

    pub fn redis_wait_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_wait_timeout_ms)
    }

    /// What each room keeps (`--retention-*`).
    pub fn retention(&self) -> Retention {
        Retention {
            max_messages: self.retention_max_messages,
            max_age: self.retention_max_age,
        }
    }

    /// The etcd endpoints that are not blank (an empty `ETCD_ENDPOINTS=`
    /// in a compose file means "no registration").
    pub fn etcd_endpoints(&self) -> Vec<String> {
        self.etcd_endpoints
            .iter()
            .map(|endpoint| endpoint.trim().to_owned())
            .filter(|endpoint| !endpoint.is_empty())
            .collect()
    }

    /// The Redis URL, if one is set and not blank.
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_template() {
        let config = Config::try_parse_from(["rpc-server"]).unwrap();
        assert_eq!(config.listen, "0.0.0.0:8888".parse().unwrap());
        assert_eq!(config.service_name, "demo.rpc.server");
        assert_eq!(config.max_text_bytes, 65536);
        assert_eq!(config.max_page_size, 100);
        assert_eq!(config.etcd_lease_ttl, 60);
        assert!(config.etcd_endpoints().is_empty());
        assert_eq!(config.max_request_bytes(), 1024 * 1024);
        assert_eq!(config.idle_timeout(), Duration::from_secs(300));
        assert_eq!(config.redis_wait_replicas, 0, "no WAIT unless asked");
        assert_eq!(config.stored_format, Format::Compact);
        assert_eq!(config.retention(), Retention::default(), "everything kept");
    }

    #[test]
    fn stored_format_and_retention() {
        let config = Config::try_parse_from([
            "rpc-server",
            "--stored-format",
            "json",
            "--retention-max-messages",
            "1000",
            "--retention-max-age",
            "30d",
        ])
        .unwrap();
        assert_eq!(config.stored_format, Format::Json);
        assert_eq!(
            config.retention(),
            Retention {
                max_messages: Some(1000),
                max_age: Some(Duration::from_secs(30 * 86_400)),
            }
        );
        for refused in [
            ["--retention-max-messages", "0"],
            ["--retention-max-age", "10ms"],
            ["--retention-max-age", "soon"],
            ["--stored-format", "xml"],
        ] {
            assert!(
                Config::try_parse_from(["rpc-server", refused[0], refused[1]]).is_err(),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn redis_wait_replicas_and_timeout() {
        let config = Config::try_parse_from([
            "rpc-server",
            "--redis-wait-replicas",
            "1",
            "--redis-wait-timeout-ms",
            "250",
        ])
        .unwrap();
        assert_eq!(config.redis_wait_replicas, 1);
        assert_eq!(config.redis_wait_timeout(), Duration::from_millis(250));
        // WAIT with timeout 0 would block forever.
        assert!(Config::try_parse_from(["rpc-server", "--redis-wait-timeout-ms", "0"]).is_err());
    }

    #[test]
    fn request_bound_follows_a_large_text_limit() {
        let config = Config::try_parse_from(["rpc-server", "--max-text-bytes", "4194304"]).unwrap();
        assert_eq!(config.max_request_bytes(), 8 * 1024 * 1024 + 64 * 1024);
    }

    #[test]
    fn endpoints_are_comma_separated_and_blank_ones_dropped() {
        let config = Config::try_parse_from([
            "rpc-server",
            "--etcd-endpoints",
            "127.0.0.1:2379, http://etcd:2379,",
            "--redis-url",
            " ",
        ])
        .unwrap();
        assert_eq!(
            config.etcd_endpoints(),
            ["127.0.0.1:2379", "http://etcd:2379"]
        );
        assert_eq!(config.redis_url(), None);
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(Config::try_parse_from(["rpc-server", "--max-page-size", "0"]).is_err());
        assert!(Config::try_parse_from(["rpc-server", "--listen", "nowhere"]).is_err());
        // 0 would mean "no timeout" to the Redis client.
        assert!(Config::try_parse_from(["rpc-server", "--storage-timeout-ms", "0"]).is_err());
        assert!(Config::try_parse_from(["rpc-server", "--max-text-bytes", "0"]).is_err());
        assert!(Config::try_parse_from(["rpc-server", "--max-text-bytes", "16777217"]).is_err());
    }
}
