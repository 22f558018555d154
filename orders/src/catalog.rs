//! The orders service's view of the catalog: the four reservation calls and a readiness
//! probe, behind [`Reservations`] so the saga holds an `Arc<dyn Reservations>`.
//!
//! [`CatalogReservations`] answers them with `confeitaria_client::CatalogClient`, which finds the
//! leader, fails over and retries these idempotent calls with the reservation id (= the order
//! id) until its deadline, so a catalog failover costs the shopper only latency.

use std::time::Duration;

use confeitaria_client::catalog::CallPolicy;
use confeitaria_client::config::Secret;
use confeitaria_client::{CatalogClient, ClientError};
use confeitaria_types::auth::{self, TokenRole};
use confeitaria_types::{NovaReserva, Reserva};
use futures::future::BoxFuture;

/// Lifetime of the service tokens signed for each call.
const TOKEN_TTL_SECS: u64 = 300;

/// Reservation calls; every one is idempotent by reservation id.
pub trait Reservations: Send + Sync + 'static {
    /// `POST /api/reservas`: all or nothing.
    fn reserve(&self, reserva: NovaReserva) -> BoxFuture<'_, Result<Reserva, ClientError>>;
    /// `POST /api/reservas/{id}/confirmar`: held units become sold.
    fn confirm(&self, id: String) -> BoxFuture<'_, Result<Reserva, ClientError>>;
    /// `DELETE /api/reservas/{id}`: held or sold units return to available.
    fn release(&self, id: String) -> BoxFuture<'_, Result<Reserva, ClientError>>;
    /// `POST /api/reservas/{id}/encerrar`: the order is final (`entregue`), its confirmed
    /// reservation is closed for good, and the catalog forgets it after its retention window.
    fn close(&self, id: String) -> BoxFuture<'_, Result<Reserva, ClientError>>;
    /// Whether the catalog has a leader that answers (for `/ready`).
    fn ready(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// [`Reservations`] over the catalog's REST API, with a service JWT signed per call.
#[derive(Debug, Clone)]
pub struct CatalogReservations {
    client: CatalogClient,
    probe: CatalogClient,
    secret: Secret,
}

impl CatalogReservations {
    /// A client of the nodes at `nodes` (`host:port`), whose calls (retries included) end
    /// within `deadline`.
    pub fn new(nodes: Vec<String>, secret: Secret, deadline: Duration) -> Self {
        let client = CatalogClient::new(nodes).with_policy(CallPolicy {
            deadline,
            attempt: Duration::from_secs(2).min(deadline),
            backoff: Duration::from_millis(20),
        });
        let probe = client.clone().with_policy(CallPolicy {
            deadline: Duration::from_secs(1),
            attempt: Duration::from_millis(500),
            backoff: Duration::from_millis(20),
        });
        Self {
            client,
            probe,
            secret,
        }
    }

    fn signed(&self) -> Result<CatalogClient, ClientError> {
        let token = auth::sign(
            self.secret.expose(),
            TokenRole::Service,
            "orders",
            auth::now_secs(),
            TOKEN_TTL_SECS,
        )
        .map_err(|e| ClientError::Unauthorized(e.to_string()))?;
        Ok(self.client.clone().with_token(token))
    }
}

impl Reservations for CatalogReservations {
    fn reserve(&self, reserva: NovaReserva) -> BoxFuture<'_, Result<Reserva, ClientError>> {
        Box::pin(async move { self.signed()?.reservar(&reserva).await })
    }

    fn confirm(&self, id: String) -> BoxFuture<'_, Result<Reserva, ClientError>> {
        Box::pin(async move { self.signed()?.confirmar(&id).await })
    }

    fn release(&self, id: String) -> BoxFuture<'_, Result<Reserva, ClientError>> {
        Box::pin(async move { self.signed()?.liberar(&id).await })
    }

    fn close(&self, id: String) -> BoxFuture<'_, Result<Reserva, ClientError>> {
        Box::pin(async move { self.signed()?.encerrar(&id).await })
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let st = self.probe.refresh().await.map_err(|e| e.to_string())?;
            match st.leader {
                Some(_) => Ok(()),
                None => Err("the catalog has no leader".into()),
            }
        })
    }
}
