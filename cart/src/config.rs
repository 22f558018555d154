//! Configuration, parsed once at start-up from flags and `CONFEITARIA_*` variables.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::events::EventsConfig;
use crate::store::{CartStore, MemoryStore, RedisStore, RedisStoreConfig, StoreError};
use crate::Limits;

/// A Redis URL, which may hold a password: printed redacted.
#[derive(Clone)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL itself, for the Redis client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for RedisUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("redis://") || s.starts_with("rediss://") || s.starts_with("unix://") {
            Ok(Self(s.to_owned()))
        } else {
            Err("expected redis://host:port[/db]".to_owned())
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedisUrl(<redacted>)")
    }
}

/// The `cart` binary's settings.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "cart", version, about = "Confeitaria cart service")]
pub struct Config {
    /// Address to serve the API on; port 0 binds a free port (logged).
    #[arg(long, env = "CONFEITARIA_CART_ADDR", default_value = "127.0.0.1:5002")]
    pub addr: String,

    /// Redis URL; without it carts live in process memory (lost on restart).
    #[arg(long, env = "CONFEITARIA_REDIS_URL")]
    pub redis_url: Option<RedisUrl>,

    /// Catalog nodes' API addresses (`host:port`, comma-separated); any reachable one serves.
    #[arg(
        long,
        env = "CONFEITARIA_CATALOG_NODES",
        value_delimiter = ',',
        default_value = "127.0.0.1:5001,127.0.0.1:5011,127.0.0.1:5021"
    )]
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
        let url = self.redis_url.as_ref()?;
        let mut c = EventsConfig::new(url.expose());
        c.consumer = self.events_consumer.clone();
        c.deadline = Duration::from_millis(self.redis_timeout_ms);
        c.claim_idle = Duration::from_millis(self.events_claim_idle_ms);
        c.dedupe_ttl = Duration::from_secs(self.events_dedupe_ttl_secs);
        Some(c)
    }

    /// Redis if a URL is configured, the embedded store otherwise. Does not wait for Redis.
    pub fn store(&self) -> Result<Arc<dyn CartStore>, StoreError> {
        Ok(match &self.redis_url {
            Some(url) => Arc::new(RedisStore::new(RedisStoreConfig {
                url: url.expose().to_owned(),
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
        assert!(c.redis_url.is_some() || c.events().is_none());
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

    #[test]
    fn redis_url_is_never_printed() {
        let c = Config::try_parse_from(["cart", "--redis-url", "redis://:hunter2@h:6379"]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(Config::try_parse_from(["cart", "--redis-url", "http://x"]).is_err());
        assert!(Config::try_parse_from(["cart", "--cart-ttl-secs", "0"]).is_err());
    }
}
