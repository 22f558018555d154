//! Unit and property tests of the catalog commands.

use proptest::prelude::*;

use super::*;
use confeitaria_types::AtualizaDoce;

fn cat(slug: &str) -> Categoria {
    Categoria {
        slug: slug.into(),
        nome: slug.to_uppercase(),
    }
}

fn novo(nome: &str, estoque: u64) -> NovoDoce {
    NovoDoce {
        nome: nome.into(),
        descricao: String::new(),
        preco_centavos: 500,
        categoria: "bolos".into(),
        estoque,
        ativo: true,
    }
}

fn reserva(id: &str, itens: &[(u64, u64)]) -> Command {
    Command::Reserve(NovaReserva {
        emitida_em: None,
        id: id.into(),
        itens: itens
            .iter()
            .map(|&(doce_id, quantidade)| ItemReserva {
                doce_id,
                quantidade,
            })
            .collect(),
    })
}

fn state_with(stocks: &[u64]) -> CatalogState {
    let mut s = CatalogState::default();
    s.apply(&Command::UpsertCategoria(cat("bolos"))).unwrap();
    for (i, &e) in stocks.iter().enumerate() {
        s.apply(&Command::CreateDoce(novo(&format!("doce {i}"), e)))
            .unwrap();
    }
    s
}

/// `s` without its memory of refused reservations (and their place in the retention
/// queue): what a refusal must leave unchanged.
fn forgetting_refusals(s: &CatalogState) -> CatalogState {
    let mut retention = s.retention.clone();
    retention
        .pending
        .retain(|a| !matches!(a, retention::Settled::Refusal(_)));
    CatalogState {
        refusals: OrdMap::new(),
        retention,
        ..s.clone()
    }
}

#[test]
fn reservation_is_all_or_nothing() {
    let mut s = state_with(&[5, 1]);
    let before = s.clone();
    let r = s.apply(&reserva("r1", &[(1, 3), (2, 2)]));
    assert_eq!(
        r,
        Err(CommandError::InsufficientStock {
            doce_id: 2,
            disponivel: 1,
            pedido: 2
        })
    );
    assert_eq!(forgetting_refusals(&s), before);
    s.apply(&reserva("r2", &[(1, 3), (2, 1)])).unwrap();
    assert_eq!(s.stock(1).unwrap().reservado, 3);
    assert_eq!(s.stock(2).unwrap().disponivel, 0);
}

#[test]
fn reserve_confirm_release_are_idempotent() {
    let mut s = state_with(&[10]);
    let first = s.apply(&reserva("r", &[(1, 4)])).unwrap();
    assert_eq!(s.apply(&reserva("r", &[(1, 4)])).unwrap(), first);
    assert_eq!(s.stock(1).unwrap().reservado, 4);
    assert!(matches!(
        s.apply(&reserva("r", &[(1, 5)])),
        Err(CommandError::Conflict { .. })
    ));
    s.apply(&Command::Confirm { id: "r".into() }).unwrap();
    s.apply(&Command::Confirm { id: "r".into() }).unwrap();
    let e = s.stock(1).unwrap();
    assert_eq!((e.disponivel, e.reservado, e.vendido), (6, 0, 4));
    s.apply(&Command::Release { id: "r".into() }).unwrap();
    s.apply(&Command::Release { id: "r".into() }).unwrap();
    let e = s.stock(1).unwrap();
    assert_eq!((e.disponivel, e.reservado, e.vendido), (10, 0, 0));
}

#[test]
fn release_before_reserve_leaves_a_tombstone_that_refuses_the_late_reservation() {
    let mut s = state_with(&[10]);
    s.apply(&Command::Release { id: "late".into() }).unwrap();
    let r = s.apply(&reserva("late", &[(1, 1)]));
    assert!(
        matches!(r, Err(CommandError::Conflict { ref code, .. }) if code == "reservation_released")
    );
    assert_eq!(s.stock(1).unwrap().disponivel, 10);
}

