//! `im-bench`: the load generator for the IM backend.
//!
//! It drives either side of the system:
//!
//! * **thrift**: the rpc-server directly, the way the gateway's Kitex client
//!   does: unframed strict-binary Thrift over `--connections` long-lived TCP
//!   connections, one request in flight on each. Requests and replies go
//!   through the types volo-build generated from `idl/idl_rpc.thrift`; a
//!   reply counts as a success only if it answers the same method and seqid
//!   with `Code == 0`.
//! * **http**: the Hertz gateway, `POST /api/send` and `GET /api/pull` with
//!   JSON bodies, over keep-alive HTTP/1.1 connections; 200 is a success.
//!
//! Workloads: `send` (random rooms), `pull` (rooms prefilled with
//! `--prefill` messages; random cursors, alternating direction) and `mixed`
//! (`--send-ratio` sends, the rest pulls). Rooms carry a per-run tag so runs
//! never share rooms.
//!
//! Closed loop by default (as fast as the server answers). With `--rate R`
//! the run is open loop: requests are due at fixed intervals and latency is
//! measured from the intended send time, so a stalled server shows up in the
//! percentiles instead of silently slowing the client (coordinated
//! omission); the achieved rate is reported next to the target.
//!
//! A run reports throughput, errors (with samples), latency percentiles
//! (HdrHistogram), and for every `--server-pid` the CPU time and peak RSS
//! over the measured window. `--verify-redis` compares the messages stored
//! in the bench rooms with the sends the server acknowledged.
//! `im-bench tables FILE` prints `scripts/bench.sh`'s comparison tables;
//! `im-bench capacity` measures the capacity model's inputs (`scripts/capacity.sh`);
//! `im-bench idle` measures the memory idle connections cost each server.
mod capacity;
mod cli;
mod client;
mod http;
mod idle;
mod proc;
mod report;
mod runner;
mod stats;
mod tables;
mod thrift;
mod verify;
mod workload;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

use cli::{Cli, Command, Protocol, Settings, WorkloadKind};
use client::Client;
use report::{NewConnections, Report};
use runner::{Plan, Stop};
use workload::{Mix, Rooms, Workload};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Tables { file }) => tables::print(&file).map(|()| ExitCode::SUCCESS),
        Some(Command::Capacity(args)) => capacity::main(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Idle(args)) => idle::main(&args).map(|()| ExitCode::SUCCESS),
        None => cli.args.settings().and_then(|s| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(s.args.threads as usize)
                .enable_all()
                .build()?
                .block_on(run(&s))
        }),
    };
    result.unwrap_or_else(|err| {
        eprintln!("im-bench: {err:#}");
        ExitCode::from(1)
    })
}

