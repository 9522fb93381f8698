//! Start-up and shutdown: choose the store, bind, register, serve, drain.
use std::sync::Arc;

use anyhow::Context;
use im_idl::rpc::ImServiceServer;
use volo::net::incoming::DefaultIncoming;

use crate::config::Config;
use crate::handler::{Handler, Limits};
use crate::registry::{self, Registrar, Registration};
use crate::store::redis::RedisOptions;
use crate::store::{MemoryStore, MessageStore, RedisStore};

/// Runs the server until SIGINT/SIGTERM/SIGHUP, then deregisters from etcd,
/// stops accepting and lets open connections finish (Volo drains up to 30 s).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let limits = Limits {
        max_text_bytes: config.max_text_bytes,
        max_page_size: config.max_page_size as usize,
    };
    match config.redis_url() {
        Some(url) => {
            let store = RedisStore::connect(&RedisOptions {
                url: url.to_owned(),
                pool_size: usize::from(config.redis_pool_size),
                key_prefix: config.key_prefix.clone(),
                command_timeout: config.storage_timeout(),
            })?;
            tracing::info!(pool_size = config.redis_pool_size, prefix = %config.key_prefix, "storing messages in Redis");
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
            serve(&config, Arc::new(store), limits).await
        }
        None => {
            tracing::warn!(
                "REDIS_URL is not set: messages are kept in memory only and are lost when the server stops"
            );
            serve(&config, Arc::new(MemoryStore::new()), limits).await
        }
    }
}

async fn serve<S: MessageStore>(
    config: &Config,
    store: Arc<S>,
    limits: Limits,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "rpc-server listening");

    let mut server = ImServiceServer::new(Handler::new(store, limits));
    let endpoints = config.etcd_endpoints();
    if endpoints.is_empty() {
        tracing::info!("ETCD_ENDPOINTS is not set: not registering in etcd");
    } else {
        // The listener is bound, so connections are accepted from now on:
        // clients that find us in etcd can dial at once.
        let registrar = Registrar::spawn(Registration {
            endpoints,
            service_name: config.service_name.clone(),
            address: registry::advertise_address(local, config.advertise_addr.as_deref()),
            lease_ttl: config.etcd_lease_ttl,
        });
        server = server.register_shutdown_hook(move || Box::pin(registrar.deregister()));
    }

    server
        .run(DefaultIncoming::from(listener))
        .await
        .map_err(|err| anyhow::anyhow!("server stopped: {err}"))?;
    tracing::info!("rpc-server stopped");
    Ok(())
}