#[test]
fn a_refused_reservation_stays_refused_for_its_id() {
    let mut s = state_with(&[1]);
    let first = s.apply(&reserva("r", &[(1, 2)]));
    assert!(matches!(
        first,
        Err(CommandError::InsufficientStock { doce_id: 1, .. })
    ));
    s.apply(&Command::AdjustStock { id: 1, delta: 9 }).unwrap();
    // A late duplicate of the same request: the same answer, nothing taken.
    assert_eq!(s.apply(&reserva("r", &[(1, 2)])), first);
    // The same id with other items is a different request under a used id.
    let other = s.apply(&reserva("r", &[(1, 1)]));
    assert!(
        matches!(other, Err(CommandError::Conflict { ref code, .. }) if code == "reservation_mismatch")
    );
    // A missing product is remembered too; a fresh id reserves normally.
    let missing = s.apply(&reserva("m", &[(99, 1)]));
    assert!(matches!(missing, Err(CommandError::NotFound { .. })));
    assert_eq!(s.apply(&reserva("m", &[(99, 1)])), missing);
    assert!(s.apply(&reserva("fresh", &[(1, 2)])).is_ok());
    assert!(s.reserva("r").is_none(), "a refusal is not a reservation");
    let e = s.stock(1).unwrap();
    assert_eq!((e.disponivel, e.reservado), (8, 2));
    // Releasing a refused id is harmless, changes no counter, and the id stays refused.
    s.apply(&Command::Release { id: "r".into() }).unwrap();
    assert_eq!(s.stock(1).unwrap(), e);
    assert!(s.apply(&reserva("r", &[(1, 2)])).is_err());
}

#[test]
fn released_reservation_cannot_be_confirmed() {
    let mut s = state_with(&[3]);
    s.apply(&reserva("r", &[(1, 2)])).unwrap();
    s.apply(&Command::Release { id: "r".into() }).unwrap();
    assert!(matches!(
        s.apply(&Command::Confirm { id: "r".into() }),
        Err(CommandError::Conflict { .. })
    ));
    assert!(matches!(
        s.apply(&Command::Confirm { id: "nope".into() }),
        Err(CommandError::NotFound { .. })
    ));
}

#[test]
fn stock_delta_below_zero_is_a_conflict_and_changes_nothing() {
    let mut s = state_with(&[2]);
    let before = s.clone();
    let r = s.apply(&Command::AdjustStock { id: 1, delta: -3 });
    assert!(matches!(r, Err(CommandError::Conflict { ref code, .. }) if code == "negative_stock"));
    assert_eq!(s, before);
    s.apply(&Command::AdjustStock { id: 1, delta: -2 }).unwrap();
    assert_eq!(s.doce(1).unwrap().estoque, 0);
}

#[test]
fn bad_fields_and_unknown_references_are_refused() {
    let mut s = state_with(&[1]);
    let before = s.clone();
    let mut bad = novo("", 1);
    assert!(matches!(
        s.apply(&Command::CreateDoce(bad.clone())),
        Err(CommandError::Invalid { .. })
    ));
    bad.nome = "x".into();
    bad.categoria = "tortas".into();
    assert!(
        matches!(s.apply(&Command::CreateDoce(bad)), Err(CommandError::Conflict { ref code, .. }) if code == "unknown_category")
    );
    assert!(matches!(
        s.apply(&reserva("r", &[(1, 0)])),
        Err(CommandError::Invalid { .. })
    ));
    assert!(matches!(
        s.apply(&reserva("r", &[(9, 1)])),
        Err(CommandError::NotFound { .. })
    ));
    assert!(matches!(
        s.apply(&reserva("bad id!", &[(1, 1)])),
        Err(CommandError::Invalid { .. })
    ));
    assert!(matches!(
        s.apply(&Command::SetStock {
            id: 1,
            estoque: u64::MAX
        }),
        Err(CommandError::Invalid { .. })
    ));
    assert!(matches!(
        s.apply(&Command::AdjustStock {
            id: 1,
            delta: i64::MIN
        }),
        Err(CommandError::Invalid { .. })
    ));
    assert_eq!(forgetting_refusals(&s), before);
}

