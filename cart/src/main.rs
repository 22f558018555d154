//! `cart`: parses its configuration, binds, and hands over to [`cart::serve`] (the API, and
//! the order-event consumer when a Redis URL is configured).

use std::process::ExitCode;
use std::sync::Arc;

use cart::catalog::{Catalogo, ClientCatalogo};
use cart::config::Config;
use cart::events::Consumer;
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
    let consumer = match config.events().map(|c| Consumer::for_state(c, &state)) {
        None => {
            tracing::info!("no Redis URL: order events are not consumed");
            None
        }
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            tracing::error!(error = %e, "cannot configure the order-event consumer");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = cart::serve(
        listener,
        state,
        consumer,
        confeitaria_client::shutdown::signal(),
    )
    .await
    {
        tracing::error!(error = %e, "server failed");
        return ExitCode::FAILURE;
    }
    tracing::info!("cart stopped");
    ExitCode::SUCCESS
}
