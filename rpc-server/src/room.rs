//! What a valid request is: chat rooms, senders, texts and page requests.
//!
//! Everything here is pure and synchronous, so the rules are unit-tested
//! without a server and both stores receive only validated input.
use crate::error::{Error, Result};

/// Longest member name, in bytes.
pub const MAX_MEMBER_BYTES: usize = 128;
/// Page size used when a client asks for `limit = 0`.
pub const DEFAULT_PAGE_SIZE: usize = 10;

/// A chat room `"<member1>:<member2>"`.
///
/// `"a:b"` and `"b:a"` name the same room, so the room is identified by
/// [`Room::key`], its members in byte order. Members are opaque and
/// case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    key: String,
    /// Byte offset of the second member in `key`.
    second: usize,
}

impl Room {
    pub fn parse(chat: &str) -> Result<Room> {
        let Some((first, second)) = chat.split_once(':') else {
            return Err(Error::invalid(
                "chat",
                format!(
                    "{} is not \"<member1>:<member2>\": it has no ':'",
                    quoted(chat)
                ),
            ));
        };
        if second.contains(':') {
            return Err(Error::invalid(
                "chat",
                format!(
                    "{} is not \"<member1>:<member2>\": it has more than one ':'",
                    quoted(chat)
                ),
            ));
        }
        for member in [first, second] {
            if member.is_empty() {
                return Err(Error::invalid(
                    "chat",
                    format!("{} has an empty member", quoted(chat)),
                ));
            }
            if member.len() > MAX_MEMBER_BYTES {
                return Err(Error::invalid(
                    "chat",
                    format!(
                        "a member of {} bytes exceeds the limit of {MAX_MEMBER_BYTES} bytes",
                        member.len()
                    ),
                ));
            }
        }
        let (low, high) = if first <= second {
            (first, second)
        } else {
            (second, first)
        };
        Ok(Room {
            key: format!("{low}:{high}"),
            second: low.len() + 1,
        })
    }

    /// The room's canonical name: both members in byte order.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn members(&self) -> (&str, &str) {
        (&self.key[..self.second - 1], &self.key[self.second..])
    }

    pub fn has_member(&self, name: &str) -> bool {
        let (low, high) = self.members();
        name == low || name == high
    }

    /// Checks that `sender` may write to this room.
    pub fn check_sender(&self, sender: &str) -> Result<()> {
        if self.has_member(sender) {
            Ok(())
        } else {
            let (low, high) = self.members();
            Err(Error::invalid(
                "sender",
                format!(
                    "{} is not a member of the chat (members: {low:?}, {high:?})",
                    quoted(sender)
                ),
            ))
        }
    }
}

/// Longest part of a client's string repeated in an error message.
const QUOTE_CHARS: usize = 64;

/// `value` in quotes for an error message, shortened when long: a client
/// that sends a megabyte of chat does not get it echoed back.
fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &value[..cut], value.len()),
    }
}

