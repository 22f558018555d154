//! Configuration, parsed once at start-up from flags and `CONFEITARIA_*` variables.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use confeitaria_client::config::Secret;

/// The development JWT secret of `cluster.toml`, used when none is configured.
pub const DEV_JWT_SECRET: &str = "dev-jwt-secret-change-me";

/// A Redis URL, which may hold a password: printed redacted. Empty means none.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL, or `None` when empty.
    pub fn get(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.clone())
    }
}

impl FromStr for RedisUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty()
            || s.starts_with("redis://")
            || s.starts_with("rediss://")
            || s.starts_with("unix://")
        {
            Ok(Self(s.to_owned()))
        } else {
            Err("expected redis://host:port[/db] or nothing".to_owned())
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("RedisUrl(none)")
        } else {
            f.write_str("RedisUrl(<redacted>)")
        }
    }
}

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
    #[arg(
        long,
        env = "CONFEITARIA_CATALOG_NODES",
        value_delimiter = ',',
        default_value = "127.0.0.1:5001,127.0.0.1:5011,127.0.0.1:5021"
    )]
    pub catalog_nodes: Vec<String>,

    /// Base URL of the cart service.
    #[arg(
        long,
        env = "CONFEITARIA_CART_URL",
        default_value = "http://127.0.0.1:5002"
    )]
    pub cart_url: String,

    /// Redis URL for the outbox; empty: events stay in the outbox (publishing disabled).
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
}

impl Config {
    /// Settings for `data_dir` with every other value from the environment or its default
    /// (for embedding, e.g. `confeitaria up`, and tests).
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
