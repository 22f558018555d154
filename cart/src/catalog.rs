//! The cart's view of the catalog: one question, "what is product N right now?".
//!
//! Behind a trait so the service holds an `Arc<dyn Catalog>`; production answers it with
//! `confeitaria_client::CatalogClient` reading a node's local replica (any reachable node
//! will do, leader or not), and unit tests can answer it from a table.

use std::time::Duration;

use confeitaria_client::catalog::CallPolicy;
use confeitaria_client::{CatalogClient, ClientError, Consistency};
use confeitaria_types::Doce;
use futures::future::{BoxFuture, FutureExt};

/// Why the catalog could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// No node answered in time (all down, partitioned, or no leader where one is needed).
    #[error("catalog unavailable: {0}")]
    Unavailable(String),
    /// A node answered something the cart did not expect (e.g. a 4xx to a valid read).
    #[error("unexpected catalog answer: {0}")]
    Unexpected(String),
}

/// Product look-ups the cart needs.
pub trait Catalog: Send + Sync + 'static {
    /// The product with this id, `None` if the catalog has none.
    fn doce(&self, id: u64) -> BoxFuture<'_, Result<Option<Doce>, CatalogError>>;
}

/// Bounds a catalog look-up by `deadline`, whatever the implementation does inside.
pub async fn doce_with_deadline(
    catalog: &dyn Catalog,
    id: u64,
    deadline: Duration,
) -> Result<Option<Doce>, CatalogError> {
    match tokio::time::timeout(deadline, catalog.doce(id)).await {
        Ok(r) => r,
        Err(_) => Err(CatalogError::Unavailable(format!(
            "product {id}: no answer within {deadline:?}"
        ))),
    }
}

/// The catalog cluster through `confeitaria-client`, reading each product from whichever node
/// answers first, at `consistency=local`: no leader is needed, so adds keep working while
/// the cluster elects one or while a node is down.
#[derive(Debug, Clone)]
pub struct ClientCatalog {
    client: CatalogClient,
}

impl ClientCatalog {
    /// A client for the nodes at `api_addrs` (`host:port`) that gives up after `deadline`,
    /// spending at most a quarter of it on any one node so a hung node cannot use it all.
    pub fn new(api_addrs: Vec<String>, deadline: Duration) -> Self {
        let policy = CallPolicy {
            deadline,
            attempt: (deadline / 4).max(Duration::from_millis(50)),
            backoff: Duration::from_millis(20),
        };
        Self {
            client: CatalogClient::new(api_addrs).with_policy(policy),
        }
    }
}

impl Catalog for ClientCatalog {
    fn doce(&self, id: u64) -> BoxFuture<'_, Result<Option<Doce>, CatalogError>> {
        async move {
            match self.client.doce(id, Consistency::Local).await {
                Ok(doce) => Ok(Some(doce)),
                Err(ClientError::NotFound) => Ok(None),
                Err(ClientError::NoLeader) => Err(CatalogError::Unavailable("no leader".into())),
                Err(ClientError::Unavailable(m)) => Err(CatalogError::Unavailable(m)),
                Err(other) => Err(CatalogError::Unexpected(other.to_string())),
            }
        }
        .boxed()
    }
}
