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
    Command::Reservar(NovaReserva {
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

/// `s` without its memory of refused reservations: what a refusal must leave unchanged.
fn forgetting_refusals(s: &CatalogState) -> CatalogState {
    CatalogState {
        recusadas: BTreeMap::new(),
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
    assert_eq!(s.estoque(1).unwrap().reservado, 3);
    assert_eq!(s.estoque(2).unwrap().disponivel, 0);
}

#[test]
fn reserve_confirm_release_are_idempotent() {
    let mut s = state_with(&[10]);
    let first = s.apply(&reserva("r", &[(1, 4)])).unwrap();
    assert_eq!(s.apply(&reserva("r", &[(1, 4)])).unwrap(), first);
    assert_eq!(s.estoque(1).unwrap().reservado, 4);
    assert!(matches!(
        s.apply(&reserva("r", &[(1, 5)])),
        Err(CommandError::Conflict { .. })
    ));
    s.apply(&Command::Confirmar { id: "r".into() }).unwrap();
    s.apply(&Command::Confirmar { id: "r".into() }).unwrap();
    let e = s.estoque(1).unwrap();
    assert_eq!((e.disponivel, e.reservado, e.vendido), (6, 0, 4));
    s.apply(&Command::Liberar { id: "r".into() }).unwrap();
    s.apply(&Command::Liberar { id: "r".into() }).unwrap();
    let e = s.estoque(1).unwrap();
    assert_eq!((e.disponivel, e.reservado, e.vendido), (10, 0, 0));
}

#[test]
fn release_before_reserve_leaves_a_tombstone_that_refuses_the_late_reservation() {
    let mut s = state_with(&[10]);
    s.apply(&Command::Liberar { id: "late".into() }).unwrap();
    let r = s.apply(&reserva("late", &[(1, 1)]));
    assert!(
        matches!(r, Err(CommandError::Conflict { ref code, .. }) if code == "reservation_released")
    );
    assert_eq!(s.estoque(1).unwrap().disponivel, 10);
}

#[test]
fn a_refused_reservation_stays_refused_for_its_id() {
    let mut s = state_with(&[1]);
    let first = s.apply(&reserva("r", &[(1, 2)]));
    assert!(matches!(
        first,
        Err(CommandError::InsufficientStock { doce_id: 1, .. })
    ));
    s.apply(&Command::AdjustEstoque { id: 1, delta: 9 })
        .unwrap();
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
    let e = s.estoque(1).unwrap();
    assert_eq!((e.disponivel, e.reservado), (8, 2));
    // Releasing a refused id is harmless, changes no counter, and the id stays refused.
    s.apply(&Command::Liberar { id: "r".into() }).unwrap();
    assert_eq!(s.estoque(1).unwrap(), e);
    assert!(s.apply(&reserva("r", &[(1, 2)])).is_err());
}

#[test]
fn released_reservation_cannot_be_confirmed() {
    let mut s = state_with(&[3]);
    s.apply(&reserva("r", &[(1, 2)])).unwrap();
    s.apply(&Command::Liberar { id: "r".into() }).unwrap();
    assert!(matches!(
        s.apply(&Command::Confirmar { id: "r".into() }),
        Err(CommandError::Conflict { .. })
    ));
    assert!(matches!(
        s.apply(&Command::Confirmar { id: "nope".into() }),
        Err(CommandError::NotFound { .. })
    ));
}

#[test]
fn stock_delta_below_zero_is_a_conflict_and_changes_nothing() {
    let mut s = state_with(&[2]);
    let before = s.clone();
    let r = s.apply(&Command::AdjustEstoque { id: 1, delta: -3 });
    assert!(matches!(r, Err(CommandError::Conflict { ref code, .. }) if code == "negative_stock"));
    assert_eq!(s, before);
    s.apply(&Command::AdjustEstoque { id: 1, delta: -2 })
        .unwrap();
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
        matches!(s.apply(&Command::CreateDoce(bad)), Err(CommandError::Invalid { ref code, .. }) if code == "unknown_category")
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
        s.apply(&Command::SetEstoque {
            id: 1,
            estoque: u64::MAX
        }),
        Err(CommandError::Invalid { .. })
    ));
    assert!(matches!(
        s.apply(&Command::AdjustEstoque {
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
        Command::AdjustEstoque { id: 1, delta: 5 },
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
    let e = s.estoque(1).unwrap();
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
        (id.clone(), 0u64..20).prop_map(|(id, estoque)| Command::SetEstoque { id, estoque }),
        (id.clone(), -15i64..15).prop_map(|(id, delta)| Command::AdjustEstoque { id, delta }),
        (
            rid.clone(),
            prop::collection::vec((1u64..=4, 1u64..6), 1..4)
        )
            .prop_map(|(r, itens)| {
                Command::Reservar(NovaReserva {
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
        rid.clone().prop_map(|id| Command::Confirmar { id }),
        rid.prop_map(|id| Command::Liberar { id }),
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
                Command::SetEstoque { id, estoque } => {
                    let old = before.doces[id].contadores.disponivel;
                    *received.get_mut(id).unwrap() += i128::from(*estoque) - i128::from(old);
                }
                Command::AdjustEstoque { id, delta } => {
                    *received.get_mut(id).unwrap() += i128::from(*delta);
                }
                _ => {}
            }
            for (id, rec) in &s.doces {
                let c = rec.contadores;
                prop_assert_eq!(i128::from(c.recebido()), received[id]);
                prop_assert_eq!(c.reservado, held(&s, *id, EstadoReserva::Reservada));
                prop_assert_eq!(c.vendido, held(&s, *id, EstadoReserva::Confirmada));
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
    for rec in s.doces.values_mut() {
        rec.doce.versao = 0;
    }
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
        Command::AdjustEstoque { id: 1, delta: 1 },
        Command::Batch(vec![
            Command::SetEstoque { id: 1, estoque: 3 },
            Command::AdjustEstoque { id: 2, delta: -1 },
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
