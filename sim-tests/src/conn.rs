//! A client process's connections to the catalog: the real `CatalogClient` (leader
//! discovery, retries, breaker) for most calls, its `Transport` for reads pinned to one node,
//! and the mapping of what they answer to an operation's [`Outcome`].

use std::time::Duration;

use confeitaria_client::{CallPolicy, CatalogClient, ClientError, Consistency, Transport};
use confeitaria_types::auth::{self, TokenRole};
use confeitaria_types::{ClusterStatus, ItemReserva, NovaReserva};
use http::Method;
use serde::Deserialize;

use crate::cluster::{api_addr, JWT_SECRET};
use crate::history::{
    Counters, Estado, NodeId, Observed, Op, Outcome, ProductId, ReadLevel, Refusal, StockRead,
};
use crate::net::SimConnector;

/// An admin token with a fixed expiry (year 2100), so every run sends identical bytes.
pub fn admin_token() -> String {
    auth::sign(
        JWT_SECRET.as_bytes(),
        TokenRole::Admin,
        "sim",
        4_102_444_800 - 1,
        1,
    )
    .unwrap_or_default()
}

/// The client policy of simulated processes: short deadlines, as a shop's services use.
pub fn policy() -> CallPolicy {
    CallPolicy {
        deadline: Duration::from_millis(2000),
        attempt: Duration::from_millis(1000),
        backoff: Duration::from_millis(20),
    }
}

/// Deadline of one pinned read.
const PINNED_DEADLINE: Duration = Duration::from_millis(1000);

/// A process's connections: the catalog client, and the transport for pinned requests.
#[derive(Debug)]
pub struct Conn {
    client: CatalogClient<SimConnector>,
    transport: Transport<SimConnector>,
}

impl Conn {
    /// Connections to an `nodes`-node cluster, the client's jitter seeded with `seed`.
    pub fn new(nodes: u64, seed: u64) -> Self {
        let token = admin_token();
        let addrs = (1..=nodes).map(api_addr).collect();
        let client = CatalogClient::with_transport(addrs, Transport::new(SimConnector::default()))
            .with_token(token)
            .with_policy(policy())
            .with_seed(seed);
        Self {
            client,
            transport: Transport::new(SimConnector::default()),
        }
    }

    /// Runs `op` and returns its outcome.
    pub async fn execute(&self, op: &Op) -> Outcome {
        match op {
            Op::Reserve { rid, items, issued } => {
                let r = NovaReserva {
                    emitida_em: *issued,
                    id: rid.clone(),
                    itens: items
                        .iter()
                        .map(|(p, q)| ItemReserva {
                            doce_id: *p,
                            quantidade: *q,
                        })
                        .collect(),
                };
                reservation(self.client.reservar(&r).await)
            }
            Op::Confirm { rid } => reservation(self.client.confirmar(rid).await),
            Op::Release { rid } => reservation(self.client.liberar(rid).await),
            Op::Close { rid } => reservation(self.client.encerrar(rid).await),
            Op::Adjust { product, delta } => {
                match self.client.adjust_estoque(*product, *delta).await {
                    Ok(d) => Outcome::Ok(Observed::Available(d.estoque)),
                    Err(e) => refused(e),
                }
            }
            Op::Read {
                product,
                level,
                node: None,
            } => {
                let c = match level {
                    ReadLevel::Linearizable => Consistency::Linearizable,
                    ReadLevel::Local => Consistency::Local,
                };
                match self.client.estoque(*product, c).await {
                    Ok(e) => Outcome::Ok(Observed::Stock(StockRead {
                        counters: Counters {
                            disponivel: signed(e.disponivel),
                            reservado: signed(e.reservado),
                            vendido: signed(e.vendido),
                        },
                        recebido: signed(e.recebido),
                        applied: None,
                        served_by: None,
                    })),
                    Err(e) => refused(e),
                }
            }
            Op::Read {
                product,
                level,
                node: Some(n),
            } => self.pinned_read(*n, *product, *level).await,
            Op::ReadReservation { rid } | Op::ReadOrderReservation { rid, .. } => {
                match self
                    .client
                    .obter_reserva(rid, Consistency::Linearizable)
                    .await
                {
                    Ok(r) => Outcome::Ok(Observed::Reservation(Some(r.estado.into()))),
                    Err(e) => refused(e),
                }
            }
            // Calls to the orders service go through `crate::saga`.
            Op::Checkout { .. } | Op::SetStatus { .. } | Op::ReadOrder { .. } => {
                Outcome::Fail(Refusal::Other("not a catalog call".into()))
            }
        }
    }

