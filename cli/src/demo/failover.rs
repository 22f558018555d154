//! Replication and failure transparency: shoppers keep buying through the gateway while the
//! catalog's leader is SIGKILLed (through `up`'s control socket, as `confeitaria node kill`
//! does). Measured: the new leader and how long the election took, the first order
//! acknowledged after the kill, the errors the shoppers saw, and — once the killed node is
//! back — that every acknowledged order is still `confirmado` in orders and its reservation
//! still held by the catalog (nothing acknowledged was lost).
//!
//! [`Stream`] (the shoppers) is shared with the crash-recovery scenario.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confeitaria_client::Consistency;
use confeitaria_types::orders::StatusPedido;
use confeitaria_types::{EstadoReserva, Role};
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::control::Act;
use super::report::Report;
use super::shop::{Checkout, DemoShop, SETTLE};
use super::Info;
use crate::error::CliError;

/// The product the shoppers buy.
pub const DOCE: u64 = 2;
/// Concurrent shoppers.
pub const SHOPPERS: usize = 8;
/// Orders to see acknowledged before the kill, and begun after it.
pub const ORDERS: usize = 30;

/// What the scenario says before it acts.
pub const INFO: Info = Info {
    title: (
        "Replicação e transparência de falhas",
        "Replication and failure transparency",
    ),
    concept: (
        "o catálogo é replicado em 3 nós com Raft; a perda do líder é mascarada: um seguidor é \
         eleito e os clientes do gateway não veem erro nem perdem o que foi confirmado.",
        "the catalog is replicated on 3 nodes with Raft; losing the leader is masked: a follower \
         is elected and the gateway's clients see no error and lose nothing acknowledged.",
    ),
    action: (
        "8 compradores fazem pedidos sem parar pelo gateway; o líder leva SIGKILL \
         (= confeitaria node kill N); depois ele volta e alcança os outros.",
        "8 shoppers keep ordering through the gateway; the leader gets SIGKILL \
         (= confeitaria node kill N); then it comes back and catches up.",
    ),
    look: (
        "{painel}: o nó morto fica vermelho (saúde fora, disjuntor aberto) e outro vira líder \
         num termo maior; ou `confeitaria watch` noutro terminal.",
        "{painel}: the dead node turns red (health down, breaker open) and another leads in a \
         higher term; or `confeitaria watch` in another terminal.",
    ),
};

/// An order a shopper saw acknowledged.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Order id (also its reservation's id).
    pub id: String,
    /// Status in the acknowledgement.
    pub status: StatusPedido,
    /// When its checkout began.
    pub started: Instant,
    /// When it was acknowledged.
    pub done: Instant,
}

/// A shopper's request that got no acknowledgement.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The cart (empty when the add itself failed).
    pub session: String,
    /// The checkout's `Idempotency-Key`.
    pub key: String,
    /// What came back.
    pub what: String,
    /// When the shopper began the request.
    pub started: Instant,
}

// std Mutexes: pushed to and read in short critical sections, never across an `.await`.
type Shared<T> = Arc<Mutex<Vec<T>>>;

/// Shoppers buying one unit of a product in a loop, through the gateway.
#[derive(Debug)]
pub struct Stream {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    placed: Shared<Placed>,
    failed: Shared<Failure>,
}

