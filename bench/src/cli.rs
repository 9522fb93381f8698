//! Command-line flags and their validation.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Parser, ValueEnum};

use crate::runner::Stop;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Unframed strict-binary Thrift straight to the rpc-server, like the
    /// gateway's Kitex client.
    Thrift,
    /// HTTP/1.1 through the gateway (`/api/send`, `/api/pull`).
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadKind {
    /// Sends to random rooms.
    Send,
    /// Pulls of prefilled rooms: random cursors, alternating direction.
    Pull,
    /// `--send-ratio` sends, the rest pulls, over prefilled rooms.
    Mixed,
}

/// Load generator for the IM backend: drives the rpc-server directly over
/// Thrift (as the gateway's Kitex client does) or the HTTP gateway, and
/// reports throughput, latency percentiles, errors and the servers' CPU time
/// and peak memory.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "im-bench",
    version,
    after_help = "Exit status: 0 ok; 1 tool failure (e.g. cannot connect); 2 a run got no \
                  successful reply; 3 --verify-redis found a mismatch."
)]
pub struct Args {
    /// Protocol to drive.
    #[arg(long, value_enum, default_value_t = Protocol::Thrift)]
    pub protocol: Protocol,

    /// Server address [default: 127.0.0.1:8888 for thrift, 127.0.0.1:8080
    /// for http].
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,

    /// Request mix.
    #[arg(long, value_enum, default_value_t = WorkloadKind::Send)]
    pub workload: WorkloadKind,

    /// Long-lived TCP connections.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,

    /// Requests in flight per connection (written back to back, replies read
    /// in order); 1 is how Kitex's pooled client behaves.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pipeline: u32,

    /// Length of the measured window, e.g. 10s, 500ms, 2m [default: 10s].
    #[arg(long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// Stop after this many measured requests instead of a duration.
    #[arg(long)]
    pub requests: Option<u64>,

    /// Warm-up before the measured window; sent but not counted.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub warmup: Duration,

    /// Open loop: target requests per second across all connections.
    /// Latency is measured from each request's intended send time. A
    /// comma-separated list makes one run per rate. Without it: closed loop,
    /// as fast as possible.
    #[arg(long, value_delimiter = ',', value_name = "R[,R...]")]
    pub rate: Vec<f64>,

    /// Number of rooms `u{i}r{run}:v{i}r{run}`.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rooms: u32,

    /// Text size of each sent message, in bytes.
    #[arg(long, default_value_t = 64)]
    pub text_bytes: usize,

    /// Pull page size (`Limit`).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..))]
    pub page_size: i32,

    /// Messages sent to every room before a pull or mixed run (not measured;
    /// 0 = none).
    #[arg(long, default_value_t = 50)]
    pub prefill: u32,

    /// Share of sends in the mixed workload.
    #[arg(long, default_value_t = 0.2)]
    pub send_ratio: f64,

    /// Tag in the room names, so each run has its own rooms [default: random
    /// 6 hex digits]. An empty string gives plain `u{i}:v{i}`.
    #[arg(long)]
    pub run_id: Option<String>,

    /// A server process to watch (CPU seconds and peak RSS over the measured
    /// window); repeatable, e.g. gateway and rpc-server.
    #[arg(long = "server-pid", value_name = "PID")]
    pub server_pids: Vec<u32>,

    /// Append one JSON object per run (JSON Lines) to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Name of the run, printed and written to the JSON.
    #[arg(long)]
    pub label: Option<String>,

    /// After the runs, count the messages in the bench rooms in this Redis
    /// and compare with the sends acknowledged (prefill and warm-up included).
    #[arg(long, value_name = "redis://HOST:PORT[/DB]")]
    pub verify_redis: Option<String>,

    /// Redis key of a room; `{room}` is the room's two members in byte
    /// order joined by ':'.
    #[arg(long, default_value = "im:chat:{room}")]
    pub key_pattern: String,

    /// Tokio worker threads of the load generator.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,

    /// A request with no reply after this long fails and its connection is
    /// re-established.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub timeout: Duration,

