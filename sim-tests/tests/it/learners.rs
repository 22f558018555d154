//! Learners (issue 13): two learners beside the three voters, read at both levels by the
//! clients and at the end, crashed and cut off by the nemesis like the voters. Their local
//! reads must never go back (`monotonic_local_reads`), their linearizable reads are part of
//! each product's history (`linearizability`), and they converge with the voters after
//! healing.

use sim_tests::{seeds, SimConfig};

use crate::budget::{budget, run_many};

/// Seeds with learners in a release build; a debug build runs 2.
const RELEASE_BUDGET: u64 = 40;
/// First seed (fixed; long runs with `sim --learners 2` explore others).
const FIRST: u64 = 40_000;

#[test]
fn learner_reads_are_monotonic_and_linearizable_on_the_learner_budget() {
    let list = seeds::budget(FIRST, budget(RELEASE_BUDGET, 2));
    let reports = run_many(&list, &SimConfig::default().learners(2));
    let lin: usize = reports.iter().map(|r| r.stats.learner_lin_reads).sum();
    let all: usize = reports.iter().map(|r| r.stats.learner_reads).sum();
    let learner_faults = reports
        .iter()
        .filter(|r| {
            r.trace.lines().any(|l| {
                l.split_once(" open ")
                    .is_some_and(|(_, f)| f.contains("n4") || f.contains("n5"))
            })
        })
        .count();
    println!(
        "{} learner seeds: {all} reads served by learners ({lin} linearizable), faults on a \
         learner in {learner_faults} seeds",
        reports.len()
    );
    crate::assert_all_passed(&reports, "learner budget");
    if seeds::from_env().is_none() {
        assert!(
            lin > 0 && all > lin,
            "no learner served reads at both levels"
        );
        assert!(learner_faults > 0, "the nemesis never hit a learner");
    }
}