#[test]
fn a_batch_applies_each_command_alone_and_in_order() {
    let mut s = state_with(&[2]);
    let batch = Command::Batch(vec![
        reserva("a", &[(1, 2)]),
        reserva("b", &[(1, 1)]),
        Command::AdjustStock { id: 1, delta: 5 },
        reserva("b", &[(1, 1)]),
    ]);
    let r = s.apply(&batch);
    let Ok(CommandOutput::Batch(results)) = r else {
        panic!("not a batch result: {r:?}")
    };
    assert!(results[0].is_ok());
    assert!(matches!(
        results[1],
        Err(CommandError::InsufficientStock { .. })
    ));
    assert!(results[2].is_ok());
    assert_eq!(
        results[3], results[1],
        "a refused reservation id keeps its refusal, even once stock is back"
    );
    let e = s.stock(1).unwrap();
    assert_eq!((e.disponivel, e.reservado), (5, 2));
    let nested = Command::Batch(vec![Command::Batch(vec![])]);
    assert!(matches!(
        s.apply(&nested),
        Err(CommandError::Invalid { .. })
    ));
}

#[test]
fn seed_runs_once() {
    let mut s = CatalogState::default();
    let seed = Command::Seed {
        categorias: vec![cat("bolos")],
        doces: vec![novo("bolo", 3), novo("outro", 1)],
    };
    assert_eq!(s.apply(&seed), Ok(CommandOutput::Seeded(true)));
    assert_eq!(s.apply(&seed), Ok(CommandOutput::Seeded(false)));
    assert_eq!(s.doces.len(), 2);
}

fn arb_command() -> impl Strategy<Value = Command> {
    let id = 1u64..=4;
    let rid = (0u8..6).prop_map(|n| format!("r{n}"));
    prop_oneof![
        (id.clone(), 0u64..20).prop_map(|(id, estoque)| Command::SetStock { id, estoque }),
        (id.clone(), -15i64..15).prop_map(|(id, delta)| Command::AdjustStock { id, delta }),
        (
            rid.clone(),
            prop::collection::vec((1u64..=4, 1u64..6), 1..4)
        )
            .prop_map(|(r, itens)| {
                Command::Reserve(NovaReserva {
                    emitida_em: None,
                    id: r,
                    itens: itens
                        .into_iter()
                        .map(|(doce_id, quantidade)| ItemReserva {
                            doce_id,
                            quantidade,
                        })
                        .collect(),
                })
            }),
        rid.clone().prop_map(|id| Command::Confirm { id }),
        rid.clone().prop_map(|id| Command::Close { id }),
        rid.prop_map(|id| Command::Release { id }),
        (0u64..200, 1u64..50).prop_map(|(now_ms, retention_ms)| Command::Expire {
            now_ms,
            retention_ms
        }),
    ]
}

/// Units the reservations in `estado` hold of product `id`.
fn held(s: &CatalogState, id: u64, estado: EstadoReserva) -> u64 {
    s.reservas
        .values()
        .filter(|r| r.estado == estado)
        .flat_map(|r| r.itens.iter())
        .filter(|i| i.doce_id == id)
        .map(|i| i.quantidade)
        .sum()
}

proptest! {
    #[test]
    fn counters_always_add_up_to_what_was_received(cmds in prop::collection::vec(arb_command(), 1..60)) {
        let mut s = state_with(&[5, 5, 0, 10]);
        let mut received: BTreeMap<u64, i128> = [(1, 5), (2, 5), (3, 0), (4, 10)].into_iter().collect();
        // Units of confirmed reservations forgotten after their window: sold for good.
        let mut sold_forgotten: BTreeMap<u64, u64> = BTreeMap::new();
        for cmd in &cmds {
            let before = s.clone();
            let r = s.apply(cmd);
            if r.is_err() {
                // A refusal changes nothing but, for a reservation, the memory of it.
                prop_assert_eq!(forgetting_refusals(&s), forgetting_refusals(&before), "refused command changed state: {:?}", cmd);
                // Applied again — a late duplicate — it is refused the same way.
                let after = s.clone();
                prop_assert_eq!(&s.apply(cmd), &r, "a duplicate was decided anew: {:?}", cmd);
                prop_assert_eq!(&s, &after);
                continue;
            }
            match cmd {
                Command::SetStock { id, estoque } => {
                    let old = before.doces[id].counters.disponivel;
                    *received.get_mut(id).unwrap() += i128::from(*estoque) - i128::from(old);
                }
                Command::AdjustStock { id, delta } => {
                    *received.get_mut(id).unwrap() += i128::from(*delta);
                }
                Command::Expire { .. } => {
                    for (rid, r) in &before.reservas {
                        if s.reservas.contains_key(rid) {
                            continue;
                        }
                        // Only settled reservations are forgotten: released, or closed.
                        prop_assert!(r.estado == EstadoReserva::Liberada || before.is_closed(rid));
                        if r.estado == EstadoReserva::Confirmada {
                            for i in &r.itens {
                                *sold_forgotten.entry(i.doce_id).or_default() += i.quantidade;
                            }
                        }
                    }
                }
                _ => {}
            }
            for (id, rec) in &s.doces {
                let c = rec.counters;
                prop_assert_eq!(i128::from(c.recebido()), received[id]);
                prop_assert_eq!(c.reservado, held(&s, *id, EstadoReserva::Reservada));
                prop_assert_eq!(
                    c.vendido,
                    held(&s, *id, EstadoReserva::Confirmada) + sold_forgotten.get(id).copied().unwrap_or(0)
                );
            }
        }
    }
}

