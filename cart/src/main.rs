//! `cart`: parses its configuration, binds, and hands over to [`cart::run`].

use std::process::ExitCode;
use std::sync::Arc;

use cart::catalog::{Catalogo, ClientCatalogo};
use cart::config::Config;
use cart::AppState;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let config = Config::parse();
    let store = match config.store() {
        Ok(store) => store,
        Err(e) => {
            tracing::error!(error = %e, "cannot configure the cart store");
            return ExitCode::FAILURE;
        }
    };
    let catalogo: Arc<dyn Catalogo> = Arc::new(ClientCatalogo::new(
        config.catalog_nodes.clone(),
        config.limits().catalog_deadline,
    ));
    let listener = match tokio::net::TcpListener::bind(&config.addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %config.addr, error = %e, "cannot bind");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => tracing::info!(%addr, store = store.kind(), "cart listening"),
        Err(e) => tracing::warn!(error = %e, "cart listening on an unknown address"),
    }
    let state = AppState::new(store, catalogo, config.limits());
    if let Err(e) = cart::run(listener, state, shutdown_signal()).await {
        tracing::error!(error = %e, "server failed");
        return ExitCode::FAILURE;
    }
    tracing::info!("cart stopped");
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
