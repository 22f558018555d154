//! The order state machine, pure: which status changes are legal, which event may follow a
//! state, and an order's state as the fold of its events.
//!
//! A state is a status plus, at most, one open saga step ([`Step`]): an intent logged whose
//! outcome is not logged yet. While a step is open only its outcome may follow.

use confeitaria_types::orders::{DadosEvento, EventoPedido, Pedido, StatusPedido};

/// A saga step whose intent is logged and whose outcome is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reserve the order's stock (after `criado`).
    Reserve,
    /// Confirm the reservation (after `pagamento_solicitado`).
    ConfirmReservation,
    /// Release the reservation (after `cancelamento_solicitado`).
    ReleaseReservation,
}

/// An order folded from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    /// The order as the API shows it.
    pub pedido: Pedido,
    /// The open saga step, if any.
    pub step: Option<Step>,
    /// Sequence number of the last event.
    pub seq: u64,
}

/// Whether docs/design.md allows moving an order from `de` to `para`.
pub fn is_legal_transition(de: StatusPedido, para: StatusPedido) -> bool {
    use StatusPedido::*;
    matches!(
        (de, para),
        (Pendente, Confirmado | Rejeitado)
            | (Confirmado, Pago | Cancelado)
            | (Pago, Enviado | Cancelado)
            | (Enviado, Entregue)
    )
}

/// Why an event cannot follow a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    /// The event does not fit the state.
    #[error("event '{kind}' cannot follow status {status:?} with open step {step:?}")]
    DoesNotFollow {
        /// The event's tag.
        kind: &'static str,
        /// Status before it.
        status: Option<StatusPedido>,
        /// Open step before it.
        step: Option<Step>,
    },
    /// The event's order id or sequence number does not continue the log.
    #[error("event {0} is out of sequence")]
    OutOfSequence(String),
}

/// The status and open step after `dados`, if `dados` may follow (`status`, `step`).
pub fn next_state(
    atual: Option<(StatusPedido, Option<Step>)>,
    dados: &DadosEvento,
) -> Option<(StatusPedido, Option<Step>)> {
    use StatusPedido::*;
    let (status, step) = match atual {
        None => {
            return matches!(dados, DadosEvento::Criado { .. })
                .then_some((Pendente, Some(Step::Reserve)))
        }
        Some(s) => s,
    };
    let next = match (dados, step) {
        (DadosEvento::Confirmado, Some(Step::Reserve)) => (Confirmado, None),
        (DadosEvento::Rejeitado { .. }, Some(Step::Reserve)) => (Rejeitado, None),
        (DadosEvento::PagamentoSolicitado, None) => (status, Some(Step::ConfirmReservation)),
        (DadosEvento::Pago, Some(Step::ConfirmReservation)) => (Pago, None),
        (DadosEvento::CancelamentoSolicitado, None) => (status, Some(Step::ReleaseReservation)),
        (DadosEvento::Cancelado, Some(Step::ReleaseReservation)) => (Cancelado, None),
        (
            DadosEvento::AcaoAbortada { .. },
            Some(Step::ConfirmReservation | Step::ReleaseReservation),
        ) => (status, None),
        (DadosEvento::Enviado, None) => (Enviado, None),
        (DadosEvento::Entregue, None) => (Entregue, None),
        _ => return None,
    };
    // An intent is legal where its outcome's status change is.
    let target = match next.1 {
        Some(Step::ConfirmReservation) => Pago,
        Some(Step::ReleaseReservation) => Cancelado,
        _ => next.0,
    };
    let legal = (target == status && matches!(dados, DadosEvento::AcaoAbortada { .. }))
        || is_legal_transition(status, target);
    legal.then_some(next)
}

/// Applies one event to a state (`None` before the first event).
pub fn apply_event(
    state: Option<OrderState>,
    ev: &EventoPedido,
) -> Result<OrderState, InvalidEvent> {
    let esperado = state.as_ref().map_or(1, |e| e.seq + 1);
    if ev.seq != esperado || state.as_ref().is_some_and(|e| e.pedido.id != ev.pedido_id) {
        return Err(InvalidEvent::OutOfSequence(ev.id.clone()));
    }
    let atual = state.as_ref().map(|e| (e.pedido.status, e.step));
    let Some((status, step)) = next_state(atual, &ev.dados) else {
        return Err(InvalidEvent::DoesNotFollow {
            kind: ev.dados.tipo(),
            status: atual.map(|a| a.0),
            step: atual.and_then(|a| a.1),
        });
    };
    let mut pedido = match (state, &ev.dados) {
        (
            None,
            DadosEvento::Criado {
                session_id,
                itens,
                total_centavos,
            },
        ) => Pedido {
            id: ev.pedido_id.clone(),
            session_id: session_id.clone(),
            itens: itens.clone(),
            total_centavos: *total_centavos,
            status,
            criado_em: ev.em.clone(),
            atualizado_em: ev.em.clone(),
            rejeicao: None,
        },
        (Some(e), _) => e.pedido,
        (None, _) => {
            return Err(InvalidEvent::DoesNotFollow {
                kind: ev.dados.tipo(),
                status: None,
                step: None,
            })
        }
    };
    pedido.status = status;
    pedido.atualizado_em = ev.em.clone();
    if let DadosEvento::Rejeitado { rejeicao } = &ev.dados {
        pedido.rejeicao = Some(rejeicao.clone());
    }
    Ok(OrderState {
        pedido,
        step,
        seq: ev.seq,
    })
}

