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
//! Commands are never resent by fred (`max_command_attempts = 1`): a send
//! whose connection drops after Redis executed it would otherwise be stored
//! twice. The caller gets a 500 instead and decides: `storage unavailable`
//! when the command was never sent (nothing stored, safe to retry),
//! `storage timeout` when it was sent and no answer came (it may be stored).
//! Cluster redirections (`MOVED`, `ASK`) are followed here, not by fred
//! (see [`following_redirections`]).
//!
//! The script is loaded on every connection as it connects (on every
//! primary of a cluster), so a Send is one `EVALSHA`; should a node still
//! lack it (a failover, a `SCRIPT FLUSH`), the script goes once as `EVAL`,
//! which runs on whichever node owns the room's key.
//!
//! Durability is Redis's own by default: a Send is acknowledged once the
//! primary ran the script, and replication is asynchronous, so a failover
//! may lose the last acknowledged sends. With [`RedisStore::wait_for_replicas`]
//! a Send is acknowledged only after `WAIT n timeout`, sent on the same
//! connection to the node that ran the script, reports at least `n` replicas,
//! and fred reported no lost or new connection in between (a `WAIT` on a
//! connection opened since would count for nothing this Send wrote).
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use fred::bytes_utils::Str;
use fred::prelude::{
    Builder, ClientLike, ClusterInterface, Config, Error as RedisError, ErrorKind, EventInterface,
    LuaInterface, Options, Pool, ReconnectPolicy, Server, ServerInterface, SortedSetsInterface,
};
use fred::types::sorted_sets::{ZRange, ZSort};
use fred::types::{ClusterHash, Key, Value};
use pilota::FastStr;
use serde::Deserialize;

use super::{MessageStore, NewMessage, Page, StoredMessage};
use crate::error::{Error, Result};
use crate::log_limit::RateLimitedLog;
use crate::room::{PageQuery, Room};

static UNREADABLE_MEMBERS: RateLimitedLog = RateLimitedLog::new(
    "skipped a stored message that is not a message",
    Duration::from_secs(60),
);

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
    /// Replicas that must confirm a Send (`WAIT`) before it is
    /// acknowledged, and how long `WAIT` may block; 0: no `WAIT`.
    wait_replicas: u32,
    wait_timeout: Duration,
    command_timeout: Duration,
    /// One `WAIT` at a time per connection (pooled client, and cluster
    /// node), shared by the Sends whose writes it covers (see
    /// [`RedisStore::confirm_replicated`]).
    wait_groups: std::sync::Mutex<HashMap<Connection, Arc<WaitGroup>>>,
    /// Per pooled client (by id): the connection errors and reconnections
    /// fred has reported. A `WAIT` counts replicas for the connection it is
    /// sent on, and a connection opened after the write's one was lost has
    /// written nothing, so its `WAIT` would confirm at once: a Send whose
    /// connection changed between its write and the `WAIT`'s answer is not
    /// acknowledged.
    connection_changes: HashMap<String, Arc<ConnectionChanges>>,
}

/// A pooled client's connection errors and reconnections, as fred reports
/// them: in a cluster per node, so that a new connection to one node does
/// not fail the Sends waiting on another.
#[derive(Default)]
struct ConnectionChanges {
    /// Events not tied to one node (and every event outside a cluster).
    any: AtomicU64,
    by_node: std::sync::Mutex<HashMap<Server, u64>>,
}

