//! The admin listener: `/healthz`, `/readyz` (unready only while starting or
//! stopping; a lost Redis or etcd is named, not unready), and `/metrics`
//! counting exactly the requests made (in-process); and none at all unless it
//! is asked for (the binary).
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use harness::{
    Client, Etcd, Framing, InProcessServer, Redis, RpcServer, listening_ports, wait_until,
};

/// A plain HTTP/1.1 GET; returns the status code and the body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn status(addr: SocketAddr, path: &str) -> u16 {
    get(addr, path).map(|(status, _)| status).unwrap_or(0)
}

/// The value of one series (`name{labels}` exactly as exposed), 0 if absent.
fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a number"))
        .unwrap_or(0.0)
}

fn scrape(addr: SocketAddr) -> String {
    let (status, body) = get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    body
}

/// A server with these arguments and an admin listener on 127.0.0.1:0.
fn admin_server(args: &[&str]) -> (InProcessServer, SocketAddr) {
    let mut args = args.to_vec();
    args.extend(["--admin-listen", "127.0.0.1:0"]);
    let server = InProcessServer::start(&args);
    let admin = server.admin_addr();
    wait_until("the admin listener", Duration::from_secs(10), || {
        status(admin, "/healthz") == 200
    });
    (server, admin)
}

#[tokio::test]
async fn probes_name_a_lost_redis_and_metrics_count_requests() {
    let mut redis = Redis::start();
    let (server, admin) = admin_server(&["--redis-url", &redis.url()]);
    server.wait_storage_ready().await;

    assert_eq!(get(admin, "/healthz").unwrap(), (200, "ok\n".to_owned()));
    assert_eq!(status(admin, "/readyz"), 200);
    assert_eq!(status(admin, "/nothing"), 404);

    let before = scrape(admin);
    assert!(before.contains("# TYPE rpc_requests counter"), "{before}");
    assert!(before.contains("# HELP rpc_request_duration_seconds"));
    assert!(!before.contains("rpc_etcd_registered"));
    assert_eq!(value(&before, "rpc_storage_connected"), 1.0);

    let client = Client::new(server.addr(), Framing::Unframed);
    for text in ["one", "two", "three"] {
        assert_eq!(client.send_text("a:b", "a", text).await.code, 0);
    }
    assert_eq!(client.send_text("a:b", "c", "not a member").await.code, 400);
    assert_eq!(client.pull_page("a:b", 0, 10, false).await.code, 0);
    assert_eq!(client.pull_page("a:b", 0, 10, true).await.code, 0);

    let after = scrape(admin);
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(moved(r#"rpc_requests_total{method="Send",code="0"}"#), 3.0);
    assert_eq!(
        moved(r#"rpc_requests_total{method="Send",code="400"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"rpc_requests_total{method="Send",code="500"}"#),
        0.0
    );
    assert_eq!(moved(r#"rpc_requests_total{method="Pull",code="0"}"#), 2.0);
    assert_eq!(
        moved(r#"rpc_requests_total{method="Pull",code="400"}"#),
        0.0
    );
    let send_count = r#"rpc_request_duration_seconds_count{method="Send"}"#;
    assert_eq!(moved(send_count), 4.0);
    let pull_count = r#"rpc_request_duration_seconds_count{method="Pull"}"#;
    assert_eq!(moved(pull_count), 2.0);
    let inf = r#"rpc_request_duration_seconds_bucket{le="+Inf",method="Pull"}"#;
    assert_eq!(moved(inf), 2.0, "{after}");
    assert!(moved(r#"rpc_request_duration_seconds_sum{method="Send"}"#) > 0.0);
    assert_eq!(value(&after, "rpc_requests_in_flight"), 0.0);
    assert!(value(&after, "rpc_connections_open") >= 1.0, "{after}");
    assert_eq!(value(&after, "rpc_connections_refused_total"), 0.0);

    // Redis down, as it would be for every replica: still ready (leaving
    // the Service would turn `storage unavailable` into connection errors),
    // alive, the body and a gauge name it; requests fail in storage and say so.
    redis.stop();
    wait_until(
        "/readyz to name the lost storage",
        Duration::from_secs(15),
        || get(admin, "/readyz").is_ok_and(|(_, body)| body.contains("storage not connected")),
    );
    let (status_down, body) = get(admin, "/readyz").unwrap();
    assert_eq!(status_down, 200, "{body}");
    assert!(body.starts_with("ready\n"), "{body}");
    assert_eq!(value(&scrape(admin), "rpc_storage_connected"), 0.0);
    assert_eq!(status(admin, "/healthz"), 200);
    assert_eq!(client.send_text("a:b", "a", "lost").await.code, 500);
    let down = scrape(admin);
    assert_eq!(
        value(&down, r#"rpc_requests_total{method="Send",code="500"}"#)
            - value(&after, r#"rpc_requests_total{method="Send",code="500"}"#),
        1.0
    );
    let storage_failures: f64 = ["timeout", "unavailable", "error"]
        .iter()
        .map(|kind| {
            let series = format!(r#"rpc_storage_errors_total{{method="Send",kind="{kind}"}}"#);
            value(&down, &series) - value(&after, &series)
        })
        .sum();
    assert_eq!(storage_failures, 1.0, "{down}");

    redis.restart();
    wait_until(
        "the storage to connect again",
        Duration::from_secs(20),
        || get(admin, "/readyz").is_ok_and(|(status, body)| status == 200 && body == "ready\n"),
    );
    assert_eq!(value(&scrape(admin), "rpc_storage_connected"), 1.0);
}

#[tokio::test]
async fn a_replica_is_starting_until_its_storage_first_connects() {
    let mut redis = Redis::start();
    redis.stop();
    let (_server, admin) = admin_server(&["--redis-url", &redis.url()]);
    let (status_starting, body) = get(admin, "/readyz").unwrap();
    assert_eq!(status_starting, 503, "{body}");
    assert!(body.contains("starting"), "{body}");
    assert_eq!(status(admin, "/healthz"), 200);

    redis.restart();
    wait_until(
        "the first connection to make it ready",
        Duration::from_secs(20),
        || status(admin, "/readyz") == 200,
    );
}

#[tokio::test]
async fn an_etcd_outage_longer_than_the_lease_keeps_the_replica_ready() {
    let mut etcd = Etcd::start();
    let (_server, admin) = admin_server(&[
        "--etcd-endpoints",
        &etcd.endpoint(),
        "--etcd-lease-ttl",
        "3",
    ]);
    wait_until("registration", Duration::from_secs(20), || {
        value(&scrape(admin), "rpc_etcd_registered") == 1.0
    });
    assert_eq!(get(admin, "/readyz").unwrap(), (200, "ready\n".to_owned()));

    // etcd down for twice the lease: the key is gone, the replica serves on
    // and stays ready, naming what it lost.
    etcd.stop();
    wait_until(
        "the registration to be lost",
        Duration::from_secs(20),
        || value(&scrape(admin), "rpc_etcd_registered") == 0.0,
    );
    let until = std::time::Instant::now() + Duration::from_secs(6);
    while std::time::Instant::now() < until {
        let (status, body) = get(admin, "/readyz").unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("etcd: not registered"), "{body}");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(status(admin, "/healthz"), 200);
}

/// The binary, so that every socket it listens on can be seen: only the
/// Thrift listener's.
#[test]
fn nothing_listens_without_the_setting() {
    let server = RpcServer::start(&[]);
    // Written once every listener is bound.
    assert_eq!(
        server.listen_addr_file(),
        format!("rpc={}\n", server.addr()),
        "only the Thrift listener is reported"
    );
    assert_eq!(
        listening_ports(server.pid()),
        [server.addr().port()],
        "the server listens on its Thrift port only"
    );
    assert!(!server.log().contains("admin listener"), "{}", server.log());
}
