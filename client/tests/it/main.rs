//! confeitaria-client integration tests: the library against in-process catalog clusters
//! and against fake nodes that misbehave on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod errors;
mod failover;
mod fake;
mod proxy;
mod routing;

use std::time::Duration;

use catalog_node::testing::TestCluster;
use confeitaria_client::{CallPolicy, CatalogClient};
use confeitaria_types::auth::TokenRole;

/// A client for every node of `c` with an admin token.
pub fn admin_client(c: &TestCluster) -> CatalogClient {
    CatalogClient::new(c.api_addrs()).with_token(c.token(TokenRole::Admin))
}

/// A policy with an overall deadline of `secs` seconds.
pub fn deadline(secs: u64) -> CallPolicy {
    CallPolicy {
        deadline: Duration::from_secs(secs),
        attempt: Duration::from_secs(2),
        backoff: Duration::from_millis(20),
    }
}

/// Waits until `f` holds, polling every 20 ms, or panics after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + timeout;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < end,
            "not within {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every node's own replica has the starting catalog, so local reads of product
/// 1 succeed wherever they land.
pub async fn wait_replicated(c: &TestCluster) {
    for addr in c.api_addrs() {
        let one = CatalogClient::new(vec![addr.clone()]);
        eventually(
            Duration::from_secs(10),
            "every replica has the seed",
            || {
                let one = one.clone();
                async move {
                    one.doce(1, confeitaria_client::Consistency::Local)
                        .await
                        .is_ok()
                }
            },
        )
        .await;
    }
}
