//! `im-bench capacity`: the measured inputs of the capacity model, and the
//! model. `scripts/capacity.sh` starts the processes and runs it.
//!
//! It measures on this machine, against a Redis of its own that it empties
//! (`FLUSHALL`) and reconfigures (`CONFIG SET` of the zset listpack
//! settings) as it goes:
//!
//! 1. [`bytes`]: Redis bytes per message by room size, text size, stored
//!    format and Redis setting (default, recommended).
//! 2. [`cost`]: CPU per Send and per Pull of the rpc-server, Redis and the
//!    gateway; retention on and off; the Go peer beside it.
//! 3. [`rooms`]: Send and Pull latency in rooms of 10 and of 1,000,000.
//! 4. [`sweep`]: open-loop rate sweep per server and protocol, drawn by
//!    [`chart`] as latency against offered rate.
//!
//! It writes everything to `capacity.json` and prints the tables and the
//! sizing ([`sizing`]) in Markdown; `--from capacity.json` prints them
//! again (with other sizing assumptions, say) without measuring.
mod bytes;
mod chart;
mod cost;
mod fill;
mod measure;
mod output;
mod redis;
mod rooms;
mod sizing;
mod sweep;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use rpc_server::store::member::Format;
use serde::{Deserialize, Serialize};

use redis::{Redis, Setting};

/// `im-bench capacity`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The bench's own Redis, as HOST:PORT@PID. It is emptied and its zset
    /// settings changed during the run: never point this at a Redis that
    /// holds anything.
    #[arg(long, value_name = "HOST:PORT@PID", value_parser = Endpoint::parse)]
    pub redis: Option<Endpoint>,
    /// The rpc-server writing the compact format, without retention.
    #[arg(long, value_name = "HOST:PORT@PID", value_parser = Endpoint::parse)]
    pub rust: Option<Endpoint>,
    /// The rpc-server with `--stored-format json`.
    #[arg(long, value_name = "HOST:PORT@PID", value_parser = Endpoint::parse)]
    pub rust_json: Option<Endpoint>,
    /// The rpc-server with `--retention-max-messages` (see
    /// --retention-messages).
    #[arg(long, value_name = "HOST:PORT@PID", value_parser = Endpoint::parse)]
    pub rust_count: Option<Endpoint>,
    /// The rpc-server with `--retention-max-age` (see --retention-age).
    #[arg(long, value_name = "HOST:PORT@PID", value_parser = Endpoint::parse)]
    pub rust_age: Option<Endpoint>,
    /// The Go peer (bench/go-baseline).
    #[arg(long, value_name = "HOST:PORT@PID", value_parser = Endpoint::parse)]
    pub go: Option<Endpoint>,
    /// A gateway in front of --rust.
    #[arg(long, value_name = "HOST:PORT@PID", value_parser = Endpoint::parse)]
    pub rust_gateway: Option<Endpoint>,
    /// A gateway in front of --go.
    #[arg(long, value_name = "HOST:PORT@PID", value_parser = Endpoint::parse)]
    pub go_gateway: Option<Endpoint>,
    /// The --retention-max-messages the --rust-count server runs with.
    #[arg(long, default_value_t = 100)]
    pub retention_messages: u64,
    /// The --retention-max-age the --rust-age server runs with.
    #[arg(long, default_value = "30d")]
    pub retention_age: String,
    /// A recommended Redis setting, NAME=VALUE; repeatable. Measured beside
    /// Redis's own values.
    #[arg(long = "recommend", value_name = "NAME=VALUE", value_parser = parse_setting)]
    pub recommended: Vec<Setting>,
    /// Also measure rooms of 1,000,000 with 16- and 256-byte texts (64
    /// only by default).
    #[arg(long)]
    pub full: bool,
    /// Measured length of each pull run.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    pub pull_duration: Duration,
    /// Measured length of each step of the rate sweep (after 1 s warm-up).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    pub step_duration: Duration,
    /// The latency a sustained rate must keep p99 within.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10ms")]
    pub p99_limit: Duration,
    /// Skip the rate sweep through the gateways.
    #[arg(long)]
    pub no_http_sweep: bool,
    /// Where capacity.json and latency-vs-rate.svg go.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Print the tables and the sizing from this capacity.json instead of
    /// measuring.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub sizing: sizing::Assumptions,
}

/// A process serving on an address.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: String,
    pub pid: u32,
}

impl Endpoint {
    fn parse(text: &str) -> Result<Endpoint, String> {
        let (addr, pid) = text
            .rsplit_once('@')
            .ok_or_else(|| format!("{text:?} is not HOST:PORT@PID"))?;
        let pid = pid.parse().map_err(|_| format!("{pid:?} is not a pid"))?;
        Ok(Endpoint {
            addr: addr.to_owned(),
            pid,
        })
    }
}

fn parse_setting(text: &str) -> Result<Setting, String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Which Redis setting a figure was measured under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettingName {
    /// Redis's own values.
    Default,
    /// With the --recommend values.
    Recommended,
}

impl SettingName {
    pub fn name(self) -> &'static str {
        match self {
            SettingName::Default => "default",
            SettingName::Recommended => "recommended",
        }
    }
}

/// The servers measured.
pub struct Servers {
    pub rust: Endpoint,
    pub rust_json: Endpoint,
    pub rust_count: Option<Endpoint>,
    pub rust_age: Option<Endpoint>,
    pub go: Option<Endpoint>,
    pub rust_gateway: Option<Endpoint>,
    pub go_gateway: Option<Endpoint>,
}

