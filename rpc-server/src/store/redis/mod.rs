//! The Redis store (fred).
//!
//! Layout: one sorted set per room at `<key prefix><room key>` (for example
//! `im:chat:alice:bob`), score = `send_time`, member = the message in the
//! compact or JSON format of [`crate::store::member`]. Because `send_time`
//! is unique within the room and part of the member, identical texts never
//! collide.
//!
//! Send is one `EVALSHA` of [`APPEND_SCRIPT`], which reads Redis's own clock
//! (`TIME`) and the room's newest score atomically, so `send_time` is strictly
//! increasing per room however many rpc-server replicas share the Redis; the
//! same script applies the room's [`Retention`]. Pull is one
//! `ZRANGE ... BYSCORE [REV] LIMIT 0 limit+1`.
//!
//! Commands are never resent by fred (`max_command_attempts = 1`): a send
//! whose connection drops after Redis executed it would otherwise be stored
//! twice. The caller gets a 500 instead and decides: `storage unavailable`
//! when the command was never sent (nothing stored, safe to retry),
//! `storage timeout` when it was sent and no answer came (it may be stored).
//! Cluster redirections are followed in [`routing`], not by fred.
//!
//! The script is loaded on every connection as it connects (on every
//! primary of a cluster), so a Send is one `EVALSHA`; should a node still
//! lack it (a failover, a `SCRIPT FLUSH`), the script goes once as `EVAL`,
//! which runs on whichever node owns the room's key.
//!
//! Durability is Redis's own by default: a Send is acknowledged once the
//! primary ran the script, and replication is asynchronous, so a failover
//! may lose the last acknowledged sends. With [`RedisStore::wait_for_replicas`]
//! a Send is written, then confirmed by replicas ([`replicas`]).
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use fred::bytes_utils::Str;
use fred::clients::Client;
use fred::prelude::{
    Builder, ClientLike, Config, Error as RedisError, EventInterface, LuaInterface, Options, Pool,
    ReconnectPolicy, Server, SortedSetsInterface,
};
use fred::types::sorted_sets::{ZRange, ZSort};
use fred::types::{ClusterHash, CustomCommand, Key, Value};

use super::member::{self, Decoded, Format, Reader};
use super::{MessageStore, NewMessage, Page, Retention, StoredMessage, now_micros, page_range};
use crate::error::{Error, Result};
use crate::log_limit::RateLimitedLog;
use crate::room::{PageQuery, Room};

mod replicas;
mod routing;

use replicas::{ConnectionChanges, Replicas, Ticket};
use routing::{command_error, following_redirections, is_noscript};

static UNREADABLE_MEMBERS: RateLimitedLog = RateLimitedLog::new(
    "skipped a stored message that is not a message",
    Duration::from_secs(60),
);

/// Appends a message to a room, applies the room's retention, and returns
/// the message's `send_time`; its arguments are described in the file. It
/// lives in a file of its own so that `scripts/bench.sh` can measure exactly
/// it with redis-benchmark.
pub const APPEND_SCRIPT: &str = include_str!("append.lua");

/// What a Send tells the caller when it may have been stored.
const MAY_BE_STORED: &str = "the message may have been stored";

/// How the store connects; see [`crate::config::Config`] for the flags.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub url: String,
    pub pool_size: usize,
    pub key_prefix: String,
    /// Upper bound for one command, reconnect waits included.
    pub command_timeout: Duration,
    /// The format new messages are written in (every format is read).
    pub format: Format,
    /// What each room keeps.
    pub retention: Retention,
}

pub struct RedisStore {
    pool: Pool,
    key_prefix: String,
    append_sha: Str,
    command_timeout: Duration,
    format: Format,
    retention: Retention,
    replicas: Replicas,
}

