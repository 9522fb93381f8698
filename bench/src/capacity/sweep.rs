//! The open-loop rate sweep: the mixed workload (20% sends, pulls of 10)
//! at increasing offered rates, latency measured from each request's
//! intended send time, until p99 passes the limit; per server and
//! protocol. A step is within the limit with p99 under it, at least 95% of
//! the offered rate achieved and no errors; the sweep stops after two steps
//! in a row past it (one may be a stall of a shared machine) or one that
//! achieved under 80% of its rate. The highest rate a server sustains is
//! the highest step within the limit.
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::measure::{self, Drive, Target};
use super::{Context, Endpoint, fill};
use crate::client::Client;
use crate::runner::Stop;
use crate::workload::{self, Mix, Rooms, Workload};

/// Offered rates, req/s.
const RATES: [f64; 22] = [
    500.0, 1_000.0, 2_000.0, 3_000.0, 4_000.0, 5_000.0, 6_000.0, 8_000.0, 10_000.0, 12_000.0,
    14_000.0, 16_000.0, 18_000.0, 20_000.0, 24_000.0, 28_000.0, 32_000.0, 36_000.0, 40_000.0,
    48_000.0, 56_000.0, 64_000.0,
];
const CONNECTIONS: u32 = 64;
const ROOMS: u32 = 1_000;
const ROOM_MESSAGES: u64 = 20;
const TEXT_BYTES: usize = 64;
const SEND_RATIO: f64 = 0.2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepPoint {
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub errors: u64,
    pub unsent: u64,
    pub within_limit: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    /// `rust` or `go`.
    pub server: String,
    /// `thrift` or `http`.
    pub protocol: String,
    pub points: Vec<SweepPoint>,
}

impl Series {
    /// The highest offered rate sustained within the limit.
    pub fn sustained(&self) -> Option<f64> {
        self.points
            .iter()
            .filter(|p| p.within_limit)
            .map(|p| p.target_rps)
            .reduce(f64::max)
    }
}

pub async fn measure(cx: &Context) -> Result<Vec<Series>> {
    let redis = &cx.redis;
    redis.flush().await?;
    redis.config_set(cx.recommended_values()).await?;
    let s = &cx.servers;
    let mut series = Vec::new();
    let servers = [
        ("rust", Some(&s.rust), s.rust_gateway.as_ref()),
        ("go", s.go.as_ref(), s.go_gateway.as_ref()),
    ];
    for (name, server, gateway) in servers {
        let Some(server) = server else { continue };
        // Every pull starts at cursor 0: the Go peer's cursor is an index.
        let rooms = Arc::new(Rooms::new(ROOMS, &cx.run_id()));
        fill::through_server(&server.addr, &rooms, ROOM_MESSAGES, TEXT_BYTES).await?;
        let thrift = Target {
            addr: server.addr.clone(),
            client: Client::Thrift,
            pids: vec![server.pid],
        };
        series.push(sweep(cx, name, "thrift", &thrift, &rooms).await?);
        if let Some(Endpoint { addr, pid }) = gateway.filter(|_| cx.http_sweep) {
            let http = Target {
                addr: addr.clone(),
                client: Client::Http { host: addr.clone() },
                pids: vec![*pid, server.pid],
            };
            series.push(sweep(cx, name, "http", &http, &rooms).await?);
        }
    }
    Ok(series)
}

async fn sweep(
    cx: &Context,
    server: &str,
    protocol: &str,
    target: &Target,
    rooms: &Arc<Rooms>,
) -> Result<Series> {
    println!("capacity: rate sweep, {server} over {protocol}");
    let mut points = Vec::new();
    for rate in RATES {
        let load = Workload {
            mix: Mix::Mixed {
                send_ratio: SEND_RATIO,
            },
            rooms: rooms.clone(),
            text: workload::random_text(TEXT_BYTES),
            page_size: 10,
            cursor_range: None,
        };
        let drive = Drive {
            connections: CONNECTIONS,
            warmup: Duration::from_secs(1),
            stop: Stop::Duration(cx.step_duration),
            rate: Some(rate),
        };
        let measured = measure::run(&cx.redis, cx.redis_pid, target, load, drive, "sweep").await?;
        let r = &measured.report;
        let within_limit = r.errors == 0
            && r.unsent == 0
            && r.throughput_rps >= 0.95 * rate
            && r.latency_us.p99 <= cx.p99_limit.as_micros() as u64;
        let point = SweepPoint {
            target_rps: rate,
            achieved_rps: r.throughput_rps,
            p50_us: r.latency_us.p50,
            p99_us: r.latency_us.p99,
            errors: r.errors,
            unsent: r.unsent,
            within_limit,
        };
        println!(
            "  {rate:>6.0} req/s offered: {:.0} achieved, p50 {} us, p99 {} us, {} errors{}",
            point.achieved_rps,
            point.p50_us,
            point.p99_us,
            point.errors,
            if within_limit {
                ""
            } else {
                "  <- past the limit"
            }
        );
        let saturated = point.achieved_rps < 0.8 * rate;
        points.push(point);
        let last_two_failed =
            points.len() >= 2 && points[points.len() - 2..].iter().all(|p| !p.within_limit);
        if saturated || last_two_failed {
            break;
        }
    }
    Ok(Series {
        server: server.to_owned(),
        protocol: protocol.to_owned(),
        points,
    })
}
