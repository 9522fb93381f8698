//! One measured run against a server, with what it cost: the server's and
//! Redis's CPU time (from /proc) and Redis's own account of its commands
//! (`INFO commandstats`), all over the measured window only.
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;

use super::redis::{self, CommandStat, Redis};
use crate::client::Client;
use crate::proc::{ServerUsage, Watch};
use crate::report::Report;
use crate::runner::{self, Plan, Stop};
use crate::workload::Workload;

/// Where a run goes and which processes serve it.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: String,
    pub client: Client,
    /// The processes whose CPU time is the run's cost, e.g. the gateway
    /// and the rpc-server.
    pub pids: Vec<u32>,
}

/// How a run is driven.
#[derive(Debug, Clone, Copy)]
pub struct Drive {
    pub connections: u32,
    pub warmup: Duration,
    pub stop: Stop,
    /// Open loop at this rate; `None`: closed loop.
    pub rate: Option<f64>,
}

pub struct Measured {
    pub report: Report,
    /// One per [`Target::pids`], in order.
    pub servers: Vec<ServerUsage>,
    pub redis: ServerUsage,
    commands_before: BTreeMap<String, CommandStat>,
    commands_after: BTreeMap<String, CommandStat>,
}

impl Measured {
    /// Microseconds of CPU per request of `usage`.
    pub fn usec_per_request(&self, usage: &ServerUsage) -> Option<f64> {
        (self.report.requests > 0).then(|| usage.cpu_seconds * 1e6 / self.report.requests as f64)
    }

    /// Redis's time in `commands` per request, µs.
    pub fn command_usec(&self, commands: &[&str]) -> Option<f64> {
        redis::command_usec_per_request(
            &self.commands_before,
            &self.commands_after,
            commands,
            self.report.requests,
        )
    }
}

pub async fn run(
    redis: &Redis,
    redis_pid: u32,
    target: &Target,
    workload: Workload,
    drive: Drive,
    label: &str,
) -> Result<Measured> {
    let plan = Plan {
        addr: target.addr.clone(),
        connections: drive.connections,
        warmup: drive.warmup,
        stop: drive.stop,
        rate: drive.rate,
        timeout: Duration::from_secs(5),
    };
    let running = runner::start(plan, target.client.clone(), workload).await?;
    tokio::time::sleep_until(running.measure_start.into()).await;
    let watches = target
        .pids
        .iter()
        .map(|&pid| Watch::start(pid))
        .collect::<Result<Vec<_>>>()?;
    let redis_watch = Watch::start(redis_pid)?;
    let commands_before = redis.command_stats().await?;
    let result = running.finish().await?;
    let commands_after = redis.command_stats().await?;
    let rec = &result.recorder;
    let elapsed_s = result.elapsed.as_secs_f64();
    let servers = watches
        .iter()
        .map(|watch| watch.finish(rec.requests(), elapsed_s))
        .collect::<Result<Vec<_>>>()?;
    let redis_usage = redis_watch.finish(rec.requests(), elapsed_s)?;
    let params = serde_json::json!({ "addr": target.addr, "connections": drive.connections });
    let report = Report::new(
        label.to_owned(),
        params,
        drive.rate,
        rec,
        result.elapsed,
        servers.clone(),
    );
    Ok(Measured {
        report,
        servers,
        redis: redis_usage,
        commands_before,
        commands_after,
    })
}
