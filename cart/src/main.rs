//! `cart`: reads its settings (flags, `CONFEITARIA_*`, the cluster file), binds, and hands
//! over to [`cart::serve`] (the API, and the order-event consumer when a Redis URL is
//! configured).

use std::process::ExitCode;
use std::sync::Arc;

use cart::catalog::{Catalogo, ClientCatalogo};
use cart::config::Config;
use cart::events::Consumer;
use cart::AppState;

#[tokio::main]
async fn main() -> ExitCode {
    let started = confeitaria_service::start::<Config>(|c| &c.addr).await;
    let (config, addr) = (started.config, started.addr);
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
    tracing::info!(%addr, store = store.kind(), "cart listening");
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
        started.listener,
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
