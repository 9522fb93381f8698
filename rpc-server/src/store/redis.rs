//! The Redis store (fred).
//!
//! Layout: one sorted set per room at `<key prefix><room key>` (for example
//! `im:chat:alice:bob`), score = `send_time`, member = the message as
//! serde_json `{"chat":..,"text":..,"sender":..,"send_time":..}`. Because
//! `send_time` is unique within the room and part of the member, identical
//! texts never collide.
//!
//! Send is one `EVALSHA` of [`APPEND_SCRIPT`], which reads Redis's own clock
//! (`TIME`) and the room's newest score atomically, so `send_time` is strictly
//! increasing per room however many rpc-server replicas share the Redis.
//! Pull is one `ZRANGE ... BYSCORE [REV] LIMIT 0 limit+1`.
//!
//! Commands are never retried by fred (`max_command_attempts = 1`): a send
//! whose connection drops after Redis executed it would otherwise be stored
//! twice. The caller gets a 500 instead and decides.
use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use fred::bytes_utils::Str;
use fred::prelude::{
    Builder, ClientLike, Config, Error as RedisError, ErrorKind, EventInterface, LuaInterface,
    Pool, ReconnectPolicy, SortedSetsInterface,
};
use fred::types::sorted_sets::{ZRange, ZSort};
use fred::types::{Key, Value};
use pilota::FastStr;
use serde::Deserialize;

use super::{MessageStore, NewMessage, Page, StoredMessage};
use crate::error::{Error, Result};
use crate::room::{PageQuery, Room};

/// Appends a message to a room and returns its `send_time`.
///
/// KEYS[1]: the room's sorted set. ARGV[1]: the message's JSON without its
/// closing brace, ending in `"send_time":`; the script completes it, so the
/// stored member carries the time it assigned. The script lives in its own
/// file so that `scripts/bench.sh` can measure exactly it with
/// redis-benchmark.
pub const APPEND_SCRIPT: &str = include_str!("append.lua");

/// How the store connects; see [`crate::config::Config`] for the flags.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub url: String,
    pub pool_size: usize,
    pub key_prefix: String,
    /// Upper bound for one command, reconnect waits included.
    pub command_timeout: Duration,
}

pub struct RedisStore {
    pool: Pool,
    key_prefix: String,
    append_sha: Str,
}