impl ConnectionChanges {
    fn record(&self, clustered: bool, server: Option<&Server>) {
        match server {
            Some(server) if clustered => {
                *self
                    .by_node
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(server.clone())
                    .or_default() += 1;
            }
            _ => {
                self.any.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Events that concern a connection to `node` (every node: `None`).
    fn count(&self, node: Option<&Server>) -> u64 {
        let by_node = self
            .by_node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let on_nodes = match node {
            Some(node) => by_node.get(node).copied().unwrap_or(0),
            None => by_node.values().sum(),
        };
        self.any.load(Ordering::SeqCst) + on_nodes
    }
}

/// A connection of the pool: the client's id and, in a cluster, the node.
type Connection = (String, Option<Server>);

/// Sends waiting for replicas on one connection.
#[derive(Default)]
struct WaitGroup {
    /// Writes answered so far on this connection.
    written: AtomicU64,
    /// Writes known replicated: every write counted in `written` before a
    /// successful `WAIT` was sent.
    confirmed: AtomicU64,
    /// The same for the last `WAIT` that fell short, and what it counted.
    short: std::sync::Mutex<(u64, i64)>,
    /// Held while a `WAIT` is in flight.
    turn: tokio::sync::Mutex<()>,
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
        let mut connection_changes = HashMap::new();
        for client in pool.clients() {
            let changes = Arc::new(ConnectionChanges::default());
            watch_connection(client, clustered, changes.clone());
            connection_changes.insert(client.id().to_owned(), changes);
        }
        // The handles end only when the pool quits; reconnection happens inside.
        drop(pool.connect_pool());
        Ok(RedisStore {
            pool,
            key_prefix: options.key_prefix.clone(),
            append_sha: Str::from(fred::util::sha1_hash(APPEND_SCRIPT)),
            wait_replicas: 0,
            wait_timeout: Duration::ZERO,
            command_timeout: options.command_timeout,
            wait_groups: Default::default(),
            connection_changes,
        })
    }

    /// Acknowledges a Send only once `replicas` replicas confirmed it
    /// (`WAIT replicas timeout` after the script, on the node that ran it);
    /// fewer within `timeout` answer `storage timeout`. 0 turns it off.
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> RedisStore {
        self.wait_replicas = replicas;
        self.wait_timeout = timeout.max(Duration::from_millis(1));
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
}

impl MessageStore for RedisStore {
    /// Ready while at least one pooled connection is up.
    fn is_ready(&self) -> bool {
        self.pool
            .clients()
            .iter()
            .any(|client| client.is_connected())
    }

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
        let sent = "the message may have been stored";
        let slot = key.cluster_hash();
        let (send_time, node, changes_before) =
            following_redirections(self.command_timeout, |mut options| {
                let (key, member) = (key.clone(), member.clone());
                let node = self.node_to_wait_on(client, slot);
                // Only `WAIT` needs it; a Send without it takes no lock here.
                let changes_before = (self.wait_replicas > 0)
                    .then(|| self.connection_changes(client, node.as_ref()));
                options.cluster_node = node.clone();
                async move {
                    let client = client.with_options(&options);
                    match client
                        .evalsha(self.append_sha.clone(), key.clone(), member.clone())
                        .await
                    {
                        // The script is not on that node (yet): the call did
                        // not run, so sending the script itself is safe.
                        Err(err) if is_noscript(&err) => {
                            client.eval(APPEND_SCRIPT, key, member).await
                        }
                        result => result,
                    }
                    .map(|send_time: i64| (send_time, node, changes_before))
                }
            })
            .await
            .map_err(|err| command_error(err, sent))?;
        if self.wait_replicas > 0 {
            let group = self.wait_group(client, node.clone());
            let written = group.written.fetch_add(1, Ordering::SeqCst) + 1;
            let bound = self.wait_timeout + self.command_timeout;
            tokio::time::timeout(
                bound,
                self.confirm_replicated(client, (node.clone(), slot), &group, written),
            )
            .await
            .map_err(|_| {
                Error::StorageTimeout(format!("{sent} (no replica confirmation within {bound:?})"))
            })??;
            if changes_before != Some(self.connection_changes(client, node.as_ref())) {
                return Err(Error::StorageTimeout(format!(
                    "{sent} (the connection to Redis was replaced before replicas confirmed it)"
                )));
            }
        }
        Ok(send_time)
    }

    async fn page(&self, room: &Room, query: &PageQuery) -> Result<Page> {
        let key = self.key(room);
        let count = i64::try_from(query.limit + 1).unwrap_or(i64::MAX);
        let client = self.client()?;
        let from = |time: i64| {
            ZRange::try_from(time as f64)
                .map_err(|err| Error::Storage(format!("cursor {time}: {}", err.details())))
        };
        let (start, stop) = match (query.reverse, query.from) {
            (false, None) => (ZRange::from("-inf"), ZRange::from("+inf")),
            (false, Some(time)) => (from(time)?, ZRange::from("+inf")),
            (true, None) => (ZRange::from("+inf"), ZRange::from("-inf")),
            (true, Some(time)) => (from(time)?, ZRange::from("-inf")),
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
        let mut messages = Vec::with_capacity(members.len());
        let mut next_cursor = None;
        for (index, member) in members.into_iter().enumerate() {
            let (send_time, message) = match decode_member(member.clone()) {
                Decoded::Exact(message) => (message.send_time, Some(message)),
                decoded => {
                    // Written by hand or by an older version: its score, not
                    // its text, is its place in the room (one more round
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

impl RedisStore {
    /// In a cluster with `WAIT` on, the node that owns `slot` as the client
    /// sees it now. The script is sent to it by name and the `WAIT` after it
    /// too, so both go on one connection even if the slot moves in between
    /// (routed by slot, the `WAIT` would then reach the new owner, where it
    /// says nothing about this write). If the node no longer owns the slot
    /// it answers `MOVED`, fred refreshes its map, and the next try asks again.
    fn node_to_wait_on(&self, client: &fred::clients::Client, slot: u16) -> Option<Server> {
        if self.wait_replicas == 0 || !client.is_clustered() {
            return None;
        }
        client
            .cached_cluster_state()
            .and_then(|routing| routing.get_server(slot).cloned())
    }

    fn connection_changes(&self, client: &fred::clients::Client, node: Option<&Server>) -> u64 {
        self.connection_changes
            .get(client.id())
            .map_or(0, |changes| changes.count(node))
    }

    fn wait_group(&self, client: &fred::clients::Client, node: Option<Server>) -> Arc<WaitGroup> {
        let mut groups = self
            .wait_groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        groups
            .entry((client.id().to_owned(), node))
            .or_default()
            .clone()
    }

    /// `WAIT` on the connection that just ran the script: in a cluster sent
    /// to the `node` that ran it (by the key's `slot` only if fred knew no
    /// node then), and it counts the replicas that acknowledged this
    /// connection's writes.
    ///
    /// `WAIT` blocks the whole (shared, pipelined) connection in Redis, so
    /// Sends take turns and share answers (a group commit): a `WAIT` covers
    /// every write answered on the connection before it was sent, so a Send
    /// whose write (the `written`-th) an earlier `WAIT` covered takes its
    /// answer instead of waiting again.
    async fn confirm_replicated(
        &self,
        client: &fred::clients::Client,
        (node, slot): (Option<Server>, u16),
        group: &WaitGroup,
        written: u64,
    ) -> Result<()> {
        let wanted = i64::from(self.wait_replicas);
        let short = |confirmed: i64| {
            Error::StorageTimeout(format!(
                "the message may have been stored (only {confirmed} of {wanted} replicas confirmed it)"
            ))
        };
        let _turn = group.turn.lock().await;
        if group.confirmed.load(Ordering::SeqCst) >= written {
            return Ok(());
        }
        let (short_upto, counted) = *group
            .short
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if short_upto >= written {
            return Err(short(counted));
        }
        let covers = group.written.load(Ordering::SeqCst);
        let timeout_ms = i64::try_from(self.wait_timeout.as_millis()).unwrap_or(i64::MAX);
        let options = Options {
            cluster_node: node,
            cluster_hash: Some(ClusterHash::Custom(slot)),
            // The command may block for its whole timeout, and then answer.
            timeout: Some(self.wait_timeout + self.command_timeout),
            ..Options::default()
        };
        let confirmed: i64 = client
            .with_options(&options)
            .wait(wanted, timeout_ms)
            .await
            .map_err(|err| command_error(err, "the message may have been stored"))?;
        if confirmed < wanted {
            *group
                .short
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = (covers, confirmed);
            return Err(short(confirmed));
        }
        group.confirmed.fetch_max(covers, Ordering::SeqCst);
        Ok(())
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

/// A sorted-set member, read.
enum Decoded {
    /// As the append script wrote it: its `send_time` is its score.
    Exact(StoredMessage),
    /// Not valid UTF-8 (written by hand or by an older version): read with
    /// U+FFFD for the bad bytes; its own `send_time` is not trusted.
    Lossy(StoredMessage),
    /// Not a message at all: skipped by the caller.
    Unreadable,
}

/// Decodes a member, its strings sharing the reply's buffer where they have
/// no JSON escapes.
fn decode_member(member: Bytes) -> Decoded {
    let share = |text: Cow<'_, str>| match text {
        Cow::Borrowed(text) => FastStr::from_bytes(member.slice_ref(text.as_bytes()))
            .unwrap_or_else(|_| FastStr::new(text)),
        Cow::Owned(text) => FastStr::from_string(text),
    };
    if let Ok(decoded) = serde_json::from_slice::<Member<'_>>(&member) {
        return Decoded::Exact(StoredMessage {
            chat: share(decoded.chat),
            text: share(decoded.text),
            sender: share(decoded.sender),
            send_time: decoded.send_time,
        });
    }
    let lossy = String::from_utf8_lossy(&member);
    match serde_json::from_str::<Member<'_>>(&lossy) {
        Ok(decoded) => Decoded::Lossy(StoredMessage {
            chat: FastStr::new(decoded.chat),
            text: FastStr::new(decoded.text),
            sender: FastStr::new(decoded.sender),
            send_time: decoded.send_time,
        }),
        Err(_) => Decoded::Unreadable,
    }
}

/// A member's score (its `send_time`), `None` if it is gone meanwhile.
async fn score_of(
    client: &fred::clients::Client,
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

fn is_noscript(err: &RedisError) -> bool {
    err.details().starts_with("NOSCRIPT")
}

/// Sends a command again while Redis Cluster redirects it, until `budget`
/// is spent; each try gets what is left of it as its timeout.
///
/// fred is told not to follow `MOVED` and `ASK` itself (`max_redirections =
/// 0`): fred 10.1.0 follows an `ASK` by sending `ASKING` on the shared,
/// pipelined connection and taking the next reply there as its answer, which
/// belongs to another command in flight, so every command behind it gets its
/// neighbour's reply (seen while resharding: a Send answered with a Pull's
/// array, another with `ASKING`'s "OK"). With one write attempt it instead
/// ended the client's connection task. A redirected command did not run, so
/// sending it again is safe for a Send too. After `MOVED` fred has refreshed
/// its slot map and the next try reaches the new owner; `ASK` lasts while
/// one slot's keys migrate, so tries back off from 1 ms to 50 ms.
async fn following_redirections<T, F, Fut>(
    budget: Duration,
    mut call: F,
) -> std::result::Result<T, RedisError>
where
    F: FnMut(Options) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, RedisError>>,
{
    let deadline = Instant::now() + budget;
    let mut pause = Duration::from_millis(1);
    let mut options = Options::default();
    loop {
        match call(options.clone()).await {
            Err(err) if is_redirection(&err) => {
                let left = deadline.saturating_duration_since(Instant::now() + pause);
                if left.is_zero() {
                    return Err(err);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
                options.timeout = Some(left);
            }
            result => return result,
        }
    }
}

/// fred's answer to a `MOVED` or `ASK` it was told not to follow.
fn is_redirection(err: &RedisError) -> bool {
    *err.kind() == ErrorKind::Routing && err.details().starts_with("Too many redirections")
}

/// Redis did not run the command: fred refused it (backpressure) or found
/// no connection for it ("Failed to route command.", kind `Unknown` or
/// `Routing` depending on fred's features), or the cluster refused it.
fn never_ran(err: &RedisError) -> bool {
    matches!(err.kind(), ErrorKind::Backpressure | ErrorKind::Routing)
        || err.details().starts_with("Failed to route command")
        || err.details().starts_with("CLUSTERDOWN")
}

/// Maps a fred error to ours. Redis never saw a command that fred refused
/// (backpressure) or that found no connection, and did not run one it
/// redirected or refused while the cluster is down: "unavailable". A command that
/// was sent and got no answer, or lost its connection, may have run:
/// "timeout", with `outcome` saying what that means for the caller.
/// Anything Redis itself answered is passed on (it never contains the URL or
/// password).
fn command_error(err: RedisError, outcome: &str) -> Error {
    match err.kind() {
        _ if is_redirection(&err) => Error::StorageUnavailable(
            "Redis Cluster kept redirecting the command (its slot is moving)".into(),
        ),
        _ if never_ran(&err) => Error::StorageUnavailable(format!("Redis {}", err.details())),
        // fred's text for these is the io::Error's Debug form.
        ErrorKind::IO => Error::StorageTimeout(format!(
            "{outcome} (the connection to Redis dropped before the answer)"
        )),
        ErrorKind::Timeout | ErrorKind::Canceled => Error::StorageTimeout(format!(
            "{outcome} (Redis did not answer: {})",
            err.details()
        )),
        _ => Error::Storage(format!("Redis: {}", err.details())),
    }
}

/// Logs and counts connection changes, and loads the append script on
/// every connection as it comes up, so a Send needs one round trip.
fn watch_connection(
    client: &fred::clients::Client,
    clustered: bool,
    changes: Arc<ConnectionChanges>,
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
            Ok(())
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn redirected() -> RedisError {
        RedisError::new(ErrorKind::Routing, "Too many redirections.")
    }

    #[tokio::test]
    async fn a_redirected_command_is_sent_again_until_it_runs() {
        let calls = AtomicUsize::new(0);
        let result = following_redirections(Duration::from_secs(1), |options| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                // Every try after the first gets what is left of the budget.
                assert_eq!(options.timeout.is_some(), call > 0);
                if call < 3 {
                    Err(redirected())
                } else {
                    Ok(call)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test]
    async fn redirections_stop_when_the_budget_is_spent() {
        let calls = AtomicUsize::new(0);
        let started = Instant::now();
        let result: std::result::Result<(), _> =
            following_redirections(Duration::from_millis(60), |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(redirected()) }
            })
            .await;
        assert!(is_redirection(&result.unwrap_err()));
        // Bounded by the budget (and a busy machine's timer slack).
        assert!(started.elapsed() < Duration::from_secs(1));
        // Pauses of 1, 2, 4, 8, 16 ms, then 32 would pass the 60 ms: at most
        // six tries, fewer if the timer runs late.
        assert!((2..=6).contains(&calls.load(Ordering::SeqCst)));
    }

    #[tokio::test]
    async fn other_errors_are_not_sent_again() {
        let calls = AtomicUsize::new(0);
        let result: std::result::Result<(), _> =
            following_redirections(Duration::from_secs(1), |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(RedisError::new(ErrorKind::IO, "Connection Closed")) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn connection_changes_on_one_node_do_not_concern_another() {
        let (a, b) = (
            Server::new("127.0.0.1", 7000),
            Server::new("127.0.0.1", 7001),
        );
        let changes = ConnectionChanges::default();
        changes.record(true, Some(&a));
        assert_eq!((changes.count(Some(&a)), changes.count(Some(&b))), (1, 0));
        // Not tied to a node: it concerns them all.
        changes.record(true, None);
        assert_eq!((changes.count(Some(&a)), changes.count(Some(&b))), (2, 1));
        assert_eq!(changes.count(None), 2);
        // Outside a cluster a client has one connection: every event counts.
        let single = ConnectionChanges::default();
        single.record(false, Some(&a));
        assert_eq!(single.count(None), 1);
    }

    #[test]
    fn errors_say_whether_the_command_may_have_run() {
        let sent = "the message may have been stored";
        let unavailable = [
            redirected(),
            RedisError::new(ErrorKind::Routing, "Failed to route command."),
            RedisError::new(ErrorKind::Unknown, "Failed to route command."),
            RedisError::new(ErrorKind::Backpressure, "Max in-flight commands reached."),
            RedisError::new(ErrorKind::Cluster, "CLUSTERDOWN The cluster is down"),
        ];
        for err in unavailable {
            let mapped = command_error(err.clone(), sent);
            assert!(
                matches!(mapped, Error::StorageUnavailable(_)),
                "{err:?} -> {mapped}"
            );
        }
        let io = command_error(RedisError::new(ErrorKind::IO, "Os { code: 104 }"), sent);
        assert!(matches!(io, Error::StorageTimeout(_)));
        assert!(io.to_string().contains(sent));
        assert!(!io.to_string().contains("Os {"), "{io}");
        let timeout = command_error(
            RedisError::new(ErrorKind::Timeout, "Request timed out."),
            sent,
        );
        assert!(matches!(timeout, Error::StorageTimeout(_)));
    }
}