    /// CI smoke test: 2 s run after 1 s warm-up on 4 connections (at most
    /// 100 rooms, prefill at most 20). Fails only if every request failed or
    /// the tool did.
    #[arg(long)]
    pub smoke: bool,
}

/// Validated settings of an invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    pub args: Args,
    pub addr: String,
    pub stop: Stop,
    pub rates: Vec<Option<f64>>,
    pub run_id: String,
}

impl Args {
    pub fn settings(mut self) -> Result<Settings> {
        if self.smoke {
            self.duration = Some(Duration::from_secs(2));
            self.requests = None;
            self.warmup = Duration::from_secs(1);
            self.connections = 4;
            self.rooms = self.rooms.min(100);
            self.prefill = self.prefill.min(20);
        }
        if !(0.0..=1.0).contains(&self.send_ratio) {
            bail!("--send-ratio must be between 0 and 1");
        }
        if let Some(r) = self.rate.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            bail!("--rate must be positive, got {r}");
        }
        if !self.key_pattern.contains("{room}") {
            bail!("--key-pattern must contain {{room}}");
        }
        if self.requests == Some(0) {
            bail!("--requests must be at least 1");
        }
        let stop = match (self.requests, self.duration) {
            (Some(n), _) => Stop::Requests(n),
            (None, Some(d)) if d.is_zero() => bail!("--duration must be positive"),
            (None, Some(d)) => Stop::Duration(d),
            (None, None) => Stop::Duration(Duration::from_secs(10)),
        };
        let addr = self.addr.clone().unwrap_or_else(|| {
            match self.protocol {
                Protocol::Thrift => "127.0.0.1:8888",
                Protocol::Http => "127.0.0.1:8080",
            }
            .to_owned()
        });
        let rates = if self.rate.is_empty() {
            vec![None]
        } else {
            self.rate.iter().copied().map(Some).collect()
        };
        let run_id = self
            .run_id
            .clone()
            .unwrap_or_else(crate::workload::random_run_id);
        if run_id.contains(':') {
            bail!("--run-id must not contain ':'");
        }
        Ok(Settings {
            args: self,
            addr,
            stop,
            rates,
            run_id,
        })
    }
}

/// `10s`, `500ms`, `2m`, `1.5s`, `250us`, `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s or 500ms"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit {other:?} in {text:?}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("im-bench").chain(extra.iter().copied())).unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn defaults() {
        let s = args(&[]).settings().unwrap();
        assert_eq!(s.addr, "127.0.0.1:8888");
        assert!(matches!(s.stop, Stop::Duration(d) if d == Duration::from_secs(10)));
        assert_eq!(s.rates, [None]);
        assert_eq!(s.run_id.len(), 6);
        assert_eq!(s.args.connections, 32);
        let s = args(&["--protocol", "http"]).settings().unwrap();
        assert_eq!(s.addr, "127.0.0.1:8080");
    }

    #[test]
    fn rates_requests_and_smoke() {
        let s = args(&["--rate", "1000,2000", "--requests", "5"])
            .settings()
            .unwrap();
        assert_eq!(s.rates, [Some(1000.0), Some(2000.0)]);
        assert!(matches!(s.stop, Stop::Requests(5)));
        let s = args(&[
            "--smoke",
            "--rooms",
            "5000",
            "--server-pid",
            "1",
            "--server-pid",
            "2",
        ])
        .settings()
        .unwrap();
        assert_eq!((s.args.connections, s.args.rooms), (4, 100));
        assert_eq!(s.args.warmup, Duration::from_secs(1));
        assert_eq!(s.args.server_pids, [1, 2]);
        assert!(matches!(s.stop, Stop::Duration(d) if d == Duration::from_secs(2)));
        assert!(args(&["--rate", "0"]).settings().is_err());
        assert!(args(&["--send-ratio", "1.5"]).settings().is_err());
        assert!(args(&["--key-pattern", "im:chat"]).settings().is_err());
        assert!(Args::try_parse_from(["im-bench", "--duration", "1s", "--requests", "3"]).is_err());
    }
}
