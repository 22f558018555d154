//! Configuration, parsed once at start-up from flags, `CONFEITARIA_*` variables and the
//! cluster file (`[orders]`, `[cart]`, the catalog nodes, the JWT secret and data directory),
//! in that order, over the defaults below.

use std::path::PathBuf;
use std::time::Duration;

use confeitaria_client::config::{ClusterFile, Secret};
use confeitaria_service::config::{ClusterFileArg, Given, Settings, DEFAULT_CATALOG_NODES};

pub use confeitaria_service::config::{RedisUrl, DEV_JWT_SECRET};

/// The `orders` binary's settings.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "orders", version, about = "Confeitaria orders service")]
pub struct Config {
    /// Address to serve the API on; port 0 binds a free port (logged).
    #[arg(
        long,
        env = "CONFEITARIA_ORDERS_ADDR",
        default_value = "127.0.0.1:5003"
    )]
    pub addr: String,

    /// Catalog nodes' API addresses (`host:port`, comma-separated).
    #[arg(long, env = "CONFEITARIA_CATALOG_NODES", value_delimiter = ',',
          default_value = DEFAULT_CATALOG_NODES)]
    pub catalog_nodes: Vec<String>,

    /// Base URL of the cart service.
    #[arg(
        long,
        env = "CONFEITARIA_CART_URL",
        default_value = "http://127.0.0.1:5002"
    )]
    pub cart_url: String,

    /// Redis URL for the outbox; empty: events are delivered to the cart directly.
    #[arg(long, env = "CONFEITARIA_REDIS_URL", default_value = "")]
    pub redis_url: RedisUrl,

    /// HS256 key of admin and service JWTs (defaults to cluster.toml's development secret).
    #[arg(long, env = "CONFEITARIA_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_default_value = true)]
    pub jwt_secret: Secret,

    /// Directory of the orders' sled database.
    #[arg(long, env = "CONFEITARIA_DATA_DIR", default_value = "data/orders")]
    pub data_dir: PathBuf,

    /// Deadline of one catalog call, its retries and failovers included, in milliseconds.
    #[arg(long, env = "CONFEITARIA_CATALOG_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub catalog_timeout_ms: u64,

    /// Deadline of one cart read, in milliseconds.
    #[arg(long, env = "CONFEITARIA_CART_TIMEOUT_MS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cart_timeout_ms: u64,

    /// Deadline of each Redis call, connecting included, in milliseconds.
    #[arg(long, env = "CONFEITARIA_REDIS_TIMEOUT_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_timeout_ms: u64,

    /// Deadline of a whole request, in milliseconds; past it the answer is 503 `timeout`
    /// (saga work already started goes on in its own task and is finished regardless).
    #[arg(long, env = "CONFEITARIA_ORDERS_REQUEST_TIMEOUT_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// How often unfinished saga steps are retried, in milliseconds.
    #[arg(long, env = "CONFEITARIA_ORDERS_RECOVERY_MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub recovery_interval_ms: u64,

    /// Most order events kept in the outbox while their consumer is unreachable; past it the
    /// oldest are dropped (counted in `orders_outbox_dropped_total`, logged).
    #[arg(long, env = "CONFEITARIA_ORDERS_OUTBOX_MAX", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub outbox_max: u64,

    /// The cluster file.
    #[command(flatten)]
    pub cluster_file: ClusterFileArg,
}

impl Settings for Config {
    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.jwt_secret]
    }

    /// `[orders] addr` and `redis_url`, the API addresses of `[[nodes]]`, the cart at
    /// `[cart] addr`, `[cluster] jwt_secret`, and `<[cluster] data_dir>/orders`.
    fn fill(&mut self, file: &ClusterFile, given: &Given) -> Result<(), String> {
        let (addr, redis, nodes) = (&mut self.addr, &mut self.redis_url, &mut self.catalog_nodes);
        given.fill_service(file, file.orders.as_ref(), addr, redis, nodes)?;
        let cart = file.cart.as_ref().map(|c| format!("http://{}", c.addr));
        given.fill("cart_url", &mut self.cart_url, cart);
        let jwt = file.cluster.jwt_secret.clone();
        given.fill("jwt_secret", &mut self.jwt_secret, Some(jwt));
        let data_dir = PathBuf::from(&file.cluster.data_dir).join("orders");
        given.fill("data_dir", &mut self.data_dir, Some(data_dir));
        Ok(())
    }
}

