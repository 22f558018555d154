//! `gateway`: reads its settings (flags, `CONFEITARIA_*`, the cluster file), binds, and hands
//! over to [`gateway::run`]. Run alone it has no node controls (those come from
//! `confeitaria up`).

use std::process::ExitCode;

use gateway::config::Config;

// jemalloc: a third of the gateway's instructions per proxied read were glibc's malloc and
// free (docs/gateway.md, "Cost per request in instructions").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let started = confeitaria_service::start::<Config>(|c| &c.addr).await;
    let shutdown = confeitaria_client::shutdown::signal();
    if let Err(e) = gateway::run(started.listener, &started.config, None, shutdown).await {
        tracing::error!(error = %e, "gateway failed");
        return ExitCode::FAILURE;
    }
    tracing::info!("gateway stopped");
    ExitCode::SUCCESS
}
