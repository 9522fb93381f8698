//! Redis bytes per message, by room size, text size, stored format and
//! Redis setting: rooms are filled, then `MEMORY USAGE key SAMPLES 0`
//! (exact, every element counted) is summed over them and divided by the
//! messages; the change in `used_memory` is the cross-check.
use std::sync::Arc;

use anyhow::Result;
use rpc_server::store::member::Format;
use serde::{Deserialize, Serialize};

use super::fill;
use super::{Context, SettingName};
use crate::workload::Rooms;

/// Rooms larger than this are measured under the default setting only:
/// beyond `zset-max-listpack-entries` (both settings' value) every room is a
/// skiplist, so the setting changes nothing there.
const LARGEST_WITH_BOTH_SETTINGS: u64 = 10_000;

/// One measured figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BytesRow {
    pub room_messages: u64,
    pub rooms: u32,
    pub text_bytes: usize,
    /// `compact` or `json`.
    pub format: String,
    /// `server` (sent through the rpc-server) or `encoder` (written with
    /// the server's member encoder).
    pub filled: String,
    pub setting: SettingName,
    /// `MEMORY USAGE ... SAMPLES 0` summed, per message.
    pub per_message: f64,
    /// The change of `used_memory`, per message.
    pub used_memory_per_message: f64,
    /// `OBJECT ENCODING` of a room.
    pub encoding: String,
}

/// A room size and the text sizes measured with it.
struct Case {
    room_messages: u64,
    rooms: u32,
    texts: &'static [usize],
    through_server: bool,
}

fn cases(full: bool) -> Vec<Case> {
    let case = |room_messages, rooms, texts, through_server| Case {
        room_messages,
        rooms,
        texts,
        through_server,
    };
    vec![
        case(10, 50, &[16, 20, 64, 256], true),
        case(100, 20, &[16, 64, 256], true),
        case(500, 4, &[16, 64, 256], true),
        case(10_000, 1, &[16, 64, 256], true),
        case(50_000, 1, &[64], true),
        case(
            1_000_000,
            1,
            if full { &[16, 64, 256] } else { &[64] },
            false,
        ),
    ]
}

pub async fn measure(cx: &Context) -> Result<Vec<BytesRow>> {
    let mut rows = Vec::new();
    for (setting, values) in cx.settings() {
        println!("capacity: bytes per message, Redis {}", describe(values));
        // The first fill of a pass moves `used_memory` by more than its
        // rooms (allocator and Redis state left by the previous pass): one
        // fill first, not recorded.
        let first = &cases(cx.full)[0];
        measure_one(cx, values, first, first.texts[0], Format::Compact, setting).await?;
        for case in cases(cx.full) {
            if setting != SettingName::Default && case.room_messages > LARGEST_WITH_BOTH_SETTINGS {
                continue;
            }
            for &text_bytes in case.texts {
                for format in [Format::Compact, Format::Json] {
                    let row = measure_one(cx, values, &case, text_bytes, format, setting).await?;
                    println!(
                        "  {} x {} messages, {} B text, {}: {:.1} B/message ({}; used_memory {:.1})",
                        row.rooms,
                        row.room_messages,
                        row.text_bytes,
                        row.format,
                        row.per_message,
                        row.encoding,
                        row.used_memory_per_message
                    );
                    rows.push(row);
                }
            }
        }
    }
    Ok(rows)
}

pub fn describe(settings: &[super::redis::Setting]) -> String {
    let pairs: Vec<String> = settings.iter().map(|(k, v)| format!("{k} {v}")).collect();
    pairs.join(", ")
}

async fn measure_one(
    cx: &Context,
    settings: &[super::redis::Setting],
    case: &Case,
    text_bytes: usize,
    format: Format,
    setting: SettingName,
) -> Result<BytesRow> {
    let redis = &cx.redis;
    redis.flush().await?;
    redis.config_set(settings).await?;
    let rooms = Arc::new(Rooms::new(case.rooms, &cx.run_id()));
    let before = redis.used_memory().await?;
    let filled = if case.through_server {
        let server = match format {
            Format::Compact => &cx.servers.rust,
            Format::Json => &cx.servers.rust_json,
        };
        fill::through_server(&server.addr, &rooms, case.room_messages, text_bytes).await?;
        if case.room_messages == 100 && text_bytes == 64 {
            fill::check_encoder(redis, &rooms, format).await?;
        }
        "server"
    } else {
        let first_time = super::now_micros() - case.room_messages as i64 - 1_000_000;
        fill::with_encoder(
            redis,
            &rooms,
            case.room_messages,
            text_bytes,
            format,
            first_time,
        )
        .await?;
        "encoder"
    };
    let after = redis.used_memory().await?;
    let (bytes, encoding) = redis.memory_usage(&fill::keys(&rooms)).await?;
    let messages = (u64::from(case.rooms) * case.room_messages) as f64;
    Ok(BytesRow {
        room_messages: case.room_messages,
        rooms: case.rooms,
        text_bytes,
        format: super::format_name(format).to_owned(),
        filled: filled.to_owned(),
        setting,
        per_message: bytes as f64 / messages,
        used_memory_per_message: after.saturating_sub(before) as f64 / messages,
        encoding,
    })
}
