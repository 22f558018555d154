//! A store reopened from its files (as after a crash) has everything that was acknowledged.

use confeitaria_types::{Categoria, NovoDoce};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{
    CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, RaftSnapshotBuilder, Vote,
};
use raft_store::{Command, TypeConfig};
use tempfile::TempDir;

pub(crate) fn entry(index: u64, cmd: Command) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(cmd),
    }
}

/// Reopens a store whose previous handles were just dropped. sled's background flusher
/// holds the file lock for a moment after the last handle goes, so retry for a bounded time.
pub(crate) fn reopen(
    dir: &std::path::Path,
) -> (raft_store::LogStore, raft_store::StateMachineStore) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match raft_store::open(dir) {
            Ok(stores) => return stores,
            Err(e) if std::time::Instant::now() < end && e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("reopening {}: {e}", dir.display()),
        }
    }
}

fn commands() -> Vec<Command> {
    vec![
        Command::UpsertCategoria(Categoria {
            slug: "bolos".into(),
            nome: "Bolos".into(),
        }),
        Command::CreateDoce(NovoDoce {
            nome: "Bolo de cenoura".into(),
            descricao: "com cobertura".into(),
            preco_centavos: 4500,
            categoria: "bolos".into(),
            estoque: 7,
            ativo: true,
        }),
        Command::AdjustStock { id: 1, delta: -2 },
    ]
}

#[tokio::test]
async fn reopened_store_recovers_from_its_snapshot_and_its_log() {
    let dir = TempDir::new().unwrap();
    let entries: Vec<_> = commands()
        .into_iter()
        .enumerate()
        .map(|(i, c)| entry(i as u64 + 1, c))
        .collect();
    let before = {
        let (mut log, mut sm) = reopen(dir.path());
        log.save_vote(&Vote::new_committed(1, 1)).await.unwrap();
        openraft::storage::RaftLogStorageExt::blocking_append(&mut log, entries.clone())
            .await
            .unwrap();
        sm.apply(entries[..2].to_vec()).await.unwrap();
        sm.build_snapshot().await.unwrap();
        sm.apply(entries[2..].to_vec()).await.unwrap();
        let catalog = sm.read().catalog.clone();
        catalog
        // Dropped without any shutdown: the process "crashes" here.
    };
    let (mut log, mut sm) = reopen(dir.path());
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(Vote::new_committed(1, 1))
    );
    // The state machine restarts from its snapshot ...
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(2));
    assert_eq!(sm.read().catalog.doce(1).unwrap().estoque, 7);
    // ... and the flushed log holds what came after it, as openraft will apply it again.
    let rest = log.try_get_log_entries(3..4).await.unwrap();
    assert_eq!(rest.len(), 1);
    sm.apply(rest).await.unwrap();
    assert_eq!(sm.read().catalog, before);
    assert_eq!(sm.read().catalog.doce(1).unwrap().estoque, 5);
}

#[tokio::test]
async fn snapshot_installs_on_a_fresh_store_and_survives_reopening() {
    let src_dir = TempDir::new().unwrap();
    let (_, mut src) = raft_store::open(src_dir.path()).unwrap();
    let entries: Vec<_> = commands()
        .into_iter()
        .enumerate()
        .map(|(i, c)| entry(i as u64 + 1, c))
        .collect();
    src.apply(entries).await.unwrap();
    let snap = src.build_snapshot().await.unwrap();

    let dst_dir = TempDir::new().unwrap();
    {
        let (_, mut dst) = raft_store::open(dst_dir.path()).unwrap();
        dst.install_snapshot(&snap.meta, snap.snapshot)
            .await
            .unwrap();
    }
    let (_, mut dst) = reopen(dst_dir.path());
    assert_eq!(dst.read().catalog, src.read().catalog);
    assert_eq!(
        dst.applied_state().await.unwrap().0.map(|l| l.index),
        Some(3)
    );
    let current = dst.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id.map(|l| l.index), Some(3));
}
