//! The checkers bite: with the deliberately broken node (linearizable reads served from the
//! local replica, no read index) they must find violations within a small budget.

use sim_tests::{seeds, SimConfig};

/// Seeds of the broken run; every one of them is expected to be caught.
const SEEDS: u64 = 12;

#[test]
fn stale_linearizable_reads_are_caught_by_the_checkers() {
    let list = seeds::budget(20_000, SEEDS);
    let reports = crate::budget::run_many(&list, &SimConfig::default().broken());
    let caught: Vec<u64> = reports
        .iter()
        .filter(|r| r.violations.iter().any(|v| v.checker == "linearizability"))
        .map(|r| r.seed)
        .collect();
    let any = reports.iter().filter(|r| !r.violations.is_empty()).count();
    println!(
        "broken node: linearizability caught {} of {} seeds {caught:?}; some checker caught {any}",
        caught.len(),
        reports.len()
    );
    for r in &reports {
        assert!(r.error.is_none(), "seed {}: {:?}", r.seed, r.error);
    }
    assert!(
        caught.len() * 2 > reports.len(),
        "stale reads went unnoticed in most seeds: caught only {caught:?}"
    );
}

#[test]
fn the_same_seeds_pass_with_the_correct_node() {
    let list = seeds::budget(20_000, 4);
    let reports = crate::budget::run_many(&list, &SimConfig::default());
    crate::assert_all_passed(&reports, "correct-node counterpart");
}
