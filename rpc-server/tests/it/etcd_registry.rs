//! Registration in a real etcd, as kitex-contrib/registry-etcd lays it out:
//! in-process, and the binary where a signal ends it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etcd_client::GetOptions;
use harness::proxy::Proxy;
use harness::{Client, Etcd, Framing, InProcessServer, RpcServer, eventually};
use tokio::task::JoinHandle;

const PREFIX: &str = "kitex/registry-etcd/demo.rpc.server/";

/// The registered (key, value, lease) pairs under the service's prefix.
async fn registrations(etcd: &Etcd) -> Vec<(String, String, i64)> {
    let mut client = etcd.client().await;
    let Ok(response) = client
        .get(PREFIX, Some(GetOptions::new().with_prefix()))
        .await
    else {
        return Vec::new();
    };
    response
        .kvs()
        .iter()
        .map(|kv| {
            (
                kv.key_str().unwrap().to_owned(),
                kv.value_str().unwrap().to_owned(),
                kv.lease(),
            )
        })
        .collect()
}

/// The binary, registering through its environment (as deployments
/// configure it) with a lease of `ttl` seconds.
fn binary_with(etcd_endpoint: String, ttl: &str) -> RpcServer {
    RpcServer::start(&[
        ("ETCD_ENDPOINTS", etcd_endpoint),
        ("KITEX_ETCD_REGISTRY_LEASE_TTL", ttl.to_owned()),
    ])
}

fn in_process_with(etcd_endpoint: &str, ttl: &str) -> InProcessServer {
    InProcessServer::start(&["--etcd-endpoints", etcd_endpoint, "--etcd-lease-ttl", ttl])
}

