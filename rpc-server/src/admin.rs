//! The admin HTTP listener (`--admin-listen`, off unless set): `/healthz`,
//! `/readyz` and `/metrics` for Kubernetes probes and Prometheus.
//!
//! - `/healthz`: 200 while the process serves HTTP at all; never depends on
//!   Redis or etcd, so an outage does not get every pod restarted.
//! - `/readyz`: "send traffic here". 503 only for what is this replica's own:
//!   starting (its store has not connected once yet) or shutting down. A
//!   dependency that every replica shares never makes it unready: with Redis
//!   lost, every replica would leave the Service at once and a clear
//!   per-request `storage unavailable` would become connection failures
//!   (plus a probe period on every recovery); etcd only serves discovering
//!   clients, which ignore readiness. So once started, a replica without
//!   Redis or without its etcd key answers 200 and lists what is degraded in
//!   the body (`rpc_storage_connected`, `rpc_etcd_registered` in `/metrics`).
//!   A replica cut off from Redis alone keeps its share of the traffic and
//!   answers it at once with `storage unavailable`; it cannot tell that case
//!   from a shared outage, and treating it as shared is the cheaper mistake.
//! - `/metrics`: [`crate::metrics::Metrics`] in the Prometheus text format.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::registry::RegistrationState;

/// Whether the store is connected now, as a cheap shared probe (no round
/// trip) for readiness and metrics: a closure over the store, whose trait
/// cannot be a trait object.
#[derive(Clone)]
pub struct StorageProbe(Arc<dyn Fn() -> bool + Send + Sync>);

impl StorageProbe {
    pub fn new(connected: impl Fn() -> bool + Send + Sync + 'static) -> StorageProbe {
        StorageProbe(Arc::new(connected))
    }

    pub fn connected(&self) -> bool {
        (self.0)()
    }
}

impl std::fmt::Debug for StorageProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StorageProbe")
            .field(&self.connected())
            .finish()
    }
}

/// What `/readyz` looks at.
pub struct Readiness {
    /// The store's connection ([`crate::store::MessageStore::is_ready`]).
    pub store: StorageProbe,
    /// `None` when etcd is not configured.
    pub registration: Option<RegistrationState>,
    /// `true` once the server is shutting down.
    pub stopping: watch::Receiver<bool>,
}

/// The replica's state as `/readyz` sees it at one moment.
#[derive(Debug, Clone, Copy)]
struct Observed {
    stopping: bool,
    storage_connected: bool,
    /// The store has been connected at least once since the start.
    started: bool,
    /// `None` when etcd is not configured.
    registered: Option<bool>,
}

/// The answer of `/readyz`: 503 naming the reasons, or 200 `ready` followed
/// by a line for each shared dependency that is missing (see the module doc).
fn verdict(state: Observed) -> (StatusCode, String) {
    let mut unready = String::new();
    if state.stopping {
        unready.push_str("shutting down\n");
    }
    if !state.started {
        unready.push_str("starting: storage not connected yet\n");
    }
    if !unready.is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, unready);
    }
    let mut body = String::from("ready\n");
    if !state.storage_connected {
        body.push_str("degraded: storage not connected, requests answer `storage unavailable`\n");
    }
    if state.registered == Some(false) {
        body.push_str("degraded: etcd: not registered\n");
    }
    (StatusCode::OK, body)
}

struct Admin {
    metrics: Arc<Metrics>,
    readiness: Readiness,
    started: AtomicBool,
}

impl Admin {
    fn observe(&self) -> Observed {
        let readiness = &self.readiness;
        let storage_connected = readiness.store.connected();
        if storage_connected {
            self.started.store(true, Ordering::Relaxed);
        }
        Observed {
            stopping: *readiness.stopping.borrow(),
            storage_connected,
            started: self.started.load(Ordering::Relaxed),
            registered: readiness
                .registration
                .as_ref()
                .map(RegistrationState::is_registered),
        }
    }

