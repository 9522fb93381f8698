//! The in-memory store: the embedded default when no Redis is configured.
//! Nothing survives a restart; the server warns about that at start-up.
//!
//! Messages are kept in the compact member format ([`super::member`]), one
//! buffer each, so the store costs about what Redis does per message and
//! reads back exactly as Redis does.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;

use super::member::{self, Decoded, Format, Reader};
use super::{MessageStore, NewMessage, Page, Retention, now_micros, page_range};
use crate::error::{Error, Result};
use crate::room::{PageQuery, Room};

#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: Mutex<Rooms>,
    retention: Retention,
}

#[derive(Debug, Default)]
struct Rooms {
    /// Each room's members by `send_time`, by canonical room key.
    by_key: HashMap<String, BTreeMap<i64, Bytes>>,
    /// With an age bound only: every room by its newest `send_time`, so a
    /// room nobody writes to any more is dropped once that is too old.
    by_newest: BTreeSet<(i64, String)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that keeps only what `retention` allows.
    pub fn with_retention(retention: Retention) -> Self {
        MemoryStore {
            retention,
            ..Self::default()
        }
    }

    fn rooms(&self) -> Result<MutexGuard<'_, Rooms>> {
        self.rooms
            .lock()
            .map_err(|_| Error::Storage("in-memory store is poisoned by an earlier panic".into()))
    }
}

impl Rooms {
    /// Drops every room whose newest message is older than `oldest`.
    fn drop_idle(&mut self, oldest: i64) {
        while let Some((newest, _)) = self.by_newest.first() {
            if *newest >= oldest {
                break;
            }
            if let Some((_, key)) = self.by_newest.pop_first() {
                self.by_key.remove(&key);
            }
        }
    }
}

impl MessageStore for MemoryStore {
    async fn append(&self, room: &Room, message: NewMessage<'_>) -> Result<i64> {
        let unstamped = member::unstamped(Format::Compact, room, message);
        let now = now_micros();
        let oldest = self.retention.oldest_kept(now);
        let mut rooms = self.rooms()?;
        if let Some(oldest) = oldest {
            rooms.drop_idle(oldest);
        }
        let messages = rooms.by_key.entry(room.key().to_owned()).or_default();
        let newest = messages.last_key_value().map(|(&newest, _)| newest);
        let send_time = match newest {
            Some(newest) if newest >= now => newest + 1,
            _ => now,
        };
        messages.insert(send_time, unstamped.stamp(send_time));
        if let Some(max) = self.retention.max_messages {
            while messages.len() as u64 > max {
                messages.pop_first();
            }
        }
        if let Some(oldest) = oldest {
            *messages = messages.split_off(&oldest);
            if let Some(newest) = newest {
                rooms.by_newest.remove(&(newest, room.key().to_owned()));
            }
            rooms.by_newest.insert((send_time, room.key().to_owned()));
        }
        Ok(send_time)
    }

    async fn page(&self, room: &Room, query: &PageQuery) -> Result<Page> {
        let Some((low, high)) = page_range(query, self.retention.oldest_kept(now_micros())) else {
            return Ok(Page::default());
        };
        let wanted = query.limit + 1;
        let members: Vec<Bytes> = {
            let rooms = self.rooms()?;
            let Some(messages) = rooms.by_key.get(room.key()) else {
                return Ok(Page::default());
            };
            let range = messages.range(low..=high).map(|(_, member)| member.clone());
            if query.reverse {
                range.rev().take(wanted).collect()
            } else {
                range.take(wanted).collect()
            }
        };
        let reader = Reader::new(room);
        let messages = members
            .into_iter()
            .filter_map(|member| match reader.decode(member) {
                Decoded::Exact(message) | Decoded::Lossy(message) => Some(message),
                Decoded::Unreadable => None,
            })
            .collect();
        Ok(Page::from_overfetch(messages, query.limit))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn room() -> Room {
        Room::parse("a:b").unwrap()
    }

    async fn send(store: &MemoryStore, text: &str) -> i64 {
        let message = NewMessage {
            chat: "a:b",
            text,
            sender: "a",
        };
        store.append(&room(), message).await.unwrap()
    }

    async fn all(store: &MemoryStore) -> Vec<String> {
        let query = PageQuery {
            from: None,
            limit: 1000,
            reverse: false,
        };
        let page = store.page(&room(), &query).await.unwrap();
        page.messages.iter().map(|m| m.text.to_string()).collect()
    }

    #[tokio::test]
    async fn a_room_keeps_the_newest_max_messages() {
        let store = MemoryStore::with_retention(Retention {
            max_messages: Some(3),
            ..Retention::default()
        });
        for i in 0..7 {
            send(&store, &i.to_string()).await;
        }
        assert_eq!(all(&store).await, ["4", "5", "6"]);
    }

    #[tokio::test]
    async fn old_messages_are_hidden_then_dropped_and_idle_rooms_go() {
        let store = MemoryStore::with_retention(Retention {
            max_age: Some(Duration::from_millis(300)),
            ..Retention::default()
        });
        send(&store, "old").await;
        tokio::time::sleep(Duration::from_millis(350)).await;
        // Too old to be read, though not yet deleted: no Send since.
        assert!(all(&store).await.is_empty());
        assert_eq!(store.rooms().unwrap().by_key[room().key()].len(), 1);
        send(&store, "new").await;
        assert_eq!(all(&store).await, ["new"]);
        assert_eq!(store.rooms().unwrap().by_key[room().key()].len(), 1);

        // A room nobody writes to any more is dropped at another room's Send.
        tokio::time::sleep(Duration::from_millis(350)).await;
        let other = Room::parse("c:d").unwrap();
        let message = NewMessage {
            chat: "c:d",
            text: "elsewhere",
            sender: "c",
        };
        store.append(&other, message).await.unwrap();
        let rooms = store.rooms().unwrap();
        assert!(!rooms.by_key.contains_key(room().key()));
        assert_eq!(rooms.by_newest.len(), 1);
    }
}
