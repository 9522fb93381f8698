//! The in-memory store: the embedded default when no Redis is configured.
//! Nothing survives a restart; the server warns about that at start-up.
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use pilota::FastStr;

use super::{MessageStore, NewMessage, Page, StoredMessage};
use crate::error::{Error, Result};
use crate::room::{PageQuery, Room};

/// Rooms by canonical key, each a map from `send_time` to message.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: Mutex<HashMap<String, BTreeMap<i64, StoredMessage>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn rooms(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, BTreeMap<i64, StoredMessage>>>> {
        self.rooms
            .lock()
            .map_err(|_| Error::Storage("in-memory store is poisoned by an earlier panic".into()))
    }
}

impl MessageStore for MemoryStore {
    async fn append(&self, room: &Room, message: NewMessage<'_>) -> Result<i64> {
        let mut rooms = self.rooms()?;
        let messages = rooms.entry(room.key().to_owned()).or_default();
        let now = now_micros();
        let send_time = match messages.last_key_value() {
            Some((&newest, _)) if newest >= now => newest + 1,
            _ => now,
        };
        messages.insert(
            send_time,
            StoredMessage {
                chat: FastStr::new(message.chat),
                text: FastStr::new(message.text),
                sender: FastStr::new(message.sender),
                send_time,
            },
        );
        Ok(send_time)
    }

    async fn page(&self, room: &Room, query: &PageQuery) -> Result<Page> {
        let rooms = self.rooms()?;
        let Some(messages) = rooms.get(room.key()) else {
            return Ok(Page::default());
        };
        let wanted = query.limit + 1;
        let rows: Vec<StoredMessage> = if query.reverse {
            messages
                .range(..=query.from.unwrap_or(i64::MAX))
                .rev()
                .take(wanted)
                .map(|(_, message)| message.clone())
                .collect()
        } else {
            messages
                .range(query.from.unwrap_or(i64::MIN)..)
                .take(wanted)
                .map(|(_, message)| message.clone())
                .collect()
        };
        Ok(Page::from_overfetch(rows, query.limit))
    }
}

/// Microseconds since the Unix epoch by this machine's clock.
fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