    /// Notes the store's first connection even if no probe comes while it
    /// lasts (checks every 50 ms, no round trip; ends once it has seen it).
    async fn watch_start(&self) {
        while !self.observe().started {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Binds `address` (so a bad address fails the start) and serves the admin
/// paths in the background until the returned task is aborted; returns the
/// address bound (the port is the system's pick when `address` has 0).
pub async fn spawn(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Readiness,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (--admin-listen)"))?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "admin listener: /healthz /readyz /metrics");
    let admin = Arc::new(Admin {
        metrics,
        readiness,
        started: AtomicBool::new(false),
    });
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Arc::clone(&admin));
    let task = tokio::spawn(async move {
        let serve = async {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::warn!(error = %err, "admin listener stopped");
            }
        };
        tokio::join!(serve, admin.watch_start());
    });
    Ok((bound, task))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(admin): State<Arc<Admin>>) -> (StatusCode, String) {
    verdict(admin.observe())
}

async fn metrics_text(State(admin): State<Arc<Admin>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        admin.metrics.encode(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVING: Observed = Observed {
        stopping: false,
        storage_connected: true,
        started: true,
        registered: Some(true),
    };

    #[test]
    fn a_serving_replica_is_ready() {
        assert_eq!(verdict(SERVING), (StatusCode::OK, "ready\n".to_owned()));
        let without_etcd = Observed {
            registered: None,
            ..SERVING
        };
        assert_eq!(
            verdict(without_etcd),
            (StatusCode::OK, "ready\n".to_owned())
        );
    }

    #[test]
    fn a_lost_etcd_registration_keeps_the_replica_ready() {
        let (status, body) = verdict(Observed {
            registered: Some(false),
            ..SERVING
        });
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ready\ndegraded: etcd: not registered\n");
    }

    #[test]
    fn a_lost_redis_after_the_start_keeps_the_replica_ready() {
        let (status, body) = verdict(Observed {
            storage_connected: false,
            registered: Some(false),
            ..SERVING
        });
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with("ready\n"), "{body}");
        assert!(body.contains("degraded: storage not connected"), "{body}");
        assert!(body.contains("degraded: etcd: not registered"), "{body}");
    }

    #[test]
    fn starting_and_shutting_down_are_unready() {
        let starting = Observed {
            storage_connected: false,
            started: false,
            ..SERVING
        };
        assert_eq!(
            verdict(starting),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "starting: storage not connected yet\n".to_owned()
            )
        );
        let stopping = Observed {
            stopping: true,
            ..SERVING
        };
        assert_eq!(
            verdict(stopping),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting down\n".to_owned()
            )
        );
    }

    fn admin(connected: Arc<AtomicBool>) -> Admin {
        let (_, stopping) = watch::channel(false);
        Admin {
            metrics: Arc::new(Metrics::new(
                Arc::new(crate::net::Connections::new(1)),
                None,
                StorageProbe::new(|| true),
            )),
            readiness: Readiness {
                store: StorageProbe::new(move || connected.load(Ordering::Relaxed)),
                registration: None,
                stopping,
            },
            started: AtomicBool::new(false),
        }
    }

    #[test]
    fn the_first_connection_ends_the_start_for_good() {
        let connected = Arc::new(AtomicBool::new(false));
        let admin = admin(Arc::clone(&connected));
        assert_eq!(verdict(admin.observe()).0, StatusCode::SERVICE_UNAVAILABLE);
        connected.store(true, Ordering::Relaxed);
        assert_eq!(verdict(admin.observe()).0, StatusCode::OK);
        connected.store(false, Ordering::Relaxed);
        let (status, body) = verdict(admin.observe());
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("degraded: storage not connected"), "{body}");
    }

    #[tokio::test]
    async fn the_start_is_noted_without_a_probe() {
        let connected = Arc::new(AtomicBool::new(false));
        let admin = Arc::new(admin(Arc::clone(&connected)));
        let watcher = tokio::spawn({
            let admin = Arc::clone(&admin);
            async move { admin.watch_start().await }
        });
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!watcher.is_finished());
        connected.store(true, Ordering::Relaxed);
        tokio::time::timeout(Duration::from_secs(5), watcher)
            .await
            .expect("the watcher ends once the store connected")
            .expect("the watcher does not panic");
        connected.store(false, Ordering::Relaxed);
        assert_eq!(verdict(admin.observe()).0, StatusCode::OK);
    }
}
