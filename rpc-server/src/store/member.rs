//! How one message is kept: the bytes of a sorted-set member in Redis, and
//! of an entry in the memory store. Both stores use this one codec, so a
//! message reads back the same whichever store kept it.
//!
//! Two formats, told apart by the first byte:
//!
//! - **compact** (tag `0x01`, the default for new messages): the tag,
//!   `send_time` as 8 bytes big-endian, a flags byte, then the text. The room
//!   key already names both members, so `chat` and `sender` are kept as two
//!   bits: whether the sender is the room's second member (in byte order),
//!   and whether `chat` was written second member first (`"b:a"` in room
//!   `a:b`). `send_time` keeps identical texts apart (members of a sorted set
//!   are unique). Ten bytes of overhead let short messages stay within
//!   Redis's compact listpack encoding (`zset-max-listpack-value`, 64 bytes by
//!   default): texts of up to 54 bytes.
//! - **JSON** (every member written before the compact format, and new ones
//!   with `--stored-format json`): `{"chat":..,"text":..,"sender":..,"send_time":..}`.
//!
//! Reading understands both forever; a room may hold both. Which one new
//! messages get is a setting ([`Format`]), so a fleet can be upgraded readers
//! first (docs/storage.md).
use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use pilota::FastStr;
use serde::{Deserialize, Serialize};

use super::{NewMessage, StoredMessage};
use crate::room::Room;

/// First byte of a compact member, version 1. A JSON member starts with `{`.
const COMPACT_V1: u8 = 0x01;
/// Tag, `send_time`, flags.
const COMPACT_HEADER: usize = 1 + 8 + 1;
/// Flag: the sender is the room's second member in byte order.
const SENDER_IS_SECOND: u8 = 0b01;
/// Flag: `chat` was written second member first.
const CHAT_REVERSED: u8 = 0b10;

/// The format new messages are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tag, time, flags and text: 10 bytes besides the text.
    #[default]
    Compact,
    /// The JSON of every version before the compact format.
    Json,
}

/// How the time goes into a member: the append script stamps it in Redis
/// (`head .. time .. tail`), the memory store here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeEncoding {
    /// 8 bytes, big-endian (compact).
    BigEndian,
    /// Decimal digits (JSON).
    Decimal,
}

impl TimeEncoding {
    /// The name the append script knows it by.
    pub fn script_name(self) -> &'static str {
        match self {
            TimeEncoding::BigEndian => "be64",
            TimeEncoding::Decimal => "decimal",
        }
    }
}

/// A member without its `send_time`, which only the store assigns: the
/// complete member is `head`, the time as `time` says, then `tail`.
#[derive(Debug, Clone)]
pub struct Unstamped {
    pub head: Bytes,
    pub time: TimeEncoding,
    pub tail: Bytes,
}

#[derive(Serialize, Deserialize)]
struct JsonMember<'a> {
    #[serde(borrow)]
    chat: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(borrow)]
    sender: Cow<'a, str>,
    send_time: i64,
}

/// The member of `message` in `room` in `format`, waiting for its time.
/// `message` is validated: its chat names `room` and its sender is a member.
pub fn unstamped(format: Format, room: &Room, message: NewMessage<'_>) -> Unstamped {
    match format {
        Format::Compact => {
            let (first, second) = room.members();
            let mut flags = 0;
            if message.sender == second && message.sender != first {
                flags |= SENDER_IS_SECOND;
            }
            if message.chat != room.key() {
                flags |= CHAT_REVERSED;
            }
            let mut tail = BytesMut::with_capacity(1 + message.text.len());
            tail.put_u8(flags);
            tail.put_slice(message.text.as_bytes());
            Unstamped {
                head: Bytes::from_static(&[COMPACT_V1]),
                time: TimeEncoding::BigEndian,
                tail: tail.freeze(),
            }
        }
        Format::Json => {
            let mut head = serde_json::to_vec(&JsonMember {
                chat: Cow::Borrowed(message.chat),
                text: Cow::Borrowed(message.text),
                sender: Cow::Borrowed(message.sender),
                send_time: 0,
            })
            .unwrap_or_default();
            // `{..,"send_time":0}` -> `{..,"send_time":`
            head.truncate(head.len().saturating_sub(2));
            Unstamped {
                head: Bytes::from(head),
                time: TimeEncoding::Decimal,
                tail: Bytes::from_static(b"}"),
            }
        }
    }
}

