//! The API contract over the wire: the server, run in-process, on a real
//! Redis, called by Volo clients in each framing; and the binary itself,
//! configured by its environment and stopped by a signal.
mod common;

use std::time::Duration;

use common::{ALL_FRAMINGS, Client, Framing, InProcessServer, Redis, RpcServer, texts};

async fn redis_server(redis: &Redis) -> InProcessServer {
    let server = InProcessServer::start(&["--redis-url", &redis.url()]);
    server.wait_storage_ready().await;
    server
}

#[tokio::test]
async fn round_trip_in_every_framing() {
    let redis = Redis::start();
    let server = redis_server(&redis).await;
    for framing in ALL_FRAMINGS {
        let client = Client::new(server.addr(), framing);
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

#[tokio::test]
async fn room_is_the_same_both_ways_and_default_limit_is_ten() {
    let redis = Redis::start();
    let server = redis_server(&redis).await;
    let client = Client::new(server.addr(), Framing::Unframed);
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

#[tokio::test]
async fn pagination_is_exact_in_both_directions_under_concurrent_senders() {
    let redis = Redis::start();
    let server = redis_server(&redis).await;
    let addr = server.addr();
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

fn assert_strictly_ordered(messages: &[im_idl::rpc::Message], newest_first: bool) {
    for pair in messages.windows(2) {
        let (a, b) = (pair[0].send_time.unwrap(), pair[1].send_time.unwrap());
        if newest_first {
            assert!(a > b, "not strictly newest first: {a} then {b}");
        } else {
            assert!(a < b, "not strictly oldest first: {a} then {b}");
        }
    }
}

#[tokio::test]
async fn identical_texts_sent_at_once_are_all_kept() {
    let redis = Redis::start();
    let server = redis_server(&redis).await;
    let client = std::sync::Arc::new(Client::new(server.addr(), Framing::Unframed));
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
    assert_eq!(redis.cli(&["ZCARD", "im:chat:twin:twin2"]), "50");
}

#[tokio::test]
async fn invalid_input_gets_400_naming_the_field_and_the_server_keeps_serving() {
    let redis = Redis::start();
    let server = InProcessServer::start(&["--redis-url", &redis.url(), "--max-text-bytes", "1000"]);
    server.wait_storage_ready().await;
    for framing in ALL_FRAMINGS {
        let client = Client::new(server.addr(), framing);
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
            ("a:b", "a", &"x".repeat(1001), "invalid text"),
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
            client.send_text("a:b", "a", &"x".repeat(1000)).await.code,
            0
        );
        assert_eq!(client.send_text("a:b", "b", "").await.code, 0);
    }
    let client = Client::new(server.addr(), Framing::Unframed);
    assert_eq!(client.pull_all("a:b", 0, 10, false).await.len(), 6);
}

#[tokio::test]
async fn unicode_text_is_kept_byte_for_byte() {
    let redis = Redis::start();
    let server = redis_server(&redis).await;
    let client = Client::new(server.addr(), Framing::Framed);
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

#[tokio::test]
async fn restarting_the_server_keeps_the_data() {
    let redis = Redis::start();
    let server = redis_server(&redis).await;
    let client = Client::new(server.addr(), Framing::Unframed);
    for i in 0..5 {
        assert_eq!(
            client
                .send_text("p:q", "p", &format!("before-{i}"))
                .await
                .code,
            0
        );
    }
    drop(client);
    server.stop().expect("graceful stop");
    // Another server (on another port) on the same Redis.
    let server = redis_server(&redis).await;
    let client = Client::new(server.addr(), Framing::Unframed);
    assert_eq!(client.send_text("p:q", "q", "after").await.code, 0);
    let all = texts(&client.pull_all("p:q", 0, 2, false).await);
    assert_eq!(
        all,
        [
            "before-0", "before-1", "before-2", "before-3", "before-4", "after"
        ]
    );
}

#[tokio::test]
async fn memory_store_is_the_default_and_says_so() {
    let server = InProcessServer::start(&[]);
    let client = Client::new(server.addr(), Framing::TTHeader);
    assert_eq!(client.send_text("m:n", "m", "kept in memory").await.code, 0);
    assert_eq!(
        texts(&client.pull_all("m:n", 0, 10, false).await),
        ["kept in memory"]
    );
    assert!(
        server.log().contains("REDIS_URL is not set"),
        "{}",
        server.log()
    );
}

/// What the in-process tests cannot show: the binary reads its settings from
/// the environment, as deployments set them, and exits cleanly on SIGTERM.
#[tokio::test]
async fn the_binary_takes_its_environment_and_exits_cleanly_on_sigterm() {
    let redis = Redis::start();
    let mut server =
        RpcServer::start(&[("REDIS_URL", redis.url()), ("MAX_TEXT_BYTES", "10".into())]);
    server.wait_storage_ready().await;
    let client = Client::new(server.addr(), Framing::Unframed);
    assert_eq!(client.send_text("e:f", "e", "0123456789").await.code, 0);
    assert_eq!(client.send_text("e:f", "f", "0123456789A").await.code, 400);
    assert_eq!(redis.cli(&["ZCARD", "im:chat:e:f"]), "1");
    drop(client);
    assert!(server.terminate(), "graceful exit; log:\n{}", server.log());
    assert!(
        server.log().contains("rpc-server stopped"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn redis_late_or_restarted_gives_500_then_recovers() {
    // Redis is not there yet: the server starts anyway.
    let port = common::free_port();
    let server = InProcessServer::start(&["--redis-url", &format!("redis://127.0.0.1:{port}")]);
    let client = Client::new(server.addr(), Framing::Unframed);
    let down = client.send_text("r:s", "r", "lost").await;
    assert_eq!(down.code, 500);
    assert!(down.msg.starts_with("storage unavailable"), "{}", down.msg);
    let down = client.pull_page("r:s", 0, 10, false).await;
    assert_eq!(down.code, 500, "{}", down.msg);

    let mut redis = Redis::start_on(port);
    common::eventually(
        "the server to reach Redis",
        Duration::from_secs(15),
        || async { client.send_text("r:s", "r", "first").await.code == 0 },
    )
    .await;

    redis.stop();
    common::eventually(
        "the outage to be noticed",
        Duration::from_secs(10),
        || async { client.send_text("r:s", "r", "during outage").await.code == 500 },
    )
    .await;
    redis.restart(); // no persistence: the restarted Redis is empty
    common::eventually(
        "recovery after the Redis restart",
        Duration::from_secs(15),
        || async { client.send_text("r:s", "s", "after restart").await.code == 0 },
    )
    .await;
    let after = texts(&client.pull_all("r:s", 0, 10, false).await);
    assert_eq!(after.last().map(String::as_str), Some("after restart"));
    assert!(!after.contains(&"during outage".to_owned()));
}