/// Any single command of the catalog, the ones that are not safe to re-send included. (A
/// re-sent batch is each of its commands re-sent in order, so batches are judged per command.)
fn arb_any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        arb_command(),
        (1u64..=4, 1u64..1000).prop_map(|(id, preco)| Command::UpdateDoce {
            id,
            update: AtualizaDoce {
                preco_centavos: Some(preco),
                ..AtualizaDoce::default()
            },
        }),
        Just(Command::UpsertCategoria(cat("tortas"))),
        Just(Command::CreateDoce(novo("novo", 2))),
        Just(Command::Seed {
            categorias: vec![cat("bolos")],
            doces: vec![novo("semente", 1)],
        }),
    ]
}

/// `s` with every sweet's version set to zero: a repeated descriptive update bumps the
/// version again but leaves the catalog as one application did.
fn ignoring_versions(s: &CatalogState) -> CatalogState {
    let mut s = s.clone();
    s.doces = s
        .doces
        .into_iter()
        .map(|(id, mut rec)| {
            rec.doce.versao = 0;
            (id, rec)
        })
        .collect();
    s
}

proptest! {
    /// `Command::retry_safe` tells the truth: a command it calls safe, applied a second time
    /// (a forward retried after a lost answer), leaves the catalog as one application did; one
    /// it calls unsafe can change it.
    #[test]
    fn retry_safe_commands_apply_twice_as_once(
        history in prop::collection::vec(arb_command(), 0..20),
        cmd in arb_any_command(),
    ) {
        let mut s = state_with(&[5, 5, 0, 10]);
        for c in &history {
            let _ = s.apply(c);
        }
        let mut once = s.clone();
        let _ = once.apply(&cmd);
        let mut twice = once.clone();
        let _ = twice.apply(&cmd);
        if cmd.retry_safe() {
            prop_assert_eq!(ignoring_versions(&twice), ignoring_versions(&once), "{:?}", cmd);
        }
    }
}

#[test]
fn unsafe_commands_change_the_catalog_when_applied_twice() {
    for cmd in [
        Command::CreateDoce(novo("novo", 2)),
        Command::AdjustStock { id: 1, delta: 1 },
        Command::Batch(vec![
            Command::SetStock { id: 1, estoque: 3 },
            Command::AdjustStock { id: 2, delta: -1 },
        ]),
    ] {
        assert!(!cmd.retry_safe(), "{cmd:?}");
        let mut once = state_with(&[5, 5, 0, 10]);
        once.apply(&cmd).unwrap();
        let mut twice = once.clone();
        twice.apply(&cmd).unwrap();
        assert_ne!(twice, once, "{cmd:?}");
    }
}

// ---- retention ----

fn reserva_em(id: &str, itens: &[(u64, u64)], emitida_em: u64) -> Command {
    let Command::Reserve(mut r) = reserva(id, itens) else {
        unreachable!("reserva builds a Reserve");
    };
    r.emitida_em = Some(emitida_em);
    Command::Reserve(r)
}

fn expire(now_ms: u64, retention_ms: u64) -> Command {
    Command::Expire {
        now_ms,
        retention_ms,
    }
}