/// A fresh `Idempotency-Key`.
pub fn new_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn lock<T>(m: &Mutex<Vec<T>>) -> std::sync::MutexGuard<'_, Vec<T>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Stream {
    /// Starts `shoppers` shoppers of `doce`; with `stop_on_failure` each stops at its first
    /// unacknowledged checkout (and remembers it), otherwise it goes on.
    pub fn start(shop: &DemoShop, doce: u64, shoppers: usize, stop_on_failure: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let placed: Shared<Placed> = Arc::default();
        let failed: Shared<Failure> = Arc::default();
        let tasks = (0..shoppers)
            .map(|_| {
                let (shop, stop) = (shop.clone(), stop.clone());
                let (placed, failed) = (placed.clone(), failed.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let key = new_key();
                        let begun = Instant::now();
                        let session = match shop.new_cart(doce, 1).await {
                            Ok(s) => s,
                            Err(what) => {
                                lock(&failed).push(Failure {
                                    session: String::new(),
                                    key,
                                    what: format!("cart: {what}"),
                                    started: begun,
                                });
                                if stop_on_failure {
                                    return;
                                }
                                continue;
                            }
                        };
                        let started = Instant::now();
                        let what = match shop.checkout(&session, &key).await {
                            Checkout::Placed(p) => {
                                lock(&placed).push(Placed {
                                    id: p.id,
                                    status: p.status,
                                    started,
                                    done: Instant::now(),
                                });
                                continue;
                            }
                            Checkout::Refused { status, code, .. } => format!("{status} {code}"),
                            Checkout::Lost(e) => e,
                        };
                        lock(&failed).push(Failure {
                            session,
                            key,
                            what,
                            started,
                        });
                        if stop_on_failure {
                            return;
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            tasks,
            placed,
            failed,
        }
    }

    /// Orders acknowledged so far.
    pub fn placed(&self) -> usize {
        lock(&self.placed).len()
    }

    /// Orders acknowledged so far whose checkout began after `t`.
    pub fn placed_after(&self, t: Instant) -> usize {
        lock(&self.placed).iter().filter(|p| p.started > t).count()
    }

    /// Unacknowledged requests so far.
    pub fn failed(&self) -> usize {
        lock(&self.failed).len()
    }

    /// Stops the shoppers (each finishes its request, within its deadline) and returns what
    /// they saw.
    pub async fn stop(self) -> (Vec<Placed>, Vec<Failure>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        let placed = std::mem::take(&mut *lock(&self.placed));
        let failed = std::mem::take(&mut *lock(&self.failed));
        (placed, failed)
    }
}

/// Orders among `placed` that orders no longer has as `want`, or whose reservation the
/// catalog does not hold as `reserva` (checked 16 at a time).
pub async fn missing(
    shop: &DemoShop,
    placed: &[Placed],
    want: StatusPedido,
    reserva: EstadoReserva,
) -> Vec<String> {
    futures::stream::iter(placed.iter().filter(|p| p.status == want))
        .map(|p| async move {
            let in_orders = shop.pedido(&p.id).await.is_ok_and(|o| o.status == want);
            let in_catalog = shop
                .client
                .obter_reserva(&p.id, Consistency::Linearizable)
                .await
                .is_ok_and(|r| r.estado == reserva);
            (!(in_orders && in_catalog)).then(|| p.id.clone())
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect()
        .await
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Runs the scenario.
pub async fn run(shop: &DemoShop, rep: &mut Report) -> Result<(), CliError> {
    let l = rep.lang();
    shop.gateway()?;
    let before = shop.estoque(DOCE).await?;
    shop.client.set_estoque(DOCE, 100_000).await?;
    rep.step(tr!(
        l,
        "estoque do produto {DOCE} posto em 100000 para a demonstração (reservado agora: {r})",
        "stock of product {DOCE} set to 100000 for the demo (reserved now: {r})",
        r = before.reservado
    ));
    let stream = Stream::start(shop, DOCE, SHOPPERS, false);
    let res = kill_under_load(shop, rep, &stream).await;
    let (placed, failed) = stream.stop().await;
    let (killed, killed_at) = res?;
    rep.step(tr!(
        l,
        "compradores parados; nó {killed} iniciado de novo (= {how})",
        "shoppers stopped; node {killed} started again (= {how})",
        how = shop.how(Act::Start, killed)
    ));
    shop.start_node(killed).await?;
    shop.wait_caught_up(killed).await?;
    rep.step(tr!(
        l,
        "nó {killed} alcançou o líder (aplicou tudo o que estava confirmado)",
        "node {killed} caught up with the leader (applied everything committed)"
    ));

    let after: Vec<&Placed> = placed.iter().filter(|p| p.started > killed_at).collect();
    let first_after = after.iter().map(|p| p.done - killed_at).min();
    rep.check(
        failed.is_empty(),
        tr!(
            l,
            "{e} erros vistos pelos compradores em {n} pedidos ({a} começados depois da queda){x}",
            "{e} errors seen by the shoppers in {n} orders ({a} begun after the kill){x}",
            e = failed.len(),
            n = placed.len(),
            a = after.len(),
            x = failed
                .first()
                .map(|f| format!(": {}", f.what))
                .unwrap_or_default()
        ),
    );
    if let Some(d) = first_after {
        rep.step(tr!(
            l,
            "primeiro pedido confirmado depois da queda: {t} ms após o SIGKILL",
            "first order acknowledged after the kill: {t} ms after the SIGKILL",
            t = ms(d)
        ));
    }
    let rejected = placed
        .iter()
        .filter(|p| p.status != StatusPedido::Confirmado)
        .count();
    let lost = missing(
        shop,
        &placed,
        StatusPedido::Confirmado,
        EstadoReserva::Reservada,
    )
    .await;
    rep.check(
        lost.is_empty() && rejected == 0,
        tr!(
            l,
            "{ok} de {n} pedidos confirmados seguem confirmados no serviço de pedidos e com a \
             reserva mantida no catálogo (perdidos: {p})",
            "{ok} of {n} acknowledged orders are still confirmed in orders with their \
             reservation held by the catalog (lost: {p})",
            ok = placed.len() - lost.len() - rejected,
            n = placed.len(),
            p = lost.len()
        ),
    );
    let now = shop.estoque(DOCE).await?;
    let held = now.reservado.saturating_sub(before.reservado);
    rep.check(
        held == placed.len() as u64,
        tr!(
            l,
            "o catálogo reservou {held} unidades a mais = {n} pedidos confirmados (nada a mais, nada a menos)",
            "the catalog holds {held} more units = {n} acknowledged orders (nothing more, nothing less)",
            n = placed.len()
        ),
    );
    shop.client.set_estoque(DOCE, before.disponivel).await?;
    rep.figure(tr!(
        l,
        "{n} pedidos, {e} erros no gateway, {p} perdidos",
        "{n} orders, {e} errors at the gateway, {p} lost",
        n = placed.len(),
        e = failed.len(),
        p = lost.len()
    ));
    Ok(())
}

/// Waits for [`ORDERS`] acknowledged orders, kills the leader, measures the election, and
/// waits for [`ORDERS`] orders begun after the kill; returns the killed node and when.
async fn kill_under_load(
    shop: &DemoShop,
    rep: &mut Report,
    stream: &Stream,
) -> Result<(u64, Instant), CliError> {
    let l = rep.lang();
    shop.wait_for(SETTLE, "the shoppers' first orders", || async {
        stream.placed() >= ORDERS
    })
    .await?;
    let leader = shop.leader().await?;
    rep.step(tr!(
        l,
        "{n} pedidos confirmados; SIGKILL no líder, nó {leader} (= {how})",
        "{n} orders acknowledged; SIGKILL to the leader, node {leader} (= {how})",
        n = stream.placed(),
        how = shop.how(Act::Kill, leader)
    ));
    let killed_at = Instant::now();
    shop.kill_node(leader).await?;
    let survivors: Vec<(Option<u64>, String)> = shop
        .nodes()
        .into_iter()
        .filter(|(id, _)| *id != Some(leader))
        .collect();
    let mut new_leader = None;
    let end = killed_at + SETTLE;
    while new_leader.is_none() && Instant::now() < end {
        let views = crate::status::gather(&survivors, Duration::from_millis(200)).await;
        new_leader = views
            .iter()
            .filter_map(|v| v.status.as_ref())
            .find(|s| s.role == Role::Leader)
            .map(|s| (s.id, s.term, killed_at.elapsed()));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ok = rep.check(
        new_leader.is_some(),
        match new_leader {
            Some((id, term, t)) => tr!(
                l,
                "novo líder: nó {id} (termo {term}), eleito {ms} ms após o SIGKILL",
                "new leader: node {id} (term {term}), elected {ms} ms after the SIGKILL",
                ms = ms(t)
            ),
            None => tr!(
                l,
                "nenhum novo líder em {s} s",
                "no new leader within {s} s",
                s = SETTLE.as_secs()
            ),
        },
    );
    if let Some((id, _, t)) = new_leader {
        rep.figure(tr!(
            l,
            "líder {leader} → {id} em {ms} ms",
            "leader {leader} → {id} in {ms} ms",
            ms = ms(t)
        ));
    }
    if ok {
        shop.wait_for(SETTLE, "orders after the kill", || async {
            stream.placed_after(killed_at) >= ORDERS
        })
        .await?;
    }
    Ok((leader, killed_at))
}
