//! Configuration, parsed once at start-up from flags, `CONFEITARIA_*` variables and the
//! cluster file (`[cart]` and the catalog nodes), in that order, over the defaults below.

use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::config::{ClusterFile, Secret};
use confeitaria_service::config::{ClusterFileArg, Given, Settings, DEFAULT_CATALOG_NODES};

use crate::dedupe::{SeenIds, SeenInMemory, SeenInRedis, MEMORY_MAX};
use crate::events::EventsConfig;
use crate::redis_link::RedisLink;
use crate::store::{CartStore, MemoryStore, RedisStore, RedisStoreConfig, StoreError};
use crate::Limits;

pub use confeitaria_service::config::{RedisUrl, DEV_JWT_SECRET};

/// The `cart` binary's settings.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "cart", version, about = "Confeitaria cart service")]
pub struct Config {
    /// Address to serve the API on; port 0 binds a free port (logged).
    #[arg(long, env = "CONFEITARIA_CART_ADDR", default_value = "127.0.0.1:5002")]
    pub addr: String,

    /// Redis URL; empty: carts live in process memory (lost on restart).
    #[arg(long, env = "CONFEITARIA_REDIS_URL", default_value = "")]
    pub redis_url: RedisUrl,

    /// Catalog nodes' API addresses (`host:port`, comma-separated); any reachable one serves.
    #[arg(long, env = "CONFEITARIA_CATALOG_NODES", value_delimiter = ',',
          default_value = DEFAULT_CATALOG_NODES)]
    pub catalog_nodes: Vec<String>,

    /// Seconds a cart lives after its last write.
    #[arg(long, env = "CONFEITARIA_CART_TTL_SECS", default_value_t = 7 * 24 * 60 * 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cart_ttl_secs: u64,

    /// Deadline of each Redis call, connection included, in milliseconds.
    #[arg(long, env = "CONFEITARIA_REDIS_TIMEOUT_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_timeout_ms: u64,

    /// Deadline of each catalog look-up, in milliseconds.
    #[arg(long, env = "CONFEITARIA_CATALOG_TIMEOUT_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub catalog_timeout_ms: u64,

    /// Deadline of a whole request, in milliseconds.
    #[arg(long, env = "CONFEITARIA_CART_REQUEST_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// This process's name in the `cart` consumer group of `pedidos:eventos` (only with a
    /// Redis URL). Keep it stable across restarts and distinct per replica.
    #[arg(
        long,
        env = "CONFEITARIA_CART_EVENTS_CONSUMER",
        default_value = "cart-1"
    )]
    pub events_consumer: String,

    /// Order events pending this long under another consumer are taken over, in milliseconds.
    #[arg(long, env = "CONFEITARIA_CART_EVENTS_CLAIM_IDLE_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub events_claim_idle_ms: u64,

    /// Seconds a handled order confirmation is remembered (so a repeat does nothing).
    #[arg(long, env = "CONFEITARIA_CART_EVENTS_DEDUPE_TTL_SECS", default_value_t = 7 * 24 * 60 * 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub events_dedupe_ttl_secs: u64,

    /// HS256 key of the service JWTs orders signs its direct order-event deliveries with
    /// (defaults to cluster.toml's development secret).
    #[arg(long, env = "CONFEITARIA_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_default_value = true)]
    pub jwt_secret: Secret,

    /// The cluster file.
    #[command(flatten)]
    pub cluster_file: ClusterFileArg,
}

impl Settings for Config {
    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.jwt_secret]
    }

    /// `[cart] addr` and `redis_url`, the API addresses of `[[nodes]]`, `[cluster]
    /// jwt_secret`.
    fn fill(&mut self, file: &ClusterFile, given: &Given) -> Result<(), String> {
        let (addr, redis, nodes) = (&mut self.addr, &mut self.redis_url, &mut self.catalog_nodes);
        given.fill_service(file, file.cart.as_ref(), addr, redis, nodes)?;
        let jwt = file.cluster.jwt_secret.clone();
        given.fill("jwt_secret", &mut self.jwt_secret, Some(jwt));
        Ok(())
    }
}

