//! Configuration, parsed once at start-up from flags, `CONFEITARIA_*` variables and the
//! cluster file (`[gateway] addr`, the catalog nodes and their ids, `[cart]` and `[orders]`
//! addresses, the JWT secret), in that order, over the defaults below.

use std::time::Duration;

use confeitaria_client::config::{ClusterFile, Secret};
use confeitaria_service::config::{ClusterFileArg, Given, Settings, DEFAULT_CATALOG_NODES};

use crate::breaker::BreakerPolicy;
use crate::health::HealthPolicy;

pub use confeitaria_service::config::DEV_JWT_SECRET;

/// The `gateway` binary's settings.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "gateway",
    version,
    about = "Confeitaria gateway: the shop's front door"
)]
pub struct Config {
    /// Address to serve on; port 0 binds a free port (logged).
    #[arg(
        long,
        env = "CONFEITARIA_GATEWAY_ADDR",
        default_value = "127.0.0.1:8000"
    )]
    pub addr: String,

    /// Catalog nodes' API addresses (`host:port`, comma-separated).
    #[arg(long, env = "CONFEITARIA_CATALOG_NODES", value_delimiter = ',',
          default_value = DEFAULT_CATALOG_NODES)]
    pub catalog_nodes: Vec<String>,

    /// The catalog nodes' ids, in the order of `--catalog-nodes` (learnt from the nodes
    /// when not given); the dashboard's kill and start buttons need them.
    #[arg(long, env = "CONFEITARIA_CATALOG_NODE_IDS", value_delimiter = ',')]
    pub catalog_node_ids: Vec<u64>,

    /// Base URL of the cart service.
    #[arg(
        long,
        env = "CONFEITARIA_CART_URL",
        default_value = "http://127.0.0.1:5002"
    )]
    pub cart_url: String,

    /// Base URL of the orders service.
    #[arg(
        long,
        env = "CONFEITARIA_ORDERS_URL",
        default_value = "http://127.0.0.1:5003"
    )]
    pub orders_url: String,

    /// HS256 key of admin JWTs, for the dashboard's node controls (defaults to cluster.toml's
    /// development secret).
    #[arg(long, env = "CONFEITARIA_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_default_value = true)]
    pub jwt_secret: Secret,

    /// Deadline of one attempt at a catalog node, in milliseconds (a node waits up to its
    /// `leader_wait_ms` for a leader before answering 503).
    #[arg(long, env = "CONFEITARIA_GATEWAY_CATALOG_TIMEOUT_MS", default_value_t = 4_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub catalog_timeout_ms: u64,

    /// Deadline of one attempt at the cart, in milliseconds.
    #[arg(long, env = "CONFEITARIA_GATEWAY_CART_TIMEOUT_MS", default_value_t = 6_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cart_timeout_ms: u64,

    /// Deadline of one attempt at orders (until the response headers, for event streams),
    /// in milliseconds.
    #[arg(long, env = "CONFEITARIA_GATEWAY_ORDERS_TIMEOUT_MS", default_value_t = 16_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub orders_timeout_ms: u64,

    /// Deadline of a whole request, retries included, in milliseconds.
    #[arg(long, env = "CONFEITARIA_GATEWAY_REQUEST_TIMEOUT_MS", default_value_t = 18_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Requests in flight per upstream (catalog, cart, orders) before more are shed with
    /// 503 and `Retry-After`.
    #[arg(long, env = "CONFEITARIA_GATEWAY_MAX_IN_FLIGHT", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_in_flight: u64,

    /// Requests per second each client address may send, sustained (0: no limit).
    #[arg(long, env = "CONFEITARIA_GATEWAY_RATE_LIMIT", default_value_t = 2_000)]
    pub rate_limit_per_sec: u32,

    /// Also limit loopback clients (the storefront's own API calls, local tools and load
    /// tests come from 127.0.0.1 and are not limited otherwise).
    #[arg(long, env = "CONFEITARIA_GATEWAY_RATE_LIMIT_LOOPBACK")]
    pub rate_limit_loopback: bool,

    /// Requests a client may send in a burst above its sustained rate.
    #[arg(long, env = "CONFEITARIA_GATEWAY_RATE_BURST", default_value_t = 4_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,

    /// Active probe period, in milliseconds.
    #[arg(long, env = "CONFEITARIA_GATEWAY_PROBE_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub probe_interval_ms: u64,

    /// The cluster file.
    #[command(flatten)]
    pub cluster_file: ClusterFileArg,
}