impl Unstamped {
    /// The complete member with `send_time`, as the append script builds it.
    pub fn stamp(&self, send_time: i64) -> Bytes {
        let mut member = BytesMut::with_capacity(self.head.len() + 20 + self.tail.len());
        member.put_slice(&self.head);
        match self.time {
            TimeEncoding::BigEndian => member.put_i64(send_time),
            TimeEncoding::Decimal => member.put_slice(send_time.to_string().as_bytes()),
        }
        member.put_slice(&self.tail);
        member.freeze()
    }
}

/// A member, read.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Well-formed: its `send_time` is the one it was stored with.
    Exact(StoredMessage),
    /// Not valid UTF-8 (written by hand or by a foreign writer): read with
    /// U+FFFD for the bad bytes; its own `send_time` is not trusted, the
    /// caller takes the member's score instead.
    Lossy(StoredMessage),
    /// Not a message at all: the caller skips it.
    Unreadable,
}

/// Reads members of one room. The room's `chat` spellings and members are
/// built once, and every compact message shares them.
pub struct Reader {
    chat: [FastStr; 2],
    sender: [FastStr; 2],
}

impl Reader {
    pub fn new(room: &Room) -> Reader {
        let (first, second) = room.members();
        Reader {
            chat: [
                FastStr::new(room.key()),
                FastStr::from_string(format!("{second}:{first}")),
            ],
            sender: [FastStr::new(first), FastStr::new(second)],
        }
    }

    /// Decodes `member`, its text sharing the member's buffer where it can.
    pub fn decode(&self, member: Bytes) -> Decoded {
        match member.first() {
            Some(&COMPACT_V1) => self.decode_compact(member),
            Some(b'{') => decode_json(member),
            _ => Decoded::Unreadable,
        }
    }

    fn decode_compact(&self, member: Bytes) -> Decoded {
        if member.len() < COMPACT_HEADER {
            return Decoded::Unreadable;
        }
        let flags = member[COMPACT_HEADER - 1];
        if flags & !(SENDER_IS_SECOND | CHAT_REVERSED) != 0 {
            return Decoded::Unreadable;
        }
        let mut time = [0; 8];
        time.copy_from_slice(&member[1..COMPACT_HEADER - 1]);
        let text = member.slice(COMPACT_HEADER..);
        let message = |text| StoredMessage {
            chat: self.chat[usize::from(flags & CHAT_REVERSED != 0)].clone(),
            text,
            sender: self.sender[usize::from(flags & SENDER_IS_SECOND != 0)].clone(),
            send_time: i64::from_be_bytes(time),
        };
        match FastStr::from_bytes(text.clone()) {
            Ok(text) => Decoded::Exact(message(text)),
            Err(_) => Decoded::Lossy(message(FastStr::from_string(
                String::from_utf8_lossy(&text).into_owned(),
            ))),
        }
    }
}

