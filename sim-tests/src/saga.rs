//! The order saga under simulation: the real `orders` service on a simulated host (its sled
//! store in a directory that survives crashes, its catalog calls made by the real catalog
//! client over simulated sockets), shoppers checking out carts without a cart service, and
//! the final reads that let [`crate::checkers::saga_reservations`] prove that no reservation
//! was left dangling.
//!
//! A cart is encoded in its session id (`Carts`), so checkout needs no cart service and every
//! run sees the same carts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::config::Secret;
use confeitaria_client::{CatalogClient, ClientError, Transport};
use confeitaria_types::cart::{Carrinho, ItemCarrinho};
use confeitaria_types::orders::{AtualizaStatus, DadosEvento, EventosPedido, NovoPedido, Pedido};
use confeitaria_types::{NovaReserva, Reserva};
use http::Method;
use orders::cart_source::{CartError, CartSource};
use orders::catalog::Reservations;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cluster::{api_addr, JWT_SECRET};
use crate::conn::{admin_token, policy, Conn};
use crate::history::{Micros, Observed, Op, Outcome, ProductId, Refusal, StatusPedido};
use crate::net::{SimConnector, SimListener};
use crate::shared::{self, now, SharedRef};
use crate::workload::WorkloadConfig;

/// Host name of the orders service.
pub const ORDERS_HOST: &str = "orders";
/// Its API port.
pub const ORDERS_PORT: u16 = 5003;

/// Deadline of one call to the orders service.
const ORDERS_DEADLINE: Duration = Duration::from_millis(5000);

/// The catalog as the orders service sees it, through the real client over simulated
/// sockets, with a service token of fixed expiry.
struct SimReservations {
    client: CatalogClient<SimConnector>,
}

impl SimReservations {
    fn new(nodes: u64) -> Self {
        let token = confeitaria_types::auth::sign(
            JWT_SECRET.as_bytes(),
            confeitaria_types::auth::TokenRole::Service,
            "orders",
            4_102_444_800 - 1,
            1,
        )
        .unwrap_or_default();
        let client = CatalogClient::with_transport(
            (1..=nodes).map(api_addr).collect(),
            Transport::new(SimConnector::default()),
        )
        .with_token(token)
        .with_policy(policy())
        .with_seed(0x5a6a);
        Self { client }
    }
}

