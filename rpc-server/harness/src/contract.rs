//! The API contract, one function per property, each given the address of a
//! server that stores in Redis: `tests/it/thrift_api.rs` runs them on a
//! single Redis, `tests/redis_topologies.rs` on a Redis Cluster and behind
//! Sentinels. The server
//! must run with `--max-text-bytes 1000` (`MAX_TEXT_BYTES=1000`) and a key
//! space of its own.
use std::net::SocketAddr;
use std::sync::Arc;

use im_idl::rpc::Message;

use crate::{ALL_FRAMINGS, Client, Framing, texts};

/// The longest text the contract's server takes.
pub const MAX_TEXT_BYTES: usize = 1000;

pub async fn round_trip_in_every_framing(addr: SocketAddr) {
    for framing in ALL_FRAMINGS {
        let client = Client::new(addr, framing);
        let chat = format!("alice:{framing:?}");
        let sent = client.send_text(&chat, "alice", "hello").await;
        assert_eq!(
            (sent.code, sent.msg.as_str()),
            (0, "success"),
            "{framing:?}"
        );

        let page = client.pull_page(&chat, 0, 0, false).await;
        assert_eq!((page.code, page.msg.as_str()), (0, "success"));
        let messages = page.messages.unwrap();
        assert_eq!(messages.len(), 1, "{framing:?}");
        assert_eq!(messages[0].chat.as_deref(), Some(chat.as_str()));
        assert_eq!(messages[0].sender.as_deref(), Some("alice"));
        assert_eq!(messages[0].text.as_deref(), Some("hello"));
        let send_time = messages[0].send_time.unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        assert!(
            (now - send_time).abs() < 60_000_000,
            "send_time {send_time} is not microseconds near {now}"
        );
        assert_eq!((page.has_more, page.next_cursor), (Some(false), Some(0)));
    }
}

pub async fn room_is_the_same_both_ways_and_default_limit_is_ten(addr: SocketAddr) {
    let client = Client::new(addr, Framing::Unframed);
    for i in 0..12 {
        let (chat, sender) = if i % 2 == 0 {
            ("a:b", "a")
        } else {
            ("b:a", "b")
        };
        assert_eq!(
            client.send_text(chat, sender, &format!("m{i}")).await.code,
            0
        );
    }
    let page = client.pull_page("b:a", 0, 0, false).await;
    let messages = page.messages.unwrap();
    assert_eq!(
        texts(&messages),
        (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    assert_eq!(page.has_more, Some(true));
    // Chat is returned as each sender wrote it.
    assert_eq!(messages[1].chat.as_deref(), Some("b:a"));
    assert_eq!(
        page.next_cursor,
        Some(
            client
                .pull_page("a:b", 0, 12, false)
                .await
                .messages
                .unwrap()[10]
                .send_time
                .unwrap()
        )
    );

    let newest = client.pull_page("a:b", 0, 3, true).await;
    assert_eq!(texts(&newest.messages.unwrap()), ["m11", "m10", "m9"]);
    // Limits above the maximum (100) are capped, not refused.
    let capped = client.pull_page("a:b", 0, 5000, false).await;
    assert_eq!((capped.code, capped.messages.unwrap().len()), (0, 12));
}

pub async fn pagination_is_exact_in_both_directions_under_concurrent_senders(addr: SocketAddr) {
    const SENDERS: usize = 6;
    const EACH: usize = 40;

    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            tokio::spawn(async move {
                // Alternate framings so all three write concurrently.
                let client = Client::new(addr, ALL_FRAMINGS[sender % 3]);
                let (chat, who) = if sender % 2 == 0 {
                    ("x:y", "x")
                } else {
                    ("y:x", "y")
                };
                for i in 0..EACH {
                    let response = client.send_text(chat, who, &format!("{sender}-{i}")).await;
                    assert_eq!(response.code, 0, "{}", response.msg);
                }
            })
        })
        .collect();

    // Page through while the senders run: order must be strict, no repeats.
    let reader = Client::new(addr, Framing::Unframed);
    let mut passes = 0;
    while !senders.iter().all(|task| task.is_finished()) {
        let forward = reader.pull_all("x:y", 0, 7, false).await;
        assert_strictly_ordered(&forward, false);
        let backward = reader.pull_all("x:y", 0, 7, true).await;
        assert_strictly_ordered(&backward, true);
        passes += 1;
    }
    for task in senders {
        task.await.unwrap();
    }
    assert!(passes > 0);

    let mut expected: Vec<String> = (0..SENDERS)
        .flat_map(|s| (0..EACH).map(move |i| format!("{s}-{i}")))
        .collect();
    expected.sort();
    for (limit, reverse) in [(1, false), (7, false), (100, false), (3, true), (100, true)] {
        let all = reader.pull_all("y:x", 0, limit, reverse).await;
        assert_strictly_ordered(&all, reverse);
        let mut got = texts(&all);
        // Each sender's messages appear in the order it sent them.
        for sender in 0..SENDERS {
            let prefix = format!("{sender}-");
            let mine: Vec<usize> = got
                .iter()
                .filter_map(|text| text.strip_prefix(&prefix))
                .map(|i| i.parse().unwrap())
                .collect();
            let mut in_order = mine.clone();
            in_order.sort_unstable();
            if reverse {
                in_order.reverse();
            }
            assert_eq!(
                mine, in_order,
                "sender {sender}, limit {limit}, reverse {reverse}"
            );
        }
        got.sort();
        assert_eq!(
            got, expected,
            "limit {limit}, reverse {reverse}: exact set, no gaps or duplicates"
        );
    }

    // A cursor in the middle is inclusive in both directions.
    let all = reader.pull_all("x:y", 0, 100, false).await;
    let middle = all[100].send_time.unwrap();
    let forward = reader
        .pull_page("x:y", middle, 2, false)
        .await
        .messages
        .unwrap();
    assert_eq!(forward[0].send_time, Some(middle));
    let backward = reader
        .pull_page("x:y", middle, 2, true)
        .await
        .messages
        .unwrap();
    assert_eq!(backward[0].send_time, Some(middle));
    assert_eq!(backward[1].send_time, all[99].send_time);
}

