//! CPU per Send and per Pull: the rpc-server's and Redis's CPU time (from
//! /proc) over a closed-loop run, Redis's own time in the request's
//! command (`INFO commandstats`: the append script, `ZRANGE`), the
//! gateway's over HTTP; by Redis setting and room size, with retention on
//! and off, and the Go peer beside it.
//!
//! Send runs are bounded by a request count so that rooms grow by at most
//! about 20 messages (and stay in the encoding they were filled in); every
//! send run starts from freshly filled rooms.
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use rpc_server::store::member::Format;
use serde::{Deserialize, Serialize};

use super::measure::{self, Drive, Measured, Target};
use super::{Context, Endpoint, SettingName, fill};
use crate::client::Client;
use crate::runner::Stop;
use crate::workload::{self, Mix, Rooms, Workload};

pub const ROOMS: u32 = 1_000;
/// Text size of every message sent or filled here.
pub const TEXT_BYTES: usize = 64;
const SENDS: u64 = 15_000;
const CONNECTIONS: u32 = 32;
const PULL_PAGE: i32 = 10;
/// Rooms of the Go peer's runs, filled through it.
const GO_ROOM_MESSAGES: u64 = 20;

/// What one run cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CostRow {
    /// e.g. `rust`, `rust, retention 100 messages`, `go`.
    pub server: String,
    /// `send` or `pull` (page of 10).
    pub op: String,
    /// `thrift` or `http` (through the gateway).
    pub protocol: String,
    pub setting: SettingName,
    /// Messages in each room when the run started.
    pub room_messages: u64,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// rpc-server CPU, µs per request.
    pub server_us: Option<f64>,
    /// Gateway CPU, µs per request (HTTP only).
    pub gateway_us: Option<f64>,
    /// Redis process CPU, µs per request (command execution, parsing,
    /// network system calls).
    pub redis_us: Option<f64>,
    /// Redis's time in the request's own command, µs per request.
    pub redis_command_us: Option<f64>,
    /// The commands counted in `redis_command_us`.
    pub commands: String,
}

/// Which commands a request of `op` sends, per server.
fn commands(go: bool, op: &str) -> &'static [&'static str] {
    match (go, op) {
        (false, "send") => &["evalsha", "eval"],
        (false, _) => &["zrange", "zscore"],
        (true, "send") => &["zadd"],
        (true, _) => &["zrange", "zrevrange"],
    }
}

fn workload(rooms: &Arc<Rooms>, mix: Mix, cursor_range: Option<(i64, i64)>) -> Workload {
    Workload {
        mix,
        rooms: rooms.clone(),
        text: workload::random_text(TEXT_BYTES),
        page_size: PULL_PAGE,
        cursor_range,
    }
}

fn send_drive() -> Drive {
    Drive {
        connections: CONNECTIONS,
        warmup: Duration::from_millis(500),
        stop: Stop::Requests(SENDS),
        rate: None,
    }
}

fn pull_drive(duration: Duration) -> Drive {
    Drive {
        connections: CONNECTIONS,
        warmup: Duration::from_millis(500),
        stop: Stop::Duration(duration),
        rate: None,
    }
}

/// A run described for the table.
struct Labels<'a> {
    server: &'a str,
    op: &'a str,
    protocol: &'a str,
    setting: SettingName,
    room_messages: u64,
}

fn row(labels: Labels<'_>, measured: &Measured, go: bool) -> CostRow {
    let r = &measured.report;
    let http = labels.protocol == "http";
    let cpu = |i: usize| {
        measured
            .servers
            .get(i)
            .and_then(|usage| measured.usec_per_request(usage))
    };
    let commands = commands(go, labels.op);
    let row = CostRow {
        server: labels.server.to_owned(),
        op: labels.op.to_owned(),
        protocol: labels.protocol.to_owned(),
        setting: labels.setting,
        room_messages: labels.room_messages,
        requests: r.requests,
        errors: r.errors,
        rps: r.throughput_rps,
        p50_us: r.latency_us.p50,
        p99_us: r.latency_us.p99,
        server_us: cpu(usize::from(http)),
        gateway_us: if http { cpu(0) } else { None },
        redis_us: measured.usec_per_request(&measured.redis),
        redis_command_us: measured.command_usec(commands),
        commands: commands.join("+"),
    };
    println!(
        "  {} {} {} ({}, rooms of {}): {:.0} req/s, p99 {} us, server {} us, gateway {} us, \
         Redis {} us (commands {} us), {} errors",
        row.server,
        row.protocol,
        row.op,
        row.setting.name(),
        row.room_messages,
        row.rps,
        row.p99_us,
        fmt(row.server_us),
        fmt(row.gateway_us),
        fmt(row.redis_us),
        fmt(row.redis_command_us),
        row.errors
    );
    row
}

fn fmt(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1}"))
}

