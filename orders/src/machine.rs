//! The order state machine, pure: which status changes are legal, which event may follow a
//! state, and an order's state as the fold of its events.
//!
//! A state is a status plus, at most, one open saga step ([`Acao`]): an intent logged whose
//! outcome is not logged yet. While a step is open only its outcome may follow.

use confeitaria_types::orders::{DadosEvento, EventoPedido, Pedido, StatusPedido};

/// A saga step whose intent is logged and whose outcome is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acao {
    /// Reserve the order's stock (after `criado`).
    Reservar,
    /// Confirm the reservation (after `pagamento_solicitado`).
    ConfirmarReserva,
    /// Release the reservation (after `cancelamento_solicitado`).
    LiberarReserva,
}

/// An order folded from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estado {
    /// The order as the API shows it.
    pub pedido: Pedido,
    /// The open saga step, if any.
    pub acao: Option<Acao>,
    /// Sequence number of the last event.
    pub seq: u64,
}

/// Whether docs/design.md allows moving an order from `de` to `para`.
pub fn transicao_valida(de: StatusPedido, para: StatusPedido) -> bool {
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
pub enum Invalido {
    /// The event does not fit the state.
    #[error("event '{tipo}' cannot follow status {status:?} with open step {acao:?}")]
    NaoCabe {
        /// The event's tag.
        tipo: &'static str,
        /// Status before it.
        status: Option<StatusPedido>,
        /// Open step before it.
        acao: Option<Acao>,
    },
    /// The event's order id or sequence number does not continue the log.
    #[error("event {0} is out of sequence")]
    ForaDeOrdem(String),
}

/// The status and open step after `dados`, if `dados` may follow (`status`, `acao`).
pub fn seguinte(
    atual: Option<(StatusPedido, Option<Acao>)>,
    dados: &DadosEvento,
) -> Option<(StatusPedido, Option<Acao>)> {
    use StatusPedido::*;
    let (status, acao) = match atual {
        None => {
            return matches!(dados, DadosEvento::Criado { .. })
                .then_some((Pendente, Some(Acao::Reservar)))
        }
        Some(s) => s,
    };
    let next = match (dados, acao) {
        (DadosEvento::Confirmado, Some(Acao::Reservar)) => (Confirmado, None),
        (DadosEvento::Rejeitado { .. }, Some(Acao::Reservar)) => (Rejeitado, None),
        (DadosEvento::PagamentoSolicitado, None) => (status, Some(Acao::ConfirmarReserva)),
        (DadosEvento::Pago, Some(Acao::ConfirmarReserva)) => (Pago, None),
        (DadosEvento::CancelamentoSolicitado, None) => (status, Some(Acao::LiberarReserva)),
        (DadosEvento::Cancelado, Some(Acao::LiberarReserva)) => (Cancelado, None),
        (DadosEvento::AcaoAbortada { .. }, Some(Acao::ConfirmarReserva | Acao::LiberarReserva)) => {
            (status, None)
        }
        (DadosEvento::Enviado, None) => (Enviado, None),
        (DadosEvento::Entregue, None) => (Entregue, None),
        _ => return None,
    };
    // An intent is legal where its outcome's status change is.
    let alvo = match next.1 {
        Some(Acao::ConfirmarReserva) => Pago,
        Some(Acao::LiberarReserva) => Cancelado,
        _ => next.0,
    };
    let legal = (alvo == status && matches!(dados, DadosEvento::AcaoAbortada { .. }))
        || transicao_valida(status, alvo);
    legal.then_some(next)
}

/// Applies one event to a state (`None` before the first event).
pub fn aplicar(estado: Option<Estado>, ev: &EventoPedido) -> Result<Estado, Invalido> {
    let esperado = estado.as_ref().map_or(1, |e| e.seq + 1);
    if ev.seq != esperado || estado.as_ref().is_some_and(|e| e.pedido.id != ev.pedido_id) {
        return Err(Invalido::ForaDeOrdem(ev.id.clone()));
    }
    let atual = estado.as_ref().map(|e| (e.pedido.status, e.acao));
    let Some((status, acao)) = seguinte(atual, &ev.dados) else {
        return Err(Invalido::NaoCabe {
            tipo: ev.dados.tipo(),
            status: atual.map(|a| a.0),
            acao: atual.and_then(|a| a.1),
        });
    };
    let mut pedido = match (estado, &ev.dados) {
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
            return Err(Invalido::NaoCabe {
                tipo: ev.dados.tipo(),
                status: None,
                acao: None,
            })
        }
    };
    pedido.status = status;
    pedido.atualizado_em = ev.em.clone();
    if let DadosEvento::Rejeitado { rejeicao } = &ev.dados {
        pedido.rejeicao = Some(rejeicao.clone());
    }
    Ok(Estado {
        pedido,
        acao,
        seq: ev.seq,
    })
}