pub async fn identical_texts_sent_at_once_are_all_kept(addr: SocketAddr) {
    let client = Arc::new(Client::new(addr, Framing::Unframed));
    let sends = (0..50).map(|_| {
        let client = client.clone();
        async move { client.send_text("twin:twin2", "twin", "same").await.code }
    });
    assert!(
        futures::future::join_all(sends)
            .await
            .iter()
            .all(|code| *code == 0)
    );
    let all = client.pull_all("twin:twin2", 0, 100, false).await;
    assert_eq!(all.len(), 50);
    assert!(texts(&all).iter().all(|text| text == "same"));
}

pub async fn invalid_input_gets_400_naming_the_field_and_the_server_keeps_serving(
    addr: SocketAddr,
) {
    for framing in ALL_FRAMINGS {
        let client = Client::new(addr, framing);
        let long_member = "m".repeat(129);
        let bad_sends = [
            ("", "a", "x", "invalid chat"),
            ("ab", "a", "x", "invalid chat"),
            ("a:b:c", "a", "x", "invalid chat"),
            (":b", "b", "x", "invalid chat"),
            ("a:", "a", "x", "invalid chat"),
            (&format!("a:{long_member}"), "a", "x", "invalid chat"),
            ("a:b", "c", "x", "invalid sender"),
            ("a:b", "", "x", "invalid sender"),
            ("a:b", "a", &"x".repeat(MAX_TEXT_BYTES + 1), "invalid text"),
        ];
        for (chat, sender, text, expected) in bad_sends {
            let response = client.send_text(chat, sender, text).await;
            assert_eq!(response.code, 400, "{chat:?}/{sender:?}: {}", response.msg);
            assert!(
                response.msg.starts_with(expected),
                "{chat:?}/{sender:?}: {}",
                response.msg
            );
        }
        let bad_pulls = [
            ("nocolon", 0, 10, "invalid chat"),
            ("a:b", -1, 10, "invalid cursor"),
            ("a:b", 0, -1, "invalid limit"),
        ];
        for (chat, cursor, limit, expected) in bad_pulls {
            let response = client.pull_page(chat, cursor, limit, false).await;
            assert_eq!(response.code, 400, "{}", response.msg);
            assert!(response.msg.starts_with(expected), "{}", response.msg);
        }
        // Text exactly at the limit and empty text are fine.
        assert_eq!(
            client
                .send_text("a:b", "a", &"x".repeat(MAX_TEXT_BYTES))
                .await
                .code,
            0
        );
        assert_eq!(client.send_text("a:b", "b", "").await.code, 0);
    }
    let client = Client::new(addr, Framing::Unframed);
    assert_eq!(client.pull_all("a:b", 0, 10, false).await.len(), 6);
}

pub async fn unicode_text_is_kept_byte_for_byte(addr: SocketAddr) {
    let client = Client::new(addr, Framing::Framed);
    let text = "héllo 世界 🦀 \"quoted\" \\ back\nslash\t\u{0}nul \u{202e}rtl";
    assert_eq!(
        client.send_text("用户:ユーザー", "用户", text).await.code,
        0
    );
    let page = client
        .pull_page("ユーザー:用户", 0, 1, false)
        .await
        .messages
        .unwrap();
    assert_eq!(page[0].text.as_deref(), Some(text));
    assert_eq!(page[0].sender.as_deref(), Some("用户"));
}

pub fn assert_strictly_ordered(messages: &[Message], newest_first: bool) {
    for pair in messages.windows(2) {
        let (a, b) = (pair[0].send_time.unwrap(), pair[1].send_time.unwrap());
        if newest_first {
            assert!(a > b, "not strictly newest first: {a} then {b}");
        } else {
            assert!(a < b, "not strictly oldest first: {a} then {b}");
        }
    }
}
