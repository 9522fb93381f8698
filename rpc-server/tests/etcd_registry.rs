//! Registration in a real etcd, as kitex-contrib/registry-etcd lays it out.
mod common;

use std::time::Duration;

use common::{Client, Etcd, Framing, RpcServer, eventually};
use etcd_client::GetOptions;

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

fn server_with(etcd_endpoint: String, ttl: &str) -> RpcServer {
    RpcServer::start(&[
        ("ETCD_ENDPOINTS", etcd_endpoint),
        ("KITEX_ETCD_REGISTRY_LEASE_TTL", ttl.to_owned()),
    ])
}

#[tokio::test]
async fn registers_like_kitex_and_deregisters_on_sigterm() {
    let etcd = Etcd::start();
    let mut server = server_with(format!("http://{}", etcd.endpoint()), "7");
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
    let server = server_with(etcd.endpoint(), "2");
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
    let port = common::free_port();
    let server = server_with(format!("127.0.0.1:{port}"), "5");
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
    let server = RpcServer::start(&[
        ("ETCD_ENDPOINTS", etcd.endpoint()),
        ("RPC_ADVERTISE_ADDR", "rpc-server:8888".to_owned()),
        ("RPC_SERVICE_NAME", "demo.rpc.server".to_owned()),
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
