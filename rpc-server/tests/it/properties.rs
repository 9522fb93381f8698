//! Properties of validation (`room`) and of the handler over arbitrary
//! input: nothing panics, every refusal names the field to fix, and a
//! message that was acknowledged can be read back.
//!
//! Cases: proptest's default (256 per property), `PROPTEST_CASES` for more.
use std::sync::Arc;

use im_idl::rpc::{ImService, Message, PullRequest, PullResponse, SendRequest, SendResponse};
use pilota::FastStr;
use proptest::prelude::*;
use rpc_server::error::Error;
use rpc_server::handler::{Handler, Limits};
use rpc_server::room::{self, DEFAULT_PAGE_SIZE, MAX_MEMBER_BYTES, PageQuery, Room};
use rpc_server::store::MemoryStore;

const MAX_TEXT: usize = 64;
const MAX_PAGE: usize = 3;

/// The field an error names, and its message; fails on any other error.
fn invalid(err: Error) -> (&'static str, String) {
    let message = err.to_string();
    match err {
        Error::InvalidArgument { field, .. } => (field, message),
        other => panic!("expected an invalid argument, got {other:?}"),
    }
}

/// What a valid chat is, written independently of `Room::parse`.
fn model_members(chat: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = chat.split(':').collect();
    match parts[..] {
        [a, b] if !a.is_empty() && !b.is_empty() => {
            (a.len() <= MAX_MEMBER_BYTES && b.len() <= MAX_MEMBER_BYTES).then_some((a, b))
        }
        _ => None,
    }
}

/// Member names: tiny alphabets that collide often, any characters
/// (colons included), and lengths around the limit in one- and
/// multi-byte characters.
fn arb_member() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab]{0,3}",
        "\\PC{0,12}",
        "[a-z]{126,130}",
        "[é€李]{40,66}",
        any::<String>(),
    ]
}

fn arb_chat() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (arb_member(), arb_member()).prop_map(|(a, b)| format!("{a}:{b}")),
        1 => "[ab:]{0,6}",
        1 => any::<String>(),
        1 => "\\PC{0,600}",
    ]
}

/// A chat and a sender: one of its members, or anything.
fn arb_chat_and_sender() -> impl Strategy<Value = (String, String)> {
    (arb_chat(), 0..3usize, arb_member()).prop_map(|(chat, pick, other)| {
        let sender = match (pick, chat.split_once(':')) {
            (0, Some((first, _))) => first.to_owned(),
            (1, Some((_, second))) => second.rsplit(':').next().unwrap_or("").to_owned(),
            _ => other,
        };
        (chat, sender)
    })
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,20}", "x{60,70}", "[é李]{20,24}", any::<String>()]
}

fn handler() -> Handler<MemoryStore> {
    Handler::new(
        Arc::new(MemoryStore::new()),
        Limits {
            max_text_bytes: MAX_TEXT,
            max_page_size: MAX_PAGE,
        },
    )
}

/// A wire string of any bytes, as pilota hands them over: it does not
/// check UTF-8.
fn wire(bytes: &[u8]) -> FastStr {
    // SAFETY: the handler reads wire strings only through `as_bytes` and
    // checks them before anything uses them as `str`; the test never
    // formats them.
    unsafe { FastStr::from_bytes_unchecked(bytes::Bytes::copy_from_slice(bytes)) }
}

fn send(handler: &Handler<MemoryStore>, chat: &[u8], sender: &[u8], text: &[u8]) -> SendResponse {
    let request = SendRequest {
        message: Message {
            chat: Some(wire(chat)),
            text: Some(wire(text)),
            sender: Some(wire(sender)),
            send_time: None,
        },
    };
    futures::executor::block_on(handler.send(request)).expect("Send answers, never fails")
}

fn pull(
    handler: &Handler<MemoryStore>,
    chat: &[u8],
    cursor: i64,
    limit: i32,
    reverse: Option<bool>,
) -> PullResponse {
    let request = PullRequest {
        chat: wire(chat),
        cursor,
        limit,
        reverse,
    };
    futures::executor::block_on(handler.pull(request)).expect("Pull answers, never fails")
}

/// The field a Send must be refused for, in the order the handler checks.
fn expected_send_refusal(chat: &[u8], sender: &[u8], text: &[u8]) -> Option<&'static str> {
    let Ok(chat) = std::str::from_utf8(chat) else {
        return Some("chat");
    };
    let Ok(sender) = std::str::from_utf8(sender) else {
        return Some("sender");
    };
    if std::str::from_utf8(text).is_err() {
        return Some("text");
    }
    let Some((first, second)) = model_members(chat) else {
        return Some("chat");
    };
    if sender != first && sender != second {
        return Some("sender");
    }
    (text.len() > MAX_TEXT).then_some("text")
}

