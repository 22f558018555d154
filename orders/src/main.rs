//! `orders`: reads its settings (flags, `CONFEITARIA_*`, the cluster file), binds, and hands
//! over to [`orders::run`].

use std::process::ExitCode;

use orders::config::{Config, DEV_JWT_SECRET};

#[tokio::main]
async fn main() -> ExitCode {
    let started = confeitaria_service::start::<Config>(|c| &c.addr).await;
    let (config, addr) = (started.config, started.addr);
    if config.jwt_secret.expose() == DEV_JWT_SECRET.as_bytes() {
        tracing::warn!("using the development JWT secret; set CONFEITARIA_JWT_SECRET");
    }
    let data = config.data_dir.display().to_string();
    tracing::info!(%addr, %data, "orders listening");
    let shutdown = confeitaria_client::shutdown::signal();
    if let Err(e) = orders::run(started.listener, config, shutdown).await {
        tracing::error!(error = %e, "orders failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
