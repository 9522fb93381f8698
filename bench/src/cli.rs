//! Command-line flags and their validation.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::runner::Stop;

/// Load generator for the IM backend: drives the rpc-server directly over
/// Thrift (as the gateway's Kitex client does) or the HTTP gateway, and
/// reports throughput, latency percentiles, errors and the servers' CPU time
/// and peak memory.
#[derive(Debug, Parser)]
#[command(
    name = "im-bench",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Exit status: 0 ok; 1 tool failure (e.g. cannot connect); 2 the run got no \
                  successful reply; 3 --verify-redis found a mismatch."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub args: Args,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print scripts/bench.sh's comparison tables from the JSON Lines its
    /// runs appended to FILE.
    Tables { file: PathBuf },
    /// Measure the capacity model's inputs (bytes per message, CPU per
    /// request, latency by room size, rate sweep) and print the sizing;
    /// run by scripts/capacity.sh.
    Capacity(Box<crate::capacity::Args>),
    /// Memory each server holds for idle connections, side by side: RSS
    /// before, with `--connections` open and idle, and after they closed.
    Idle(crate::idle::IdleArgs),
}

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

#[derive(Debug, Clone, clap::Args)]
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

    /// Long-lived TCP connections, one request in flight on each.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,

    /// Length of the measured window, e.g. 10s, 500ms, 2m [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// Stop after this many measured requests instead of a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Warm-up before the measured window; sent but not counted.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub warmup: Duration,

    /// Open loop: target requests per second across all connections, with
    /// latency measured from each request's intended send time. Without it:
    /// closed loop, as fast as the server answers.
    #[arg(long)]
    pub rate: Option<f64>,

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

    /// Append the run's report as one JSON line to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Name of the run, printed and written to the JSON.
    #[arg(long)]
    pub label: Option<String>,

    /// After the run, count the messages in the bench rooms in this Redis
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
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub timeout: Duration,

    /// CI smoke test: 2 s run after 1 s warm-up on 4 connections (at most
    /// 100 rooms, prefill at most 20). Fails only if every request failed or
    /// the tool did.
    #[arg(long)]
    pub smoke: bool,
}

/// Validated settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub args: Args,
    pub addr: String,
    pub stop: Stop,
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
        if self.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            bail!("--rate must be a positive number");
        }
        if !self.key_pattern.contains("{room}") {
            bail!("--key-pattern must contain {{room}}");
        }
        let stop = match (self.requests, self.duration) {
            (Some(n), _) => Stop::Requests(n),
            (None, Some(d)) if d.is_zero() => bail!("--duration must be positive"),
            (None, d) => Stop::Duration(d.unwrap_or(Duration::from_secs(10))),
        };
        let default_addr = match self.protocol {
            Protocol::Thrift => "127.0.0.1:8888",
            Protocol::Http => "127.0.0.1:8080",
        };
        let run_id = self
            .run_id
            .clone()
            .unwrap_or_else(crate::workload::random_run_id);
        if run_id.contains(':') {
            bail!("--run-id must not contain ':'");
        }
        Ok(Settings {
            addr: self.addr.clone().unwrap_or_else(|| default_addr.into()),
            args: self,
            stop,
            run_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Settings> {
        let cli = Cli::try_parse_from(std::iter::once("im-bench").chain(extra.iter().copied()))?;
        cli.args.settings()
    }

    #[test]
    fn defaults() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.addr, "127.0.0.1:8888");
        assert!(matches!(s.stop, Stop::Duration(d) if d == Duration::from_secs(10)));
        assert_eq!(s.run_id.len(), 6);
        assert_eq!(s.args.connections, 32);
        assert_eq!(
            parse(&["--protocol", "http"]).unwrap().addr,
            "127.0.0.1:8080"
        );
    }

    #[test]
    fn durations_requests_and_smoke() {
        let s = parse(&["--duration", "1s 500ms", "--warmup", "0s"]).unwrap();
        assert!(matches!(s.stop, Stop::Duration(d) if d == Duration::from_millis(1500)));
        assert_eq!(s.args.warmup, Duration::ZERO);
        let s = parse(&["--rate", "1000", "--requests", "5"]).unwrap();
        assert_eq!(s.args.rate, Some(1000.0));
        assert!(matches!(s.stop, Stop::Requests(5)));
        let smoke = [
            "--smoke",
            "--rooms",
            "5000",
            "--server-pid",
            "1",
            "--server-pid",
            "2",
        ];
        let s = parse(&smoke).unwrap();
        assert_eq!((s.args.connections, s.args.rooms), (4, 100));
        assert_eq!(s.args.warmup, Duration::from_secs(1));
        assert_eq!(s.args.server_pids, [1, 2]);
        assert!(matches!(s.stop, Stop::Duration(d) if d == Duration::from_secs(2)));
    }

    #[test]
    fn invalid_flags_are_refused() {
        for bad in [
            &["--rate", "0"][..],
            &["--send-ratio", "1.5"],
            &["--key-pattern", "im:chat"],
            &["--duration", "fast"],
            &["--duration", "0s"],
            &["--duration", "1s", "--requests", "3"],
            &["--requests", "0"],
            &["--run-id", "a:b"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let tables = Cli::try_parse_from(["im-bench", "tables", "runs.jsonl"]).unwrap();
        assert!(matches!(tables.command, Some(Command::Tables { .. })));
    }
}
