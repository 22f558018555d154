//! What every HTTP service of the shop (catalog node, cart, orders, gateway) shares, so that
//! each says only what is its own.
//!
//! - [`http`]: the router tail (`/health`, `/metrics`, `/openapi.json`, JSON 404/405, body
//!   limit), the `observe` middleware (request deadline, request counter and latency
//!   histogram) and the `request_id` middleware (`X-Request-Id` in every log line and response);
//! - [`metrics`]: each service's Prometheus registry (`prometheus-client`), with the request
//!   metrics every service has;
//! - [`openapi`]: what every service's OpenAPI document shares ([`openapi::Tail`]) and the
//!   checks its tests run on it;
//! - [`config`]: settings from flags, `CONFEITARIA_*` variables and `cluster.toml`, and the
//!   pieces every service has (Redis URL, catalog nodes, development JWT secret);
//! - [`start`]: what a service binary does before serving;
//! - `testing` (feature `testing`): a real `redis-server` per test, waiting on a condition,
//!   cluster files, running a service's binary.

pub mod config;
pub mod http;
pub mod metrics;
pub mod openapi;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use confeitaria_client::config::refuse_dev_secrets;

use crate::config::{ConfigError, Settings};

/// A service's settings with its listener bound.
pub struct Started<C> {
    /// The settings, parsed once.
    pub config: C,
    /// Bound to the configured address.
    pub listener: TcpListener,
    /// The bound address (a port given as 0 is the free port it got), for the log.
    pub addr: SocketAddr,
}

/// What a service binary does first: logs as `RUST_LOG` says (default `info`), reads its
/// settings ([`Settings::load_from`] on the process's arguments) and binds `addr(&settings)`.
/// Nothing has started yet if that fails, so it ends the process there: a bad flag as clap
/// does (usage, status 2), a bad cluster file or a failed bind logged, with status 1.
pub async fn start<C: Settings>(addr: fn(&C) -> &str) -> Started<C> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let config = match C::load_from(std::env::args_os()) {
        Ok(c) => c,
        Err(ConfigError::Args(e)) => e.exit(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the settings");
            std::process::exit(1);
        }
    };
    let local_demo = std::env::var("CONFEITARIA_LOCAL_DEMO").is_ok_and(|v| v == "1" || v == "true");
    if let Err(e) = refuse_dev_secrets(addr(&config), &config.secrets(), local_demo) {
        tracing::error!(error = %e, "cannot start");
        std::process::exit(1);
    }
    let bound = match TcpListener::bind(addr(&config)).await {
        Ok(l) => l.local_addr().map(|local| (l, local)),
        Err(e) => Err(e),
    };
    match bound {
        Ok((listener, local)) => Started {
            config,
            listener,
            addr: local,
        },
        Err(e) => {
            tracing::error!(addr = addr(&config), error = %e, "cannot bind");
            std::process::exit(1);
        }
    }
}