fn code(r: CommandResult) -> String {
    match r {
        Err(CommandError::Conflict { code, .. }) => code,
        Err(CommandError::NotFound { .. }) => "not_found".into(),
        other => format!("{other:?}"),
    }
}

/// Reservations in every settled shape, and one open.
fn settled_and_open() -> CatalogState {
    let mut s = state_with(&[10, 10]);
    s.apply(&reserva("released", &[(1, 1)])).unwrap();
    s.apply(&Command::Release {
        id: "released".into(),
    })
    .unwrap();
    s.apply(&reserva("closed", &[(1, 2)])).unwrap();
    s.apply(&Command::Confirm {
        id: "closed".into(),
    })
    .unwrap();
    s.apply(&Command::Close {
        id: "closed".into(),
    })
    .unwrap();
    s.apply(&reserva("refused", &[(2, 11)])).unwrap_err();
    s.apply(&Command::Release {
        id: "tombstone".into(),
    })
    .unwrap();
    s.apply(&reserva("confirmed", &[(2, 3)])).unwrap();
    s.apply(&Command::Confirm {
        id: "confirmed".into(),
    })
    .unwrap();
    s.apply(&reserva("open", &[(2, 1)])).unwrap();
    s
}

#[test]
fn settled_records_are_forgotten_after_the_window_and_only_then() {
    let mut s = settled_and_open();
    assert_eq!(s.retention.retained(), 4);
    // The first stamp is the clock of the first `Expire` after the settlement.
    s.apply(&expire(1_000, 500)).unwrap();
    assert_eq!(s.retention.pending.len(), 0);
    assert_eq!(s.reservas.len(), 5);
    s.apply(&expire(1_500, 500)).unwrap();
    assert_eq!(
        s.reservas.len(),
        5,
        "stamped at 1000: kept while 1000 >= 1500 - 500"
    );
    s.apply(&expire(1_501, 500)).unwrap();
    let kept: Vec<&str> = s.reservas.keys().map(String::as_str).collect();
    assert_eq!(kept, ["confirmed", "open"]);
    assert!(s.refusals.is_empty());
    assert!(s.retention.closed.is_empty());
    assert_eq!(s.retention.retained(), 0);
    assert_eq!(s.retention.forgotten, 4);
    // The stock is what it was: forgetting moves no unit.
    assert_eq!(s.stock(1).unwrap().vendido, 2);
    assert_eq!(s.stock(1).unwrap().disponivel, 8);
    assert_eq!(s.stock(2).unwrap().vendido, 3);
    assert_eq!(s.stock(2).unwrap().reservado, 1);
}

#[test]
fn the_log_clock_never_goes_back() {
    let mut s = settled_and_open();
    s.apply(&expire(10_000, 500)).unwrap();
    // A new leader whose clock is behind stamps with the log's clock, not its own.
    s.apply(&Command::Release { id: "late".into() }).unwrap();
    s.apply(&expire(2_000, 500)).unwrap();
    assert_eq!(s.retention.clock_ms, 10_000);
    assert_eq!(s.retention.forget_before_ms, 9_500);
    assert_eq!(
        s.retention.by_stamp.keys().copied().collect::<Vec<_>>(),
        [10_000]
    );
    assert!(s.reservas.contains_key("late"));
}

#[test]
fn a_forgotten_id_sent_again_neither_reserves_nor_returns_stock() {
    let mut s = state_with(&[10]);
    s.apply(&reserva_em("r", &[(1, 4)], 100)).unwrap();
    s.apply(&Command::Confirm { id: "r".into() }).unwrap();
    s.apply(&Command::Close { id: "r".into() }).unwrap();
    s.apply(&reserva_em("x", &[(1, 1)], 100)).unwrap();
    s.apply(&Command::Release { id: "x".into() }).unwrap();
    s.apply(&expire(1_000, 500)).unwrap();
    s.apply(&expire(2_000, 500)).unwrap();
    assert!(s.reserva("r").is_none() && s.reserva("x").is_none());
    let stock = s.stock(1).unwrap();
    assert_eq!((stock.disponivel, stock.vendido), (6, 4));

    // The reservation again, as first issued: refused, nothing moves, nothing remembered.
    let before = s.clone();
    assert_eq!(
        code(s.apply(&reserva_em("r", &[(1, 4)], 100))),
        "reservation_expired"
    );
    assert_eq!(
        code(s.apply(&reserva_em("x", &[(1, 1)], 100))),
        "reservation_expired"
    );
    assert_eq!(s, before);
    // Its confirmation is unknown; its release leaves a tombstone and returns no unit.
    assert_eq!(
        code(s.apply(&Command::Confirm { id: "r".into() })),
        "not_found"
    );
    s.apply(&Command::Release { id: "r".into() }).unwrap();
    let stock = s.stock(1).unwrap();
    assert_eq!((stock.disponivel, stock.vendido), (6, 4));
    // A request issued after the low-water mark is a new reservation.
    assert_eq!(s.retention.forget_before_ms, 1_500);
    s.apply(&reserva_em("novo", &[(1, 1)], 1_500)).unwrap();
    assert_eq!(
        code(s.apply(&reserva_em("velho", &[(1, 1)], 1_499))),
        "reservation_expired"
    );
}

