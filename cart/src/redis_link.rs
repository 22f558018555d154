//! One Redis connection of the cart, shared by the store ([`crate::store::RedisStore`]) and
//! the order-event consumer ([`crate::events`]): created lazily (the service starts, and says
//! not ready, while Redis is down), rebuilt by `redis`'s `ConnectionManager` after a failure,
//! and every call bounded by a deadline. Each user holds its own link, so the consumer's
//! blocking stream reads never queue the store's calls behind them.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult};
use tokio::sync::OnceCell;

use crate::store::StoreError;

/// How often [`RedisLink::keep_alive`] pings, so the connection is rebuilt without traffic.
const KEEPALIVE_EVERY: Duration = Duration::from_millis(500);

/// A lazily connected, self-reconnecting Redis connection with a deadline on every call.
pub struct RedisLink {
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    manager_config: ConnectionManagerConfig,
    deadline: Duration,
}

impl RedisLink {
    /// Checks the URL; does not connect. `deadline` bounds every call made with
    /// [`RedisLink::bounded`]; `slowest_reply` is the longest any one reply may take (longer
    /// than `deadline` for a blocking read).
    pub fn new(url: &str, deadline: Duration, slowest_reply: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("bad Redis URL: {e}")))?;
        // One connection attempt per reconnect, no backoff sleeps: the redis crate's backoff
        // starts at one second and grows a hundredfold, which would keep the service down long
        // after Redis is back. The caller's next call (or the keepalive) triggers the next
        // attempt soon enough.
        let manager_config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(deadline)
            .set_response_timeout(slowest_reply.max(deadline));
        Ok(Self {
            client,
            manager: OnceCell::new(),
            manager_config,
            deadline,
        })
    }

    /// The deadline of one ordinary call.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The shared connection, created on first use.
    pub async fn conn(&self) -> RedisResult<ConnectionManager> {
        self.manager
            .get_or_try_init(|| {
                ConnectionManager::new_with_config(self.client.clone(), self.manager_config.clone())
            })
            .await
            .cloned()
    }

    /// Runs one Redis exchange under the link's deadline.
    pub async fn bounded<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.bounded_for(what, self.deadline, call).await
    }

    /// Runs one Redis exchange under `limit` (a blocking read's own wait plus the deadline).
    pub async fn bounded_for<T>(
        &self,
        what: &'static str,
        limit: Duration,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(what, e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "{what}: no answer within {limit:?}"
            ))),
        }
    }

    /// `PING` under the deadline.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let reply: String = self
            .bounded("ping", async {
                let mut c = self.conn().await?;
                redis::cmd("PING").query_async(&mut c).await
            })
            .await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!("PING answered {reply:?}")))
        }
    }

    /// Pings every 500 ms until the last `Arc` of the link is dropped, so a link whose owner
    /// sends nothing reconnects soon after Redis returns. Must be called inside a Tokio
    /// runtime.
    pub fn keep_alive(self: &Arc<Self>) {
        tokio::spawn(keepalive(Arc::downgrade(self)));
    }
}

async fn keepalive(link: Weak<RedisLink>) {
    let mut was_up = None;
    loop {
        tokio::time::sleep(KEEPALIVE_EVERY).await;
        let Some(link) = link.upgrade() else { return };
        let up = link.ping().await.is_ok();
        if was_up != Some(up) {
            if up {
                tracing::info!("redis reachable");
            } else {
                tracing::warn!("redis unreachable");
            }
            was_up = Some(up);
        }
    }
}

/// Redis errors that mean "try again later" become `Unavailable` (503); errors that mean this
/// code and the server disagree become `Corrupt` (500).
pub fn classify(what: &str, e: RedisError) -> StoreError {
    match e.kind() {
        ErrorKind::TypeError | ErrorKind::ParseError | ErrorKind::ResponseError => {
            StoreError::Corrupt(format!("{what}: {e}"))
        }
        _ => StoreError::Unavailable(format!("{what}: {e}")),
    }
}
