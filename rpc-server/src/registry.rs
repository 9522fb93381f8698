//! Registration in etcd, laid out exactly like kitex-contrib/registry-etcd so
//! that Kitex resolvers (the gateway with `RPC_DISCOVERY=etcd`) find us:
//!
//! - key `kitex/registry-etcd/<service name>/<host:port>`
//! - value `{"network":"tcp","address":"<host:port>","weight":10,"tags":null}`
//! - attached to a lease (TTL 60 s, `KITEX_ETCD_REGISTRY_LEASE_TTL`) that is
//!   kept alive every TTL/3.
//!
//! The registration runs in its own task and never stops the server: if etcd
//! is unreachable it retries with backoff, and if the lease is lost (etcd
//! restarted, network cut) it grants a new lease and writes the key again.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, PutOptions};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const KEY_PREFIX: &str = "kitex/registry-etcd";
const DEFAULT_WEIGHT: i32 = 10;
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const ETCD_TIMEOUT: Duration = Duration::from_secs(3);

/// What to register and where.
#[derive(Debug, Clone)]
pub struct Registration {
    pub endpoints: Vec<String>,
    pub service_name: String,
    pub address: String,
    pub lease_ttl: i64,
}

/// The value registry-etcd writes; field order and names are its JSON.
#[derive(Serialize)]
struct Instance<'a> {
    network: &'a str,
    address: &'a str,
    weight: i32,
    tags: Option<std::collections::HashMap<String, String>>,
}

impl Registration {
    pub fn key(&self) -> String {
        format!("{KEY_PREFIX}/{}/{}", self.service_name, self.address)
    }

    pub fn value(&self) -> String {
        let instance = Instance {
            network: "tcp",
            address: &self.address,
            weight: DEFAULT_WEIGHT,
            tags: None,
        };
        serde_json::to_string(&instance).unwrap_or_default()
    }
}

/// The address other machines should dial: `explicit` if given, else the
/// listen address, with an unspecified IP (0.0.0.0) replaced by the first
/// non-loopback IPv4 address of this host, as Kitex does.
pub fn advertise_address(listen: SocketAddr, explicit: Option<&str>) -> String {
    if let Some(explicit) = explicit.map(str::trim).filter(|addr| !addr.is_empty()) {
        return explicit.to_owned();
    }
    if !listen.ip().is_unspecified() {
        return listen.to_string();
    }
    let ip = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|interface| !interface.is_loopback())
        .find_map(|interface| match interface.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .unwrap_or(Ipv4Addr::LOCALHOST);
    SocketAddr::new(IpAddr::V4(ip), listen.port()).to_string()
}

/// Whether our key is in etcd right now (registered and kept alive), for
/// readiness checks and metrics; cheap to clone and to read.
#[derive(Debug, Clone, Default)]
pub struct RegistrationState(Arc<AtomicBool>);

impl RegistrationState {
    pub fn is_registered(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, registered: bool) {
        self.0.store(registered, Ordering::Relaxed);
    }
}

/// A running registration; [`Registrar::deregister`] removes it.
pub struct Registrar {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    state: RegistrationState,
}

impl Registrar {
    /// Starts registering in the background; returns at once.
    pub fn spawn(registration: Registration) -> Registrar {
        tracing::info!(
            key = %registration.key(),
            endpoints = ?registration.endpoints,
            "registering in etcd"
        );
        let (stop, stopped) = oneshot::channel();
        let state = RegistrationState::default();
        let task = tokio::spawn(run(registration, stopped, state.clone()));
        Registrar { stop, task, state }
    }

    /// The registration state, updated as registration succeeds and fails.
    pub fn state(&self) -> RegistrationState {
        self.state.clone()
    }

    /// Deletes the key and revokes the lease, giving etcd a few seconds at
    /// most: shutting down must not hang on an unreachable etcd.
    pub async fn deregister(self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(ETCD_TIMEOUT * 2, self.task)
            .await
            .is_err()
        {
            tracing::warn!("etcd deregistration timed out; the key expires with its lease");
        }
    }
}