/// What every section measures with.
pub struct Context {
    pub redis: Redis,
    pub redis_pid: u32,
    pub servers: Servers,
    defaults: Vec<Setting>,
    recommended: Vec<Setting>,
    pub full: bool,
    pub large_room: u64,
    pub pull_duration: Duration,
    pub step_duration: Duration,
    pub p99_limit: Duration,
    pub http_sweep: bool,
    pub retention_messages: u64,
    pub retention_age: String,
    run_prefix: String,
    runs: AtomicU32,
}

impl Context {
    /// Both settings, Redis's own first.
    pub fn settings(&self) -> [(SettingName, &[Setting]); 2] {
        [
            (SettingName::Default, &self.defaults),
            (SettingName::Recommended, &self.recommended),
        ]
    }

    pub fn recommended_values(&self) -> &[Setting] {
        &self.recommended
    }

    /// A fresh room tag, so no two fills share rooms.
    pub fn run_id(&self) -> String {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        format!("{}{n}", self.run_prefix)
    }
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    /// `/proc/loadavg` at the start and at the end of the run.
    pub load_start: String,
    pub load_end: String,
    pub redis_version: String,
}

/// Everything measured; `capacity.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// When the run started (UTC).
    pub started: String,
    pub machine: Machine,
    pub default_settings: Vec<Setting>,
    pub recommended_settings: Vec<Setting>,
    pub p99_limit_ms: f64,
    pub bytes: Vec<bytes::BytesRow>,
    pub cost: Vec<cost::CostRow>,
    pub rooms: Vec<rooms::RoomLatencyRow>,
    pub sweep: Vec<sweep::Series>,
}

pub const RESULTS_FILE: &str = "capacity.json";
pub const CHART_FILE: &str = "latency-vs-rate.svg";

pub fn main(args: &Args) -> Result<()> {
    let results = match &args.from {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?
        }
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let results = runtime.block_on(measure_all(args))?;
            std::fs::create_dir_all(&args.out)?;
            let path = args.out.join(RESULTS_FILE);
            std::fs::write(&path, serde_json::to_vec_pretty(&results)?)
                .with_context(|| format!("writing {}", path.display()))?;
            results
        }
    };
    let chart = args.out.join(CHART_FILE);
    if !results.sweep.is_empty() {
        std::fs::create_dir_all(&args.out)?;
        std::fs::write(&chart, chart::svg(&results))
            .with_context(|| format!("writing {}", chart.display()))?;
    }
    print!("{}", output::markdown(&results, &args.sizing, &chart));
    Ok(())
}

async fn measure_all(args: &Args) -> Result<Results> {
    let (Some(redis), Some(rust), Some(rust_json)) = (&args.redis, &args.rust, &args.rust_json)
    else {
        bail!("measuring needs --redis, --rust and --rust-json (or --from FILE)");
    };
    let started = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let load_start = loadavg();
    let client = Redis::connect(&format!("redis://{}", redis.addr)).await?;
    let defaults = client.zset_settings().await?;
    let mut recommended = defaults.clone();
    for (name, value) in &args.recommended {
        match recommended.iter_mut().find(|(known, _)| known == name) {
            Some(setting) => setting.1.clone_from(value),
            None => recommended.push((name.clone(), value.clone())),
        }
    }
    let redis_version = client.info_field("server", "redis_version").await?;
    let cx = Context {
        redis: client,
        redis_pid: redis.pid,
        servers: Servers {
            rust: rust.clone(),
            rust_json: rust_json.clone(),
            rust_count: args.rust_count.clone(),
            rust_age: args.rust_age.clone(),
            go: args.go.clone(),
            rust_gateway: args.rust_gateway.clone(),
            go_gateway: args.go_gateway.clone(),
        },
        defaults: defaults.clone(),
        recommended: recommended.clone(),
        full: args.full,
        large_room: 1_000_000,
        pull_duration: args.pull_duration,
        step_duration: args.step_duration,
        p99_limit: args.p99_limit,
        http_sweep: !args.no_http_sweep,
        retention_messages: args.retention_messages,
        retention_age: args.retention_age.clone(),
        run_prefix: crate::workload::random_run_id(),
        runs: AtomicU32::new(0),
    };
    let bytes = bytes::measure(&cx).await?;
    let cost = cost::measure(&cx).await?;
    let rooms = rooms::measure(&cx).await?;
    let sweep = sweep::measure(&cx).await?;
    cx.redis.flush().await?;
    cx.redis.quit().await;
    Ok(Results {
        started,
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            load_start,
            load_end: loadavg(),
            redis_version,
        },
        default_settings: defaults,
        recommended_settings: recommended,
        p99_limit_ms: args.p99_limit.as_secs_f64() * 1e3,
        bytes,
        cost,
        rooms,
        sweep,
    })
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Compact => "compact",
        Format::Json => "json",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_settings_parse() {
        let endpoint = Endpoint::parse("127.0.0.1:6379@42").unwrap();
        assert_eq!(
            (endpoint.addr.as_str(), endpoint.pid),
            ("127.0.0.1:6379", 42)
        );
        assert!(Endpoint::parse("127.0.0.1:6379").is_err());
        assert!(Endpoint::parse("127.0.0.1:6379@x").is_err());
        assert_eq!(
            parse_setting("zset-max-listpack-value=128").unwrap(),
            ("zset-max-listpack-value".to_owned(), "128".to_owned())
        );
        assert!(parse_setting("zset-max-listpack-value").is_err());
    }
}
