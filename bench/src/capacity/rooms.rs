//! Send and Pull latency in small rooms and in one very large room. A
//! sorted set finds a score in O(log n), so a room of 1,000,000 messages
//! should answer like a room of 10; this measures it. Both are filled with
//! the server's encoder (compact, 64-byte texts), then driven through the
//! rpc-server, closed loop, at modest concurrency.
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use rpc_server::store::member::Format;
use serde::{Deserialize, Serialize};

use super::measure::{self, Drive, Target};
use super::{Context, fill};
use crate::client::Client;
use crate::runner::Stop;
use crate::workload::{self, Mix, Rooms, Workload};

const CONNECTIONS: u32 = 4;
const TEXT_BYTES: usize = 64;
/// Sends per run: as many as there are small rooms, so each grows by
/// about one message.
const SENDS: u64 = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomLatencyRow {
    pub rooms: u32,
    pub room_messages: u64,
    pub encoding: String,
    pub op: String,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Redis's time in the request's command, µs per request.
    pub redis_command_us: Option<f64>,
}

pub async fn measure(cx: &Context) -> Result<Vec<RoomLatencyRow>> {
    let redis = &cx.redis;
    redis.flush().await?;
    redis.config_set(cx.recommended_values()).await?;
    let target = Target {
        addr: cx.servers.rust.addr.clone(),
        client: Client::Thrift,
        pids: vec![cx.servers.rust.pid],
    };
    let mut rows = Vec::new();
    for (count, room_messages) in [(SENDS as u32, 10), (1, cx.large_room)] {
        println!("capacity: latency in {count} room(s) of {room_messages} messages");
        let rooms = Arc::new(Rooms::new(count, &cx.run_id()));
        let first = super::now_micros() - room_messages as i64 - 1_000_000;
        let last = first + room_messages as i64 - 1;
        fill::with_encoder(
            redis,
            &rooms,
            room_messages,
            TEXT_BYTES,
            Format::Compact,
            first,
        )
        .await?;
        let (_, encoding) = redis.memory_usage(&fill::keys(&rooms)[..1]).await?;
        let runs = [
            (
                "send",
                Mix::Send,
                Stop::Requests(SENDS),
                &["evalsha", "eval"][..],
            ),
            (
                "pull",
                Mix::Pull,
                Stop::Duration(cx.pull_duration),
                &["zrange", "zscore"][..],
            ),
        ];
        for (op, mix, stop, commands) in runs {
            let load = Workload {
                mix,
                rooms: rooms.clone(),
                text: workload::random_text(TEXT_BYTES),
                page_size: 10,
                cursor_range: Some((first, last)),
            };
            let drive = Drive {
                connections: CONNECTIONS,
                warmup: Duration::from_millis(300),
                stop,
                rate: None,
            };
            let measured = measure::run(redis, cx.redis_pid, &target, load, drive, op).await?;
            let r = &measured.report;
            let row = RoomLatencyRow {
                rooms: count,
                room_messages,
                encoding: encoding.clone(),
                op: op.to_owned(),
                requests: r.requests,
                errors: r.errors,
                rps: r.throughput_rps,
                p50_us: r.latency_us.p50,
                p99_us: r.latency_us.p99,
                redis_command_us: measured.command_usec(commands),
            };
            println!(
                "  {op}: {:.0} req/s, p50 {} us, p99 {} us, Redis command {:.1} us, {} errors",
                row.rps,
                row.p50_us,
                row.p99_us,
                row.redis_command_us.unwrap_or(0.0),
                row.errors
            );
            rows.push(row);
        }
    }
    Ok(rows)
}
