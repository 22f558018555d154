//! Building a snapshot holds the state lock only to clone the state: never while it encodes,
//! writes and flushes it.

use std::time::{Duration, Instant};

use confeitaria_types::{Categoria, ItemReserva, NovaReserva, NovoDoce};
use openraft::storage::RaftStateMachine;
use openraft::RaftSnapshotBuilder;
use raft_store::{codec, Command};
use tempfile::TempDir;

use crate::recovery::entry;

/// A catalog of one product and `batches × 500` open reservations, applied as log entries.
fn big_catalog_entries(batches: u64) -> Vec<openraft::Entry<raft_store::TypeConfig>> {
    let mut entries = vec![
        entry(
            1,
            Command::UpsertCategoria(Categoria {
                slug: "bolos".into(),
                nome: "Bolos".into(),
            }),
        ),
        entry(
            2,
            Command::CreateDoce(NovoDoce {
                nome: "Brigadeiro".into(),
                descricao: "de colher".into(),
                preco_centavos: 350,
                categoria: "bolos".into(),
                estoque: 1_000_000,
                ativo: true,
            }),
        ),
    ];
    for b in 0..batches {
        let reservas = (0..500)
            .map(|i| {
                Command::Reserve(NovaReserva {
                    id: format!("reserva-{b:04}-{i:04}"),
                    itens: vec![ItemReserva {
                        doce_id: 1,
                        quantidade: 1,
                    }],
                    emitida_em: None,
                })
            })
            .collect();
        entries.push(entry(3 + b, Command::Batch(reservas)));
    }
    entries
}

#[tokio::test]
async fn building_a_snapshot_holds_the_state_lock_only_to_clone_it() {
    let dir = TempDir::new().unwrap();
    let (_log, mut sm) = raft_store::open(dir.path()).unwrap();
    sm.apply(big_catalog_entries(100)).await.unwrap();
    assert_eq!(sm.read().catalog.reservas.len(), 50_000);

    let started = Instant::now();
    let snap = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let built = started.elapsed();
    let held = Duration::from_micros(sm.snapshot_lock_longest_micros());
    // Encoding 50,000 reservations, writing and flushing them take far longer than cloning
    // the state's root; a lock held across the encoding would be most of the build.
    assert!(
        held * 20 < built,
        "the snapshot held the state lock {held:?} of its {built:?} build"
    );
    assert!(snap.snapshot.get_ref().len() > 50_000);
}

/// A reservation as the orders service sends it: a UUID for id, one line, its issue time.
fn reservation(i: u64) -> Command {
    Command::Reserve(NovaReserva {
        id: format!("{:08x}-4e2b-4c1d-9f3a-{:012x}", i * 7919, i),
        itens: vec![ItemReserva {
            doce_id: 1,
            quantidade: 1,
        }],
        emitida_em: Some(1_764_777_600_000 + i),
    })
}

/// What the Raft encoding saves over the JSON it replaced; prints the figures docs/bench.md
/// quotes (`cargo test -p raft-store --test it raft_encoding -- --nocapture`).
#[tokio::test]
async fn the_raft_encoding_saves_a_third_or_more_of_the_json() {
    let one = entry(1_000_000, reservation(1));
    let batch = entry(
        1_000_001,
        Command::Batch((0..64).map(reservation).collect()),
    );
    let dir = TempDir::new().unwrap();
    let (_log, mut sm) = raft_store::open(dir.path()).unwrap();
    let mut entries = big_catalog_entries(0);
    entries.extend((0..100).map(|b| {
        entry(
            3 + b,
            Command::Batch((0..500).map(|i| reservation(b * 500 + i)).collect()),
        )
    }));
    sm.apply(entries).await.unwrap();
    let catalog = sm.read().catalog.clone();
    for (what, json, bin) in [
        (
            "log entry, one reservation",
            serde_json::to_vec(&one).unwrap().len(),
            codec::encode(&one).unwrap().len(),
        ),
        (
            "log entry, batch of 64 reservations",
            serde_json::to_vec(&batch).unwrap().len(),
            codec::encode(&batch).unwrap().len(),
        ),
        (
            "snapshot, 50,000 open reservations",
            serde_json::to_vec(&catalog).unwrap().len(),
            codec::encode(&catalog).unwrap().len(),
        ),
    ] {
        println!("{what}: JSON {json} B, bincode {bin} B");
        assert!(3 * bin < 2 * json, "{what}: JSON {json} B, bincode {bin} B");
    }
}