fn refused_field(code: i32, msg: &str) -> Option<&str> {
    if code == 0 {
        assert_eq!(msg, "success");
        return None;
    }
    assert_eq!(code, 400, "only client errors are possible here: {msg}");
    let field = msg
        .strip_prefix("invalid ")
        .and_then(|rest| rest.split_once(": "))
        .map(|(field, _)| field);
    assert!(field.is_some(), "not \"invalid <field>: ...\": {msg}");
    field
}

proptest! {
    #[test]
    fn parse_accepts_exactly_the_valid_chats(chat in arb_chat()) {
        match (Room::parse(&chat), model_members(&chat)) {
            (Ok(room), Some((a, b))) => {
                let (low, high) = if a <= b { (a, b) } else { (b, a) };
                prop_assert_eq!(room.members(), (low, high));
                prop_assert_eq!(room.key(), format!("{low}:{high}"));
                prop_assert!(room.has_member(a) && room.has_member(b));
            }
            (Err(err), None) => {
                let (field, message) = invalid(err);
                prop_assert_eq!(field, "chat");
                prop_assert!(message.starts_with("invalid chat: "), "{}", message);
                // However long the chat, it is not echoed back whole (64
                // characters at most, each escaped to 10 bytes at most).
                prop_assert!(message.len() < 1000, "{} bytes", message.len());
            }
            (parsed, model) => prop_assert!(false, "{:?} parsed as {:?}, expected {:?}", chat, parsed, model),
        }
    }

    #[test]
    fn a_room_is_the_same_both_ways(a in arb_member(), b in arb_member()) {
        let forward = Room::parse(&format!("{a}:{b}"));
        let backward = Room::parse(&format!("{b}:{a}"));
        // Both valid and equal, or both refused (each quoting its own
        // spelling).
        prop_assert_eq!(forward.is_ok(), backward.is_ok());
        if let (Ok(room), Ok(other)) = (forward, backward) {
            prop_assert_eq!(&room, &other);
            // The canonical key is itself a chat naming the same room.
            prop_assert_eq!(Room::parse(room.key()), Ok(room));
        }
    }

    #[test]
    fn only_members_may_send((chat, sender) in arb_chat_and_sender()) {
        if let Ok(room) = Room::parse(&chat) {
            let (first, second) = model_members(&chat).unwrap();
            match room.check_sender(&sender) {
                Ok(()) => prop_assert!(sender == first || sender == second),
                Err(err) => {
                    prop_assert!(sender != first && sender != second);
                    let (field, _) = invalid(err);
                    prop_assert_eq!(field, "sender");
                }
            }
        }
    }

    #[test]
    fn text_is_limited_in_bytes(text in arb_text(), max in 0..100usize) {
        match room::check_text(&text, max) {
            Ok(()) => prop_assert!(text.len() <= max),
            Err(err) => {
                prop_assert!(text.len() > max);
                let (field, message) = invalid(err);
                prop_assert_eq!(field, "text");
                prop_assert!(message.contains(&format!("{} bytes", text.len())), "{}", message);
            }
        }
    }

    #[test]
    fn page_queries_are_bounded_or_refused(
        cursor in prop_oneof![any::<i64>(), -2..3i64],
        limit in prop_oneof![any::<i32>(), -2..200i32],
        reverse in any::<bool>(),
        max_page in 1..=10_000usize,
    ) {
        match PageQuery::new(cursor, limit, reverse, max_page) {
            Ok(query) => {
                prop_assert!(cursor >= 0 && limit >= 0);
                let asked = if limit == 0 { DEFAULT_PAGE_SIZE } else { limit as usize };
                prop_assert_eq!(query.limit, asked.min(max_page));
                prop_assert!(query.limit >= 1);
                prop_assert_eq!(query.reverse, reverse);
                prop_assert_eq!(query.from, (!(reverse && cursor == 0)).then_some(cursor));
            }
            Err(err) => {
                let (field, _) = invalid(err);
                let expected = if cursor < 0 { "cursor" } else { "limit" };
                prop_assert_eq!(field, expected);
                prop_assert!(cursor < 0 || limit < 0);
            }
        }
    }

    #[test]
    fn send_answers_0_or_names_the_field_and_what_it_stores_is_read_back(
        (chat, sender) in arb_chat_and_sender(),
        text in arb_text(),
        reversed_spelling in any::<bool>(),
    ) {
        let handler = handler();
        let response = send(&handler, chat.as_bytes(), sender.as_bytes(), text.as_bytes());
        let refused = refused_field(response.code, &response.msg);
        prop_assert_eq!(
            refused,
            expected_send_refusal(chat.as_bytes(), sender.as_bytes(), text.as_bytes()),
            "{}", response.msg
        );
        if refused.is_none() {
            // Read it back through either spelling of the room.
            let (a, b) = model_members(&chat).unwrap();
            let room = if reversed_spelling { format!("{b}:{a}") } else { chat.clone() };
            let page = pull(&handler, room.as_bytes(), 0, 0, Some(true));
            prop_assert_eq!(page.code, 0, "{}", page.msg);
            let messages = page.messages.unwrap();
            prop_assert_eq!(messages.len(), 1);
            let stored = &messages[0];
            prop_assert_eq!(stored.chat.as_deref(), Some(chat.as_str()));
            prop_assert_eq!(stored.sender.as_deref(), Some(sender.as_str()));
            prop_assert_eq!(stored.text.as_deref(), Some(text.as_str()));
            let send_time = stored.send_time.unwrap();
            prop_assert!(send_time > 0);
            prop_assert_eq!((page.has_more, page.next_cursor), (Some(false), Some(0)));
            // And forward from its own send_time.
            let page = pull(&handler, room.as_bytes(), send_time, 1, None);
            prop_assert_eq!(page.messages.unwrap().len(), 1);
        }
    }

    #[test]
    fn wire_strings_that_are_not_utf8_are_refused_by_name(
        chat in proptest::collection::vec(any::<u8>(), 0..40),
        sender in proptest::collection::vec(any::<u8>(), 0..10),
        text in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let handler = handler();
        let response = send(&handler, &chat, &sender, &text);
        let refused = refused_field(response.code, &response.msg);
        prop_assert_eq!(refused, expected_send_refusal(&chat, &sender, &text), "{}", response.msg);
        let page = pull(&handler, &chat, 0, 0, None);
        let expected = match std::str::from_utf8(&chat) {
            Ok(chat) if model_members(chat).is_some() => None,
            _ => Some("chat"),
        };
        prop_assert_eq!(refused_field(page.code, &page.msg), expected, "{}", page.msg);
    }

    #[test]
    fn pull_answers_0_or_names_the_field(
        chat in arb_chat(),
        cursor in prop_oneof![any::<i64>(), -1..2i64],
        limit in prop_oneof![any::<i32>(), -1..5i32],
        reverse in proptest::option::of(any::<bool>()),
    ) {
        let handler = handler();
        let page = pull(&handler, chat.as_bytes(), cursor, limit, reverse);
        let expected = if model_members(&chat).is_none() {
            Some("chat")
        } else if cursor < 0 {
            Some("cursor")
        } else if limit < 0 {
            Some("limit")
        } else {
            None
        };
        prop_assert_eq!(refused_field(page.code, &page.msg), expected, "{}", page.msg);
        // Every field is set, whatever the outcome.
        prop_assert_eq!(page.messages, Some(Vec::new()));
        prop_assert_eq!((page.has_more, page.next_cursor), (Some(false), Some(0)));
    }

    /// Many sends into a few rooms, some refused: each room then holds
    /// exactly the acknowledged ones, in order, page by page.
    #[test]
    fn rooms_hold_exactly_what_was_acknowledged(
        sends in proptest::collection::vec((0..3usize, 0..3usize, arb_text()), 1..25),
    ) {
        let rooms = [("a", "b"), ("b", "c"), ("李", "é")];
        let handler = handler();
        let mut acknowledged: Vec<Vec<String>> = vec![Vec::new(); rooms.len()];
        for (index, (room, who, text)) in sends.iter().enumerate() {
            let (a, b) = rooms[*room];
            let chat = if index % 2 == 0 { format!("{a}:{b}") } else { format!("{b}:{a}") };
            let sender = [a, b, "mallory"][*who];
            let response = send(&handler, chat.as_bytes(), sender.as_bytes(), text.as_bytes());
            if response.code == 0 {
                acknowledged[*room].push(text.clone());
            }
        }
        for (room, expected) in rooms.iter().zip(&acknowledged) {
            let chat = format!("{}:{}", room.0, room.1);
            let mut seen = Vec::new();
            let mut cursor = 0;
            for _ in 0..=sends.len() {
                let page = pull(&handler, chat.as_bytes(), cursor, 0, Some(false));
                prop_assert_eq!(page.code, 0);
                let messages = page.messages.unwrap();
                prop_assert!(messages.len() <= MAX_PAGE);
                seen.extend(messages.into_iter().map(|m| m.text.unwrap().to_string()));
                if page.has_more != Some(true) {
                    break;
                }
                cursor = page.next_cursor.unwrap();
            }
            prop_assert_eq!(&seen, expected);
        }
    }
}
