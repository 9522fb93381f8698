//! Start-up and shutdown: choose the store, bind, register, serve, drain.
//!
//! [`serve`] runs the whole server over a listener the caller has already
//! bound, until the caller's shutdown future completes: the binary binds
//! `--listen` and passes the process's signals ([`run`]); tests bind
//! `127.0.0.1:0` and pass a channel, and run the server in-process.
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use im_idl::rpc::ImServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use volo_thrift::codec::default::DefaultMakeCodec;

use crate::admin::{self, Readiness, StorageProbe};
use crate::config::Config;
use crate::handler::{Handler, Limits};
use crate::metrics::{Metrics, MetricsLayer};
use crate::net::{
    Admission, ConnectionLimits, Connections, GuardedMakeCodec, PendingBytes, admission, trim,
};
use crate::registry::{self, Registrar, Registration};
use crate::store::redis::RedisOptions;
use crate::store::{MemoryStore, MessageStore, RedisStore};

/// The tokio runtime for `--worker-threads` (one worker per core when unset).
///
/// One thread gets tokio's current-thread scheduler rather than a
/// multi-thread one with one worker: the same single thread, without the
/// work-stealing machinery, and without its LIFO slot, which runs a task
/// woken by the running one next. Every request hands its Redis command to
/// fred's connection task and wakes it; from the LIFO slot that task ran
/// once per command and wrote each on its own. In FIFO order it runs after
/// the other ready requests have queued theirs and writes them together.
/// Measured (HTTP mixed through the gateway, 3 rounds): 1.8 -> 1.3 writes
/// per request, the server's CPU 0.235-0.241 -> 0.220-0.224 s and Redis's
/// 0.123-0.125 -> 0.110-0.116 s per 10k requests (docs/performance.md).
/// This scheduler has no `block_in_place`; fred uses it only with its
/// `blocking-encoding` feature, which is not enabled.
pub fn runtime(worker_threads: Option<u16>) -> tokio::runtime::Builder {
    let mut builder = match worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(usize::from(threads));
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all();
    builder
}

/// Binds `--listen` and serves until SIGINT, SIGTERM or SIGHUP.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Signal handlers are installed before anything can be accepted, so a
    // signal that arrives early is not lost.
    let signal = shutdown_signal()?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    serve(listener, config, signal).await
}

/// Serves on `listener` until `shutdown` completes, then stops accepting at
/// once, deregisters from etcd and lets open connections finish (Volo drains
/// for up to 30 s).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match config.redis_url() {
        Some(url) => {
            let store = Arc::new(
                RedisStore::connect(&RedisOptions {
                    url: url.to_owned(),
                    pool_size: usize::from(config.redis_pool_size),
                    key_prefix: config.key_prefix.clone(),
                    command_timeout: config.storage_timeout(),
                    format: config.stored_format,
                    retention: config.retention(),
                })?
                .wait_for_replicas(config.redis_wait_replicas, config.redis_wait_timeout()),
            );
            tracing::info!(
                pool_size = config.redis_pool_size,
                prefix = %config.key_prefix,
                format = ?config.stored_format,
                retention = ?config.retention(),
                "storing messages in Redis"
            );
            // Give a Redis that is already up the chance to connect before the
            // first request; one that is not must not hold up the start.
            if tokio::time::timeout(config.storage_timeout(), store.wait_connected())
                .await
                .is_err()
            {
                tracing::warn!(
                    "Redis is not reachable yet: answering 500 until it is, reconnecting in the background"
                );
            }
            let served = serve_with(listener, &config, Arc::clone(&store), shutdown).await;
            store.quit().await;
            served
        }
        None => {
            tracing::warn!(
                "REDIS_URL is not set: messages are kept in memory only and are lost when the server stops"
            );
            let store = MemoryStore::with_retention(config.retention());
            serve_with(listener, &config, Arc::new(store), shutdown).await
        }
    }
}