/// Checks a message text against the configured size limit.
pub fn check_text(text: &str, max_bytes: usize) -> Result<()> {
    if text.len() > max_bytes {
        return Err(Error::invalid(
            "text",
            format!(
                "{} bytes exceeds the limit of {max_bytes} bytes",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// A validated page request.
///
/// `from` is the inclusive `send_time` the page starts at; `None` means the
/// natural start of the direction: the oldest message going forward, the
/// newest going backward (`reverse` with `cursor = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub from: Option<i64>,
    pub limit: usize,
    pub reverse: bool,
}

impl PageQuery {
    /// Builds a query from the wire fields. `limit = 0` means the default page
    /// size; a larger limit than `max_page_size` is capped, not refused,
    /// because a client asking for "a lot" is served best by a full page.
    pub fn new(cursor: i64, limit: i32, reverse: bool, max_page_size: usize) -> Result<PageQuery> {
        if cursor < 0 {
            return Err(Error::invalid(
                "cursor",
                format!("must be a send_time >= 0, got {cursor}"),
            ));
        }
        let limit = usize::try_from(limit)
            .map_err(|_| Error::invalid("limit", format!("must be >= 0, got {limit}")))?;
        let limit = match limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n,
        }
        .min(max_page_size);
        let from = if reverse && cursor == 0 {
            None
        } else {
            Some(cursor)
        };
        Ok(PageQuery {
            from,
            limit,
            reverse,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(err: Error) -> (&'static str, String) {
        match err {
            Error::InvalidArgument { field, reason } => (field, reason),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn room_is_the_same_both_ways() {
        let ab = Room::parse("alice:bob").unwrap();
        let ba = Room::parse("bob:alice").unwrap();
        assert_eq!(ab, ba);
        assert_eq!(ab.key(), "alice:bob");
        assert_eq!(ab.members(), ("alice", "bob"));
    }

    #[test]
    fn members_are_case_sensitive_and_opaque() {
        let room = Room::parse("Bob:bob").unwrap();
        assert_eq!(room.key(), "Bob:bob");
        assert!(room.has_member("Bob") && room.has_member("bob"));
        assert!(!room.has_member("BOB"));
        let unicode = Room::parse("李:ölaf").unwrap();
        assert!(unicode.has_member("李"));
        assert!(Room::parse("same:same").unwrap().has_member("same"));
    }

    #[test]
    fn malformed_chats_are_rejected_with_field_name() {
        for chat in ["", "ab", "a:b:c", ":b", "a:", ":", "::"] {
            let (field, _) = reason(Room::parse(chat).unwrap_err());
            assert_eq!(field, "chat", "chat {chat:?}");
        }
        let (_, why) = reason(Room::parse("a:b:c").unwrap_err());
        assert!(why.contains("more than one ':'"), "{why}");
    }

    #[test]
    fn member_length_limit_is_inclusive() {
        let max = "m".repeat(MAX_MEMBER_BYTES);
        assert!(Room::parse(&format!("{max}:x")).is_ok());
        let long = "m".repeat(MAX_MEMBER_BYTES + 1);
        let (_, why) = reason(Room::parse(&format!("x:{long}")).unwrap_err());
        assert!(why.contains("129 bytes"), "{why}");
        // The limit counts bytes, not characters: 43 three-byte chars = 129 bytes.
        assert!(Room::parse(&format!("{}:x", "€".repeat(43))).is_err());
    }

    #[test]
    fn long_input_is_not_echoed_whole() {
        let chat = "é".repeat(10_000);
        let (_, why) = reason(Room::parse(&chat).unwrap_err());
        assert!(why.len() < 300, "{why}");
        assert!(why.contains("20000 bytes"), "{why}");
    }

    #[test]
    fn sender_must_be_a_member() {
        let room = Room::parse("a:b").unwrap();
        assert!(room.check_sender("a").is_ok());
        assert!(room.check_sender("b").is_ok());
        for outsider in ["c", "", "a:b", "A"] {
            let (field, _) = reason(room.check_sender(outsider).unwrap_err());
            assert_eq!(field, "sender");
        }
    }

    #[test]
    fn text_limit_counts_bytes() {
        assert!(check_text("", 4).is_ok());
        assert!(check_text("abcd", 4).is_ok());
        let (field, why) = reason(check_text("abcde", 4).unwrap_err());
        assert_eq!(field, "text");
        assert!(why.contains("5 bytes") && why.contains("4 bytes"), "{why}");
        assert!(check_text("éé", 3).is_err());
    }

    #[test]
    fn page_limits_default_and_cap() {
        assert_eq!(PageQuery::new(0, 0, false, 100).unwrap().limit, 10);
        assert_eq!(PageQuery::new(0, 1, false, 100).unwrap().limit, 1);
        assert_eq!(PageQuery::new(0, 100, false, 100).unwrap().limit, 100);
        assert_eq!(PageQuery::new(0, 1000, false, 100).unwrap().limit, 100);
        assert_eq!(PageQuery::new(0, i32::MAX, false, 50).unwrap().limit, 50);
        // A cap below the default page size wins over the default.
        assert_eq!(PageQuery::new(0, 0, false, 5).unwrap().limit, 5);
    }

    #[test]
    fn cursor_zero_means_newest_only_in_reverse() {
        assert_eq!(PageQuery::new(0, 0, true, 100).unwrap().from, None);
        assert_eq!(PageQuery::new(0, 0, false, 100).unwrap().from, Some(0));
        assert_eq!(PageQuery::new(42, 0, true, 100).unwrap().from, Some(42));
        assert_eq!(PageQuery::new(42, 0, false, 100).unwrap().from, Some(42));
    }

    #[test]
    fn negative_cursor_or_limit_is_rejected() {
        let (field, why) = reason(PageQuery::new(-1, 10, false, 100).unwrap_err());
        assert_eq!(field, "cursor");
        assert!(why.contains("-1"));
        let (field, why) = reason(PageQuery::new(0, -5, false, 100).unwrap_err());
        assert_eq!(field, "limit");
        assert!(why.contains("-5"));
    }
}
