//! `--redis-wait-replicas`: a Send is acknowledged only once enough replicas
//! confirmed it, with `WAIT n timeout` after the write, on the same
//! connection and node.
//!
//! Two things make this more than "send `WAIT`":
//!
//! - `WAIT` blocks the whole (shared, pipelined) connection in Redis, so the
//!   Sends of one connection take turns and share answers: one `WAIT` covers
//!   every write answered on the connection before it was sent (a group
//!   commit, [`GroupCommit`]).
//! - `WAIT` counts replicas for the connection it is sent on. If fred
//!   replaced the write's connection before the `WAIT` went out, the new one
//!   has written nothing and would confirm at once; so the connection errors
//!   and reconnections fred reports are counted ([`ConnectionChanges`]), and a
//!   Send during which the count moved is not acknowledged. Residual window:
//!   an event fred has not yet delivered to our listener when the `WAIT`
//!   answers (the listener runs as soon as the reader task sees the
//!   connection drop, long before a reconnect completes).
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fred::clients::Client;
use fred::prelude::{ClientLike, ClusterInterface, Options, Server, ServerInterface};
use fred::types::ClusterHash;

use super::routing::command_error;
use crate::error::{Error, Result};

/// What the caller of a possibly stored Send is told.
const MAY_BE_STORED: &str = "the message may have been stored";

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pooled client's connection errors and reconnections, as fred reports
/// them: in a cluster per node, so that a new connection to one node does
/// not fail the Sends waiting on another.
#[derive(Default)]
pub(super) struct ConnectionChanges {
    /// Events not tied to one node (and every event outside a cluster).
    any: AtomicU64,
    by_node: Mutex<HashMap<Server, u64>>,
}

