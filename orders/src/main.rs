//! `orders`: parses its configuration, binds, and hands over to [`orders::run`].

use std::process::ExitCode;

use clap::Parser;
use orders::config::{Config, DEV_JWT_SECRET};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let config = Config::parse();
    if config.jwt_secret.expose() == DEV_JWT_SECRET.as_bytes() {
        tracing::warn!("using the development JWT secret; set CONFEITARIA_JWT_SECRET");
    }
    let listener = match tokio::net::TcpListener::bind(&config.addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %config.addr, error = %e, "cannot bind");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => tracing::info!(%addr, data = %config.data_dir.display(), "orders listening"),
        Err(e) => tracing::warn!(error = %e, "orders listening on an unknown address"),
    }
    if let Err(e) = orders::run(listener, config, confeitaria_client::shutdown::signal()).await {
        tracing::error!(error = %e, "orders failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
