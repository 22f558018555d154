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

use crate::catalog::Reservas;
use crate::error::OrdersError;
use crate::failpoint::{self, Failpoint};
use crate::machine::{self, Acao, Estado, Plano, Recusa};
use crate::metrics::{inc, Metrics};
use crate::store::{Criacao, Store};

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
enum Resposta {
    Feita,
    Recusada(Rejeicao),
    Indisponivel(String),
}

fn classificar(r: Result<Reserva, ClientError>) -> Resposta {
    match r {
        Ok(_) => Resposta::Feita,
        Err(ClientError::Conflict {
            code,
            message,
            doce_id,
        }) => Resposta::Recusada(Rejeicao {
            code,
            doce_id,
            message,
        }),
        Err(ClientError::BadRequest { code, message }) => Resposta::Recusada(Rejeicao {
            code,
            doce_id: None,
            message,
        }),
        Err(ClientError::NotFound) => Resposta::Recusada(Rejeicao {
            code: "not_found".into(),
            doce_id: None,
            message: "the catalog does not know a product or reservation of this order".into(),
        }),
        Err(e @ (ClientError::NoLeader | ClientError::Unavailable(_))) => {
            Resposta::Indisponivel(e.to_string())
        }
        Err(ClientError::Unauthorized(m)) => {
            // A configuration fault (wrong JWT secret): keep the step open and say so loudly.
            tracing::error!(detail = %m, "the catalog refused the orders service's token");
            Resposta::Indisponivel(format!("unauthorized: {m}"))
        }
    }
}

/// The saga and its collaborators; shared by handlers and the driver.
pub struct Saga {
    /// The order log.
    pub store: Store,
    reservas: Arc<dyn Reservas>,
    locks: Locks,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Woken after every flushed event, so the outbox publisher need not poll.
    pub outbox: Arc<Notify>,
    /// Counts flushed events, so every live event stream (`/eventos/stream`) wakes.
    pub novos: watch::Sender<u64>,
    /// Draws new order ids (random; a simulation passes a seeded source).
    ids: Box<dyn Fn() -> u128 + Send + Sync>,
}

impl std::fmt::Debug for Saga {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saga").finish_non_exhaustive()
    }
}