impl RedisStore {
    /// Builds the pool and starts connecting in the background. It does not
    /// wait for Redis: until Redis is reachable, calls fail with
    /// [`Error::StorageUnavailable`], and fred keeps reconnecting with
    /// backoff (also after Redis restarts mid-run).
    pub fn connect(options: &RedisOptions) -> anyhow::Result<RedisStore> {
        // fred's message names the problem; the URL itself may hold a
        // password, so it is not repeated.
        let config = Config::from_url(&options.url)
            .map_err(|err| anyhow::anyhow!("invalid REDIS_URL: {}", err.details()))?;
        let clustered = config.server.is_clustered();
        let pool = Builder::from_config(config)
            .with_config(|config| config.fail_fast = false)
            .with_connection_config(|connection| {
                connection.max_command_attempts = 1;
                connection.max_redirections = 0;
                connection.connection_timeout = options.command_timeout.max(Duration::from_secs(1));
                connection.internal_command_timeout =
                    options.command_timeout.max(Duration::from_secs(1));
                connection.unresponsive.max_timeout = Some(options.command_timeout * 2);
                // fred's unresponsive check restarts at every write, so under
                // steady traffic it never fires on a dead link. The kernel's
                // TCP_USER_TIMEOUT does: data left unacknowledged this long
                // (a cut link, a host gone; not a slow but alive Redis) fails
                // the connection, fred reconnects, and requests get `storage
                // unavailable` at once instead of each waiting for its timeout.
                connection.tcp.user_timeout =
                    Some((options.command_timeout * 2).max(Duration::from_secs(1)));
            })
            .with_performance_config(|performance| {
                performance.default_command_timeout = options.command_timeout;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build_pool(options.pool_size.max(1))
            .context("invalid Redis configuration")?;
        let rooms_expire = options.retention.max_age.is_some();
        let mut connection_changes = HashMap::new();
        for client in pool.clients() {
            let changes = Arc::new(ConnectionChanges::default());
            watch_connection(client, clustered, changes.clone(), rooms_expire);
            connection_changes.insert(client.id().to_owned(), changes);
        }
        // The handles end only when the pool quits; reconnection happens inside.
        drop(pool.connect_pool());
        Ok(RedisStore {
            pool,
            key_prefix: options.key_prefix.clone(),
            append_sha: Str::from(fred::util::sha1_hash(APPEND_SCRIPT)),
            command_timeout: options.command_timeout,
            format: options.format,
            retention: options.retention,
            replicas: Replicas::new(connection_changes),
        })
    }

    /// Acknowledges a Send only once `replicas` replicas confirmed it
    /// (`WAIT replicas timeout` after the script, on the node that ran it);
    /// fewer within `timeout` answer `storage timeout`. 0 turns it off.
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> RedisStore {
        self.replicas
            .require(replicas, timeout, self.command_timeout);
        self
    }

    fn key(&self, room: &Room) -> String {
        let mut key = String::with_capacity(self.key_prefix.len() + room.key().len());
        key.push_str(&self.key_prefix);
        key.push_str(room.key());
        key
    }

    /// A connected client of the pool, or `StorageUnavailable` at once: a
    /// command queued while disconnected would only wait for its timeout.
    fn client(&self) -> Result<&Client> {
        let client = self.pool.next_connected();
        if client.is_connected() {
            Ok(client)
        } else {
            Err(Error::StorageUnavailable("not connected to Redis".into()))
        }
    }

    /// Waits until at least one pooled connection is up (tests, tools).
    pub async fn wait_connected(&self) -> Result<()> {
        self.pool
            .wait_for_connect()
            .await
            .map_err(|err| Error::StorageUnavailable(format!("Redis {}", err.details())))
    }

    /// Closes every connection.
    pub async fn quit(&self) {
        if let Err(err) = self.pool.quit().await {
            tracing::debug!(error = %err, "closing the Redis pool");
        }
    }

    /// Runs the append script for `message`: its member, the room's
    /// retention, and Redis's clock for its `send_time`. Returns the
    /// `send_time` and, when replicas must confirm it, where it was written.
    async fn write(
        &self,
        client: &Client,
        room: &Room,
        message: NewMessage<'_>,
    ) -> Result<(i64, Option<Ticket>)> {
        let member = member::unstamped(self.format, room, message);
        let key = Key::from(self.key(room));
        let slot = key.cluster_hash();
        // Bytes-backed, so the copies each try needs are cheap.
        let args: Vec<Value> = vec![
            Value::Bytes(member.head),
            Value::from_static_str(member.time.script_name()),
            Value::Bytes(member.tail),
            Value::Integer(
                self.retention
                    .max_messages
                    .map_or(0, |max| i64::try_from(max).unwrap_or(i64::MAX)),
            ),
            Value::Integer(self.retention.max_age_micros().unwrap_or(0)),
        ];
        following_redirections(self.command_timeout, |mut options| {
            let (key, args) = (key.clone(), args.clone());
            let ticket = self.replicas.ticket(client, slot);
            options.cluster_node = ticket.as_ref().and_then(|ticket| ticket.node.clone());
            async move {
                let client = client.with_options(&options);
                match client
                    .evalsha(self.append_sha.clone(), key.clone(), args.clone())
                    .await
                {
                    // The script is not on that node (yet): the call did not
                    // run, so sending the script itself is safe.
                    Err(err) if is_noscript(&err) => client.eval(APPEND_SCRIPT, key, args).await,
                    result => result,
                }
                .map(|send_time: i64| (send_time, ticket))
            }
        })
        .await
        .map_err(|err| command_error(err, MAY_BE_STORED))
    }
}

impl MessageStore for RedisStore {
    /// Ready while at least one pooled connection is up.
    fn is_ready(&self) -> bool {
        self.pool
            .clients()
            .iter()
            .any(|client| client.is_connected())
    }

    /// Writes, then has replicas confirm the write if configured.
    async fn append(&self, room: &Room, message: NewMessage<'_>) -> Result<i64> {
        let client = self.client()?;
        let (send_time, ticket) = self.write(client, room, message).await?;
        self.replicas.confirm(client, ticket).await?;
        Ok(send_time)
    }

    async fn page(&self, room: &Room, query: &PageQuery) -> Result<Page> {
        let Some((low, high)) = page_range(query, self.retention.oldest_kept(now_micros())) else {
            return Ok(Page::default());
        };
        let key = self.key(room);
        let count = i64::try_from(query.limit + 1).unwrap_or(i64::MAX);
        let client = self.client()?;
        let bound = |time: i64| match time {
            i64::MIN => Ok(ZRange::from("-inf")),
            i64::MAX => Ok(ZRange::from("+inf")),
            time => ZRange::try_from(time as f64)
                .map_err(|err| Error::Storage(format!("cursor {time}: {}", err.details()))),
        };
        let (start, stop) = if query.reverse {
            (bound(high)?, bound(low)?)
        } else {
            (bound(low)?, bound(high)?)
        };
        let members: Vec<Bytes> = following_redirections(self.command_timeout, |options| {
            let (key, start, stop) = (key.as_str(), start.clone(), stop.clone());
            async move {
                client
                    .with_options(&options)
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
            }
        })
        .await
        .map_err(|err| command_error(err, "nothing was read"))?;
        let reader = Reader::new(room);
        let mut messages = Vec::with_capacity(members.len());
        let mut next_cursor = None;
        for (index, member) in members.into_iter().enumerate() {
            let (send_time, message) = match reader.decode(member.clone()) {
                Decoded::Exact(message) => (message.send_time, Some(message)),
                decoded => {
                    // Written by hand or by a foreign writer: its score, not
                    // its content, is its place in the room (one more round
                    // trip, only for such members).
                    let score = score_of(client, &key, member, self.command_timeout);
                    let Some(send_time) = score.await? else {
                        continue;
                    };
                    match decoded {
                        Decoded::Lossy(message) => (
                            send_time,
                            Some(StoredMessage {
                                send_time,
                                ..message
                            }),
                        ),
                        _ => {
                            UNREADABLE_MEMBERS
                                .warn(format_args!("room {}, send_time {send_time}", room.key()));
                            (send_time, None)
                        }
                    }
                }
            };
            if index == query.limit {
                next_cursor = Some(send_time);
            } else if let Some(message) = message {
                messages.push(message);
            }
        }
        Ok(Page {
            messages,
            next_cursor,
        })
    }
}

/// A member's score (its `send_time`), `None` if it is gone meanwhile.
async fn score_of(
    client: &Client,
    key: &str,
    member: Bytes,
    budget: Duration,
) -> Result<Option<i64>> {
    let score: Option<f64> = following_redirections(budget, |options| {
        let member = Value::Bytes(member.clone());
        async move { client.with_options(&options).zscore(key, member).await }
    })
    .await
    .map_err(|err| command_error(err, "nothing was read"))?;
    Ok(score.map(|score| score as i64))
}

/// Logs and counts connection changes; on every connection as it comes up,
/// loads the append script (so a Send needs one round trip) and checks that
/// Redis would not evict history.
fn watch_connection(
    client: &Client,
    clustered: bool,
    changes: Arc<ConnectionChanges>,
    rooms_expire: bool,
) {
    let errors = changes.clone();
    client.on_error(move |(err, server)| {
        errors.record(clustered, server.as_ref());
        async move {
            tracing::warn!(error = %err, server = ?server, "Redis connection error");
            Ok(())
        }
    });
    let loader = client.clone();
    client.on_reconnect(move |server| {
        changes.record(clustered, Some(&server));
        let loader = loader.clone();
        async move {
            tracing::info!(%server, "connected to Redis");
            let loaded: std::result::Result<(), RedisError> = if clustered {
                loader.script_load_cluster(APPEND_SCRIPT).await
            } else {
                loader
                    .script_load::<String, _>(APPEND_SCRIPT)
                    .await
                    .map(drop)
            };
            if let Err(err) = loaded {
                tracing::warn!(error = %err, "loading the append script (Send falls back to EVAL)");
            }
            check_eviction_policy(&loader, &server, rooms_expire).await;
            Ok(())
        }
    });
}

/// Warns loudly when `server` would delete history as it fills up: with an
/// `allkeys-*` eviction policy Redis drops whole rooms to make room, and with
/// a `volatile-*` one the rooms that have an expiry (`rooms_expire`: an age
/// bound is set). The server does not change Redis's configuration; the
/// operator does.
async fn check_eviction_policy(client: &Client, server: &Server, rooms_expire: bool) {
    let options = Options {
        cluster_node: Some(server.clone()),
        ..Options::default()
    };
    let info: std::result::Result<String, RedisError> = client
        .with_options(&options)
        .custom(
            CustomCommand::new_static("INFO", ClusterHash::Random, false),
            vec!["memory"],
        )
        .await;
    let policy = match info {
        Ok(info) => eviction_policy(&info).map(str::to_owned),
        Err(err) => {
            tracing::info!(%server, error = %err, "could not read Redis's maxmemory-policy");
            return;
        }
    };
    match policy.as_deref() {
        Some(policy) if policy.starts_with("allkeys-") => tracing::error!(
            %server,
            policy,
            "Redis evicts keys when it is full: it will DELETE WHOLE ROOMS (message history). \
             Set `maxmemory-policy noeviction` (Sends then fail with a clear error when Redis is \
             full, and nothing stored is lost)"
        ),
        Some(policy) if rooms_expire && policy.starts_with("volatile-") => tracing::warn!(
            %server,
            policy,
            "Redis evicts keys that have an expiry when it is full: with --retention-max-age every \
             room has one, so rooms would be deleted early. `maxmemory-policy noeviction` keeps them"
        ),
        _ => {}
    }
}

/// `maxmemory_policy` from the text of `INFO memory`.
fn eviction_policy(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.strip_prefix("maxmemory_policy:"))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_policy_is_read_from_info() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory_policy:allkeys-lru\r\nmem_fragmentation_ratio:1\r\n";
        assert_eq!(eviction_policy(info), Some("allkeys-lru"));
        assert_eq!(eviction_policy("# Memory\r\n"), None);
    }
}