impl Config {
    /// Cart lifetime after the last write.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.cart_ttl_secs)
    }

    /// The time bounds handlers use.
    pub fn limits(&self) -> Limits {
        Limits {
            catalog_deadline: Duration::from_millis(self.catalog_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
        }
    }

    /// The order-event consumer's settings: only with a Redis URL (the stream lives there).
    pub fn events(&self) -> Option<EventsConfig> {
        let url = self.redis_url.get()?;
        let mut c = EventsConfig::new(url);
        c.consumer = self.events_consumer.clone();
        c.deadline = Duration::from_millis(self.redis_timeout_ms);
        c.claim_idle = Duration::from_millis(self.events_claim_idle_ms);
        c.dedupe_ttl = Duration::from_secs(self.events_dedupe_ttl_secs);
        Some(c)
    }

    /// Where handled confirmations are remembered: Redis if a URL is configured (shared by
    /// replicas and kept across restarts), process memory otherwise. Does not connect.
    pub fn seen(&self) -> Result<Arc<dyn SeenIds>, StoreError> {
        let ttl = Duration::from_secs(self.events_dedupe_ttl_secs);
        Ok(match self.redis_url.get() {
            Some(url) => {
                let deadline = Duration::from_millis(self.redis_timeout_ms);
                let link = Arc::new(RedisLink::new(&url, deadline, deadline)?);
                Arc::new(SeenInRedis::new(link, ttl))
            }
            None => Arc::new(SeenInMemory::new(ttl, MEMORY_MAX)),
        })
    }

    /// Redis if a URL is configured, the embedded store otherwise. Does not wait for Redis.
    pub fn store(&self) -> Result<Arc<dyn CartStore>, StoreError> {
        Ok(match self.redis_url.get() {
            Some(url) => Arc::new(RedisStore::new(RedisStoreConfig {
                url,
                ttl: self.ttl(),
                deadline: Duration::from_millis(self.redis_timeout_ms),
            })?),
            None => Arc::new(MemoryStore::new(self.ttl())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The declared defaults (read from the command definition, so variables set in the
    /// environment running the tests cannot change the answer).
    fn default_of(id: &str) -> String {
        let cmd = <Config as clap::CommandFactory>::command();
        let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
        arg.get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn defaults_follow_design() {
        assert_eq!(default_of("addr"), "127.0.0.1:5002");
        assert_eq!(default_of("cart_ttl_secs"), "604800");
        assert_eq!(
            default_of("catalog_nodes"),
            "127.0.0.1:5001,127.0.0.1:5011,127.0.0.1:5021"
        );
        assert_eq!(default_of("redis_url"), "");
        assert_eq!(default_of("events_consumer"), "cart-1");
    }

    #[test]
    fn events_run_only_with_a_redis_url() {
        let c = Config::try_parse_from(["cart"]).unwrap();
        assert!(c.redis_url.get().is_some() || c.events().is_none());
        let c = Config::try_parse_from([
            "cart",
            "--redis-url",
            "redis://h:1",
            "--events-consumer",
            "cart-b",
            "--redis-timeout-ms",
            "250",
        ])
        .unwrap();
        let e = c.events().unwrap();
        assert_eq!(
            (e.url.as_str(), e.consumer.as_str(), e.deadline),
            ("redis://h:1", "cart-b", Duration::from_millis(250))
        );
        assert!(Config::try_parse_from(["cart", "--events-claim-idle-ms", "0"]).is_err());
    }

    fn cluster_file(redis_url: &str) -> String {
        let cart = format!("[cart]\naddr = \"10.0.0.9:5002\"\nredis_url = \"{redis_url}\"\n");
        let nodes = ["10.0.0.1:5001", "10.0.0.2:5001"];
        confeitaria_service::testing::cluster_toml("jwt_secret = \"j\"", &nodes, &cart)
    }

    #[test]
    fn the_cluster_file_gives_addr_redis_and_catalog_nodes() {
        let file = ClusterFile::parse(&cluster_file("redis://10.0.0.5:6379")).unwrap();
        let c = Config::from_cluster_file(&file).unwrap();
        assert_eq!(c.addr, "10.0.0.9:5002");
        assert_eq!(c.redis_url.get().as_deref(), Some("redis://10.0.0.5:6379"));
        assert_eq!(c.catalog_nodes, ["10.0.0.1:5001", "10.0.0.2:5001"]);
        // `redis_url = ""` is the embedded store, as cluster.toml says.
        let file = ClusterFile::parse(&cluster_file("")).unwrap();
        assert_eq!(
            Config::from_cluster_file(&file).unwrap().redis_url.get(),
            None
        );
    }

    #[test]
    fn flags_beat_the_cluster_file_for_every_setting_it_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.toml");
        std::fs::write(&path, cluster_file("redis://10.0.0.5:6379")).unwrap();
        let c = Config::load_from([
            "cart",
            "--cluster-file",
            path.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--redis-url",
            "",
            "--catalog-nodes",
            "127.0.0.1:1",
        ])
        .unwrap();
        assert_eq!(c.addr, "127.0.0.1:0");
        assert_eq!(c.redis_url.get(), None);
        assert_eq!(c.catalog_nodes, ["127.0.0.1:1"]);
    }

    #[test]
    fn redis_url_is_never_printed() {
        let c = Config::try_parse_from(["cart", "--redis-url", "redis://:hunter2@h:6379"]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(Config::try_parse_from(["cart", "--redis-url", "http://x"]).is_err());
        assert!(Config::try_parse_from(["cart", "--cart-ttl-secs", "0"]).is_err());
    }
}
