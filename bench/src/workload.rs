//! What to send: the bench rooms and the requests of each workload.
//!
//! Pure code (the randomness comes from a per-connection [`fastrand::Rng`]),
//! so request shapes are unit-tested.
use std::fmt;
use std::sync::Arc;

use pilota::FastStr;

/// The two RPCs of `IMService`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Send,
    Pull,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Send => "send",
            Op::Pull => "pull",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The bench rooms `u{i}{tag}:v{i}{tag}`, written to by `u{i}{tag}`.
///
/// The tag (`r<run id>`) keeps each run's rooms apart, so a Redis check
/// counts only this run's messages.
#[derive(Debug)]
pub struct Rooms {
    chats: Vec<FastStr>,
    senders: Vec<FastStr>,
}

impl Rooms {
    /// `run_id` empty gives the plain `u{i}:v{i}` names.
    pub fn new(count: u32, run_id: &str) -> Rooms {
        let tag = if run_id.is_empty() {
            String::new()
        } else {
            format!("r{run_id}")
        };
        let senders: Vec<String> = (0..count).map(|i| format!("u{i}{tag}")).collect();
        let chats = (0..count).map(|i| format!("{}:v{i}{tag}", senders[i as usize]));
        Rooms {
            chats: chats.map(FastStr::from_string).collect(),
            senders: senders.into_iter().map(FastStr::from_string).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.chats.len()
    }

    pub fn chat(&self, i: usize) -> &FastStr {
        &self.chats[i]
    }

    /// The storage key of every room: `pattern` with `{room}` replaced by the
    /// room's members in byte order, joined by `:` (`im:chat:{room}` gives
    /// `im:chat:u1:v1`; `u` sorts before `v`, so that is the chat itself).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.chats
            .iter()
            .map(|chat| pattern.replace("{room}", chat))
            .collect()
    }
}

/// One request, independent of the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Send {
        chat: FastStr,
        sender: FastStr,
        text: FastStr,
    },
    Pull {
        chat: FastStr,
        cursor: i64,
        limit: i32,
        reverse: bool,
    },
}

impl Request {
    pub fn op(&self) -> Op {
        match self {
            Request::Send { .. } => Op::Send,
            Request::Pull { .. } => Op::Pull,
        }
    }
}

/// Which requests a run sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mix {
    /// Sends to random rooms.
    Send,
    /// Pulls of random rooms.
    Pull,
    /// Sends with this probability, pulls otherwise.
    Mixed { send_ratio: f64 },
    /// Ticket `k` sends to room `k % rooms`: fills every room evenly.
    Prefill,
}

/// Request generator shared by all connections of a run.
#[derive(Debug, Clone)]
pub struct Workload {
    pub mix: Mix,
    pub rooms: Arc<Rooms>,
    /// Text template; each send stamps a unique counter into its head.
    pub text: String,
    pub page_size: i32,
    /// Inclusive range of `send_time`s (µs) half of the pull cursors are
    /// drawn from; `None`: every pull starts at cursor 0.
    pub cursor_range: Option<(i64, i64)>,
}

/// Per-connection generator state.
#[derive(Debug)]
pub struct GenState {
    rng: fastrand::Rng,
    reverse: bool,
    counter: u64,
    /// Connection number, stamped into texts so they are unique across
    /// connections.
    conn: u32,
}

impl GenState {
    pub fn new(seed: u64, conn: u32) -> GenState {
        GenState {
            rng: fastrand::Rng::with_seed(seed),
            reverse: false,
            counter: 0,
            conn,
        }
    }
}

impl Workload {
    /// The request for ticket `index`.
    pub fn request(&self, index: u64, st: &mut GenState) -> Request {
        let rooms = self.rooms.len();
        match self.mix {
            Mix::Prefill => self.send((index % rooms as u64) as usize, st),
            Mix::Send => self.send(st.rng.usize(..rooms), st),
            Mix::Pull => self.pull(st.rng.usize(..rooms), st),
            Mix::Mixed { send_ratio } => {
                let room = st.rng.usize(..rooms);
                if st.rng.f64() < send_ratio {
                    self.send(room, st)
                } else {
                    self.pull(room, st)
                }
            }
        }
    }