/// Folds a whole log; `None` for an empty one.
pub fn fold<'a>(
    eventos: impl IntoIterator<Item = &'a EventoPedido>,
) -> Result<Option<OrderState>, InvalidEvent> {
    let mut state = None;
    for ev in eventos {
        state = Some(apply_event(state, ev)?);
    }
    Ok(state)
}

/// What an administrator's `PUT .../status {status}` does to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The order already has that status: nothing to do (PUT is idempotent).
    Nothing,
    /// The matching step is already open: drive it to its end.
    Resume,
    /// Log this intent, then drive its step.
    Begin(DadosEvento),
    /// Log this event; no saga step is involved.
    Direct(DadosEvento),
}

/// Why an administrator's status change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a legal transition, or one only the checkout saga makes.
    #[error("cannot move an order from {de:?} to {para:?}")]
    Illegal {
        /// Current status.
        de: StatusPedido,
        /// Asked status.
        para: StatusPedido,
    },
    /// Another step of this order is under way.
    #[error("another step of this order is under way")]
    InProgress,
}

/// Plans an administrator's move of `state` to `target`.
pub fn plan(state: &OrderState, target: StatusPedido) -> Result<Plan, Refusal> {
    use StatusPedido::*;
    let de = state.pedido.status;
    if let Some(step) = state.step {
        return match (step, target) {
            (Step::ConfirmReservation, Pago) | (Step::ReleaseReservation, Cancelado) => {
                Ok(Plan::Resume)
            }
            _ => Err(Refusal::InProgress),
        };
    }
    if de == target {
        return Ok(Plan::Nothing);
    }
    if !is_legal_transition(de, target) {
        return Err(Refusal::Illegal { de, para: target });
    }
    match target {
        Pago => Ok(Plan::Begin(DadosEvento::PagamentoSolicitado)),
        Cancelado => Ok(Plan::Begin(DadosEvento::CancelamentoSolicitado)),
        Enviado => Ok(Plan::Direct(DadosEvento::Enviado)),
        Entregue => Ok(Plan::Direct(DadosEvento::Entregue)),
        // `confirmado` and `rejeitado` are the reservation's outcome, not an admin's choice.
        Pendente | Confirmado | Rejeitado => Err(Refusal::Illegal { de, para: target }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confeitaria_types::orders::{ItemPedido, Rejeicao};
    use StatusPedido::*;

    fn ev(seq: u64, dados: DadosEvento) -> EventoPedido {
        EventoPedido {
            id: format!("p:{seq}"),
            pedido_id: "p".into(),
            seq,
            em: format!("t{seq}"),
            dados,
        }
    }

    fn criado() -> DadosEvento {
        DadosEvento::Criado {
            session_id: "s".into(),
            itens: vec![ItemPedido {
                doce_id: 1,
                nome: "Brigadeiro".into(),
                preco_centavos: 250,
                quantidade: 2,
                subtotal_centavos: 500,
            }],
            total_centavos: 500,
        }
    }

    fn rejeitado() -> DadosEvento {
        DadosEvento::Rejeitado {
            rejeicao: Rejeicao {
                code: "insufficient_stock".into(),
                doce_id: Some(1),
                message: "short".into(),
            },
        }
    }

    /// The events that take a new order to `status` along legal paths.
    fn caminho(status: StatusPedido) -> Vec<DadosEvento> {
        use DadosEvento as D;
        let mut v = vec![criado()];
        match status {
            Pendente => {}
            Confirmado => v.push(D::Confirmado),
            Rejeitado => v.push(rejeitado()),
            Pago => v.extend([D::Confirmado, D::PagamentoSolicitado, D::Pago]),
            Enviado => v.extend([D::Confirmado, D::PagamentoSolicitado, D::Pago, D::Enviado]),
            Entregue => v.extend([
                D::Confirmado,
                D::PagamentoSolicitado,
                D::Pago,
                D::Enviado,
                D::Entregue,
            ]),
            Cancelado => v.extend([D::Confirmado, D::CancelamentoSolicitado, D::Cancelado]),
        }
        v
    }

    fn estado_em(status: StatusPedido) -> OrderState {
        let evs: Vec<EventoPedido> = caminho(status)
            .into_iter()
            .enumerate()
            .map(|(i, d)| ev(i as u64 + 1, d))
            .collect();
        let e = fold(&evs).unwrap().unwrap();
        assert_eq!(e.pedido.status, status);
        assert_eq!(e.step, (status == Pendente).then_some(Step::Reserve));
        e
    }

    /// Tries to take `state` to `target` with events: the intent (when the move has one) and
    /// the outcome. Returns the resulting state, or `None` if any event was refused.
    fn tentar(state: &OrderState, target: StatusPedido) -> Option<OrderState> {
        use DadosEvento as D;
        let passos: Vec<DadosEvento> = match target {
            Pendente => vec![criado()],
            Confirmado => vec![D::Confirmado],
            Rejeitado => vec![rejeitado()],
            Pago => vec![D::PagamentoSolicitado, D::Pago],
            Cancelado => vec![D::CancelamentoSolicitado, D::Cancelado],
            Enviado => vec![D::Enviado],
            Entregue => vec![D::Entregue],
        };
        let mut e = state.clone();
        for d in passos {
            // A step already open (pendente's reservation) skips its intent.
            let next = ev(e.seq + 1, d);
            e = apply_event(Some(e), &next).ok()?;
        }
        Some(e)
    }

    const LEGAIS: &[(StatusPedido, StatusPedido)] = &[
        (Pendente, Confirmado),
        (Pendente, Rejeitado),
        (Confirmado, Pago),
        (Confirmado, Cancelado),
        (Pago, Enviado),
        (Pago, Cancelado),
        (Enviado, Entregue),
    ];

    #[test]
    fn every_legal_transition_is_accepted_and_every_other_refused() {
        let mut legais = 0;
        for de in StatusPedido::TODOS {
            for para in StatusPedido::TODOS {
                let esperado = LEGAIS.contains(&(de, para));
                assert_eq!(is_legal_transition(de, para), esperado, "{de:?}→{para:?}");
                let after_point = tentar(&estado_em(de), para);
                if esperado {
                    legais += 1;
                    let after_point =
                        after_point.unwrap_or_else(|| panic!("{de:?}→{para:?} refused"));
                    assert_eq!(after_point.pedido.status, para);
                    assert_eq!(after_point.step, None);
                } else {
                    assert!(after_point.is_none(), "{de:?}→{para:?} was accepted");
                }
            }
        }
        assert_eq!(legais, 7);
    }

    #[test]
    fn admin_plans_follow_the_table_and_leave_saga_outcomes_to_the_saga() {
        for de in StatusPedido::TODOS {
            let state = estado_em(de);
            for para in StatusPedido::TODOS {
                let p = plan(&state, para);
                if de == Pendente {
                    assert_eq!(
                        p,
                        Err(Refusal::InProgress),
                        "pendente has its reservation open"
                    );
                } else if de == para {
                    assert_eq!(p, Ok(Plan::Nothing));
                } else if matches!(para, Confirmado | Rejeitado | Pendente)
                    || !is_legal_transition(de, para)
                {
                    assert_eq!(p, Err(Refusal::Illegal { de, para }), "{de:?}→{para:?}");
                } else {
                    let p = p.unwrap();
                    assert!(matches!(p, Plan::Begin(_) | Plan::Direct(_)), "{p:?}");
                }
            }
        }
    }

    #[test]
    fn an_open_step_admits_only_its_outcome_or_its_resumption() {
        let e = tentar(&estado_em(Confirmado), Pago).unwrap();
        let aberto = apply_event(
            Some(estado_em(Confirmado)),
            &ev(3, DadosEvento::PagamentoSolicitado),
        )
        .unwrap();
        assert_eq!(aberto.step, Some(Step::ConfirmReservation));
        assert_eq!(aberto.pedido.status, Confirmado);
        assert_eq!(plan(&aberto, Pago), Ok(Plan::Resume));
        assert_eq!(plan(&aberto, Cancelado), Err(Refusal::InProgress));
        for d in [
            DadosEvento::CancelamentoSolicitado,
            DadosEvento::Cancelado,
            DadosEvento::Enviado,
            DadosEvento::PagamentoSolicitado,
        ] {
            assert!(apply_event(Some(aberto.clone()), &ev(4, d)).is_err());
        }
        let abortado = apply_event(
            Some(aberto),
            &ev(4, DadosEvento::AcaoAbortada { motivo: "x".into() }),
        )
        .unwrap();
        assert_eq!((abortado.pedido.status, abortado.step), (Confirmado, None));
        assert_eq!(e.pedido.status, Pago);
    }

    #[test]
    fn the_fold_refuses_gaps_foreign_events_and_a_second_creation() {
        let e = estado_em(Confirmado);
        assert!(matches!(
            apply_event(Some(e.clone()), &ev(5, DadosEvento::PagamentoSolicitado)),
            Err(InvalidEvent::OutOfSequence(_))
        ));
        let mut alheio = ev(3, DadosEvento::PagamentoSolicitado);
        alheio.pedido_id = "q".into();
        assert!(apply_event(Some(e.clone()), &alheio).is_err());
        assert!(apply_event(Some(e), &ev(3, criado())).is_err());
        assert!(apply_event(None, &ev(1, DadosEvento::Confirmado)).is_err());
    }

    #[test]
    fn the_fold_keeps_creation_time_rejection_and_last_update() {
        let e = estado_em(Rejeitado);
        assert_eq!(e.pedido.criado_em, "t1");
        assert_eq!(e.pedido.atualizado_em, "t2");
        assert_eq!(e.pedido.rejeicao.unwrap().doce_id, Some(1));
        assert_eq!(e.pedido.total_centavos, 500);
    }
}
