//! Counts the messages stored in Redis for the bench rooms (`ZCARD` of each
//! room key, pipelined), to compare with the sends the server acknowledged.
use anyhow::{Context, Result};
use fred::prelude::{Builder, ClientLike, Config, SortedSetsInterface};
use serde::{Deserialize, Serialize};

use crate::workload::Rooms;

/// Redis check of acknowledged sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verify {
    pub redis: u64,
    pub acked: u64,
    pub keys: usize,
    pub ok: bool,
}

/// Compares the messages stored in the rooms' keys (`pattern` with `{room}`)
/// with the `acked` sends, and prints the verdict.
pub async fn check(url: &str, rooms: &Rooms, pattern: &str, acked: u64) -> Result<Verify> {
    let keys = rooms.keys(pattern);
    let redis = count_members(url, &keys).await?;
    let ok = redis == acked;
    let verdict = if ok { "OK" } else { "MISMATCH" };
    println!(
        "verify: redis={redis} acked={acked} {verdict} ({} keys like {})",
        keys.len(),
        keys[0]
    );
    Ok(Verify {
        redis,
        acked,
        keys: keys.len(),
        ok,
    })
}

/// Keys per pipelined batch.
const BATCH: usize = 500;

/// The sum of `ZCARD key` over `keys` in the Redis at `url`.
async fn count_members(url: &str, keys: &[String]) -> Result<u64> {
    let config = Config::from_url(url).with_context(|| format!("Redis URL {url:?}"))?;
    let client = Builder::from_config(config).build()?;
    client.init().await.context("connecting to Redis")?;
    let mut total = 0;
    for batch in keys.chunks(BATCH) {
        let pipeline = client.pipeline();
        for key in batch {
            let () = pipeline.zcard(key.as_str()).await?;
        }
        for count in pipeline.try_all::<u64>().await {
            total += count.context("ZCARD of a bench room")?;
        }
    }
    client.quit().await?;
    Ok(total)
}
