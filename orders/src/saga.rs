//! The stock saga: checkout (`pendente` → reserve → `confirmado`|`rejeitado`), payment
//! (confirm the reservation → `pago`), cancellation (release it → `cancelado`), delivery
//! (`entregue`: the catalog is told to close the reservation, so that it can forget it after
//! its retention window), and the driver that finishes every step left open by a crash or an
//! unavailable catalog, and closes the reservations of delivered orders it could not close.
//!
//! Every step's intent is logged and flushed before the catalog is called, and its outcome
//! after; the catalog calls are idempotent by reservation id (= order id), so driving an open
//! step again after a crash is always safe. One order is driven by one task at a time
//! (striped async locks).

use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::ClientError;
use confeitaria_types::cart::Carrinho;
use confeitaria_types::orders::{DadosEvento, ItemPedido, Pedido, Rejeicao, StatusPedido};
use confeitaria_types::{ItemReserva, NovaReserva, Reserva};
use tokio::sync::{watch, Mutex, Notify, OwnedMutexGuard};
use tokio_util::sync::CancellationToken;

use crate::catalog::Reservations;
use crate::error::OrdersError;
use crate::failpoint::{self, Failpoint};
use crate::machine::{self, OrderState, Plan, Refusal, Step};
use crate::metrics::{inc, Metrics};
use crate::store::{Creation, Store};

/// Number of lock stripes: orders sharing one only wait for each other.
const STRIPES: usize = 1024;

/// Striped per-order locks.
#[derive(Debug)]
struct Locks(Vec<Arc<Mutex<()>>>);

impl Locks {
    fn new() -> Self {
        Self((0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect())
    }

    fn stripe(&self, id: &str) -> Arc<Mutex<()>> {
        // FNV-1a: stable and cheap; ids are random already.
        let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let i = usize::try_from(h % STRIPES as u64).unwrap_or(0);
        self.0[i].clone()
    }

    async fn lock(&self, id: &str) -> OwnedMutexGuard<()> {
        self.stripe(id).lock_owned().await
    }

    fn try_lock(&self, id: &str) -> Option<OwnedMutexGuard<()>> {
        self.stripe(id).try_lock_owned().ok()
    }
}

/// What a catalog call came to.
enum Answer {
    Done,
    Refused(Rejeicao),
    Unavailable(String),
}

fn classify(r: Result<Reserva, ClientError>) -> Answer {
    match r {
        Ok(_) => Answer::Done,
        Err(ClientError::Conflict {
            code,
            message,
            doce_id,
        }) => Answer::Refused(Rejeicao {
            code,
            doce_id,
            message,
        }),
        Err(ClientError::BadRequest { code, message }) => Answer::Refused(Rejeicao {
            code,
            doce_id: None,
            message,
        }),
        Err(ClientError::NotFound) => Answer::Refused(Rejeicao {
            code: "not_found".into(),
            doce_id: None,
            message: "the catalog does not know a product or reservation of this order".into(),
        }),
        Err(e @ (ClientError::NoLeader | ClientError::Unavailable(_))) => {
            Answer::Unavailable(e.to_string())
        }
        Err(ClientError::Unauthorized(m)) => {
            // A configuration fault (wrong JWT secret): keep the step open and say so loudly.
            tracing::error!(detail = %m, "the catalog refused the orders service's token");
            Answer::Unavailable(format!("unauthorized: {m}"))
        }
    }
}

/// The saga and its collaborators; shared by handlers and the driver.
pub struct Saga {
    /// The order log.
    pub store: Store,
    reservations: Arc<dyn Reservations>,
    locks: Locks,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Woken after every flushed event, so the outbox publisher need not poll.
    pub outbox: Arc<Notify>,
    /// Counts flushed events, so every live event stream (`/eventos/stream`) wakes.
    pub flushed: watch::Sender<u64>,
    /// Draws new order ids (random; a simulation passes a seeded source).
    ids: Box<dyn Fn() -> u128 + Send + Sync>,
}

impl std::fmt::Debug for Saga {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saga").finish_non_exhaustive()
    }
}