    fn send(&self, room: usize, st: &mut GenState) -> Request {
        st.counter += 1;
        Request::Send {
            chat: self.rooms.chat(room).clone(),
            sender: self.rooms.senders[room].clone(),
            text: FastStr::from_string(stamp_text(&self.text, st.conn, st.counter)),
        }
    }

    fn pull(&self, room: usize, st: &mut GenState) -> Request {
        st.reverse = !st.reverse;
        let cursor = match self.cursor_range {
            Some((lo, hi)) if lo <= hi && st.rng.bool() => st.rng.i64(lo..=hi),
            _ => 0,
        };
        Request::Pull {
            chat: self.rooms.chat(room).clone(),
            cursor,
            limit: self.page_size,
            reverse: st.reverse,
        }
    }
}

/// A text of `template.len()` bytes whose head is `"<conn>-<counter> "`, so no
/// two sends of a run carry the same text (a store that deduplicates equal
/// messages would otherwise make the Redis check fail for the wrong reason).
fn stamp_text(template: &str, conn: u32, counter: u64) -> String {
    let mut text = format!("{conn}-{counter} ");
    let n = template.len();
    if text.len() >= n {
        text.truncate(n);
    } else {
        text.push_str(&template[text.len()..]);
    }
    text
}

/// A random ASCII text of `n` bytes.
pub fn random_text(n: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(n)
        .collect()
}

/// A fresh run id: 6 hex digits.
pub fn random_run_id() -> String {
    format!("{:06x}", fastrand::u32(..0x100_0000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(mix: Mix) -> Workload {
        Workload {
            mix,
            rooms: Arc::new(Rooms::new(4, "abc")),
            text: "x".repeat(32),
            page_size: 10,
            cursor_range: Some((100, 200)),
        }
    }

    #[test]
    fn rooms_are_tagged_and_keyed() {
        let rooms = Rooms::new(2, "abc");
        assert_eq!(rooms.chat(1).as_str(), "u1rabc:v1rabc");
        assert_eq!(
            rooms.keys("im:chat:{room}"),
            ["im:chat:u0rabc:v0rabc", "im:chat:u1rabc:v1rabc"]
        );
        assert_eq!(Rooms::new(1, "").chat(0).as_str(), "u0:v0");
    }

    #[test]
    fn prefill_visits_rooms_round_robin() {
        let w = workload(Mix::Prefill);
        let mut st = GenState::new(1, 0);
        let chats: Vec<_> = (0..6)
            .map(|k| match w.request(k, &mut st) {
                Request::Send { chat, sender, .. } => {
                    assert!(chat.starts_with(sender.as_str()));
                    chat
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(chats[0], chats[4]);
        assert_eq!(chats[1], chats[5]);
        assert_ne!(chats[0], chats[1]);
    }

    #[test]
    fn texts_are_unique_and_sized() {
        let w = workload(Mix::Send);
        let mut st = GenState::new(1, 7);
        let mut seen = std::collections::HashSet::new();
        for k in 0..100 {
            let Request::Send { text, .. } = w.request(k, &mut st) else {
                panic!()
            };
            assert_eq!(text.len(), 32);
            assert!(seen.insert(text));
        }
        assert_eq!(stamp_text("abcdefgh", 1, 2), "1-2 efgh");
        assert_eq!(stamp_text("abc", 12, 345), "12-");
    }

    #[test]
    fn pulls_alternate_direction_and_use_the_cursor_range() {
        let w = workload(Mix::Pull);
        let mut st = GenState::new(3, 0);
        let mut zero = 0;
        let mut last_reverse = None;
        for k in 0..200 {
            let Request::Pull {
                cursor,
                limit,
                reverse,
                ..
            } = w.request(k, &mut st)
            else {
                panic!()
            };
            assert_eq!(limit, 10);
            assert!(cursor == 0 || (100..=200).contains(&cursor));
            zero += usize::from(cursor == 0);
            assert_ne!(Some(reverse), last_reverse);
            last_reverse = Some(reverse);
        }
        assert!((50..150).contains(&zero), "{zero} zero cursors of 200");
    }

    #[test]
    fn mixed_respects_the_ratio() {
        let w = workload(Mix::Mixed { send_ratio: 0.2 });
        let mut st = GenState::new(9, 0);
        let sends = (0..10_000)
            .filter(|&k| w.request(k, &mut st).op() == Op::Send)
            .count();
        assert!((1700..2300).contains(&sends), "{sends}");
    }
}