type Fut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl Reservations for SimReservations {
    fn reserve(&self, reserva: NovaReserva) -> Fut<'_, Result<Reserva, ClientError>> {
        Box::pin(async move { self.client.reservar(&reserva).await })
    }
    fn confirm(&self, id: String) -> Fut<'_, Result<Reserva, ClientError>> {
        Box::pin(async move { self.client.confirmar(&id).await })
    }
    fn release(&self, id: String) -> Fut<'_, Result<Reserva, ClientError>> {
        Box::pin(async move { self.client.liberar(&id).await })
    }
    fn close(&self, id: String) -> Fut<'_, Result<Reserva, ClientError>> {
        Box::pin(async move { self.client.encerrar(&id).await })
    }
    fn ready(&self) -> Fut<'_, Result<(), String>> {
        Box::pin(async move {
            match self.client.refresh().await {
                Ok(st) if st.leader.is_some() => Ok(()),
                Ok(_) => Err("no leader".into()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// Carts without a cart service: the session id carries the cart.
struct Carts;

/// The session id of a cart: a serial number and up to two `(product, units)` lines, in
/// 32 hex characters.
pub fn session_id(serial: u64, items: &[(ProductId, u64)]) -> String {
    let mut code: u128 = u128::from(serial) << 64;
    for (i, (p, q)) in items.iter().take(2).enumerate() {
        let line = (u128::from(*p & 0xffff) << 16) | u128::from(*q & 0xffff);
        code |= line << (32 * i);
    }
    format!("{code:032x}")
}

/// The cart a session id carries.
pub fn cart_of(session: &str) -> Option<Vec<(ProductId, u64)>> {
    let code = u128::from_str_radix(session, 16).ok()?;
    let items: Vec<(ProductId, u64)> = (0..2)
        .map(|i| (code >> (32 * i)) as u32)
        .filter(|line| *line != 0)
        .map(|line| (u64::from(line >> 16), u64::from(line & 0xffff)))
        .collect();
    Some(items)
}

impl CartSource for Carts {
    fn carrinho<'a>(&'a self, session_id: &'a str) -> Fut<'a, Result<Option<Carrinho>, CartError>> {
        Box::pin(async move {
            let Some(items) = cart_of(session_id) else {
                return Ok(None);
            };
            let itens: Vec<ItemCarrinho> = items
                .into_iter()
                .map(|(p, q)| ItemCarrinho {
                    doce_id: p,
                    nome: format!("doce {p}"),
                    preco_centavos: 100,
                    quantidade: q,
                    subtotal_centavos: 100 * q,
                })
                .collect();
            Ok(Some(Carrinho {
                session_id: session_id.to_owned(),
                total_centavos: itens.iter().map(|i| i.subtotal_centavos).sum(),
                itens,
                expira_em: "2100-01-01T00:00:00Z".into(),
            }))
        })
    }
}

/// The orders service's host software: opens its store in `dir` (kept across crashes) and
/// serves until the host is crashed.
pub async fn run_orders(dir: PathBuf, nodes: u64) -> turmoil::Result {
    let mut config = orders::config::Config::with_data_dir(&dir)?;
    config.catalog_nodes = (1..=nodes).map(api_addr).collect();
    config.jwt_secret = Secret::new(JWT_SECRET);
    config.redis_url = orders::config::RedisUrl::default();
    config.catalog_timeout_ms = 3000;
    config.request_timeout_ms = 4000;
    config.recovery_interval_ms = 300;
    // Flush on this thread: a blocking-pool thread finishes in real time.
    let store = orders::store::Store::open(&dir)?.with_inline_flush();
    let app = orders::App::with_parts(
        config,
        store,
        Arc::new(SimReservations::new(nodes)),
        Arc::new(Carts),
    )
    // Order ids from the simulation's seeded generator; the stream moves on across
    // incarnations, so a restarted service does not reuse ids.
    .with_ids(|| rand::Rng::gen::<u128>(&mut raft_store::runtime::ThreadRng));
    app.serve(
        SimListener::bind(ORDERS_PORT).await?,
        std::future::pending::<()>(),
    )
    .await?;
    Ok(())
}

/// A client of the orders service.
struct Orders {
    transport: Transport<SimConnector>,
    token: String,
}

impl Orders {
    fn new() -> Self {
        Self {
            transport: Transport::new(SimConnector::default()),
            token: admin_token(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), String> {
        let url = format!("http://{ORDERS_HOST}:{ORDERS_PORT}{path}");
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(k) = key {
            headers.push(("idempotency-key", k));
        }
        self.transport
            .send(method, &url, &headers, body, ORDERS_DEADLINE)
            .await
            .map(|r| (r.status.as_u16(), r.body.to_vec()))
            .map_err(|e| e.to_string())
    }

    /// Checks out the cart of `items` under `key`.
    async fn checkout(&self, key: &str, serial: u64, items: &[(ProductId, u64)]) -> Outcome {
        let body = NovoPedido {
            session_id: session_id(serial, items),
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        match self
            .send(Method::POST, "/api/pedidos", Some(key), Some(body))
            .await
        {
            Ok((200 | 201, b)) => order(&b, true),
            Ok((s, _)) if s >= 500 => Outcome::Unknown(format!("status {s}")),
            Ok((s, b)) => Outcome::Fail(Refusal::Other(error_code(s, &b))),
            Err(e) => Outcome::Unknown(e),
        }
    }

    async fn set_status(&self, id: &str, status: StatusPedido) -> Outcome {
        let body = serde_json::to_vec(&AtualizaStatus { status }).unwrap_or_default();
        let path = format!("/api/pedidos/{id}/status");
        match self.send(Method::PUT, &path, None, Some(body)).await {
            Ok((200, b)) => order(&b, true),
            Ok((s, _)) if s >= 500 => Outcome::Unknown(format!("status {s}")),
            Ok((s, b)) => Outcome::Fail(Refusal::Other(error_code(s, &b))),
            Err(e) => Outcome::Unknown(e),
        }
    }

    /// Whether the order's last event is an outcome, not a step intent.
    async fn settled(&self, id: &str) -> Option<bool> {
        let path = format!("/api/pedidos/{id}/eventos");
        match self.send(Method::GET, &path, None, None).await {
            Ok((200, b)) => {
                let ev: EventosPedido = serde_json::from_slice(&b).ok()?;
                Some(!matches!(
                    ev.eventos.last().map(|e| &e.dados),
                    Some(
                        DadosEvento::Criado { .. }
                            | DadosEvento::PagamentoSolicitado
                            | DadosEvento::CancelamentoSolicitado
                    )
                ))
            }
            _ => None,
        }
    }
}

fn order(body: &[u8], settled: bool) -> Outcome {
    match serde_json::from_slice::<Pedido>(body) {
        Ok(p) => Outcome::Ok(Observed::Order {
            id: p.id,
            status: p.status,
            settled,
        }),
        Err(e) => Outcome::Fail(Refusal::Other(format!("undecodable order: {e}"))),
    }
}

fn error_code(status: u16, body: &[u8]) -> String {
    let code = serde_json::from_slice::<confeitaria_types::ErrorBody>(body)
        .map(|b| b.error.code)
        .unwrap_or_default();
    format!("{status} {code}")
}

async fn record_with<F>(shared: &SharedRef, process: usize, op: Op, f: F) -> Outcome
where
    F: std::future::Future<Output = Outcome>,
{
    let p = shared.borrow_mut().history.invoke(process, op, now());
    let outcome = f.await;
    shared
        .borrow_mut()
        .history
        .complete(p, outcome.clone(), now());
    outcome
}

/// A shopper: checks out random carts until the workload ends, and pays for or cancels
/// some of its confirmed orders. A checkout that times out is retried with its key.
pub async fn shopper(
    shared: SharedRef,
    cfg: WorkloadConfig,
    id: usize,
    seed: u64,
) -> turmoil::Result {
    let mut rng = StdRng::seed_from_u64(seed);
    let orders = Orders::new();
    shared::wait_until(&shared, |s| s.setup_done.is_some()).await;
    let end = shared.borrow().workload_end.unwrap_or(0);
    let mut n = 0u64;
    while now() < end {
        n += 1;
        let key = format!("k{id}-{n}");
        let serial = ((id as u64) << 32) | n;
        let first = cfg.products[rng.gen_range(0..cfg.products.len())];
        let mut items = vec![(first, rng.gen_range(1..=3))];
        if rng.gen_bool(0.3) {
            let second = cfg.products[rng.gen_range(0..cfg.products.len())];
            if second != first {
                items.push((second, rng.gen_range(1..=2)));
            }
        }
        items.sort_unstable();
        let op = Op::Checkout {
            key: key.clone(),
            items: items.clone(),
        };
        let outcome = record_with(&shared, id, op, orders.checkout(&key, serial, &items)).await;
        if let Outcome::Ok(Observed::Order {
            id: order_id,
            status: StatusPedido::Confirmado,
            ..
        }) = outcome
        {
            let roll = rng.gen_range(0..10);
            let target = match roll {
                0..=3 => Some(StatusPedido::Pago),
                4..=7 => Some(StatusPedido::Cancelado),
                _ => None,
            };
            if let Some(status) = target {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(0..=50))).await;
                let op = Op::SetStatus {
                    key: key.clone(),
                    status,
                };
                record_with(&shared, id, op, orders.set_status(&order_id, status)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..=cfg.think_ms))).await;
    }
    let mut s = shared.borrow_mut();
    s.workers_done += 1;
    s.keep.0.push(Box::new(orders));
    Ok(())
}

/// A checkout to replay: key, cart, cart serial.
type Checkout = (String, Vec<(ProductId, u64)>, u64);

/// Patience of the final phase with the orders service, in simulated ms.
const SETTLE_MS: u64 = 30_000;

/// After healing (and the catalog's convergence): replays every checkout with its key until
/// the orders service answers, waits until no order has a step open, then reads each
/// order's reservation. Records all of it as `process`.
pub async fn final_reads(shared: &SharedRef, conn: &Conn, process: usize) {
    let orders = Orders::new();
    let checkouts: Vec<Checkout> = {
        let s = shared.borrow();
        let mut v: Vec<Checkout> = s
            .history
            .records()
            .iter()
            .filter_map(|r| match &r.op {
                Op::Checkout { key, items } => {
                    let serial = serial_of(key)?;
                    Some((key.clone(), items.clone(), serial))
                }
                _ => None,
            })
            .collect();
        v.sort();
        v
    };
    let give_up: Micros = now() + SETTLE_MS * 1000;
    for (key, items, serial) in checkouts {
        let op = Op::ReadOrder { key: key.clone() };
        let outcome = record_with(shared, process, op, async {
            loop {
                let o = orders.checkout(&key, serial, &items).await;
                let settled = match &o {
                    Outcome::Ok(Observed::Order { id, .. }) => {
                        orders.settled(id).await.unwrap_or(false)
                    }
                    _ => false,
                };
                if settled || now() > give_up {
                    return match o {
                        Outcome::Ok(Observed::Order { id, status, .. }) => {
                            Outcome::Ok(Observed::Order {
                                id,
                                status,
                                settled,
                            })
                        }
                        other => other,
                    };
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        if let Outcome::Ok(Observed::Order { id, .. }) = outcome {
            let op = Op::ReadOrderReservation { key, rid: id };
            shared::record(shared, conn, process, op).await;
        }
    }
    shared.borrow_mut().keep.0.push(Box::new(orders));
}

/// `k{process}-{n}` → the cart serial its shopper used.
fn serial_of(key: &str) -> Option<u64> {
    let (p, n) = key.strip_prefix('k')?.split_once('-')?;
    Some((p.parse::<u64>().ok()? << 32) | n.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cart_survives_its_session_id() {
        let items = vec![(4, 3), (5, 1)];
        let s = session_id((2 << 32) | 17, &items);
        assert_eq!(s.len(), 32);
        assert_eq!(cart_of(&s), Some(items));
        assert_eq!(cart_of(&session_id(1, &[(5, 2)])), Some(vec![(5, 2)]));
        assert_eq!(serial_of("k2-17"), Some((2 << 32) | 17));
    }
}