impl Saga {
    /// A saga over `store`, calling the catalog through `reservas`.
    pub fn new(store: Store, reservas: Arc<dyn Reservas>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            reservas,
            locks: Locks::new(),
            metrics,
            outbox: Arc::new(Notify::new()),
            novos: watch::Sender::new(0),
            ids: Box::new(rand::random::<u128>),
        }
    }

    /// Draws order ids from `ids` instead of the thread's random generator.
    pub fn with_ids(mut self, ids: impl Fn() -> u128 + Send + Sync + 'static) -> Self {
        self.ids = Box::new(ids);
        self
    }

    /// Wakes the publisher and the live event streams: durable events are waiting.
    fn avisar(&self) {
        self.outbox.notify_one();
        self.novos.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Appends an event, makes it durable and wakes the publisher.
    async fn registrar(&self, estado: &Estado, dados: DadosEvento) -> Result<Estado, OrdersError> {
        let novo = self.store.anexar(estado, dados)?;
        self.store.flush().await?;
        self.avisar();
        Ok(novo)
    }

    /// Checks out `carrinho` under `key` (whose canonical body is `corpo`): records the order
    /// `pendente`, reserves its items and records the outcome. Returns the order and whether
    /// this call created it (false: the key was already used with the same body).
    pub async fn checkout(
        &self,
        key: &str,
        corpo: &str,
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
        let criado = DadosEvento::Criado {
            session_id: carrinho.session_id,
            itens,
            total_centavos,
        };
        let estado = match self.store.criar(key, corpo, &id, criado)? {
            Criacao::Nova(e) => e,
            Criacao::Existente(chave) => {
                drop(guard);
                if chave.corpo != corpo {
                    return Err(OrdersError::IdempotencyKeyReused);
                }
                return Ok((self.retomar(&chave.pedido_id).await?, false));
            }
        };
        self.store.flush().await?;
        self.avisar();
        inc(&self.metrics.criados);
        tracing::info!(pedido = %id, "order recorded pendente");
        failpoint::hit(Failpoint::AfterPending);
        let estado = self.conduzir(estado).await?;
        drop(guard);
        Ok((estado.pedido, true))
    }

    /// The order a used key maps to, finishing its reservation step first if it is still
    /// open (its first attempt crashed or found the catalog unavailable).
    pub async fn retomar(&self, id: &str) -> Result<Pedido, OrdersError> {
        let _guard = self.locks.lock(id).await;
        let estado = self
            .store
            .estado(id)?
            .ok_or_else(|| OrdersError::Internal(format!("key maps to missing order {id}")))?;
        if estado.acao == Some(Acao::Reservar) {
            return Ok(self.conduzir(estado).await?.pedido);
        }
        Ok(estado.pedido)
    }

    /// The order as its events fold, or `None`.
    pub fn pedido(&self, id: &str) -> Result<Option<Pedido>, OrdersError> {
        Ok(self.store.estado(id)?.map(|e| e.pedido))
    }

    /// An administrator's status change: logs the intent, drives the catalog step if there
    /// is one, logs the outcome. An illegal change is refused and changes nothing.
    pub async fn mudar_status(&self, id: &str, alvo: StatusPedido) -> Result<Pedido, OrdersError> {
        let _guard = self.locks.lock(id).await;
        let estado = self.store.estado(id)?.ok_or(OrdersError::NotFound)?;
        let plano = machine::plano(&estado, alvo).map_err(|r| match r {
            Recusa::Ilegal { .. } => OrdersError::IllegalTransition(r.to_string()),
            Recusa::EmCurso => OrdersError::OperationInProgress,
        })?;
        let entregue = matches!(plano, Plano::Direto(DadosEvento::Entregue));
        let estado = match plano {
            Plano::Nada => estado,
            Plano::Retomar => self.conduzir(estado).await?,
            Plano::Iniciar(intencao) => {
                let point = match &intencao {
                    DadosEvento::PagamentoSolicitado => Failpoint::AfterPaymentRequested,
                    _ => Failpoint::AfterCancellationRequested,
                };
                let e = self.registrar(&estado, intencao).await?;
                failpoint::hit(point);
                self.conduzir(e).await?
            }
            Plano::Direto(dados) => self.registrar(&estado, dados).await?,
        };
        tracing::info!(pedido = %id, status = estado.pedido.status.as_str(), "status changed");
        if entregue {
            // Best effort now; the driver tries again until the catalog answers.
            if let Err(e) = self.encerrar_reserva(id).await {
                tracing::warn!(pedido = %id, error = %e, "reservation not closed yet");
            }
        }
        Ok(estado.pedido)
    }

    /// Tells the catalog that order `id` is final (`entregue`), so that it closes the
    /// order's confirmed reservation and forgets it after its retention window. Returns
    /// whether that is settled: closed, or unknown to the catalog (already forgotten).
    async fn encerrar_reserva(&self, id: &str) -> Result<bool, OrdersError> {
        match self.reservas.encerrar(id.to_owned()).await {
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
        self.store.encerrada(id)?;
        Ok(true)
    }

    /// Drives the open step of `estado` (if any) to its outcome. The caller holds the
    /// order's lock.
    async fn conduzir(&self, estado: Estado) -> Result<Estado, OrdersError> {
        let id = estado.pedido.id.clone();
        let (resposta, feito, depois, outcome, contador) = match estado.acao {
            None => return Ok(estado),
            Some(Acao::Reservar) => {
                let reserva = NovaReserva {
                    // Every attempt carries the order's creation time: one resumed after
                    // the catalog's retention window is refused, never reserved twice.
                    emitida_em: confeitaria_types::time::millis_from_rfc3339(
                        &estado.pedido.criado_em,
                    ),
                    id: id.clone(),
                    itens: estado
                        .pedido
                        .itens
                        .iter()
                        .map(|i| ItemReserva {
                            doce_id: i.doce_id,
                            quantidade: i.quantidade,
                        })
                        .collect(),
                };
                let r = classificar(self.reservas.reservar(reserva).await);
                if let Resposta::Recusada(rejeicao) = r {
                    failpoint::hit(Failpoint::AfterReserveRefused);
                    let e = self
                        .registrar(&estado, DadosEvento::Rejeitado { rejeicao })
                        .await?;
                    inc(&self.metrics.rejeitados);
                    tracing::info!(pedido = %id, "order rejeitado");
                    return Ok(e);
                }
                (
                    r,
                    Failpoint::AfterReserve,
                    Failpoint::AfterConfirmed,
                    DadosEvento::Confirmado,
                    Some(&self.metrics.confirmados),
                )
            }
            Some(Acao::ConfirmarReserva) => (
                classificar(self.reservas.confirmar(id.clone()).await),
                Failpoint::AfterConfirm,
                Failpoint::AfterPaid,
                DadosEvento::Pago,
                None,
            ),
            Some(Acao::LiberarReserva) => (
                classificar(self.reservas.liberar(id.clone()).await),
                Failpoint::AfterRelease,
                Failpoint::AfterCancelled,
                DadosEvento::Cancelado,
                None,
            ),
        };
        match resposta {
            Resposta::Feita => {
                failpoint::hit(feito);
                let e = self.registrar(&estado, outcome).await?;
                if let Some(c) = contador {
                    inc(c);
                }
                failpoint::hit(depois);
                Ok(e)
            }
            Resposta::Recusada(r) => {
                tracing::warn!(pedido = %id, code = %r.code, "the catalog refused a step for good");
                self.registrar(
                    &estado,
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
            Resposta::Indisponivel(m) => Err(OrdersError::CatalogUnavailable(m)),
        }
    }

    /// One pass over the orders with an open step: drives each one no other task is
    /// driving. Returns how many are still open.
    pub async fn recuperar(&self) -> Result<usize, OrdersError> {
        let mut abertos = 0;
        for id in self.store.abertos()? {
            let Some(_guard) = self.locks.try_lock(&id) else {
                abertos += 1;
                continue;
            };
            let Some(estado) = self.store.estado(&id)? else {
                continue;
            };
            if estado.acao.is_none() {
                continue;
            }
            let acao = estado.acao;
            match self.conduzir(estado).await {
                Ok(e) => {
                    inc(&self.metrics.recuperados);
                    tracing::info!(pedido = %id, step = ?acao, status = e.pedido.status.as_str(), "open saga step finished");
                }
                Err(OrdersError::Conflict { code, .. }) => {
                    tracing::warn!(pedido = %id, step = ?acao, %code, "open saga step abandoned");
                }
                Err(e) => {
                    abertos += 1;
                    tracing::warn!(pedido = %id, step = ?acao, error = %e, "open saga step still unfinished");
                }
            }
        }
        for id in self.store.a_encerrar()? {
            if !self.encerrar_reserva(&id).await? {
                abertos += 1;
            }
        }
        Ok(abertos)
    }

    /// Finishes open steps until cancelled: at once on start-up (crash recovery), then
    /// every `intervalo`, sooner while some remain open.
    pub async fn conduzir_abertos(self: Arc<Self>, cancel: CancellationToken, intervalo: Duration) {
        match self.store.abertos() {
            Ok(a) if !a.is_empty() => {
                tracing::warn!(count = a.len(), "recovering unfinished sagas");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot list unfinished sagas"),
        }
        let minimo = Duration::from_millis(100).min(intervalo);
        let mut espera = minimo;
        loop {
            espera = match self.recuperar().await {
                Ok(0) => intervalo,
                Ok(_) => (espera * 2).clamp(minimo, intervalo),
                Err(e) => {
                    tracing::error!(error = %e, "saga recovery pass failed");
                    intervalo
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(espera) => {}
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
            classificar(Err(ClientError::Conflict {
                code: "insufficient_stock".into(),
                message: "the message is for people".into(),
                doce_id: Some(2),
            })),
            Resposta::Recusada(Rejeicao {
                doce_id: Some(2),
                ..
            })
        ));
        assert!(matches!(
            classificar(Err(ClientError::NoLeader)),
            Resposta::Indisponivel(_)
        ));
        assert!(matches!(
            classificar(Err(ClientError::Unavailable("x".into()))),
            Resposta::Indisponivel(_)
        ));
    }
}
