//! Expiry (issue 13): a short retention window, leader-stamped `Expirar` entries forgetting
//! settled reservations within the run, clients closing confirmed reservations and re-sending
//! settled ones after a window. A forgotten id must never move stock again: the model's
//! `Forgotten` slot answers a re-sent reservation only with `reservation_expired`, a late
//! release with a fresh tombstone that moves nothing (`linearizability`), and the counters
//! still add up (`stock_invariants`, `acknowledged_writes`).

use sim_tests::{run, seeds, SimConfig};

use crate::budget::{budget, run_many};

/// Seeds of the expiry profile in a release build (each runs 8 simulated seconds); a debug
/// build runs 2.
const RELEASE_BUDGET: u64 = 40;
/// First seed (fixed; long runs with `sim --expiry` explore others).
const FIRST: u64 = 30_000;

#[test]
fn forgotten_ids_never_move_stock_on_the_expiry_budget() {
    let list = seeds::budget(FIRST, budget(RELEASE_BUDGET, 2));
    let reports = run_many(&list, &SimConfig::expiry());
    let sum = |f: fn(&sim_tests::runner::Stats) -> usize| -> usize {
        reports.iter().map(|r| f(&r.stats)).sum()
    };
    let (expired, closed, tombstones) =
        (sum(|s| s.expired), sum(|s| s.closed), sum(|s| s.tombstones));
    println!(
        "{} expiry seeds: {} operations, {expired} re-sends refused as expired, {closed} \
         closes, {tombstones} re-releases",
        reports.len(),
        sum(|s| s.ops)
    );
    crate::assert_all_passed(&reports, "expiry budget");
    // The profile must reach what it is for: ids forgotten and then re-sent.
    if seeds::from_env().is_none() {
        assert!(
            expired > 0 && closed > 0 && tombstones > 0,
            "the expiry runs forgot nothing that came back"
        );
    }
}

#[test]
fn an_expiry_seed_replays_byte_for_byte() {
    let seed = seeds::from_env().unwrap_or(FIRST);
    let cfg = SimConfig::expiry().learners(1);
    let (a, b) = (run(seed, &cfg), run(seed, &cfg));
    assert!(
        a.trace == b.trace,
        "seed {seed} diverged; replay: {}",
        a.replay
    );
    assert!(
        a.stats.expired > 0,
        "seed {seed} forgot nothing: {:?}",
        a.stats
    );
}
