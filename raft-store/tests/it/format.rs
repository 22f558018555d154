//! A data directory written in another storage format is refused at open, naming the
//! directory and what to do; a new one records the current format.

use std::path::Path;
use std::time::{Duration, Instant};

use openraft::storage::RaftLogStorage;
use openraft::Vote;
use raft_store::codec::FORMAT_VERSION;
use raft_store::OpenError;
use tempfile::TempDir;

use crate::recovery::reopen;

/// Opens `dir`, which must fail; waits out sled's file lock, held a moment after the last
/// handle of the database written just before goes.
fn refused(dir: &Path) -> OpenError {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match raft_store::open(dir) {
            Err(OpenError::Sled(e)) if Instant::now() < end && e.to_string().contains("lock") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return e,
            Ok(_) => panic!("{} was opened", dir.display()),
        }
    }
}

#[test]
fn a_directory_written_as_json_is_refused_with_what_to_do() {
    let dir = TempDir::new().unwrap();
    {
        // What a build before the format version left: JSON values and no version.
        let db = sled::open(dir.path()).unwrap();
        let vote: Vote<u64> = Vote::new_committed(1, 1);
        db.open_tree("raft_meta")
            .unwrap()
            .insert("vote", serde_json::to_vec(&vote).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let err = refused(dir.path());
    let msg = err.to_string();
    assert!(matches!(err, OpenError::Format { .. }), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("format 1 (JSON"), "{msg}");
    assert!(msg.contains("delete the directory"), "{msg}");
}

#[test]
fn another_recorded_version_is_refused() {
    let dir = TempDir::new().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert("format_version", &(FORMAT_VERSION + 1).to_le_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let msg = refused(dir.path()).to_string();
    assert!(
        msg.contains(&format!("format {}", FORMAT_VERSION + 1)),
        "{msg}"
    );
}

#[tokio::test]
async fn a_new_directory_records_the_format_and_reopens() {
    let dir = TempDir::new().unwrap();
    {
        let (mut log, _sm) = reopen(dir.path());
        log.save_vote(&Vote::new_committed(2, 1)).await.unwrap();
    }
    let (mut log, _sm) = reopen(dir.path());
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(Vote::new_committed(2, 1))
    );
}