/// Decodes a JSON member, its strings sharing the member's buffer where they
/// have no escapes.
fn decode_json(member: Bytes) -> Decoded {
    let share = |text: Cow<'_, str>| match text {
        Cow::Borrowed(text) => FastStr::from_bytes(member.slice_ref(text.as_bytes()))
            .unwrap_or_else(|_| FastStr::new(text)),
        Cow::Owned(text) => FastStr::from_string(text),
    };
    if let Ok(decoded) = serde_json::from_slice::<JsonMember<'_>>(&member) {
        return Decoded::Exact(StoredMessage {
            chat: share(decoded.chat),
            text: share(decoded.text),
            sender: share(decoded.sender),
            send_time: decoded.send_time,
        });
    }
    let lossy = String::from_utf8_lossy(&member);
    match serde_json::from_str::<JsonMember<'_>>(&lossy) {
        Ok(decoded) => Decoded::Lossy(StoredMessage {
            chat: FastStr::new(decoded.chat),
            text: FastStr::new(decoded.text),
            sender: FastStr::new(decoded.sender),
            send_time: decoded.send_time,
        }),
        Err(_) => Decoded::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(chat: &str) -> Room {
        Room::parse(chat).unwrap()
    }

    fn round_trip(format: Format, chat: &str, sender: &str, text: &str) -> StoredMessage {
        let room = room(chat);
        let member = unstamped(format, &room, NewMessage { chat, text, sender }).stamp(42);
        match Reader::new(&room).decode(member) {
            Decoded::Exact(message) => message,
            other => panic!("{format:?} {chat} {sender} {text:?}: {other:?}"),
        }
    }

    #[test]
    fn both_formats_keep_chat_sender_text_and_time_exactly() {
        for format in [Format::Compact, Format::Json] {
            for (chat, sender) in [
                ("alice:bob", "alice"),
                ("alice:bob", "bob"),
                ("bob:alice", "alice"),
                ("bob:alice", "bob"),
                ("same:same", "same"),
                ("Ω:z", "z"),
            ] {
                for text in ["", "hello", "\"quoted\" \\ {}", "日本語 🎉", "\0\u{1}"] {
                    let message = round_trip(format, chat, sender, text);
                    assert_eq!(message.chat, chat, "{format:?}");
                    assert_eq!(message.sender, sender, "{format:?}");
                    assert_eq!(message.text, text, "{format:?}");
                    assert_eq!(message.send_time, 42, "{format:?}");
                }
            }
        }
    }

    #[test]
    fn a_compact_member_is_the_text_and_ten_bytes() {
        let room = room("alice:bob");
        let message = NewMessage {
            chat: "bob:alice",
            text: "sixteen bytes!!!",
            sender: "bob",
        };
        let member = unstamped(Format::Compact, &room, message).stamp(0x0102_0304_0506_0708);
        assert_eq!(member.len(), 10 + 16);
        assert_eq!(&member[..10], b"\x01\x01\x02\x03\x04\x05\x06\x07\x08\x03");
        assert_eq!(&member[10..], b"sixteen bytes!!!");
    }

    #[test]
    fn json_members_are_what_earlier_versions_wrote() {
        let room = room("alice:bob");
        let message = NewMessage {
            chat: "alice:bob",
            text: "hi",
            sender: "alice",
        };
        let member = unstamped(Format::Json, &room, message).stamp(1764383057123456);
        assert_eq!(
            &member[..],
            br#"{"chat":"alice:bob","text":"hi","sender":"alice","send_time":1764383057123456}"#
        );
    }

    #[test]
    fn compact_text_is_shared_with_the_member_buffer() {
        let room = room("a:b");
        let text = "a text long enough not to be inlined by FastStr";
        let message = NewMessage {
            chat: "a:b",
            text,
            sender: "a",
        };
        let member = unstamped(Format::Compact, &room, message).stamp(1);
        let Decoded::Exact(decoded) = Reader::new(&room).decode(member.clone()) else {
            panic!("not exact");
        };
        assert_eq!(decoded.text.as_ptr(), member[10..].as_ptr());
    }

    #[test]
    fn members_that_are_not_messages_are_unreadable() {
        let reader = Reader::new(&room("a:b"));
        for member in [
            &b""[..],
            b"\x01",
            b"\x01\0\0\0\0\0\0\0\x01",      // no flags byte
            b"\x01\0\0\0\0\0\0\0\x01\x04x", // unknown flag
            b"\x02\0\0\0\0\0\0\0\x01\x00x", // unknown format
            b"not a message",
            b"{\"chat\":\"a:b\"}",
        ] {
            assert_eq!(
                reader.decode(Bytes::copy_from_slice(member)),
                Decoded::Unreadable,
                "{member:?}"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_read_lossily_in_both_formats() {
        let reader = Reader::new(&room("a:b"));
        let compact = Bytes::from_static(b"\x01\0\0\0\0\0\0\0\x07\x01ok\xff");
        let Decoded::Lossy(message) = reader.decode(compact) else {
            panic!("compact not lossy");
        };
        assert_eq!(
            (message.text.as_str(), message.sender.as_str()),
            ("ok\u{fffd}", "b")
        );
        let json = Bytes::from_static(
            b"{\"chat\":\"a:b\",\"text\":\"ok\xff\",\"sender\":\"a\",\"send_time\":7}",
        );
        let Decoded::Lossy(message) = reader.decode(json) else {
            panic!("json not lossy");
        };
        assert_eq!(message.text, "ok\u{fffd}");
    }
}