    /// Reads a product's stock on one node, with the applied index it was served at.
    async fn pinned_read(&self, node: NodeId, product: ProductId, level: ReadLevel) -> Outcome {
        let level = match level {
            ReadLevel::Linearizable => "linearizable",
            ReadLevel::Local => "local",
        };
        let url = format!(
            "http://{}/api/produtos/{product}/estoque?consistency={level}",
            api_addr(node)
        );
        let resp = match self
            .transport
            .send(Method::GET, &url, &[], None, PINNED_DEADLINE)
            .await
        {
            Ok(r) => r,
            Err(e) => return Outcome::Unknown(e.to_string()),
        };
        if !resp.status.is_success() {
            return if resp.status.is_server_error() {
                Outcome::Unknown(format!("status {}", resp.status.as_u16()))
            } else if resp.status == http::StatusCode::NOT_FOUND {
                Outcome::Fail(Refusal::NotFound)
            } else {
                Outcome::Fail(Refusal::Other(format!("status {}", resp.status.as_u16())))
            };
        }
        #[derive(Deserialize)]
        struct Raw {
            disponivel: i64,
            reservado: i64,
            vendido: i64,
            recebido: i64,
        }
        match serde_json::from_slice::<Raw>(&resp.body) {
            Ok(r) => Outcome::Ok(Observed::Stock(StockRead {
                counters: Counters {
                    disponivel: r.disponivel,
                    reservado: r.reservado,
                    vendido: r.vendido,
                },
                recebido: r.recebido,
                applied: resp
                    .header("x-raft-applied-index")
                    .and_then(|v| v.parse().ok()),
                served_by: resp.header("x-served-by").and_then(|v| v.parse().ok()),
            })),
            Err(e) => Outcome::Fail(Refusal::Other(format!("undecodable stock: {e}"))),
        }
    }

    /// Sets a product's available stock (admin; idempotent): true once acknowledged.
    pub async fn set_estoque(&self, product: ProductId, units: u64) -> bool {
        self.client.set_estoque(product, units).await.is_ok()
    }

    /// One node's `/cluster/status`, if it answers.
    pub async fn status(&self, node: NodeId) -> Option<ClusterStatus> {
        let url = format!("http://{}/cluster/status", api_addr(node));
        let resp = self
            .transport
            .send(Method::GET, &url, &[], None, PINNED_DEADLINE)
            .await
            .ok()?;
        if !resp.status.is_success() {
            return None;
        }
        serde_json::from_slice(&resp.body).ok()
    }
}

pub(crate) fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn reservation(r: Result<confeitaria_types::Reserva, ClientError>) -> Outcome {
    match r {
        Ok(r) => Outcome::Ok(Observed::Reservation(Some(Estado::from(r.estado)))),
        Err(e) => refused(e),
    }
}

/// Maps a client error to an outcome: 4xx are refusals (nothing applied), the rest unknown.
fn refused(e: ClientError) -> Outcome {
    match e {
        ClientError::NotFound => Outcome::Fail(Refusal::NotFound),
        ClientError::Conflict { code, doce_id, .. } => Outcome::Fail(match code.as_str() {
            "insufficient_stock" => Refusal::InsufficientStock(doce_id),
            "negative_stock" => Refusal::NegativeStock,
            "reservation_released" => Refusal::Released,
            "reservation_expired" => Refusal::Expired,
            "reservation_closed" => Refusal::Closed,
            "reservation_open" => Refusal::Open,
            _ => Refusal::Other(code),
        }),
        ClientError::BadRequest { code, .. } => Outcome::Fail(Refusal::Other(code)),
        ClientError::Unauthorized(m) => Outcome::Fail(Refusal::Other(format!("unauthorized {m}"))),
        ClientError::NoLeader => Outcome::Unknown("no leader".into()),
        ClientError::Unavailable(m) => Outcome::Unknown(m),
    }
}
