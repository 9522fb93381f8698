//! Message storage: the [`MessageStore`] trait and its implementations.
//!
//! - [`memory::MemoryStore`]: the embedded default, nothing persisted.
//! - [`redis::RedisStore`]: one sorted set per room in Redis.
//! - [`member`]: how one message is kept, in both (compact or JSON).
//!
//! Both give the same guarantees, checked by one conformance suite
//! (`rpc-server/tests/it/store_conformance.rs`): `send_time` is strictly
//! increasing within a room, so it identifies a message in its room and
//! works as an exact, inclusive page cursor; and both apply the same
//! [`Retention`] where messages are written.
use std::future::Future;
use std::time::Duration;

use pilota::FastStr;

use crate::error::Result;
use crate::room::{PageQuery, Room};

pub mod member;
pub mod memory;
pub mod redis;

pub use member::Format;
pub use memory::MemoryStore;
pub use redis::RedisStore;

/// A message as the client sent it, before the store assigns its time.
#[derive(Debug, Clone, Copy)]
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

/// How much of each room a store keeps; nothing is bounded by default.
///
/// Applied where messages are written (inside Redis's append script, under
/// the memory store's lock), so no background job is needed and a room never
/// holds more than the bound plus the message just added. Trimming removes
/// a room's oldest messages first, so a page cursor never skips or repeats a
/// retained message: a cursor before the oldest retained message simply
/// starts at it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep the newest this many messages of each room.
    pub max_messages: Option<u64>,
    /// Keep messages younger than this. Older ones are not returned by Pull
    /// and are deleted at the room's next Send; a room that gets no Send for
    /// this long is deleted whole (Redis expires its key).
    pub max_age: Option<Duration>,
}

impl Retention {
    /// The age bound in microseconds, if any.
    pub fn max_age_micros(&self) -> Option<i64> {
        self.max_age
            .map(|age| i64::try_from(age.as_micros()).unwrap_or(i64::MAX))
    }

    /// The oldest `send_time` still retained at `now` (microseconds).
    pub fn oldest_kept(&self, now: i64) -> Option<i64> {
        self.max_age_micros().map(|age| now.saturating_sub(age))
    }
}

/// The inclusive `send_time` range, oldest end first, that a page of
/// `query` reads when messages older than `oldest` are not retained; `None`
/// when nothing retained can be in it.
pub fn page_range(query: &PageQuery, oldest: Option<i64>) -> Option<(i64, i64)> {
    let oldest = oldest.unwrap_or(i64::MIN);
    let (low, high) = if query.reverse {
        (oldest, query.from.unwrap_or(i64::MAX))
    } else {
        (query.from.unwrap_or(i64::MIN).max(oldest), i64::MAX)
    };
    (low <= high).then_some((low, high))
}

/// Microseconds since the Unix epoch by this machine's clock.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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

    fn query(from: Option<i64>, reverse: bool) -> PageQuery {
        PageQuery {
            from,
            limit: 10,
            reverse,
        }
    }

    #[test]
    fn page_range_starts_at_the_oldest_retained_message() {
        // No bound: the cursor alone.
        assert_eq!(
            page_range(&query(None, false), None),
            Some((i64::MIN, i64::MAX))
        );
        assert_eq!(page_range(&query(Some(5), true), None), Some((i64::MIN, 5)));
        // A cursor before the oldest retained message starts at it.
        assert_eq!(
            page_range(&query(Some(5), false), Some(9)),
            Some((9, i64::MAX))
        );
        assert_eq!(
            page_range(&query(Some(12), false), Some(9)),
            Some((12, i64::MAX))
        );
        assert_eq!(page_range(&query(None, true), Some(9)), Some((9, i64::MAX)));
        assert_eq!(page_range(&query(Some(12), true), Some(9)), Some((9, 12)));
        // Backward from before the oldest retained message: nothing is left.
        assert_eq!(page_range(&query(Some(5), true), Some(9)), None);
    }

    #[test]
    fn retention_by_age() {
        let none = Retention::default();
        assert_eq!(none.oldest_kept(1_000_000), None);
        let minute = Retention {
            max_age: Some(Duration::from_secs(60)),
            ..Retention::default()
        };
        assert_eq!(minute.max_age_micros(), Some(60_000_000));
        assert_eq!(minute.oldest_kept(100_000_000), Some(40_000_000));
    }

    #[test]
    fn short_read_has_no_next_cursor() {
        let page = Page::from_overfetch((1..=3).map(message).collect(), 3);
        assert_eq!(page.messages.len(), 3);
        assert_eq!(page.next_cursor, None);
        assert_eq!(Page::from_overfetch(Vec::new(), 10), Page::default());
    }
}
