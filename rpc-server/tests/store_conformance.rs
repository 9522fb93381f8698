//! One conformance suite, run against every `MessageStore`: the in-memory
//! store and the Redis store on a real `redis-server`, on a real Redis
//! Cluster (three primaries, three replicas) and behind real Sentinels.
mod common;

use common::redis_topologies;

use std::sync::Arc;
use std::time::Duration;

use rpc_server::room::{PageQuery, Room};
use rpc_server::store::redis::RedisOptions;
use rpc_server::store::{
    Format, MemoryStore, MessageStore, NewMessage, Page, RedisStore, Retention,
};

/// Two handles on one store, standing for two rpc-server replicas, and
/// whatever must live as long as they do.
struct Fixture<S> {
    first: Arc<S>,
    second: Arc<S>,
    _redis: Option<common::Redis>,
    /// A shared topology (cluster, sentinel) kept up while the test runs.
    _topology: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

async fn memory() -> Fixture<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    Fixture {
        first: store.clone(),
        second: store,
        _redis: None,
        _topology: None,
    }
}

async fn redis() -> Fixture<RedisStore> {
    let redis = common::Redis::start();
    let options = RedisOptions {
        url: redis.url(),
        pool_size: 2,
        key_prefix: "test:".into(),
        command_timeout: Duration::from_secs(2),
        format: Format::Compact,
        retention: Retention::default(),
    };
    let connect = || async {
        let store = RedisStore::connect(&options).unwrap();
        store.wait_connected().await.unwrap();
        Arc::new(store)
    };
    Fixture {
        first: connect().await,
        second: connect().await,
        _redis: Some(redis),
        _topology: None,
    }
}

/// Two stores on a topology shared by the tests running at the same time,
/// under a key prefix of their own.
async fn shared_topology(
    url: String,
    topology: Arc<dyn std::any::Any + Send + Sync>,
) -> Fixture<RedisStore> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let test = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let options = RedisOptions {
        url,
        pool_size: 2,
        key_prefix: format!("test{}-{test}:", std::process::id()),
        command_timeout: Duration::from_secs(2),
        format: Format::Compact,
        retention: Retention::default(),
    };
    let connect = || async {
        let store = RedisStore::connect(&options).unwrap();
        store.wait_connected().await.unwrap();
        Arc::new(store)
    };
    Fixture {
        first: connect().await,
        second: connect().await,
        _redis: None,
        _topology: Some(topology),
    }
}

async fn cluster() -> Fixture<RedisStore> {
    let cluster = redis_topologies::shared_cluster();
    shared_topology(cluster.url(), cluster).await
}

async fn sentinel() -> Fixture<RedisStore> {
    let sentinel = redis_topologies::shared_sentinel();
    shared_topology(sentinel.url(), sentinel).await
}

fn room(chat: &str) -> Room {
    Room::parse(chat).unwrap()
}

fn message<'a>(chat: &'a str, sender: &'a str, text: &'a str) -> NewMessage<'a> {
    NewMessage { chat, text, sender }
}

fn query(from: Option<i64>, limit: usize, reverse: bool) -> PageQuery {
    PageQuery {
        from,
        limit,
        reverse,
    }
}

fn texts(page: &Page) -> Vec<&str> {
    page.messages.iter().map(|m| m.text.as_str()).collect()
}

async fn page_all<S: MessageStore>(
    store: &S,
    room: &Room,
    limit: usize,
    reverse: bool,
) -> Vec<i64> {
    let mut from = None;
    let mut times = Vec::new();
    loop {
        let page = store
            .page(room, &query(from, limit, reverse))
            .await
            .unwrap();
        assert!(page.messages.len() <= limit);
        times.extend(page.messages.iter().map(|m| m.send_time));
        match page.next_cursor {
            Some(next) => from = Some(next),
            None => return times,
        }
    }
}