impl Saga {
    /// A saga over `store`, calling the catalog through `reservations`.
    pub fn new(store: Store, reservations: Arc<dyn Reservations>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            reservations,
            locks: Locks::new(),
            metrics,
            outbox: Arc::new(Notify::new()),
            flushed: watch::Sender::new(0),
            ids: Box::new(rand::random::<u128>),
        }
    }

    /// Draws order ids from `ids` instead of the thread's random generator.
    pub fn with_ids(mut self, ids: impl Fn() -> u128 + Send + Sync + 'static) -> Self {
        self.ids = Box::new(ids);
        self
    }

    /// Wakes the publisher and the live event streams: durable events are waiting.
    fn wake(&self) {
        self.outbox.notify_one();
        self.flushed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Appends an event, makes it durable and wakes the publisher.
    async fn record(
        &self,
        state: &OrderState,
        dados: DadosEvento,
    ) -> Result<OrderState, OrdersError> {
        let next = self.store.append(state, dados)?;
        self.store.flush().await?;
        self.wake();
        Ok(next)
    }

    /// Checks out `carrinho` under `key` (whose canonical body is `body`): records the order
    /// `pendente`, reserves its items and records the outcome. Returns the order and whether
    /// this call created it (false: the key was already used with the same body).
    pub async fn checkout(
        &self,
        key: &str,
        body: &str,
        carrinho: Carrinho,
    ) -> Result<(Pedido, bool), OrdersError> {
        let id = format!("{:032x}", (self.ids)());
        let itens: Vec<ItemPedido> = carrinho
            .itens
            .into_iter()
            .map(|i| ItemPedido {
                doce_id: i.doce_id,
                nome: i.nome,
                preco_centavos: i.preco_centavos,
                quantidade: i.quantidade,
                subtotal_centavos: i.subtotal_centavos,
            })
            .collect();
        if itens.is_empty() {
            return Err(OrdersError::EmptyCart);
        }
        let total_centavos = itens
            .iter()
            .fold(0u64, |a, i| a.saturating_add(i.subtotal_centavos));
        let guard = self.locks.lock(&id).await;
        let created = DadosEvento::Criado {
            session_id: carrinho.session_id,
            itens,
            total_centavos,
        };
        let state = match self.store.create(key, body, &id, created)? {
            Creation::New(e) => e,
            Creation::Existing(record) => {
                drop(guard);
                if record.body != body {
                    return Err(OrdersError::IdempotencyKeyReused);
                }
                return Ok((self.resume(&record.pedido_id).await?, false));
            }
        };
        self.store.flush().await?;
        self.wake();
        inc(&self.metrics.created);
        tracing::info!(pedido = %id, "order recorded pendente");
        failpoint::hit(Failpoint::AfterPending);
        let state = self.drive(state).await?;
        drop(guard);
        Ok((state.pedido, true))
    }

    /// The order a used key maps to, finishing its reservation step first if it is still
    /// open (its first attempt crashed or found the catalog unavailable).
    pub async fn resume(&self, id: &str) -> Result<Pedido, OrdersError> {
        let _guard = self.locks.lock(id).await;
        let state = self
            .store
            .state(id)?
            .ok_or_else(|| OrdersError::Internal(format!("key maps to missing order {id}")))?;
        if state.step == Some(Step::Reserve) {
            return Ok(self.drive(state).await?.pedido);
        }
        Ok(state.pedido)
    }

    /// The order as its events fold, or `None`.
    pub fn pedido(&self, id: &str) -> Result<Option<Pedido>, OrdersError> {
        Ok(self.store.state(id)?.map(|e| e.pedido))
    }

    /// An administrator's status change: logs the intent, drives the catalog step if there
    /// is one, logs the outcome. An illegal change is refused and changes nothing.
    pub async fn change_status(
        &self,
        id: &str,
        target: StatusPedido,
    ) -> Result<Pedido, OrdersError> {
        let _guard = self.locks.lock(id).await;
        let state = self.store.state(id)?.ok_or(OrdersError::NotFound)?;
        let plan = machine::plan(&state, target).map_err(|r| match r {
            Refusal::Illegal { .. } => OrdersError::IllegalTransition(r.to_string()),
            Refusal::InProgress => OrdersError::OperationInProgress,
        })?;
        let delivered = matches!(plan, Plan::Direct(DadosEvento::Entregue));
        let state = match plan {
            Plan::Nothing => state,
            Plan::Resume => self.drive(state).await?,
            Plan::Begin(intent) => {
                let point = match &intent {
                    DadosEvento::PagamentoSolicitado => Failpoint::AfterPaymentRequested,
                    _ => Failpoint::AfterCancellationRequested,
                };
                let e = self.record(&state, intent).await?;
                failpoint::hit(point);
                self.drive(e).await?
            }
            Plan::Direct(dados) => self.record(&state, dados).await?,
        };
        tracing::info!(pedido = %id, status = state.pedido.status.as_str(), "status changed");
        if delivered {
            // Best effort now; the driver tries again until the catalog answers.
            if let Err(e) = self.close_reservation(id).await {
                tracing::warn!(pedido = %id, error = %e, "reservation not closed yet");
            }
        }
        Ok(state.pedido)
    }

    /// Tells the catalog that order `id` is final (`entregue`), so that it closes the
    /// order's confirmed reservation and forgets it after its retention window. Returns
    /// whether that is settled: closed, or unknown to the catalog (already forgotten).
    async fn close_reservation(&self, id: &str) -> Result<bool, OrdersError> {
        match self.reservations.close(id.to_owned()).await {
            Ok(_) | Err(ClientError::NotFound) => {}
            Err(ClientError::Conflict { code, .. } | ClientError::BadRequest { code, .. }) => {
                // Not for an order delivered after payment; nothing a retry would change.
                tracing::warn!(pedido = %id, %code, "the catalog refused to close the reservation");
            }
            Err(
                e @ (ClientError::NoLeader
                | ClientError::Unavailable(_)
                | ClientError::Unauthorized(_)),
            ) => {
                tracing::debug!(pedido = %id, error = %e, "closing the reservation: catalog unavailable");
                return Ok(false);
            }
        }
        self.store.mark_closed(id)?;
        Ok(true)
    }

    /// Drives the open step of `state` (if any) to its outcome. The caller holds the
    /// order's lock.
    async fn drive(&self, state: OrderState) -> Result<OrderState, OrdersError> {
        let id = state.pedido.id.clone();
        let (answer, done_point, after_point, outcome, counter) = match state.step {
            None => return Ok(state),
            Some(Step::Reserve) => {
                let reserva = NovaReserva {
                    // Every attempt carries the order's creation time: one resumed after
                    // the catalog's retention window is refused, never reserved twice.
                    emitida_em: confeitaria_types::time::millis_from_rfc3339(
                        &state.pedido.criado_em,
                    ),
                    id: id.clone(),
                    itens: state
                        .pedido
                        .itens
                        .iter()
                        .map(|i| ItemReserva {
                            doce_id: i.doce_id,
                            quantidade: i.quantidade,
                        })
                        .collect(),
                };
                let r = classify(self.reservations.reserve(reserva).await);
                if let Answer::Refused(rejeicao) = r {
                    failpoint::hit(Failpoint::AfterReserveRefused);
                    let e = self
                        .record(&state, DadosEvento::Rejeitado { rejeicao })
                        .await?;
                    inc(&self.metrics.rejected);
                    tracing::info!(pedido = %id, "order rejeitado");
                    return Ok(e);
                }
                (
                    r,
                    Failpoint::AfterReserve,
                    Failpoint::AfterConfirmed,
                    DadosEvento::Confirmado,
                    Some(&self.metrics.confirmed),
                )
            }
            Some(Step::ConfirmReservation) => (
                classify(self.reservations.confirm(id.clone()).await),
                Failpoint::AfterConfirm,
                Failpoint::AfterPaid,
                DadosEvento::Pago,
                None,
            ),
            Some(Step::ReleaseReservation) => (
                classify(self.reservations.release(id.clone()).await),
                Failpoint::AfterRelease,
                Failpoint::AfterCancelled,
                DadosEvento::Cancelado,
                None,
            ),
        };
        match answer {
            Answer::Done => {
                failpoint::hit(done_point);
                let e = self.record(&state, outcome).await?;
                if let Some(c) = counter {
                    inc(c);
                }
                failpoint::hit(after_point);
                Ok(e)
            }
            Answer::Refused(r) => {
                tracing::warn!(pedido = %id, code = %r.code, "the catalog refused a step for good");
                self.record(
                    &state,
                    DadosEvento::AcaoAbortada {
                        motivo: format!("{}: {}", r.code, r.message),
                    },
                )
                .await?;
                Err(OrdersError::Conflict {
                    code: r.code,
                    message: r.message,
                })
            }
            Answer::Unavailable(m) => Err(OrdersError::CatalogUnavailable(m)),
        }
    }

    /// One pass over the orders with an open step: drives each one no other task is
    /// driving. Returns how many are still open.
    pub async fn finish_open_steps(&self) -> Result<usize, OrdersError> {
        let mut open_steps = 0;
        for id in self.store.open_steps()? {
            let Some(_guard) = self.locks.try_lock(&id) else {
                open_steps += 1;
                continue;
            };
            let Some(state) = self.store.state(&id)? else {
                continue;
            };
            if state.step.is_none() {
                continue;
            }
            let step = state.step;
            match self.drive(state).await {
                Ok(e) => {
                    inc(&self.metrics.recovered);
                    tracing::info!(pedido = %id, step = ?step, status = e.pedido.status.as_str(), "open saga step finished");
                }
                Err(OrdersError::Conflict { code, .. }) => {
                    tracing::warn!(pedido = %id, step = ?step, %code, "open saga step abandoned");
                }
                Err(e) => {
                    open_steps += 1;
                    tracing::warn!(pedido = %id, step = ?step, error = %e, "open saga step still unfinished");
                }
            }
        }
        for id in self.store.to_close()? {
            if !self.close_reservation(&id).await? {
                open_steps += 1;
            }
        }
        Ok(open_steps)
    }

    /// Finishes open steps until cancelled: at once on start-up (crash recovery), then
    /// every `interval`, sooner while some remain open.
    pub async fn drive_open(self: Arc<Self>, cancel: CancellationToken, interval: Duration) {
        match self.store.open_steps() {
            Ok(a) if !a.is_empty() => {
                tracing::warn!(count = a.len(), "recovering unfinished sagas");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot list unfinished sagas"),
        }
        let floor = Duration::from_millis(100).min(interval);
        let mut pause = floor;
        loop {
            pause = match self.finish_open_steps().await {
                Ok(0) => interval,
                Ok(_) => (pause * 2).clamp(floor, interval),
                Err(e) => {
                    tracing::error!(error = %e, "saga recovery pass failed");
                    interval
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_unavailability_and_success_are_told_apart() {
        assert!(matches!(
            classify(Err(ClientError::Conflict {
                code: "insufficient_stock".into(),
                message: "the message is for people".into(),
                doce_id: Some(2),
            })),
            Answer::Refused(Rejeicao {
                doce_id: Some(2),
                ..
            })
        ));
        assert!(matches!(
            classify(Err(ClientError::NoLeader)),
            Answer::Unavailable(_)
        ));
        assert!(matches!(
            classify(Err(ClientError::Unavailable("x".into()))),
            Answer::Unavailable(_)
        ));
    }
}