/// The lease currently holding our key.
struct Lease {
    client: Client,
    id: i64,
}

async fn run(
    registration: Registration,
    mut stopped: oneshot::Receiver<()>,
    state: RegistrationState,
) {
    let key = registration.key();
    let mut lease: Option<Lease> = None;
    let mut backoff = MIN_BACKOFF;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            outcome = register_and_keep_alive(&registration, &key, &mut lease, &state) => {
                state.set(false);
                if let Err(err) = outcome {
                    tracing::warn!(%key, error = %err, retry_in = ?backoff, "etcd registration lost");
                }
            }
        }
        // A lease that was granted means etcd was reachable: start over fast.
        if lease.take().is_some() {
            backoff = MIN_BACKOFF;
        }
        tokio::select! {
            _ = &mut stopped => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    state.set(false);
    if let Some(Lease { mut client, id }) = lease {
        let removal = async {
            client.delete(key.as_str(), None).await?;
            client.lease_revoke(id).await
        };
        match tokio::time::timeout(ETCD_TIMEOUT, removal).await {
            Ok(Ok(_)) => tracing::info!(%key, "deregistered from etcd"),
            Ok(Err(err)) => tracing::warn!(%key, error = %err, "etcd deregistration failed"),
            Err(_) => tracing::warn!(%key, "etcd deregistration timed out"),
        }
    }
}

/// Registers once and keeps the lease alive; returns only on failure.
async fn register_and_keep_alive(
    registration: &Registration,
    key: &str,
    lease: &mut Option<Lease>,
    state: &RegistrationState,
) -> Result<(), etcd_client::Error> {
    let options = ConnectOptions::new()
        .with_connect_timeout(ETCD_TIMEOUT)
        .with_timeout(ETCD_TIMEOUT);
    let mut client = Client::connect(&registration.endpoints, Some(options)).await?;
    let id = client.lease_grant(registration.lease_ttl, None).await?.id();
    *lease = Some(Lease {
        client: client.clone(),
        id,
    });
    client
        .put(
            key,
            registration.value(),
            Some(PutOptions::new().with_lease(id)),
        )
        .await?;
    tracing::info!(%key, lease = id, ttl = registration.lease_ttl, "registered in etcd");

    let (mut keeper, mut responses) = client.lease_keep_alive(id).await?;
    state.set(true);
    let interval = Duration::from_millis((registration.lease_ttl as u64 * 1000 / 3).max(100));
    loop {
        tokio::time::sleep(interval).await;
        keeper.keep_alive().await?;
        match responses.message().await? {
            Some(response) if response.ttl() > 0 => {}
            _ => {
                return Err(etcd_client::Error::LeaseKeepAliveError(format!(
                    "lease {id} expired"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_value_are_registry_etcd_layout() {
        let registration = Registration {
            endpoints: vec![],
            service_name: "demo.rpc.server".into(),
            address: "10.0.0.7:8888".into(),
            lease_ttl: 60,
        };
        assert_eq!(
            registration.key(),
            "kitex/registry-etcd/demo.rpc.server/10.0.0.7:8888"
        );
        assert_eq!(
            registration.value(),
            r#"{"network":"tcp","address":"10.0.0.7:8888","weight":10,"tags":null}"#
        );
    }

    #[test]
    fn advertise_address_prefers_explicit_then_listen() {
        let listen: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(advertise_address(listen, Some("rpc:1")), "rpc:1");
        assert_eq!(advertise_address(listen, Some(" ")), "127.0.0.1:9000");
        assert_eq!(advertise_address(listen, None), "127.0.0.1:9000");
        let any: SocketAddr = "0.0.0.0:8888".parse().unwrap();
        let chosen = advertise_address(any, None);
        assert!(chosen.ends_with(":8888"));
        assert!(!chosen.starts_with("0.0.0.0"), "{chosen}");
    }
}
