//! `im-bench`: the load generator for the IM backend.
//!
//! It drives either side of the system:
//!
//! * **thrift**: the rpc-server directly, the way the gateway's Kitex client
//!   does: unframed strict-binary Thrift over `--connections` long-lived TCP
//!   connections, one request in flight per connection (or `--pipeline K`).
//!   Requests and replies go through the types volo-build generated from
//!   `idl/idl_rpc.thrift`; a reply counts as a success only if it is a
//!   `REPLY` for the same method and seqid with `Code == 0`.
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
//! Each run reports throughput, errors (with samples), latency percentiles
//! (HdrHistogram), and for every `--server-pid` the CPU seconds and peak RSS
//! over the measured window. `--verify-redis` compares the messages stored
//! in the bench rooms with the sends the server acknowledged.
//!
//! Exit status: 0 on success; 1 if the tool failed (e.g. cannot connect);
//! 2 if a run got no successful reply; 3 if the Redis check found a mismatch.
mod cli;
mod http;
mod proc;
mod runner;
mod stats;
mod thrift;
mod verify;
mod workload;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Parser;

use cli::{Args, Protocol, Settings, WorkloadKind};
use runner::{Codec, Plan, Stop};
use stats::{Params, Report, Verify};
use workload::{Mix, Rooms, Workload};

fn main() -> ExitCode {
    let settings = match Args::parse().settings() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("im-bench: {err:#}");
            return ExitCode::from(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.args.threads as usize)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(async {
            match settings.args.protocol {
                Protocol::Thrift => run(&settings, thrift::ThriftCodec).await,
                Protocol::Http => run(&settings, http::HttpCodec::new(&settings.addr)).await,
            }
        }),
        Err(err) => Err(err.into()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("im-bench: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

async fn run<C: Codec + Clone>(s: &Settings, codec: C) -> Result<ExitCode> {
    let a = &s.args;
    for &pid in &a.server_pids {
        std::fs::metadata(format!("/proc/{pid}"))
            .with_context(|| format!("--server-pid {pid}: no such process"))?;
    }
    let rooms = Arc::new(Rooms::new(a.rooms, &s.run_id));
    let mut rng = fastrand::Rng::new();
    let mut wl = Workload {
        mix: match a.workload {
            WorkloadKind::Send => Mix::Send,
            WorkloadKind::Pull => Mix::Pull,
            WorkloadKind::Mixed => Mix::Mixed {
                send_ratio: a.send_ratio,
            },
        },
        rooms: rooms.clone(),
        text: workload::random_text(a.text_bytes, &mut rng),
        page_size: a.page_size,
        cursor_range: None,
    };
    let label = a.label.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            match a.protocol {
                Protocol::Thrift => "thrift",
                Protocol::Http => "http",
            },
            workload_name(a.workload)
        )
    });
    println!(
        "im-bench: {label}: {} rooms tagged r{} (e.g. {})",
        a.rooms,
        s.run_id,
        rooms.chat(0)
    );
    let mut acked_total = 0;

    if a.workload != WorkloadKind::Send && a.prefill > 0 {
        let total = u64::from(a.rooms) * u64::from(a.prefill);
        let plan = Plan {
            addr: s.addr.clone(),
            connections: a.connections as usize,
            pipeline: a.pipeline as usize,
            warmup: Duration::ZERO,
            stop: Stop::Requests(total),
            rate: None,
            timeout: a.timeout,
        };
        let prefill = Workload {
            mix: Mix::Prefill,
            ..wl.clone()
        };
        let before = now_micros();
        let result = runner::start(plan, codec.clone(), prefill)
            .await?
            .finish()
            .await?;
        let after = now_micros();
        let rec = &result.recorder;
        acked_total += rec.acked_sends;
        println!(
            "prefill: {} of {total} sends acked in {:.2}s ({:.0} req/s), {} errors",
            rec.acked_sends,
            result.elapsed.as_secs_f64(),
            rec.requests() as f64 / result.elapsed.as_secs_f64().max(1e-9),
            rec.errors
        );
        for (msg, n) in &rec.error_samples {
            println!("prefill error x{n}: {msg}");
        }
        wl.cursor_range = Some((before, after));
    }

    let mut reports = Vec::new();
    let mut all_failed = false;
    for rate in &s.rates {
        let plan = Plan {
            addr: s.addr.clone(),
            connections: a.connections as usize,
            pipeline: a.pipeline as usize,
            warmup: a.warmup,
            stop: s.stop,
            rate: *rate,
            timeout: a.timeout,
        };
        let running = runner::start(plan, codec.clone(), wl.clone()).await?;
        tokio::time::sleep_until(tokio::time::Instant::from_std(running.measure_start)).await;
        let watches = a
            .server_pids
            .iter()
            .map(|&pid| proc::Watch::start(pid))
            .collect::<Result<Vec<_>>>()?;
        let result = running.finish().await?;
        let rec = &result.recorder;
        let servers = watches
            .iter()
            .map(|w| w.finish(rec.requests()))
            .collect::<Result<Vec<_>>>()?;
        acked_total += rec.acked_sends;
        let run_label = match (rate, s.rates.len()) {
            (Some(r), n) if n > 1 => format!("{label}@{r}"),
            _ => label.clone(),
        };
        let report = Report::new(run_label, params(s, *rate), rec, result.elapsed, servers);
        print!("{}", report.human());
        all_failed |= report.ok == 0;
        reports.push(report);
    }

    let mut mismatch = false;
    if let Some(url) = &a.verify_redis {
        let keys = rooms.keys(&a.key_pattern);
        let stored = verify::count_members(url, &keys).await?;
        let v = Verify {
            redis: stored,
            acked: acked_total,
            keys: keys.len(),
            ok: stored == acked_total,
        };
        println!(
            "verify: redis={} acked={} {} ({} keys like {})",
            v.redis,
            v.acked,
            if v.ok { "OK" } else { "MISMATCH" },
            v.keys,
            keys[0]
        );
        mismatch = !v.ok;
        if let Some(last) = reports.last_mut() {
            last.verify = Some(v);
        }
    }

    if let Some(path) = &a.json {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        for r in &reports {
            let mut line = serde_json::to_vec(r)?;
            line.push(b'\n');
            file.write_all(&line)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }

    Ok(if all_failed {
        eprintln!("im-bench: a run got no successful reply");
        ExitCode::from(2)
    } else if mismatch {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn workload_name(w: WorkloadKind) -> &'static str {
    match w {
        WorkloadKind::Send => "send",
        WorkloadKind::Pull => "pull",
        WorkloadKind::Mixed => "mixed",
    }
}

fn params(s: &Settings, rate: Option<f64>) -> Params {
    let a = &s.args;
    Params {
        protocol: match a.protocol {
            Protocol::Thrift => "thrift",
            Protocol::Http => "http",
        }
        .into(),
        addr: s.addr.clone(),
        workload: workload_name(a.workload).into(),
        connections: a.connections as usize,
        pipeline: a.pipeline as usize,
        threads: a.threads as usize,
        rate,
        duration_s: match s.stop {
            Stop::Duration(d) => Some(d.as_secs_f64()),
            Stop::Requests(_) => None,
        },
        requests: match s.stop {
            Stop::Requests(n) => Some(n),
            Stop::Duration(_) => None,
        },
        warmup_s: a.warmup.as_secs_f64(),
        rooms: a.rooms,
        text_bytes: a.text_bytes,
        page_size: a.page_size,
        prefill: if a.workload == WorkloadKind::Send {
            0
        } else {
            a.prefill
        },
        send_ratio: a.send_ratio,
        run_id: s.run_id.clone(),
    }
}