/// Fresh rooms of `room_messages` compact messages, written with the
/// encoder; returns them and their send-time range.
async fn rooms(cx: &Context, room_messages: u64) -> Result<(Arc<Rooms>, (i64, i64))> {
    let rooms = Arc::new(Rooms::new(ROOMS, &cx.run_id()));
    let first = super::now_micros() - room_messages as i64 - 1_000_000;
    fill::with_encoder(
        &cx.redis,
        &rooms,
        room_messages,
        TEXT_BYTES,
        Format::Compact,
        first,
    )
    .await?;
    Ok((rooms, (first, first + room_messages as i64 - 1)))
}

fn thrift(endpoint: &Endpoint) -> Target {
    Target {
        addr: endpoint.addr.clone(),
        client: Client::Thrift,
        pids: vec![endpoint.pid],
    }
}

pub async fn measure(cx: &Context) -> Result<Vec<CostRow>> {
    let mut rows = Vec::new();
    let redis = &cx.redis;
    let rust = thrift(&cx.servers.rust);
    // The setting's effect: rooms of 100 stay in listpacks with 64-byte
    // texts only under the recommended value limit; rooms of 480 only
    // under the recommended entry limit.
    for (setting, values) in cx.settings() {
        println!(
            "capacity: CPU per request, Redis {}",
            super::bytes::describe(values)
        );
        for room_messages in [100, 480] {
            redis.flush().await?;
            redis.config_set(values).await?;
            let labels = |op| Labels {
                server: "rust",
                op,
                protocol: "thrift",
                setting,
                room_messages,
            };
            let (fresh, range) = rooms(cx, room_messages).await?;
            let send = workload(&fresh, Mix::Send, None);
            let measured =
                measure::run(redis, cx.redis_pid, &rust, send, send_drive(), "send").await?;
            rows.push(row(labels("send"), &measured, false));
            let pull = workload(&fresh, Mix::Pull, Some(range));
            let drive = pull_drive(cx.pull_duration);
            let measured = measure::run(redis, cx.redis_pid, &rust, pull, drive, "pull").await?;
            rows.push(row(labels("pull"), &measured, false));
        }
    }
    // From here on, the recommended setting, as the project's Redis runs.
    let recommended = cx.recommended_values();
    redis.flush().await?;
    redis.config_set(recommended).await?;
    let retention = [
        (
            cx.servers.rust_count.as_ref(),
            format!("rust, retention {} messages", cx.retention_messages),
        ),
        (
            cx.servers.rust_age.as_ref(),
            format!("rust, retention {}", cx.retention_age),
        ),
    ];
    for (endpoint, name) in retention {
        let Some(endpoint) = endpoint else { continue };
        let (fresh, _) = rooms(cx, cx.retention_messages).await?;
        let send = workload(&fresh, Mix::Send, None);
        let measured = measure::run(
            redis,
            cx.redis_pid,
            &thrift(endpoint),
            send,
            send_drive(),
            "send",
        )
        .await?;
        let labels = Labels {
            server: &name,
            op: "send",
            protocol: "thrift",
            setting: SettingName::Recommended,
            room_messages: cx.retention_messages,
        };
        rows.push(row(labels, &measured, false));
    }
    if let Some(gateway) = &cx.servers.rust_gateway {
        let (fresh, range) = rooms(cx, 100).await?;
        let target = Target {
            addr: gateway.addr.clone(),
            client: Client::Http {
                host: gateway.addr.clone(),
            },
            pids: vec![gateway.pid, cx.servers.rust.pid],
        };
        for (op, mix, drive) in [
            ("send", Mix::Send, send_drive()),
            ("pull", Mix::Pull, pull_drive(cx.pull_duration)),
        ] {
            let load = workload(&fresh, mix, Some(range));
            let measured = measure::run(redis, cx.redis_pid, &target, load, drive, op).await?;
            let labels = Labels {
                server: "rust",
                op,
                protocol: "http",
                setting: SettingName::Recommended,
                room_messages: 100,
            };
            rows.push(row(labels, &measured, false));
        }
    }
    if let Some(go) = &cx.servers.go {
        let fresh = Arc::new(Rooms::new(ROOMS, &cx.run_id()));
        fill::through_server(&go.addr, &fresh, GO_ROOM_MESSAGES, TEXT_BYTES).await?;
        let target = thrift(go);
        for (op, mix, drive) in [
            ("send", Mix::Send, send_drive()),
            // Cursor 0 only: the Go peer's cursor is an index, not a time.
            ("pull", Mix::Pull, pull_drive(cx.pull_duration)),
        ] {
            let load = workload(&fresh, mix, None);
            let measured = measure::run(redis, cx.redis_pid, &target, load, drive, op).await?;
            let labels = Labels {
                server: "go",
                op,
                protocol: "thrift",
                setting: SettingName::Recommended,
                room_messages: GO_ROOM_MESSAGES,
            };
            rows.push(row(labels, &measured, true));
        }
    }
    Ok(rows)
}
