//! One conformance suite, run against every `MessageStore`: the in-memory
//! store and the Redis store on a real `redis-server`, on a real Redis
//! Cluster (three primaries, three replicas) and behind real Sentinels.
use std::sync::Arc;
use std::time::Duration;

use harness::topologies;
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
    _redis: Option<harness::Redis>,
    /// A shared topology (cluster, sentinel) kept up while the test runs.
    _topology: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

/// The memory store keeps every message compact, whatever `_formats` says.
async fn memory(_formats: Formats, retention: Retention) -> Fixture<MemoryStore> {
    let store = Arc::new(MemoryStore::with_retention(retention));
    Fixture {
        first: store.clone(),
        second: store,
        _redis: None,
        _topology: None,
    }
}

/// How the two handles of a Redis fixture write: both compact, both JSON,
/// or one each (two replicas in the middle of a rollout, writing one room).
#[derive(Clone, Copy)]
enum Formats {
    Compact,
    Json,
    Mixed,
}

impl Formats {
    fn of_each(self) -> [Format; 2] {
        match self {
            Formats::Compact => [Format::Compact; 2],
            Formats::Json => [Format::Json; 2],
            Formats::Mixed => [Format::Compact, Format::Json],
        }
    }
}

/// Two handles on one Redis (`url`), under `key_prefix`.
async fn redis_handles(
    url: String,
    key_prefix: String,
    formats: Formats,
    retention: Retention,
) -> [Arc<RedisStore>; 2] {
    let connect = |format| {
        let options = RedisOptions {
            url: url.clone(),
            pool_size: 2,
            key_prefix: key_prefix.clone(),
            command_timeout: Duration::from_secs(2),
            format,
            retention,
        };
        async move {
            let store = RedisStore::connect(&options).unwrap();
            store.wait_connected().await.unwrap();
            Arc::new(store)
        }
    };
    let [first, second] = formats.of_each();
    [connect(first).await, connect(second).await]
}

async fn single_redis(formats: Formats, retention: Retention) -> Fixture<RedisStore> {
    let redis = harness::Redis::start();
    let [first, second] = redis_handles(redis.url(), "test:".into(), formats, retention).await;
    Fixture {
        first,
        second,
        _redis: Some(redis),
        _topology: None,
    }
}

/// Two stores on a topology shared by the tests running at the same time,
/// under a key prefix of their own.
async fn shared_topology(
    url: String,
    topology: Arc<dyn std::any::Any + Send + Sync>,
    formats: Formats,
    retention: Retention,
) -> Fixture<RedisStore> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let test = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = format!("test{}-{test}:", std::process::id());
    let [first, second] = redis_handles(url, prefix, formats, retention).await;
    Fixture {
        first,
        second,
        _redis: None,
        _topology: Some(topology),
    }
}

async fn cluster_with(formats: Formats, retention: Retention) -> Fixture<RedisStore> {
    let cluster = topologies::shared_cluster();
    shared_topology(cluster.url(), cluster, formats, retention).await
}

async fn sentinel_with(formats: Formats, retention: Retention) -> Fixture<RedisStore> {
    let sentinel = topologies::shared_sentinel();
    shared_topology(sentinel.url(), sentinel, formats, retention).await
}

