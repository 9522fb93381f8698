//! The API contract over the wire: the server, run in-process, on a real
//! Redis, called by Volo clients in each framing; and the binary itself,
//! configured by its environment and stopped by a signal.
use std::time::Duration;

use harness::{Client, Framing, InProcessServer, Redis, RpcServer, contract, texts};

async fn redis_server(redis: &Redis) -> InProcessServer {
    let server = InProcessServer::start(&["--redis-url", &redis.url()]);
    server.wait_storage_ready().await;
    server
}

/// Each named function of `harness::contract` as a test on its own Redis,
/// the server started with `args` besides.
macro_rules! contract_on_single_redis {
    ($args:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let redis = Redis::start();
            let (url, max_text) = (redis.url(), contract::MAX_TEXT_BYTES.to_string());
            let mut args = vec!["--redis-url", &url, "--max-text-bytes", &max_text];
            args.extend_from_slice($args);
            let server = InProcessServer::start(&args);
            server.wait_storage_ready().await;
            contract::$name(server.addr()).await;
        }
    )*};
}

contract_on_single_redis!(
    &[];
    round_trip_in_every_framing,
    room_is_the_same_both_ways_and_default_limit_is_ten,
    pagination_is_exact_in_both_directions_under_concurrent_senders,
    identical_texts_sent_at_once_are_all_kept,
    invalid_input_gets_400_naming_the_field_and_the_server_keeps_serving,
    unicode_text_is_kept_byte_for_byte,
);

/// One worker thread runs on tokio's current-thread scheduler
/// (`server::runtime`), where concurrent requests' Redis commands leave
/// together: the contracts with concurrent senders, on it.
mod one_worker_thread {
    use super::*;

    contract_on_single_redis!(
        &["--worker-threads", "1"];
        round_trip_in_every_framing,
        pagination_is_exact_in_both_directions_under_concurrent_senders,
        identical_texts_sent_at_once_are_all_kept,
    );
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
    let port = harness::free_port();
    let server = InProcessServer::start(&["--redis-url", &format!("redis://127.0.0.1:{port}")]);
    let client = Client::new(server.addr(), Framing::Unframed);
    let down = client.send_text("r:s", "r", "lost").await;
    assert_eq!(down.code, 500);
    assert!(down.msg.starts_with("storage unavailable"), "{}", down.msg);
    let down = client.pull_page("r:s", 0, 10, false).await;
    assert_eq!(down.code, 500, "{}", down.msg);

    let mut redis = Redis::start_on(port);
    harness::eventually(
        "the server to reach Redis",
        Duration::from_secs(15),
        || async { client.send_text("r:s", "r", "first").await.code == 0 },
    )
    .await;

    redis.stop();
    harness::eventually(
        "the outage to be noticed",
        Duration::from_secs(10),
        || async { client.send_text("r:s", "r", "during outage").await.code == 500 },
    )
    .await;
    redis.restart(); // no persistence: the restarted Redis is empty
    harness::eventually(
        "recovery after the Redis restart",
        Duration::from_secs(15),
        || async { client.send_text("r:s", "s", "after restart").await.code == 0 },
    )
    .await;
    let after = texts(&client.pull_all("r:s", 0, 10, false).await);
    assert_eq!(after.last().map(String::as_str), Some("after restart"));
    assert!(!after.contains(&"during outage".to_owned()));
}