impl RedisStore {
    /// Builds the pool and starts connecting in the background. It does not
    /// wait for Redis: until Redis is reachable, calls fail with
    /// [`Error::StorageUnavailable`], and fred keeps reconnecting with
    /// backoff (also after Redis restarts mid-run).
    pub fn connect(options: &RedisOptions) -> Result<RedisStore> {
        let config = Config::from_url(&options.url).map_err(|err| {
            // fred's message names the problem; the URL itself may hold a
            // password, so it is not repeated.
            Error::Storage(format!("invalid REDIS_URL: {}", err.details()))
        })?;
        let pool = Builder::from_config(config)
            .with_config(|config| config.fail_fast = false)
            .with_connection_config(|connection| {
                connection.max_command_attempts = 1;
                connection.connection_timeout = options.command_timeout.max(Duration::from_secs(1));
                connection.internal_command_timeout =
                    options.command_timeout.max(Duration::from_secs(1));
                connection.unresponsive.max_timeout = Some(options.command_timeout * 2);
            })
            .with_performance_config(|performance| {
                performance.default_command_timeout = options.command_timeout;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build_pool(options.pool_size.max(1))
            .map_err(|err| {
                Error::Storage(format!("invalid Redis configuration: {}", err.details()))
            })?;
        for client in pool.clients() {
            log_connection_events(client);
        }
        // The handles end only when the pool quits; reconnection happens inside.
        drop(pool.connect_pool());
        Ok(RedisStore {
            pool,
            key_prefix: options.key_prefix.clone(),
            append_sha: Str::from(fred::util::sha1_hash(APPEND_SCRIPT)),
        })
    }

    fn key(&self, room: &Room) -> String {
        let mut key = String::with_capacity(self.key_prefix.len() + room.key().len());
        key.push_str(&self.key_prefix);
        key.push_str(room.key());
        key
    }

    /// A connected client of the pool, or `StorageUnavailable` at once: a
    /// command queued while disconnected would only wait for its timeout.
    fn client(&self) -> Result<&fred::clients::Client> {
        let client = self.pool.next_connected();
        if client.is_connected() {
            Ok(client)
        } else {
            Err(Error::StorageUnavailable("not connected to Redis".into()))
        }
    }

    /// Waits until at least one pooled connection is up (tests, tools).
    pub async fn wait_connected(&self) -> Result<()> {
        self.pool.wait_for_connect().await.map_err(storage_error)
    }

    /// Closes every connection.
    pub async fn quit(&self) {
        if let Err(err) = self.pool.quit().await {
            tracing::debug!(error = %err, "closing the Redis pool");
        }
    }
}

impl MessageStore for RedisStore {
    async fn append(&self, room: &Room, message: NewMessage<'_>) -> Result<i64> {
        let mut member = serde_json::to_string(&message)
            .map_err(|err| Error::Storage(format!("encoding message: {err}")))?;
        // `{"chat":..,"sender":..}` -> `{"chat":..,"sender":..,"send_time":`
        member.pop();
        member.push_str(r#","send_time":"#);
        // Bytes-backed, so the copies a NOSCRIPT retry needs are cheap.
        let key = Key::from(self.key(room));
        let member = Value::String(Str::from(member));

        let client = self.client()?;
        match client
            .evalsha(self.append_sha.clone(), key.clone(), member.clone())
            .await
        {
            Err(err) if is_noscript(&err) => {
                // First call, or Redis restarted without the script cache.
                // The script did not run, so sending it again is safe.
                let _: String = client
                    .script_load(APPEND_SCRIPT)
                    .await
                    .map_err(storage_error)?;
                client
                    .evalsha(self.append_sha.clone(), key, member)
                    .await
                    .map_err(storage_error)
            }
            result => result.map_err(storage_error),
        }
    }

    async fn page(&self, room: &Room, query: &PageQuery) -> Result<Page> {
        let key = self.key(room);
        let count = i64::try_from(query.limit + 1).unwrap_or(i64::MAX);
        let client = self.client()?;
        let from = |time: i64| ZRange::try_from(time as f64);
        let (start, stop) = match (query.reverse, query.from) {
            (false, None) => (ZRange::from("-inf"), ZRange::from("+inf")),
            (false, Some(time)) => (from(time).map_err(storage_error)?, ZRange::from("+inf")),
            (true, None) => (ZRange::from("+inf"), ZRange::from("-inf")),
            (true, Some(time)) => (from(time).map_err(storage_error)?, ZRange::from("-inf")),
        };
        let members: Vec<Bytes> = client
            .zrange(
                key,
                start,
                stop,
                Some(ZSort::ByScore),
                query.reverse,
                Some((0, count)),
                false,
            )
            .await
            .map_err(storage_error)?;
        let messages = members
            .into_iter()
            .map(|member| {
                decode_member(member).map_err(|err| {
                    Error::Storage(format!("unreadable message in {}: {err}", room.key()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(messages, query.limit))
    }
}

/// A sorted-set member as stored, its strings borrowed from the reply.
#[derive(Deserialize)]
struct Member<'a> {
    #[serde(borrow)]
    chat: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(borrow)]
    sender: Cow<'a, str>,
    send_time: i64,
}

/// Decodes a member without copying its strings: a string without JSON
/// escapes becomes a slice of the reply buffer itself.
fn decode_member(member: Bytes) -> serde_json::Result<StoredMessage> {
    let decoded: Member<'_> = serde_json::from_slice(&member)?;
    let share = |text: Cow<'_, str>| match text {
        // SAFETY: `text` is a `&str` borrowed from `member`, so it is valid
        // UTF-8 and `slice_ref` returns exactly its bytes.
        Cow::Borrowed(text) => unsafe {
            FastStr::from_bytes_unchecked(member.slice_ref(text.as_bytes()))
        },
        Cow::Owned(text) => FastStr::from_string(text),
    };
    Ok(StoredMessage {
        chat: share(decoded.chat),
        text: share(decoded.text),
        sender: share(decoded.sender),
        send_time: decoded.send_time,
    })
}

fn is_noscript(err: &RedisError) -> bool {
    err.details().starts_with("NOSCRIPT")
}

/// Maps a fred error to ours: connection trouble is "unavailable", anything
/// else Redis said is passed on (it never contains the URL or password).
fn storage_error(err: RedisError) -> Error {
    match err.kind() {
        ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled | ErrorKind::Backpressure => {
            Error::StorageUnavailable(format!("Redis {}", err.details()))
        }
        _ => Error::Storage(format!("Redis: {}", err.details())),
    }
}

fn log_connection_events(client: &fred::clients::Client) {
    client.on_error(|(err, server)| async move {
        tracing::warn!(error = %err, server = ?server, "Redis connection error");
        Ok(())
    });
    client.on_reconnect(|server| async move {
        tracing::info!(%server, "connected to Redis");
        Ok(())
    });
}