#[test]
fn a_known_id_is_answered_from_memory_however_old_the_request() {
    let mut s = state_with(&[10]);
    s.apply(&reserva_em("aberta", &[(1, 2)], 10)).unwrap();
    s.apply(&Command::Release { id: "t".into() }).unwrap();
    s.apply(&expire(5_000, 1_000)).unwrap();
    // Open reservations are live state: never forgotten, and their retries still succeed.
    let again = s.apply(&reserva_em("aberta", &[(1, 2)], 10)).unwrap();
    assert!(matches!(again, CommandOutput::Reserva(r) if r.estado == EstadoReserva::Reservada));
    // The tombstone is still within its window.
    assert_eq!(
        code(s.apply(&reserva_em("t", &[(1, 1)], 10))),
        "reservation_released"
    );
}

#[test]
fn closing_needs_a_confirmed_reservation_and_a_closed_one_cannot_be_released() {
    let mut s = state_with(&[10]);
    s.apply(&reserva("r", &[(1, 4)])).unwrap();
    assert_eq!(
        code(s.apply(&Command::Close { id: "r".into() })),
        "reservation_open"
    );
    assert_eq!(
        code(s.apply(&Command::Close { id: "nada".into() })),
        "not_found"
    );
    s.apply(&Command::Confirm { id: "r".into() }).unwrap();
    let first = s.apply(&Command::Close { id: "r".into() }).unwrap();
    assert_eq!(s.apply(&Command::Close { id: "r".into() }).unwrap(), first);
    assert_eq!(s.retention.retained(), 1, "closing twice settles once");
    assert_eq!(
        code(s.apply(&Command::Release { id: "r".into() })),
        "reservation_closed"
    );
    assert_eq!(s.stock(1).unwrap().vendido, 4);
    // A released reservation is settled already; closing it answers it as it is.
    s.apply(&reserva("l", &[(1, 1)])).unwrap();
    s.apply(&Command::Release { id: "l".into() }).unwrap();
    assert!(matches!(
        s.apply(&Command::Close { id: "l".into() }),
        Ok(CommandOutput::Reserva(r)) if r.estado == EstadoReserva::Liberada
    ));
}

#[test]
fn one_expiry_forgets_at_most_its_share_and_the_next_the_rest() {
    let mut s = state_with(&[10]);
    let n = crate::command::MAX_FORGET + 5;
    for i in 0..n {
        s.apply(&Command::Release {
            id: format!("t{i}"),
        })
        .unwrap();
    }
    s.apply(&expire(1_000, 10)).unwrap();
    s.apply(&expire(2_000, 10)).unwrap();
    assert_eq!(s.reservas.len(), 5);
    assert!(s.retention.due(2_000, 10));
    s.apply(&expire(2_000, 10)).unwrap();
    assert!(s.reservas.is_empty());
    assert!(!s.retention.due(2_000, 10));
}