async fn send_times_are_increasing_microseconds<S: MessageStore>(f: Fixture<S>) {
    let room = room("a:b");
    let mut last = 0;
    for i in 0..50 {
        let time = f
            .first
            .append(&room, message("a:b", "a", &i.to_string()))
            .await
            .unwrap();
        assert!(time > last, "{time} after {last}");
        last = time;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!(
        (now - last).abs() < 60_000_000,
        "{last} is not microseconds near {now}"
    );
}

async fn concurrent_replicas_never_collide<S: MessageStore>(f: Fixture<S>) {
    let room = room("x:y");
    let sends = (0..200).map(|i| {
        let store = if i % 2 == 0 {
            f.first.clone()
        } else {
            f.second.clone()
        };
        let room = room.clone();
        async move {
            store
                .append(&room, message("x:y", "x", "same text"))
                .await
                .unwrap()
        }
    });
    let mut times = futures::future::join_all(sends).await;
    times.sort_unstable();
    times.dedup();
    assert_eq!(times.len(), 200, "every send got its own send_time");
    let stored = page_all(&*f.first, &room, 1000, false).await;
    assert_eq!(
        stored, times,
        "every acknowledged send is stored exactly once"
    );
}

async fn pages_are_exact_in_both_directions<S: MessageStore>(f: Fixture<S>) {
    let room = room("p:q");
    let mut times = Vec::new();
    for i in 0..23 {
        if i == 6 {
            // Leave a gap after m5 so that a cursor can fall between two messages.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        times.push(
            f.first
                .append(&room, message("p:q", "q", &format!("m{i}")))
                .await
                .unwrap(),
        );
    }
    for limit in [1, 4, 10, 23, 100] {
        assert_eq!(
            page_all(&*f.first, &room, limit, false).await,
            times,
            "forward, limit {limit}"
        );
        let mut reversed = times.clone();
        reversed.reverse();
        assert_eq!(
            page_all(&*f.second, &room, limit, true).await,
            reversed,
            "reverse, limit {limit}"
        );
    }

    // Cursors are inclusive; the next cursor is the first message not returned.
    let page = f
        .first
        .page(&room, &query(Some(times[5]), 3, false))
        .await
        .unwrap();
    assert_eq!(texts(&page), ["m5", "m6", "m7"]);
    assert_eq!(page.next_cursor, Some(times[8]));
    let page = f
        .first
        .page(&room, &query(Some(times[5]), 3, true))
        .await
        .unwrap();
    assert_eq!(texts(&page), ["m5", "m4", "m3"]);
    assert_eq!(page.next_cursor, Some(times[2]));
    // A cursor between two messages starts at the next one in the direction.
    assert!(times[6] > times[5] + 1);
    let page = f
        .first
        .page(&room, &query(Some(times[5] + 1), 1, false))
        .await
        .unwrap();
    assert_eq!(texts(&page), ["m6"]);
    let page = f
        .first
        .page(&room, &query(Some(times[5] + 1), 1, true))
        .await
        .unwrap();
    assert_eq!(texts(&page), ["m5"]);
    // No cursor in reverse means the newest; the last page has no next cursor.
    let page = f.first.page(&room, &query(None, 2, true)).await.unwrap();
    assert_eq!(texts(&page), ["m22", "m21"]);
    let page = f
        .first
        .page(&room, &query(Some(times[21]), 5, false))
        .await
        .unwrap();
    assert_eq!((texts(&page), page.next_cursor), (vec!["m21", "m22"], None));
    // Past either end: empty.
    let page = f
        .first
        .page(&room, &query(Some(times[22] + 1), 5, false))
        .await
        .unwrap();
    assert_eq!(page, Page::default());
    let page = f
        .first
        .page(&room, &query(Some(times[0] - 1), 5, true))
        .await
        .unwrap();
    assert_eq!(page, Page::default());
}

async fn rooms_are_unordered_pairs_and_isolated<S: MessageStore>(f: Fixture<S>) {
    f.first
        .append(&room("a:b"), message("a:b", "a", "one"))
        .await
        .unwrap();
    f.first
        .append(&room("b:a"), message("b:a", "b", "two"))
        .await
        .unwrap();
    f.first
        .append(&room("a:c"), message("a:c", "c", "elsewhere"))
        .await
        .unwrap();
    let page = f
        .second
        .page(&room("b:a"), &query(None, 10, false))
        .await
        .unwrap();
    assert_eq!(texts(&page), ["one", "two"]);
    assert_eq!(
        page.messages[1].chat, "b:a",
        "chat kept as the sender wrote it"
    );
    assert_eq!(page.messages[1].sender, "b");
    let empty = f
        .second
        .page(&room("nobody:here"), &query(None, 10, true))
        .await
        .unwrap();
    assert_eq!(empty, Page::default());
}

async fn texts_round_trip_byte_for_byte<S: MessageStore>(f: Fixture<S>) {
    let room = room("ü:😀");
    let big = "€".repeat(20_000);
    let samples = [
        "",
        "plain",
        "quotes \" and \\ and }",
        r#"{"chat":"evil","send_time":1}"#,
        "line\nbreak\ttab\u{0}nul",
        "emoji 🦀 and 中文",
        big.as_str(),
    ];
    for text in samples {
        f.first
            .append(&room, message("😀:ü", "😀", text))
            .await
            .unwrap();
    }
    let page = f
        .second
        .page(&room, &query(None, 100, false))
        .await
        .unwrap();
    assert_eq!(texts(&page), samples);
    assert!(
        page.messages
            .iter()
            .all(|m| m.chat == "😀:ü" && m.sender == "😀")
    );
}

macro_rules! conformance {
    ($store:ident) => {
        mod $store {
            #[tokio::test]
            async fn send_times_are_increasing_microseconds() {
                super::send_times_are_increasing_microseconds(super::$store().await).await
            }
            #[tokio::test]
            async fn concurrent_replicas_never_collide() {
                super::concurrent_replicas_never_collide(super::$store().await).await
            }
            #[tokio::test]
            async fn pages_are_exact_in_both_directions() {
                super::pages_are_exact_in_both_directions(super::$store().await).await
            }
            #[tokio::test]
            async fn rooms_are_unordered_pairs_and_isolated() {
                super::rooms_are_unordered_pairs_and_isolated(super::$store().await).await
            }
            #[tokio::test]
            async fn texts_round_trip_byte_for_byte() {
                super::texts_round_trip_byte_for_byte(super::$store().await).await
            }
        }
    };
}

conformance!(memory);
conformance!(redis);
conformance!(cluster);
conformance!(sentinel);

#[tokio::test]
async fn redis_layout_is_one_sorted_set_per_room_with_compact_members() {
    let f = redis().await;
    let time = f
        .first
        .append(&room("b:a"), message("b:a", "b", "hi"))
        .await
        .unwrap();
    let redis = f._redis.as_ref().unwrap();
    assert_eq!(redis.cli(&["TYPE", "test:a:b"]), "zset");
    // Tag 1, the time big-endian, flags "sender second, chat reversed", text.
    let mut expected = vec![1u8];
    expected.extend(time.to_be_bytes());
    expected.push(0b11);
    expected.extend(b"hi");
    let script = "return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')";
    let hex = "local m = redis.call('ZRANGE', KEYS[1], 0, 0)[1] \
               return (m:gsub('.', function(c) return string.format('%02x', c:byte()) end))";
    assert_eq!(
        redis.cli(&["EVAL", hex, "1", "test:a:b"]),
        expected
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    assert_eq!(
        redis.cli(&["EVAL", script, "1", "test:a:b"]).lines().last(),
        Some(time.to_string().as_str())
    );
}

#[tokio::test]
async fn redis_json_format_writes_what_earlier_versions_wrote_and_both_are_read() {
    let redis = common::Redis::start();
    let options = |format| RedisOptions {
        url: redis.url(),
        pool_size: 1,
        key_prefix: "test:".into(),
        command_timeout: Duration::from_secs(2),
        format,
        retention: Retention::default(),
    };
    let json = RedisStore::connect(&options(Format::Json)).unwrap();
    json.wait_connected().await.unwrap();
    let time = json
        .append(&room("b:a"), message("b:a", "b", "hi"))
        .await
        .unwrap();
    let members = redis.cli(&["ZRANGE", "test:a:b", "0", "-1", "WITHSCORES"]);
    let expected = format!(r#"{{"chat":"b:a","text":"hi","sender":"b","send_time":{time}}}"#);
    assert_eq!(members, format!("{expected}\n{time}"));
    // A member exactly as the previous version wrote it, by hand.
    let old = time + 10;
    let by_hand = format!(r#"{{"chat":"a:b","text":"from 0.1","sender":"a","send_time":{old}}}"#);
    assert_eq!(
        redis.cli(&["ZADD", "test:a:b", &old.to_string(), &by_hand]),
        "1"
    );
    let compact = RedisStore::connect(&options(Format::Compact)).unwrap();
    compact.wait_connected().await.unwrap();
    let newest = compact
        .append(&room("a:b"), message("a:b", "a", "compact"))
        .await
        .unwrap();
    let page = compact
        .page(&room("a:b"), &query(None, 10, false))
        .await
        .unwrap();
    assert_eq!(texts(&page), ["hi", "from 0.1", "compact"]);
    let read: Vec<_> = page
        .messages
        .iter()
        .map(|m| (m.chat.as_str(), m.sender.as_str(), m.send_time))
        .collect();
    assert_eq!(
        read,
        [("b:a", "b", time), ("a:b", "a", old), ("a:b", "a", newest)]
    );
}

#[tokio::test]
async fn redis_send_time_stays_ahead_of_a_clock_that_went_back() {
    let f = redis().await;
    let room = room("c:d");
    // A score far in the future, as if another replica's clock had run ahead.
    let future = 4_000_000_000_000_000i64;
    let redis = f._redis.as_ref().unwrap();
    let member = format!(r#"{{"chat":"c:d","text":"ahead","sender":"c","send_time":{future}}}"#);
    assert_eq!(
        redis.cli(&["ZADD", "test:c:d", &future.to_string(), &member]),
        "1"
    );
    let time = f
        .first
        .append(&room, message("c:d", "d", "next"))
        .await
        .unwrap();
    assert_eq!(time, future + 1);
}