#[tokio::test]
async fn registers_like_kitex_and_deregisters_on_sigterm() {
    let etcd = Etcd::start();
    let mut server = binary_with(format!("http://{}", etcd.endpoint()), "7");
    let address = server.addr().to_string();
    eventually("the registration", Duration::from_secs(10), || async {
        !registrations(&etcd).await.is_empty()
    })
    .await;

    let found = registrations(&etcd).await;
    assert_eq!(found.len(), 1);
    let (key, value, lease) = &found[0];
    assert_eq!(key, &format!("{PREFIX}{address}"));
    let value: serde_json::Value = serde_json::from_str(value).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"network": "tcp", "address": address, "weight": 10, "tags": null})
    );
    assert_ne!(*lease, 0, "the key is attached to a lease");
    let ttl = etcd
        .client()
        .await
        .lease_time_to_live(*lease, None)
        .await
        .unwrap();
    assert_eq!(
        ttl.granted_ttl(),
        7,
        "KITEX_ETCD_REGISTRY_LEASE_TTL is honoured"
    );

    // Keep-alive holds the key well past its TTL.
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(registrations(&etcd).await.len(), 1, "lease kept alive");

    assert!(server.terminate(), "graceful exit");
    assert!(
        registrations(&etcd).await.is_empty(),
        "key deleted before exit"
    );
    assert!(
        server.log().contains("deregistered from etcd"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn registers_again_after_etcd_loses_everything() {
    let mut etcd = Etcd::start();
    let server = in_process_with(&etcd.endpoint(), "2");
    eventually("the registration", Duration::from_secs(10), || async {
        registrations(&etcd).await.len() == 1
    })
    .await;

    etcd.restart_empty();
    eventually(
        "the registration after the etcd restart",
        Duration::from_secs(20),
        || async { registrations(&etcd).await.len() == 1 },
    )
    .await;
    let (key, _, _) = &registrations(&etcd).await[0];
    assert!(key.ends_with(&server.addr().to_string()));

    // Serving never stopped.
    let client = Client::new(server.addr(), Framing::Unframed);
    assert_eq!(client.send_text("e:f", "e", "still here").await.code, 0);
}

#[tokio::test]
async fn serves_while_etcd_is_down_and_registers_once_it_is_up() {
    let port = harness::free_port();
    let server = in_process_with(&format!("127.0.0.1:{port}"), "5");
    let client = Client::new(server.addr(), Framing::Unframed);
    assert_eq!(client.send_text("u:v", "u", "no etcd yet").await.code, 0);

    let etcd = Etcd::start_on(port);
    eventually("the late registration", Duration::from_secs(20), || async {
        registrations(&etcd).await.len() == 1
    })
    .await;
    assert_eq!(client.pull_all("u:v", 0, 10, false).await.len(), 1);
}

#[tokio::test]
async fn advertise_address_overrides_the_key() {
    let etcd = Etcd::start();
    let server = InProcessServer::start(&[
        "--etcd-endpoints",
        &etcd.endpoint(),
        "--advertise-addr",
        "rpc-server:8888",
        "--service-name",
        "demo.rpc.server",
    ]);
    eventually("the registration", Duration::from_secs(10), || async {
        registrations(&etcd).await.len() == 1
    })
    .await;
    let (key, value, _) = &registrations(&etcd).await[0];
    assert_eq!(key, &format!("{PREFIX}rpc-server:8888"));
    assert!(value.contains(r#""address":"rpc-server:8888""#));
    drop(server);
}

/// Sends a message every 100 ms until stopped; each must succeed, and fast.
struct Pinger {
    stop: Arc<AtomicBool>,
    task: JoinHandle<usize>,
}

impl Pinger {
    fn start(server: SocketAddr) -> Pinger {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let client = Client::new(server, Framing::Unframed);
            let mut served = 0;
            while !stopped.load(Ordering::SeqCst) {
                let started = Instant::now();
                let reply = client
                    .send_text("h:p", "h", &format!("ping {served}"))
                    .await;
                assert_eq!(reply.code, 0, "Send {served} failed: {}", reply.msg);
                assert!(
                    started.elapsed() < Duration::from_secs(1),
                    "Send {served} took {:?}",
                    started.elapsed()
                );
                served += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            served
        });
        Pinger { stop, task }
    }

    /// Stops and returns how many requests were answered.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        match self.task.await {
            Ok(served) => served,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
}

/// The server's etcd connection goes half-open: a proxy between the two stops
/// forwarding both ways without closing anything, so the keep-alive stream
/// stays open but silent. The server must notice by its own deadline, and
/// once the lease has expired and the key is gone, register again over a new
/// connection, while the connections of the cut stay silent for good (so
/// waiting on the old stream would never end). Thrift is served throughout.
/// Runs on two threads: `terminate` blocks its thread while the server
/// deregisters through the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_again_after_a_half_open_connection() {
    let etcd = Etcd::start();
    let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], etcd.port))).await;
    let mut server = binary_with(proxy.addr().to_string(), "3");
    let pinger = Pinger::start(server.addr());
    eventually("the registration", Duration::from_secs(10), || async {
        registrations(&etcd).await.len() == 1
    })
    .await;
    let (_, _, first_lease) = registrations(&etcd).await[0].clone();
    // Cut only once the keep-alive stream is running (the first keep-alive
    // of the loop goes out 1 s after the registration): a cut during the
    // registration itself is another case, bounded by per-request timeouts.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // etcd may still be electing its leader when the server starts: only
    // what is logged from the cut on is this test's business.
    let logged_before_cut = server.log().len();
    proxy.black_hole();
    eventually(
        "the key to go with its lease behind the silent link",
        Duration::from_secs(10),
        || async { registrations(&etcd).await.is_empty() },
    )
    .await;
    let first = etcd
        .client()
        .await
        .lease_time_to_live(first_lease, None)
        .await
        .unwrap();
    assert_eq!(first.ttl(), -1, "the first lease expired (was not revoked)");
    let connections_during_cut = proxy.accepted();

    proxy.forward_new_connections_only();
    let healed = Instant::now();
    eventually(
        "the registration again over a new connection",
        Duration::from_secs(10),
        || async { registrations(&etcd).await.len() == 1 },
    )
    .await;
    let reregistered_after = healed.elapsed();
    assert!(
        proxy.accepted() > connections_during_cut,
        "the server dialled again"
    );
    let (key, value, lease) = registrations(&etcd).await[0].clone();
    let address = server.addr().to_string();
    assert_eq!(key, format!("{PREFIX}{address}"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&value).unwrap(),
        serde_json::json!({"network": "tcp", "address": address, "weight": 10, "tags": null})
    );
    assert_ne!(lease, first_lease, "a new lease");

    // The new lease is kept alive past its TTL over the new connection.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        registrations(&etcd).await,
        vec![(key, value, lease)],
        "the new lease is kept alive"
    );

    let served = pinger.stop().await;
    assert!(served >= 40, "only {served} requests answered");

    // One log line per state change (lost, maybe lease presumed expired,
    // registered again), not one per failed attempt.
    let log = server.log();
    let since_cut = &log[logged_before_cut..];
    let registry_lines: Vec<&str> = since_cut
        .lines()
        .filter(|line| line.contains("rpc_server::registry"))
        .collect();
    assert_eq!(
        since_cut.matches("etcd registration lost").count(),
        1,
        "{log}"
    );
    assert_eq!(
        since_cut.matches("registered in etcd again").count(),
        1,
        "{log}"
    );
    assert!(registry_lines.len() <= 3, "{log}");
    assert!(
        since_cut.contains("error=keep-alive: no answer within 1s"),
        "the keep-alive deadline noticed the silence: {log}"
    );

    assert!(server.terminate(), "graceful exit");
    assert!(
        registrations(&etcd).await.is_empty(),
        "key deleted before exit"
    );
    eprintln!(
        "registered again {reregistered_after:?} after the link healed; {served} requests answered"
    );
}