impl ConnectionChanges {
    pub(super) fn record(&self, clustered: bool, server: Option<&Server>) {
        match server {
            Some(server) if clustered => {
                *locked(&self.by_node).entry(server.clone()).or_default() += 1;
            }
            _ => {
                self.any.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Events that concern a connection to `node` (every node: `None`).
    fn count(&self, node: Option<&Server>) -> u64 {
        let by_node = locked(&self.by_node);
        let on_nodes = match node {
            Some(node) => by_node.get(node).copied().unwrap_or(0),
            None => by_node.values().sum(),
        };
        self.any.load(Ordering::SeqCst) + on_nodes
    }
}

/// The last `WAIT` of a connection that counted fewer replicas than wanted.
#[derive(Default, Clone, Copy)]
struct ShortWait {
    /// Writes it covered: `written` when it was sent.
    covered: u64,
    /// Replicas it counted.
    counted: i64,
}

/// The Sends waiting for replicas on one connection.
#[derive(Default)]
struct GroupCommit {
    /// Writes answered so far on this connection.
    written: AtomicU64,
    /// Writes known replicated: every write counted in `written` before a
    /// successful `WAIT` was sent.
    confirmed: AtomicU64,
    short: Mutex<ShortWait>,
    /// Held while a `WAIT` is in flight.
    turn: tokio::sync::Mutex<()>,
}

/// A connection of the pool: the client's id and, in a cluster, the node.
type Connection = (String, Option<Server>);

/// Where one write went, taken just before it was sent.
pub(super) struct Ticket {
    /// The node the write is sent to by name (a cluster), else `None`.
    pub(super) node: Option<Server>,
    slot: u16,
    changes_before: u64,
}

/// The replica confirmation of Sends; off (0 replicas) unless configured.
#[derive(Default)]
pub(super) struct Replicas {
    wanted: u32,
    wait_timeout: Duration,
    command_timeout: Duration,
    groups: Mutex<HashMap<Connection, Arc<GroupCommit>>>,
    /// By pooled client id; filled when the pool is built, as fred's event
    /// listeners are registered.
    changes: HashMap<String, Arc<ConnectionChanges>>,
}

impl Replicas {
    pub(super) fn new(changes: HashMap<String, Arc<ConnectionChanges>>) -> Replicas {
        Replicas {
            changes,
            ..Replicas::default()
        }
    }

    pub(super) fn require(
        &mut self,
        wanted: u32,
        wait_timeout: Duration,
        command_timeout: Duration,
    ) {
        self.wanted = wanted;
        self.wait_timeout = wait_timeout.max(Duration::from_millis(1));
        self.command_timeout = command_timeout;
    }

    /// Taken before each try of a write; `None` when confirmation is off. In
    /// a cluster the write goes by name to the node that owns `slot` as the
    /// client sees it now, and the `WAIT` after it too, so both go on one
    /// connection even if the slot moves in between (routed by slot, the
    /// `WAIT` would then reach the new owner, where it says nothing about
    /// this write). If the node no longer owns the slot it answers `MOVED`,
    /// fred refreshes its map, and the next try takes a new ticket.
    pub(super) fn ticket(&self, client: &Client, slot: u16) -> Option<Ticket> {
        if self.wanted == 0 {
            return None;
        }
        let node = client
            .is_clustered()
            .then(|| client.cached_cluster_state())
            .flatten()
            .and_then(|routing| routing.get_server(slot).cloned());
        Some(Ticket {
            changes_before: self.changes(client, node.as_ref()),
            node,
            slot,
        })
    }

    /// Waits until the write of `ticket` is confirmed by the wanted replicas,
    /// or says why it is not: every failure is a `storage timeout`, since the
    /// message is stored on the primary.
    pub(super) async fn confirm(&self, client: &Client, ticket: Option<Ticket>) -> Result<()> {
        let Some(ticket) = ticket else {
            return Ok(());
        };
        let group = self.group(client, ticket.node.clone());
        let written = group.written.fetch_add(1, Ordering::SeqCst) + 1;
        let bound = self.wait_timeout + self.command_timeout;
        tokio::time::timeout(bound, self.wait(client, &ticket, &group, written))
            .await
            .map_err(|_| {
                Error::StorageTimeout(format!(
                    "{MAY_BE_STORED} (no replica confirmation within {bound:?})"
                ))
            })??;
        if self.changes(client, ticket.node.as_ref()) != ticket.changes_before {
            return Err(Error::StorageTimeout(format!(
                "{MAY_BE_STORED} (the connection to Redis was replaced before replicas confirmed it)"
            )));
        }
        Ok(())
    }

    fn changes(&self, client: &Client, node: Option<&Server>) -> u64 {
        self.changes
            .get(client.id())
            .map_or(0, |changes| changes.count(node))
    }

    fn group(&self, client: &Client, node: Option<Server>) -> Arc<GroupCommit> {
        locked(&self.groups)
            .entry((client.id().to_owned(), node))
            .or_default()
            .clone()
    }

    /// One `WAIT` at a time per connection: a Send whose write (the
    /// `written`-th) an earlier `WAIT` covered takes that answer instead of
    /// waiting again.
    async fn wait(
        &self,
        client: &Client,
        ticket: &Ticket,
        group: &GroupCommit,
        written: u64,
    ) -> Result<()> {
        let wanted = i64::from(self.wanted);
        let short = |counted: i64| {
            Error::StorageTimeout(format!(
                "{MAY_BE_STORED} (only {counted} of {wanted} replicas confirmed it)"
            ))
        };
        let _turn = group.turn.lock().await;
        if group.confirmed.load(Ordering::SeqCst) >= written {
            return Ok(());
        }
        let last_short = *locked(&group.short);
        if last_short.covered >= written {
            return Err(short(last_short.counted));
        }
        let covers = group.written.load(Ordering::SeqCst);
        let timeout_ms = i64::try_from(self.wait_timeout.as_millis()).unwrap_or(i64::MAX);
        let options = Options {
            cluster_node: ticket.node.clone(),
            cluster_hash: Some(ClusterHash::Custom(ticket.slot)),
            // The command may block for its whole timeout, and then answer.
            timeout: Some(self.wait_timeout + self.command_timeout),
            ..Options::default()
        };
        let counted: i64 = client
            .with_options(&options)
            .wait(wanted, timeout_ms)
            .await
            .map_err(|err| command_error(err, MAY_BE_STORED))?;
        if counted < wanted {
            *locked(&group.short) = ShortWait {
                covered: covers,
                counted,
            };
            return Err(short(counted));
        }
        group.confirmed.fetch_max(covers, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
