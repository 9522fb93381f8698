//! Filling rooms: through a server (the messages it acknowledges), or
//! straight into Redis with the rpc-server's own member encoder, for rooms
//! too large to fill through a server in a short run.
//!
//! The encoder path writes the bytes the server's append script writes:
//! the member is `rpc_server::store::member`'s, stamped with a `send_time`
//! that is also its score, as the script stamps it. [`check_encoder`]
//! confirms that on members a server wrote in the same run.
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use fred::prelude::SortedSetsInterface;
use fred::types::Value;
use rpc_server::room::Room;
use rpc_server::store::NewMessage;
use rpc_server::store::member::{self, Decoded, Format, Reader};

use super::redis::Redis;
use crate::client::Client;
use crate::runner::{self, Plan, Stop};
use crate::workload::{self, Mix, Rooms, Workload};

/// Members per `ZADD` when filling with the encoder.
const ZADD_BATCH: usize = 2_000;
/// Connections a fill through a server uses.
const FILL_CONNECTIONS: u32 = 32;

/// `messages` messages of `text_bytes` bytes in each of `rooms`, sent
/// through the Thrift server at `addr`, closed loop; every one must be
/// acknowledged.
pub async fn through_server(
    addr: &str,
    rooms: &Arc<Rooms>,
    messages: u64,
    text_bytes: usize,
) -> Result<()> {
    let total = rooms.len() as u64 * messages;
    let plan = Plan {
        addr: addr.to_owned(),
        connections: FILL_CONNECTIONS.min(total.max(1) as u32),
        warmup: Duration::ZERO,
        stop: Stop::Requests(total),
        rate: None,
        timeout: Duration::from_secs(5),
    };
    let workload = Workload {
        mix: Mix::Prefill,
        rooms: rooms.clone(),
        text: workload::random_text(text_bytes),
        page_size: 10,
        cursor_range: None,
    };
    let result = runner::start(plan, Client::Thrift, workload)
        .await?
        .finish()
        .await?;
    let rec = &result.recorder;
    if rec.acked_sends != total {
        let samples: Vec<_> = rec.error_samples.keys().take(3).collect();
        bail!(
            "filling through {addr}: {} of {total} sends acknowledged ({samples:?})",
            rec.acked_sends
        );
    }
    Ok(())
}

/// The rooms' keys, as the rpc-server names them.
pub fn keys(rooms: &Rooms) -> Vec<String> {
    rooms.keys("im:chat:{room}")
}

/// The sender of every bench room: its first member.
fn sender(chat: &str) -> &str {
    chat.split_once(':').map_or(chat, |(first, _)| first)
}

/// `messages` messages of `text_bytes` bytes in each of `rooms`, written
/// straight into Redis in `format`, with send times `first_time`,
/// `first_time + 1`, ... in every room (microseconds).
pub async fn with_encoder(
    redis: &Redis,
    rooms: &Rooms,
    messages: u64,
    text_bytes: usize,
    format: Format,
    first_time: i64,
) -> Result<()> {
    let template = workload::random_text(text_bytes);
    for (i, key) in keys(rooms).into_iter().enumerate() {
        let chat = rooms.chat(i).as_str();
        let room = Room::parse(chat).map_err(|err| anyhow::anyhow!("room {chat}: {err}"))?;
        let mut batch = Vec::with_capacity(ZADD_BATCH);
        for n in 0..messages {
            let text = numbered_text(&template, n);
            let message = NewMessage {
                chat,
                text: &text,
                sender: sender(chat),
            };
            let send_time = first_time + n as i64;
            let member = member::unstamped(format, &room, message).stamp(send_time);
            batch.push((send_time as f64, Value::Bytes(member)));
            if batch.len() == ZADD_BATCH || n + 1 == messages {
                let added: u64 = redis
                    .client()
                    .zadd(
                        key.as_str(),
                        None,
                        None,
                        false,
                        false,
                        std::mem::take(&mut batch),
                    )
                    .await
                    .with_context(|| format!("ZADD {key}"))?;
                ensure!(added > 0, "ZADD {key} added nothing");
            }
        }
    }
    Ok(())
}

/// `template` with `n` and a space written over its head, so that texts
/// differ as real ones do, at the same length.
fn numbered_text(template: &str, n: u64) -> String {
    let head = format!("{n} ");
    if head.len() >= template.len() {
        return head[..template.len()].to_owned();
    }
    let rest = &template[head.len()..];
    head + rest
}

/// Checks that the encoder writes exactly what the server wrote: the
/// newest member of `rooms`' first room, decoded and encoded again in
/// `format` with its score as `send_time`, must give the same bytes.
pub async fn check_encoder(redis: &Redis, rooms: &Rooms, format: Format) -> Result<()> {
    let key = &keys(rooms)[0];
    let newest: Vec<(Bytes, f64)> = redis
        .client()
        .zrange(key.as_str(), -1, -1, None, false, None, true)
        .await
        .with_context(|| format!("ZRANGE {key}"))?;
    let (stored, score) = newest.into_iter().next().context("an empty room")?;
    let chat = rooms.chat(0).as_str();
    let room = Room::parse(chat).map_err(|err| anyhow::anyhow!("room {chat}: {err}"))?;
    let Decoded::Exact(message) = Reader::new(&room).decode(stored.clone()) else {
        bail!("{key}: the server's member does not decode");
    };
    let message = NewMessage {
        chat: &message.chat,
        text: &message.text,
        sender: &message.sender,
    };
    let encoded = member::unstamped(format, &room, message).stamp(score as i64);
    ensure!(
        encoded == stored,
        "{key}: the encoder wrote {encoded:?}, the server {stored:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_texts_keep_their_length() {
        assert_eq!(numbered_text("abcdefgh", 12), "12 defgh");
        assert_eq!(numbered_text("abc", 12345), "123");
        assert_eq!(sender("u1r:v1r"), "u1r");
    }
}