impl Config {
    /// Settings for `data_dir` with every other value from the environment or its default,
    /// reading no cluster file (for embedding, e.g. the simulation, and tests).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Result<Self, clap::Error> {
        let mut c = <Self as clap::Parser>::try_parse_from(["orders"])?;
        c.data_dir = data_dir.into();
        Ok(c)
    }

    /// Deadline of a catalog call.
    pub fn catalog_timeout(&self) -> Duration {
        Duration::from_millis(self.catalog_timeout_ms)
    }
    /// Deadline of a cart read.
    pub fn cart_timeout(&self) -> Duration {
        Duration::from_millis(self.cart_timeout_ms)
    }
    /// Deadline of a Redis call.
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
    /// Deadline of a whole request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    /// Period of the saga driver.
    pub fn recovery_interval(&self) -> Duration {
        Duration::from_millis(self.recovery_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn file() -> String {
        let sections = "[cart]\naddr = \"10.0.0.8:5002\"\n\
                        [orders]\naddr = \"10.0.0.9:5003\"\nredis_url = \"redis://10.0.0.5:6379\"\n";
        let cluster = "jwt_secret = \"jwt-of-the-file\"\ndata_dir = \"/srv/shop\"";
        confeitaria_service::testing::cluster_toml(cluster, &["10.0.0.1:5001"], sections)
    }

    #[test]
    fn the_cluster_file_gives_every_setting_it_knows() {
        let c = Config::from_cluster_file(&ClusterFile::parse(&file()).unwrap()).unwrap();
        assert_eq!(c.addr, "10.0.0.9:5003");
        assert_eq!(c.catalog_nodes, ["10.0.0.1:5001"]);
        assert_eq!(c.cart_url, "http://10.0.0.8:5002");
        assert_eq!(c.redis_url.get().as_deref(), Some("redis://10.0.0.5:6379"));
        assert_eq!(c.jwt_secret, Secret::new("jwt-of-the-file"));
        assert_eq!(c.data_dir, PathBuf::from("/srv/shop/orders"));
    }

    #[test]
    fn flags_beat_the_cluster_file_for_every_setting_it_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.toml");
        std::fs::write(&path, file()).unwrap();
        let c = Config::load_from([
            "orders",
            "--cluster-file",
            path.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--catalog-nodes",
            "127.0.0.1:1",
            "--cart-url",
            "http://127.0.0.1:2",
            "--redis-url",
            "",
            "--jwt-secret",
            "flag",
            "--data-dir",
            "here",
        ])
        .unwrap();
        assert_eq!(c.addr, "127.0.0.1:0");
        assert_eq!(c.catalog_nodes, ["127.0.0.1:1"]);
        assert_eq!(c.cart_url, "http://127.0.0.1:2");
        assert_eq!(c.redis_url.get(), None);
        assert_eq!(c.jwt_secret, Secret::new("flag"));
        assert_eq!(c.data_dir, PathBuf::from("here"));
    }

    #[test]
    fn defaults_follow_design_and_secrets_never_print() {
        let c = Config::try_parse_from(["orders"]).unwrap();
        assert_eq!(c.addr, "127.0.0.1:5003");
        assert_eq!(c.catalog_nodes.len(), 3);
        assert_eq!(c.redis_url.get(), None);
        let c = Config::try_parse_from([
            "orders",
            "--redis-url",
            "redis://:hunter2@h:6379",
            "--jwt-secret",
            "s3cr3t",
        ])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("s3cr3t"));
        assert!(Config::try_parse_from(["orders", "--redis-url", "http://x"]).is_err());
    }
}