async fn redis() -> Fixture<RedisStore> {
    single_redis(Formats::Compact, Retention::default()).await
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

/// Both handles write one room in turn (with the `mixed` fixtures, one
/// compact and one JSON): every page reads both kinds in exact order.
async fn a_room_written_by_both_handles_pages_exactly<S: MessageStore>(f: Fixture<S>) {
    let room = room("m:n");
    let mut sent = Vec::new();
    for i in 0..30 {
        let (store, chat, sender) = if i % 3 == 0 {
            (&f.second, "n:m", "n")
        } else {
            (&f.first, "m:n", "m")
        };
        let text = format!("{i} {}", "é".repeat(i));
        let time = store
            .append(&room, message(chat, sender, &text))
            .await
            .unwrap();
        sent.push((time, chat, sender, text));
    }
    for limit in [1, 7, 30] {
        for reverse in [false, true] {
            let mut read = Vec::new();
            let mut from = None;
            loop {
                let page = f
                    .first
                    .page(&room, &query(from, limit, reverse))
                    .await
                    .unwrap();
                read.extend(page.messages.iter().map(|m| {
                    (
                        m.send_time,
                        m.chat.to_string(),
                        m.sender.to_string(),
                        m.text.to_string(),
                    )
                }));
                match page.next_cursor {
                    Some(next) => from = Some(next),
                    None => break,
                }
            }
            let mut expected: Vec<_> = sent
                .iter()
                .map(|(time, chat, sender, text)| {
                    (*time, chat.to_string(), sender.to_string(), text.clone())
                })
                .collect();
            if reverse {
                expected.reverse();
            }
            assert_eq!(read, expected, "limit {limit}, reverse {reverse}");
        }
    }
}

/// The suite on `$fixture` (a topology) with `$formats` writers.
macro_rules! conformance {
    ($name:ident, $fixture:ident, $formats:ident) => {
        mod $name {
            use rpc_server::store::Retention;

            #[tokio::test]
            async fn send_times_are_increasing_microseconds() {
                super::send_times_are_increasing_microseconds(
                    super::$fixture(super::Formats::$formats, Retention::default()).await,
                )
                .await
            }
            #[tokio::test]
            async fn concurrent_replicas_never_collide() {
                super::concurrent_replicas_never_collide(
                    super::$fixture(super::Formats::$formats, Retention::default()).await,
                )
                .await
            }
            #[tokio::test]
            async fn pages_are_exact_in_both_directions() {
                super::pages_are_exact_in_both_directions(
                    super::$fixture(super::Formats::$formats, Retention::default()).await,
                )
                .await
            }
            #[tokio::test]
            async fn rooms_are_unordered_pairs_and_isolated() {
                super::rooms_are_unordered_pairs_and_isolated(
                    super::$fixture(super::Formats::$formats, Retention::default()).await,
                )
                .await
            }
            #[tokio::test]
            async fn texts_round_trip_byte_for_byte() {
                super::texts_round_trip_byte_for_byte(
                    super::$fixture(super::Formats::$formats, Retention::default()).await,
                )
                .await
            }
            #[tokio::test]
            async fn a_room_written_by_both_handles_pages_exactly() {
                super::a_room_written_by_both_handles_pages_exactly(
                    super::$fixture(super::Formats::$formats, Retention::default()).await,
                )
                .await
            }
        }
    };
}

conformance!(memory, memory, Compact);
conformance!(redis, single_redis, Compact);
conformance!(redis_json, single_redis, Json);
conformance!(redis_mixed, single_redis, Mixed);
conformance!(cluster, cluster_with, Compact);
conformance!(cluster_json, cluster_with, Json);
conformance!(cluster_mixed, cluster_with, Mixed);
conformance!(sentinel, sentinel_with, Compact);
conformance!(sentinel_json, sentinel_with, Json);
conformance!(sentinel_mixed, sentinel_with, Mixed);

/// Reads a whole room forward, page by page, from `from`.
async fn read_forward<S: MessageStore>(store: &S, room: &Room, from: Option<i64>) -> Vec<i64> {
    let mut from = from;
    let mut times = Vec::new();
    loop {
        let page = store.page(room, &query(from, 2, false)).await.unwrap();
        times.extend(page.messages.iter().map(|m| m.send_time));
        match page.next_cursor {
            Some(next) => from = Some(next),
            None => return times,
        }
    }
}

/// At most `max_messages`, the newest; a reader whose cursor was trimmed
/// away goes on at the oldest retained message, skipping and repeating none.
async fn count_bound_keeps_the_newest<S: MessageStore>(f: Fixture<S>) {
    let room = room("r:s");
    let mut times = Vec::new();
    for i in 0..4 {
        let store = if i % 2 == 0 { &f.first } else { &f.second };
        times.push(
            store
                .append(&room, message("r:s", "r", &format!("m{i}")))
                .await
                .unwrap(),
        );
    }
    // A reader in the middle of the room: its next page starts at m2.
    let first_page = f.first.page(&room, &query(None, 2, false)).await.unwrap();
    assert_eq!(texts(&first_page), ["m0", "m1"]);
    let reader_cursor = first_page.next_cursor;
    assert_eq!(reader_cursor, Some(times[2]));
    for i in 4..12 {
        let store = if i % 2 == 0 { &f.first } else { &f.second };
        times.push(
            store
                .append(&room, message("r:s", "r", &format!("m{i}")))
                .await
                .unwrap(),
        );
    }
    // m0..m6 are gone: the room is m7..m11 after every Send.
    assert_eq!(read_forward(&*f.second, &room, None).await, times[7..]);
    assert_eq!(page_all(&*f.second, &room, 3, true).await, {
        let mut newest_first = times[7..].to_vec();
        newest_first.reverse();
        newest_first
    });
    // The reader goes on: from the oldest retained message, each once.
    assert_eq!(
        read_forward(&*f.first, &room, reader_cursor).await,
        times[7..]
    );
    // Any cursor before the oldest retained message starts at it.
    let page = f
        .first
        .page(&room, &query(Some(times[0]), 1, false))
        .await
        .unwrap();
    assert_eq!(
        (texts(&page), page.next_cursor),
        (vec!["m7"], Some(times[8]))
    );
    // Backward from a trimmed message: nothing older is left.
    let page = f
        .first
        .page(&room, &query(Some(times[3]), 5, true))
        .await
        .unwrap();
    assert_eq!(page, Page::default());
}

/// Messages older than `max_age` are not read, and are gone after the
/// room's next Send; the bound applies to each room on its own.
async fn age_bound_hides_old_messages<S: MessageStore>(f: Fixture<S>) {
    let (old_room, live_room) = (room("t:u"), room("v:w"));
    f.first
        .append(&old_room, message("t:u", "t", "old"))
        .await
        .unwrap();
    let first = f
        .second
        .append(&live_room, message("v:w", "v", "first"))
        .await
        .unwrap();
    assert_eq!(read_forward(&*f.first, &old_room, None).await.len(), 1);
    tokio::time::sleep(AGE + Duration::from_millis(200)).await;
    assert!(
        read_forward(&*f.first, &old_room, None).await.is_empty(),
        "too old to read"
    );
    let page = f
        .first
        .page(&old_room, &query(None, 10, true))
        .await
        .unwrap();
    assert_eq!(page, Page::default());
    let newer = f
        .first
        .append(&live_room, message("v:w", "w", "newer"))
        .await
        .unwrap();
    assert_eq!(read_forward(&*f.second, &live_room, None).await, [newer]);
    // A cursor on the message that aged out starts at the oldest kept one.
    let page = f
        .second
        .page(&live_room, &query(Some(first), 10, false))
        .await
        .unwrap();
    assert_eq!(texts(&page), ["newer"]);
}

/// Short enough for a test, long enough for a Send's round trip.
const AGE: Duration = Duration::from_millis(1000);

macro_rules! retention {
    ($name:ident, $fixture:ident) => {
        mod $name {
            use rpc_server::store::Retention;
            #[tokio::test]
            async fn count_bound_keeps_the_newest() {
                let retention = Retention {
                    max_messages: Some(5),
                    ..Retention::default()
                };
                super::count_bound_keeps_the_newest(
                    super::$fixture(super::Formats::Mixed, retention).await,
                )
                .await
            }
            #[tokio::test]
            async fn age_bound_hides_old_messages() {
                let retention = Retention {
                    max_age: Some(super::AGE),
                    ..Retention::default()
                };
                super::age_bound_hides_old_messages(
                    super::$fixture(super::Formats::Mixed, retention).await,
                )
                .await
            }
        }
    };
}

retention!(memory_retention, memory);
retention!(redis_retention, single_redis);
retention!(cluster_retention, cluster_with);

#[tokio::test]
async fn redis_age_bound_deletes_old_members_and_expires_idle_rooms() {
    let f = single_redis(
        Formats::Mixed,
        Retention {
            max_age: Some(AGE),
            ..Retention::default()
        },
    )
    .await;
    let redis = f._redis.as_ref().unwrap();
    let room = room("x:z");
    f.first
        .append(&room, message("x:z", "x", "one"))
        .await
        .unwrap();
    let ttl: i64 = redis.cli(&["PTTL", "test:x:z"]).parse().unwrap();
    assert!(
        (1..=1000).contains(&ttl),
        "expires with the age bound: {ttl} ms"
    );
    tokio::time::sleep(AGE + Duration::from_millis(200)).await;
    f.first
        .append(&room, message("x:z", "x", "two"))
        .await
        .unwrap();
    assert_eq!(
        redis.cli(&["ZCARD", "test:x:z"]),
        "1",
        "the old one is deleted"
    );
    tokio::time::sleep(AGE + Duration::from_millis(200)).await;
    assert_eq!(
        redis.cli(&["EXISTS", "test:x:z"]),
        "0",
        "an idle room expires whole"
    );
}

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
    let redis = harness::Redis::start();
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

/// A Redis that reached `maxmemory` with `noeviction` refuses Sends with a
/// clear error, stores none of them, and keeps every earlier message; Sends
/// work again once there is room.
#[tokio::test]
async fn a_full_redis_refuses_sends_and_loses_nothing() {
    let f = redis().await;
    let redis = f._redis.as_ref().unwrap();
    let used: u64 = redis
        .cli(&["INFO", "memory"])
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap();
    let limit = (used + 256 * 1024).to_string();
    assert_eq!(
        redis.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
        "OK"
    );
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", &limit]), "OK");
    let room = room("full:up");
    let text = "x".repeat(1024);
    let mut acknowledged = Vec::new();
    let refusal = loop {
        assert!(acknowledged.len() < 2000, "256 KiB never filled up");
        match f.first.append(&room, message("full:up", "up", &text)).await {
            Ok(time) => acknowledged.push(time),
            Err(err) => break err,
        }
    };
    assert_eq!(
        refusal.to_string(),
        "storage error: Redis is full (maxmemory reached, eviction off): nothing was stored"
    );
    assert!(!acknowledged.is_empty());
    // Reads go on: exactly the acknowledged messages, the refused one not.
    assert_eq!(page_all(&*f.second, &room, 100, false).await, acknowledged);
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "0"]), "OK");
    let after = f
        .first
        .append(&room, message("full:up", "up", "room again"))
        .await
        .unwrap();
    acknowledged.push(after);
    assert_eq!(page_all(&*f.second, &room, 100, false).await, acknowledged);
}

/// An eviction policy that deletes keys when Redis fills up would delete
/// history: the store says so loudly as it connects.
#[tokio::test]
async fn an_evicting_redis_is_warned_about_at_connect() {
    let redis = harness::Redis::start();
    assert_eq!(
        redis.cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]),
        "OK"
    );
    let log = harness::CapturedLog::default();
    let _default = tracing::dispatcher::set_default(&log.dispatch());
    let options = RedisOptions {
        url: redis.url(),
        pool_size: 1,
        key_prefix: "test:".into(),
        command_timeout: Duration::from_secs(2),
        format: Format::Compact,
        retention: Retention::default(),
    };
    let store = RedisStore::connect(&options).unwrap();
    store.wait_connected().await.unwrap();
    harness::eventually("the eviction warning", Duration::from_secs(5), || {
        let text = log.text();
        async move { text.contains("ERROR") && text.contains("DELETE WHOLE ROOMS") }
    })
    .await;
    assert!(log.text().contains("allkeys-lru"), "{}", log.text());
}
