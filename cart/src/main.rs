//! `cart`: reads its settings (flags, `CONFEITARIA_*`, the cluster file), binds, and hands
//! over to [`cart::run_configured`] (the API, and the order-event consumer when a Redis URL
//! is configured).

use std::process::ExitCode;

use cart::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let started = confeitaria_service::start::<Config>(|c| &c.addr).await;
    let shutdown = confeitaria_client::shutdown::signal();
    if let Err(e) = cart::run_configured(&started.config, started.listener, shutdown).await {
        tracing::error!(error = %e, "cart failed");
        return ExitCode::FAILURE;
    }
    tracing::info!("cart stopped");
    ExitCode::SUCCESS
}