/// Prefill (pull and mixed), the measured run, the Redis check, the JSON.
async fn run(s: &Settings) -> Result<ExitCode> {
    let a = &s.args;
    for &pid in &a.server_pids {
        procfs::process::Process::new(pid as i32)
            .with_context(|| format!("--server-pid {pid}: no such process"))?;
    }
    let client = match a.protocol {
        Protocol::Thrift => Client::Thrift,
        Protocol::Http => Client::Http {
            host: s.addr.clone(),
        },
    };
    let rooms = Arc::new(Rooms::new(a.rooms, &s.run_id));
    let label = a
        .label
        .clone()
        .unwrap_or_else(|| format!("{}-{}", name(a.protocol), name(a.workload)));
    println!(
        "im-bench: {label}: {} rooms like {}",
        a.rooms,
        rooms.chat(0)
    );
    let mut workload = Workload {
        mix: match a.workload {
            WorkloadKind::Send => Mix::Send,
            WorkloadKind::Pull => Mix::Pull,
            WorkloadKind::Mixed => Mix::Mixed {
                send_ratio: a.send_ratio,
            },
        },
        rooms: rooms.clone(),
        text: workload::random_text(a.text_bytes),
        page_size: a.page_size,
        cursor_range: None,
    };
    let mut acked = 0;
    if a.workload != WorkloadKind::Send && a.prefill > 0 {
        let (prefill_acked, send_times) = prefill(s, &client, &workload).await?;
        acked += prefill_acked;
        workload.cursor_range = Some(send_times);
    }
    let (mut report, run_acked) = measure(s, &client, workload, label).await?;
    acked += run_acked;
    if let Some(url) = &a.verify_redis {
        report.verify = Some(verify::check(url, &rooms, &a.key_pattern, acked).await?);
    }
    if let Some(path) = &a.json {
        append_json(path, &report)?;
    }
    Ok(if report.ok == 0 {
        eprintln!("im-bench: the run got no successful reply");
        ExitCode::from(2)
    } else if report.verify.as_ref().is_some_and(|v| !v.ok) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn plan(s: &Settings, warmup: Duration, stop: Stop, rate: Option<f64>) -> Plan {
    Plan {
        addr: s.addr.clone(),
        connections: s.args.connections,
        warmup,
        stop,
        rate,
        timeout: s.args.timeout,
    }
}

/// Sends `--prefill` messages to every room, closed loop. Returns the sends
/// acknowledged and the range of their send times (µs) for pull cursors.
async fn prefill(s: &Settings, client: &Client, workload: &Workload) -> Result<(u64, (i64, i64))> {
    let total = u64::from(s.args.rooms) * u64::from(s.args.prefill);
    let plan = plan(s, Duration::ZERO, Stop::Requests(total), None);
    let prefill = Workload {
        mix: Mix::Prefill,
        ..workload.clone()
    };
    let before = now_micros();
    let result = runner::start(plan, client.clone(), prefill)
        .await?
        .finish()
        .await?;
    let after = now_micros();
    let rec = &result.recorder;
    let secs = result.elapsed.as_secs_f64().max(1e-9);
    println!(
        "prefill: {} of {total} sends acked in {secs:.2}s ({:.0} req/s), {} errors",
        rec.acked_sends,
        rec.requests() as f64 / secs,
        rec.errors
    );
    for (message, n) in &rec.error_samples {
        println!("prefill error x{n}: {message}");
    }
    Ok((rec.acked_sends, (before, after)))
}

/// The measured run, with the servers watched from the end of the warm-up.
/// Returns its report and the sends acknowledged (warm-up included).
async fn measure(
    s: &Settings,
    client: &Client,
    workload: Workload,
    label: String,
) -> Result<(Report, u64)> {
    let a = &s.args;
    let plan = plan(s, a.warmup, s.stop, a.rate);
    let running = runner::start(plan, client.clone(), workload).await?;
    tokio::time::sleep_until(running.measure_start.into()).await;
    let watches = a
        .server_pids
        .iter()
        .map(|&pid| proc::Watch::start(pid))
        .collect::<Result<Vec<_>>>()?;
    let own = proc::Watch::start(std::process::id())?;
    let accepts = (!a.server_pids.is_empty())
        .then(|| proc::AcceptWatch::start(&a.server_pids))
        .transpose()?;
    let result = running.finish().await?;
    let rec = &result.recorder;
    let elapsed_s = result.elapsed.as_secs_f64();
    let servers = watches
        .iter()
        .map(|w| w.finish(rec.requests(), elapsed_s))
        .collect::<Result<Vec<_>>>()?;
    let mut report = Report::new(label, params(s), a.rate, rec, result.elapsed, servers);
    report.load_generator = Some(own.finish(rec.requests(), elapsed_s)?);
    if let Some(accepts) = accepts {
        report.new_connections = Some(NewConnections::new(accepts.finish()?, rec));
    }
    print!("{}", report.human());
    Ok((report, rec.acked_sends))
}

fn append_json(path: &std::path::Path, report: &impl serde::Serialize) -> Result<()> {
    let mut line = serde_json::to_vec(report)?;
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(&line))
        .with_context(|| format!("appending to {}", path.display()))
}

/// The flags of a run, for its JSON report.
fn params(s: &Settings) -> serde_json::Value {
    let a = &s.args;
    let (duration_s, requests) = match s.stop {
        Stop::Duration(d) => (Some(d.as_secs_f64()), None),
        Stop::Requests(n) => (None, Some(n)),
    };
    serde_json::json!({
        "protocol": name(a.protocol),
        "addr": s.addr,
        "workload": name(a.workload),
        "connections": a.connections,
        "threads": a.threads,
        "rate": a.rate,
        "duration_s": duration_s,
        "requests": requests,
        "warmup_s": a.warmup.as_secs_f64(),
        "rooms": a.rooms,
        "text_bytes": a.text_bytes,
        "page_size": a.page_size,
        "prefill": if a.workload == WorkloadKind::Send { 0 } else { a.prefill },
        "send_ratio": a.send_ratio,
        "run_id": s.run_id,
    })
}

/// The flag value of an enum, e.g. `thrift`.
fn name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
