//! The admin HTTP listener (`--admin-listen`, off unless set): `/healthz`,
//! `/readyz` and `/metrics` for Kubernetes probes and Prometheus.
//!
//! - `/healthz`: 200 while the process serves HTTP at all; never depends on
//!   Redis or etcd, so an outage does not get every pod restarted.
//! - `/readyz`: 200 when the store can serve (Redis connected) and, when etcd
//!   is configured, our key is registered; else 503 naming what is missing.
//!   503 as well once shutdown has begun.
//! - `/metrics`: [`crate::metrics::Metrics`] in the Prometheus text format.
use std::net::SocketAddr;
use std::sync::Arc;

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

/// What `/readyz` looks at.
pub struct Readiness {
    /// The store's readiness ([`crate::store::MessageStore::is_ready`]).
    pub store: Box<dyn Fn() -> bool + Send + Sync>,
    /// `None` when etcd is not configured.
    pub registration: Option<RegistrationState>,
    /// `true` once the server is shutting down.
    pub stopping: watch::Receiver<bool>,
}

struct Admin {
    metrics: Arc<Metrics>,
    readiness: Readiness,
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
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Arc::new(Admin { metrics, readiness }));
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::warn!(error = %err, "admin listener stopped");
        }
    });
    Ok((bound, task))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(admin): State<Arc<Admin>>) -> (StatusCode, String) {
    let readiness = &admin.readiness;
    let mut missing = String::new();
    if *readiness.stopping.borrow() {
        missing.push_str("shutting down\n");
    }
    if !(readiness.store)() {
        missing.push_str("storage: not connected\n");
    }
    let registered = readiness
        .registration
        .as_ref()
        .is_none_or(RegistrationState::is_registered);
    if !registered {
        missing.push_str("etcd: not registered\n");
    }
    if missing.is_empty() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, missing)
    }
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