/// Folds a whole log; `None` for an empty one.
pub fn fold<'a>(
    eventos: impl IntoIterator<Item = &'a EventoPedido>,
) -> Result<Option<Estado>, Invalido> {
    let mut estado = None;
    for ev in eventos {
        estado = Some(aplicar(estado, ev)?);
    }
    Ok(estado)
}

/// What an administrator's `PUT .../status {status}` does to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plano {
    /// The order already has that status: nothing to do (PUT is idempotent).
    Nada,
    /// The matching step is already open: drive it to its end.
    Retomar,
    /// Log this intent, then drive its step.
    Iniciar(DadosEvento),
    /// Log this event; no saga step is involved.
    Direto(DadosEvento),
}

/// Why an administrator's status change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Recusa {
    /// Not a legal transition, or one only the checkout saga makes.
    #[error("cannot move an order from {de:?} to {para:?}")]
    Ilegal {
        /// Current status.
        de: StatusPedido,
        /// Asked status.
        para: StatusPedido,
    },
    /// Another step of this order is under way.
    #[error("another step of this order is under way")]
    EmCurso,
}

/// Plans an administrator's move of `estado` to `alvo`.
pub fn plano(estado: &Estado, alvo: StatusPedido) -> Result<Plano, Recusa> {
    use StatusPedido::*;
    let de = estado.pedido.status;
    if let Some(acao) = estado.acao {
        return match (acao, alvo) {
            (Acao::ConfirmarReserva, Pago) | (Acao::LiberarReserva, Cancelado) => {
                Ok(Plano::Retomar)
            }
            _ => Err(Recusa::EmCurso),
        };
    }
    if de == alvo {
        return Ok(Plano::Nada);
    }
    if !transicao_valida(de, alvo) {
        return Err(Recusa::Ilegal { de, para: alvo });
    }
    match alvo {
        Pago => Ok(Plano::Iniciar(DadosEvento::PagamentoSolicitado)),
        Cancelado => Ok(Plano::Iniciar(DadosEvento::CancelamentoSolicitado)),
        Enviado => Ok(Plano::Direto(DadosEvento::Enviado)),
        Entregue => Ok(Plano::Direto(DadosEvento::Entregue)),
        // `confirmado` and `rejeitado` are the reservation's outcome, not an admin's choice.
        Pendente | Confirmado | Rejeitado => Err(Recusa::Ilegal { de, para: alvo }),
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

    fn estado_em(status: StatusPedido) -> Estado {
        let evs: Vec<EventoPedido> = caminho(status)
            .into_iter()
            .enumerate()
            .map(|(i, d)| ev(i as u64 + 1, d))
            .collect();
        let e = fold(&evs).unwrap().unwrap();
        assert_eq!(e.pedido.status, status);
        assert_eq!(e.acao, (status == Pendente).then_some(Acao::Reservar));
        e
    }

    /// Tries to take `estado` to `alvo` with events: the intent (when the move has one) and
    /// the outcome. Returns the resulting state, or `None` if any event was refused.
    fn tentar(estado: &Estado, alvo: StatusPedido) -> Option<Estado> {
        use DadosEvento as D;
        let passos: Vec<DadosEvento> = match alvo {
            Pendente => vec![criado()],
            Confirmado => vec![D::Confirmado],
            Rejeitado => vec![rejeitado()],
            Pago => vec![D::PagamentoSolicitado, D::Pago],
            Cancelado => vec![D::CancelamentoSolicitado, D::Cancelado],
            Enviado => vec![D::Enviado],
            Entregue => vec![D::Entregue],
        };
        let mut e = estado.clone();
        for d in passos {
            // A step already open (pendente's reservation) skips its intent.
            let next = ev(e.seq + 1, d);
            e = aplicar(Some(e), &next).ok()?;
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
                assert_eq!(transicao_valida(de, para), esperado, "{de:?}→{para:?}");
                let depois = tentar(&estado_em(de), para);
                if esperado {
                    legais += 1;
                    let depois = depois.unwrap_or_else(|| panic!("{de:?}→{para:?} refused"));
                    assert_eq!(depois.pedido.status, para);
                    assert_eq!(depois.acao, None);
                } else {
                    assert!(depois.is_none(), "{de:?}→{para:?} was accepted");
                }
            }
        }
        assert_eq!(legais, 7);
    }

    #[test]
    fn admin_plans_follow_the_table_and_leave_saga_outcomes_to_the_saga() {
        for de in StatusPedido::TODOS {
            let estado = estado_em(de);
            for para in StatusPedido::TODOS {
                let p = plano(&estado, para);
                if de == Pendente {
                    assert_eq!(p, Err(Recusa::EmCurso), "pendente has its reservation open");
                } else if de == para {
                    assert_eq!(p, Ok(Plano::Nada));
                } else if matches!(para, Confirmado | Rejeitado | Pendente)
                    || !transicao_valida(de, para)
                {
                    assert_eq!(p, Err(Recusa::Ilegal { de, para }), "{de:?}→{para:?}");
                } else {
                    let p = p.unwrap();
                    assert!(matches!(p, Plano::Iniciar(_) | Plano::Direto(_)), "{p:?}");
                }
            }
        }
    }

    #[test]
    fn an_open_step_admits_only_its_outcome_or_its_resumption() {
        let e = tentar(&estado_em(Confirmado), Pago).unwrap();
        let aberto = aplicar(
            Some(estado_em(Confirmado)),
            &ev(3, DadosEvento::PagamentoSolicitado),
        )
        .unwrap();
        assert_eq!(aberto.acao, Some(Acao::ConfirmarReserva));
        assert_eq!(aberto.pedido.status, Confirmado);
        assert_eq!(plano(&aberto, Pago), Ok(Plano::Retomar));
        assert_eq!(plano(&aberto, Cancelado), Err(Recusa::EmCurso));
        for d in [
            DadosEvento::CancelamentoSolicitado,
            DadosEvento::Cancelado,
            DadosEvento::Enviado,
            DadosEvento::PagamentoSolicitado,
        ] {
            assert!(aplicar(Some(aberto.clone()), &ev(4, d)).is_err());
        }
        let abortado = aplicar(
            Some(aberto),
            &ev(4, DadosEvento::AcaoAbortada { motivo: "x".into() }),
        )
        .unwrap();
        assert_eq!((abortado.pedido.status, abortado.acao), (Confirmado, None));
        assert_eq!(e.pedido.status, Pago);
    }

    #[test]
    fn the_fold_refuses_gaps_foreign_events_and_a_second_creation() {
        let e = estado_em(Confirmado);
        assert!(matches!(
            aplicar(Some(e.clone()), &ev(5, DadosEvento::PagamentoSolicitado)),
            Err(Invalido::ForaDeOrdem(_))
        ));
        let mut alheio = ev(3, DadosEvento::PagamentoSolicitado);
        alheio.pedido_id = "q".into();
        assert!(aplicar(Some(e.clone()), &alheio).is_err());
        assert!(aplicar(Some(e), &ev(3, criado())).is_err());
        assert!(aplicar(None, &ev(1, DadosEvento::Confirmado)).is_err());
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