#[test]
fn the_state_follows_the_live_catalog_not_its_history() {
    let size = |s: &CatalogState| serde_json::to_vec(s).unwrap().len();
    let mut s = state_with(&[1_000_000]);
    s.apply(&reserva("viva", &[(1, 1)])).unwrap();
    s.apply(&expire(1, 1_000)).unwrap();
    let live = size(&s);
    for i in 0..20_000 {
        let id = format!("pedido-{i:08}");
        s.apply(&reserva_em(&id, &[(1, 1)], 1_000)).unwrap();
        let fim = if i % 2 == 0 {
            Command::Release { id }
        } else {
            s.apply(&Command::Confirm { id: id.clone() }).unwrap();
            Command::Close { id }
        };
        s.apply(&fim).unwrap();
    }
    s.apply(&expire(2_000, 1_000)).unwrap();
    assert!(size(&s) > 50 * live, "{} vs {live}", size(&s));
    s.apply(&expire(3_001, 1_000)).unwrap();
    s.apply(&expire(3_001, 1_000)).unwrap();
    assert_eq!(s.reservas.len(), 1);
    // Only the clock's digits and the counter of forgotten records grew.
    assert!(size(&s) < live + 64, "{} vs {live}", size(&s));
    assert_eq!(s.stock(1).unwrap().vendido, 10_000);
}

#[test]
fn a_state_written_before_retention_still_loads() {
    let s = settled_and_open();
    let mut v = serde_json::to_value(&s).unwrap();
    v.as_object_mut().unwrap().remove("retencao");
    let old: CatalogState = serde_json::from_value(v).unwrap();
    assert_eq!(old.retention, retention::Retention::default());
    // And the retention bookkeeping survives a snapshot's round trip.
    let mut s = s;
    s.apply(&expire(1_000, 10)).unwrap();
    s.apply(&Command::Release { id: "z".into() }).unwrap();
    let back: CatalogState = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

/// Commands live in the Raft log and the state in snapshots, both as JSON: names renamed in
/// code must keep the names already on disk, or an existing data directory stops loading.
#[test]
fn serialized_names_are_the_logs() {
    let json = |c: &Command| serde_json::to_value(c).unwrap();
    assert_eq!(
        json(&Command::SetStock { id: 1, estoque: 2 }),
        serde_json::json!({"SetEstoque": {"id": 1, "estoque": 2}})
    );
    assert_eq!(
        json(&Command::AdjustStock { id: 1, delta: -2 }),
        serde_json::json!({"AdjustEstoque": {"id": 1, "delta": -2}})
    );
    assert_eq!(
        json(&reserva("r", &[(1, 1)])),
        serde_json::json!({"Reservar": {"id": "r", "itens": [{"doce_id": 1, "quantidade": 1}], "emitida_em": null}})
    );
    for (c, name) in [
        (Command::Confirm { id: "r".into() }, "Confirmar"),
        (Command::Release { id: "r".into() }, "Liberar"),
        (Command::Close { id: "r".into() }, "Encerrar"),
    ] {
        assert_eq!(json(&c), serde_json::json!({name: {"id": "r"}}));
    }
    assert_eq!(
        json(&Command::Expire {
            now_ms: 5,
            retention_ms: 6
        }),
        serde_json::json!({"Expirar": {"agora_ms": 5, "retencao_ms": 6}})
    );

    // A state with a refusal, a settled reservation waiting and one stamped.
    let mut s = state_with(&[1]);
    s.apply(&reserva("short", &[(1, 5)])).unwrap_err();
    s.apply(&Command::Release { id: "a".into() }).unwrap();
    s.apply(&Command::Expire {
        now_ms: 10,
        retention_ms: 100,
    })
    .unwrap();
    s.apply(&Command::Release { id: "b".into() }).unwrap();
    let v = serde_json::to_value(&s).unwrap();
    assert!(v["doces"]["1"]["contadores"].is_object(), "{v}");
    assert!(v["recusadas"]["short"]["erro"].is_object(), "{v}");
    let r = &v["retencao"];
    for key in [
        "relogio_ms",
        "esquecer_antes_ms",
        "pendentes",
        "por_selo",
        "encerradas",
        "esquecidos",
    ] {
        assert!(!r[key].is_null(), "retencao.{key} missing: {r}");
    }
    assert_eq!(r["pendentes"], serde_json::json!([{"Reserva": "b"}]));
    assert_eq!(
        r["por_selo"]["10"],
        serde_json::json!([{"Recusa": "short"}, {"Reserva": "a"}])
    );
    let back: CatalogState = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
}
