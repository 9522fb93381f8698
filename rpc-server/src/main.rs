use std::io::IsTerminal;

use clap::Parser;
use rpc_server::config::Config;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    rpc_server::server::runtime(config.worker_threads)
        .build()?
        .block_on(rpc_server::server::run(config))
}
