//! Message storage: the [`MessageStore`] trait and its implementations.
//!
//! - [`memory::MemoryStore`]: the embedded default, nothing persisted.
//! - [`redis::RedisStore`]: one sorted set per room in Redis.
//!
//! Both give the same guarantees, checked by one conformance suite
//! (`rpc-server/tests/store_conformance.rs`): `send_time` is strictly
//! increasing within a room, so it identifies a message in its room and
//! works as an exact, inclusive page cursor.
use std::future::Future;

use pilota::FastStr;
use serde::Serialize;

use crate::error::Result;
use crate::room::{PageQuery, Room};

pub mod memory;
pub mod redis;

pub use memory::MemoryStore;
pub use redis::RedisStore;

/// A message as the client sent it, before the store assigns its time.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NewMessage<'a> {
    pub chat: &'a str,
    pub text: &'a str,
    pub sender: &'a str,
}

/// A stored message. `chat` is kept as the sender wrote it (`"b:a"` stays
/// `"b:a"` even though the room is `"a:b"`), as the Go server does.
///
/// The strings are `FastStr`, the wire types' string, so a page goes from
/// the store into the response without copying the texts again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub chat: FastStr,
    pub text: FastStr,
    pub sender: FastStr,
    /// Microseconds since the Unix epoch, unique within the room.
    pub send_time: i64,
}

/// One page of a room, in the query's direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<StoredMessage>,
    /// The `send_time` of the first message beyond this page, if any: the
    /// cursor of the next page.
    pub next_cursor: Option<i64>,
}

impl Page {
    /// Builds a page from up to `limit + 1` messages read in page order: the
    /// extra one, if present, is not returned but becomes the next cursor.
    /// Reading one more than asked is what lets a store answer `has_more`
    /// in the same round trip.
    pub fn from_overfetch(mut messages: Vec<StoredMessage>, limit: usize) -> Page {
        let next_cursor = messages.get(limit).map(|extra| extra.send_time);
        messages.truncate(limit);
        Page {
            messages,
            next_cursor,
        }
    }
}

/// Where messages live. Implementations must be safe to share between all
/// connections of the server.
pub trait MessageStore: Send + Sync + 'static {
    /// Stores `message` in `room` and returns the `send_time` assigned to it:
    /// microseconds since the epoch, greater than every earlier `send_time`
    /// in the room. Identical messages are all kept.
    fn append(
        &self,
        room: &Room,
        message: NewMessage<'_>,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Reads one page of `room`: forward from `query.from` oldest first, or
    /// backward from it newest first; `from` is inclusive.
    fn page(&self, room: &Room, query: &PageQuery) -> impl Future<Output = Result<Page>> + Send;

    /// Whether calls can be served now, for the readiness probe: cheap, no
    /// round trip. A store that is always there (memory) keeps the default.
    fn is_ready(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(send_time: i64) -> StoredMessage {
        StoredMessage {
            chat: FastStr::from_static_str("a:b"),
            text: FastStr::empty(),
            sender: FastStr::from_static_str("a"),
            send_time,
        }
    }

    #[test]
    fn overfetched_row_becomes_next_cursor() {
        let page = Page::from_overfetch((1..=4).map(message).collect(), 3);
        assert_eq!(page.messages.len(), 3);
        assert_eq!(page.messages.last().unwrap().send_time, 3);
        assert_eq!(page.next_cursor, Some(4));
    }

    #[test]
    fn short_read_has_no_next_cursor() {
        let page = Page::from_overfetch((1..=3).map(message).collect(), 3);
        assert_eq!(page.messages.len(), 3);
        assert_eq!(page.next_cursor, None);
        assert_eq!(Page::from_overfetch(Vec::new(), 10), Page::default());
    }
}