async fn serve_with<S: MessageStore>(
    listener: TcpListener,
    config: &Config,
    store: Arc<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let connections = Arc::new(Connections::new(admission::connection_limit(
        config.max_connections,
        config.redis_pool_size,
    )));
    let connection_limits = ConnectionLimits {
        max_request_bytes: config.max_request_bytes(),
        read_timeout: config.read_timeout(),
        idle_timeout: config.idle_timeout(),
        write_timeout: config.read_timeout(),
    };
    tracing::info!(
        address = %local,
        max_connections = connections.max(),
        max_request_bytes = connection_limits.max_request_bytes,
        "rpc-server listening"
    );

    let _trimmer = trim::spawn(Arc::clone(&connections));
    let (stopping, stop_signal) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections are accepted");
        let _ = stopping.send(true);
    });

    let limits = Limits {
        max_text_bytes: config.max_text_bytes as usize,
        max_page_size: config.max_page_size as usize,
    };
    let codec = GuardedMakeCodec::new(
        DefaultMakeCodec::default(),
        connection_limits,
        Arc::clone(&connections),
        Arc::new(PendingBytes::new(config.max_pending_request_bytes())),
    );
    let endpoints = config.etcd_endpoints();
    let registrar = if endpoints.is_empty() {
        tracing::info!("ETCD_ENDPOINTS is not set: not registering in etcd");
        None
    } else {
        // The listener is bound, so connections are accepted from now on:
        // clients that find us in etcd can dial at once.
        Some(Registrar::spawn(Registration {
            endpoints,
            service_name: config.service_name.clone(),
            address: registry::advertise_address(local, config.advertise_addr.as_deref()),
            lease_ttl: config.etcd_lease_ttl,
        }))
    };

    let mut admin = None;
    let mut admin_address = None;
    let mut metrics = None;
    if let Some(address) = config.admin_listen {
        let registration = registrar.as_ref().map(Registrar::state);
        let ready_store = Arc::clone(&store);
        let storage = StorageProbe::new(move || ready_store.is_ready());
        let measured = Arc::new(Metrics::new(
            Arc::clone(&connections),
            registration.clone(),
            storage.clone(),
        ));
        let readiness = Readiness {
            store: storage,
            registration,
            stopping: stop_signal.clone(),
        };
        let (bound, task) = admin::spawn(address, Arc::clone(&measured), readiness).await?;
        admin = Some(task);
        admin_address = Some(bound);
        metrics = Some(measured);
    }
    if let Some(path) = &config.listen_addr_file {
        write_listen_addrs(path, local, admin_address)
            .await
            .with_context(|| format!("cannot write --listen-addr-file {}", path.display()))?;
    }

    let mut server = ImServiceServer::new(Handler::new(store, limits))
        .layer_front(MetricsLayer::new(metrics))
        .make_codec(codec);
    if let Some(registrar) = registrar {
        server = server.register_shutdown_hook(move || Box::pin(registrar.deregister()));
    }

    let served = server
        .run(Admission::new(listener, connections, stop_signal))
        .await
        .map_err(|err| anyhow::anyhow!("server stopped: {err}"));
    if let Some(admin) = admin {
        admin.abort();
    }
    served?;
    tracing::info!("rpc-server stopped");
    Ok(())
}

/// Writes `rpc=<rpc>` and, with an admin listener, `admin=<admin>` to
/// `path`: to `<path>.tmp` first, then renamed, so that a reader finds no
/// file or all of it.
async fn write_listen_addrs(
    path: &Path,
    rpc: SocketAddr,
    admin: Option<SocketAddr>,
) -> std::io::Result<()> {
    let mut text = format!("rpc={rpc}\n");
    if let Some(admin) = admin {
        text.push_str(&format!("admin={admin}\n"));
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    tokio::fs::write(&temporary, text).await?;
    tokio::fs::rename(&temporary, path).await
}

/// Completes on the first SIGINT, SIGTERM or SIGHUP (the signals Volo's own
/// graceful shutdown listens to).
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    use super::runtime;

    #[test]
    fn one_worker_thread_is_the_current_thread_scheduler() {
        let flavor = |threads| {
            let runtime = runtime(threads).build().expect("runtime");
            runtime.handle().runtime_flavor()
        };
        assert_eq!(flavor(Some(1)), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor(Some(2)), RuntimeFlavor::MultiThread);
        assert_eq!(flavor(None), RuntimeFlavor::MultiThread);
    }
}