impl Settings for Config {
    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.jwt_secret]
    }

    /// `[gateway] addr`, the API addresses and ids of `[[nodes]]`, the cart at `[cart] addr`,
    /// orders at `[orders] addr`, `[cluster] jwt_secret`.
    fn fill(&mut self, file: &ClusterFile, given: &Given) -> Result<(), String> {
        let own = file.gateway.as_ref().map(|g| g.addr.clone());
        given.fill("addr", &mut self.addr, own);
        if !given_any(given, &["catalog_nodes"]) {
            self.catalog_nodes = file.api_addrs();
            let ids = file.nodes.iter().map(|n| n.id).collect();
            given.fill("catalog_node_ids", &mut self.catalog_node_ids, Some(ids));
        }
        let cart = file.cart.as_ref().map(|c| format!("http://{}", c.addr));
        given.fill("cart_url", &mut self.cart_url, cart);
        let orders = file.orders.as_ref().map(|o| format!("http://{}", o.addr));
        given.fill("orders_url", &mut self.orders_url, orders);
        let jwt = file.cluster.jwt_secret.clone();
        given.fill("jwt_secret", &mut self.jwt_secret, Some(jwt));
        Ok(())
    }
}

/// Whether a flag or variable gave any of `ids` (probed through [`Given::fill`]).
fn given_any(given: &Given, ids: &[&str]) -> bool {
    ids.iter().any(|id| {
        let mut untouched = true;
        given.fill(id, &mut untouched, Some(false));
        untouched
    })
}

impl Config {
    /// Settings with every value from the environment or its default, no cluster file
    /// (for embedding and tests).
    pub fn defaults() -> Result<Self, clap::Error> {
        <Self as clap::Parser>::try_parse_from(["gateway"])
    }

    /// Deadline of a whole request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Health-check thresholds and timing.
    pub fn health_policy(&self) -> HealthPolicy {
        let interval = Duration::from_millis(self.probe_interval_ms);
        HealthPolicy {
            interval,
            probe_timeout: interval.max(Duration::from_millis(800)),
            ..HealthPolicy::default()
        }
    }

    /// Circuit-breaker thresholds.
    pub fn breaker_policy(&self) -> BreakerPolicy {
        BreakerPolicy::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn file() -> ClusterFile {
        let sections = "[cart]\naddr = \"10.0.0.8:5002\"\n\
                        [orders]\naddr = \"10.0.0.9:5003\"\n\
                        [gateway]\naddr = \"10.0.0.7:8000\"\n";
        let text = confeitaria_service::testing::cluster_toml(
            "jwt_secret = \"jwt-of-the-file\"",
            &["10.0.0.1:5001", "10.0.0.2:5001"],
            sections,
        );
        ClusterFile::parse(&text).unwrap()
    }

    #[test]
    fn the_cluster_file_gives_every_address_and_the_node_ids() {
        let c = Config::from_cluster_file(&file()).unwrap();
        assert_eq!(c.addr, "10.0.0.7:8000");
        assert_eq!(c.catalog_nodes, ["10.0.0.1:5001", "10.0.0.2:5001"]);
        assert_eq!(c.catalog_node_ids, [1, 2]);
        assert_eq!(c.cart_url, "http://10.0.0.8:5002");
        assert_eq!(c.orders_url, "http://10.0.0.9:5003");
        assert_eq!(c.jwt_secret.expose(), b"jwt-of-the-file");
    }

    #[test]
    fn flags_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml_text()).unwrap();
        let c = Config::load_from([
            "gateway",
            "--cluster-file",
            path.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--catalog-nodes",
            "127.0.0.1:1",
        ])
        .unwrap();
        assert_eq!(c.addr, "127.0.0.1:0");
        assert_eq!(c.catalog_nodes, ["127.0.0.1:1"]);
        assert!(
            c.catalog_node_ids.is_empty(),
            "ids of other nodes are not taken"
        );
        assert_eq!(c.cart_url, "http://10.0.0.8:5002");
    }

    fn toml_text() -> String {
        confeitaria_service::testing::cluster_toml(
            "jwt_secret = \"j\"",
            &["10.0.0.1:5001"],
            "[cart]\naddr = \"10.0.0.8:5002\"\n",
        )
    }
}
