//! The failover profile (issue 16, `SimConfig::failover`): the leader killed again and again
//! soon after the previous kill's node came back. Every checker must pass, and the time from
//! each kill to the first acknowledged write (simulated, so independent of the machine) must
//! stay within bounds, and so must the time to the new leader's first commit.

use sim_tests::failover::percentiles;
use sim_tests::{run, seeds, Report, SimConfig};

use crate::budget::run_many;

/// Failover seeds in a release build (each has about five kills); `SIM_SEEDS` overrides.
const RELEASE_BUDGET: u64 = 40;
/// A debug build runs a smoke budget.
const DEBUG_BUDGET: u64 = 3;
/// First seed of the budget.
const FIRST: u64 = 20_000;
/// Bounds on kill → the new leader's first commit over the budget, simulated ms (issue 16's
/// targets for the real cluster: p50 ≤ 250, p90 ≤ 400, worst ≤ 600). A killed node's host
/// refuses connections as a real one does (`sim_tests::cluster::run_node`), so a follower
/// calls an election as soon as it finds the leader gone.
const P50_BOUND_MS: f64 = 250.0;
/// See [`P50_BOUND_MS`].
const P90_BOUND_MS: f64 = 400.0;
/// See [`P50_BOUND_MS`].
const WORST_BOUND_MS: f64 = 600.0;
/// Kill → first acknowledged write has a longer tail in simulation than on a real host: the
/// driver discards the FINs of a crashed node's sockets (to stay deterministic), so a client
/// whose request was in flight on the dead node waits out its 1 s attempt deadline instead of
/// seeing the reset a real kernel sends. Only the median is bounded as tightly.
const WRITE_P50_BOUND_MS: f64 = 250.0;
/// See [`WRITE_P50_BOUND_MS`].
const WRITE_WORST_BOUND_MS: f64 = 2_500.0;
/// Seed 1's worst failover to first commit with the refused-connection election: 158 ms.
const SEED_1_WORST_MS: f64 = 250.0;
/// Seed 599's slow round, 599 ms to first commit (see the test).
const SEED_599_WORST_MS: f64 = 650.0;

fn to_commit_ms(reports: &[Report]) -> Vec<f64> {
    reports
        .iter()
        .flat_map(|r| r.failovers.iter().filter_map(|f| f.to_commit_ms()))
        .collect()
}

fn to_write_ms(reports: &[Report]) -> Vec<f64> {
    reports
        .iter()
        .flat_map(|r| r.failovers.iter().filter_map(|f| f.to_write_ms()))
        .collect()
}

#[test]
fn every_checker_passes_and_failovers_stay_short_on_the_failover_budget() {
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            DEBUG_BUDGET
        } else {
            RELEASE_BUDGET
        });
    let list = seeds::budget(FIRST, n);
    let reports = run_many(&list, &SimConfig::failover());
    crate::assert_all_passed(&reports, "failover");
    let commits = to_commit_ms(&reports);
    let writes = to_write_ms(&reports);
    let [p50, p90, p99, worst] = percentiles(&commits);
    let [w50, w90, w99, wworst] = percentiles(&writes);
    println!(
        "{} kills: kill → first commit p50 {p50:.0}, p90 {p90:.0}, p99 {p99:.0}, worst {worst:.0} ms; \
         kill → first write p50 {w50:.0}, p90 {w90:.0}, p99 {w99:.0}, worst {wworst:.0} ms",
        commits.len()
    );
    assert!(!commits.is_empty(), "no failover was measured");
    assert_eq!(
        commits.len(),
        writes.len(),
        "a failover without a commit or a write"
    );
    assert!(p50 <= P50_BOUND_MS, "p50 {p50:.0} ms > {P50_BOUND_MS} ms");
    assert!(p90 <= P90_BOUND_MS, "p90 {p90:.0} ms > {P90_BOUND_MS} ms");
    assert!(
        worst <= WORST_BOUND_MS,
        "worst {worst:.0} ms > {WORST_BOUND_MS} ms"
    );
    assert!(
        w50 <= WRITE_P50_BOUND_MS,
        "write p50 {w50:.0} ms > {WRITE_P50_BOUND_MS} ms"
    );
    assert!(
        wworst <= WRITE_WORST_BOUND_MS,
        "write worst {wworst:.0} ms > {WRITE_WORST_BOUND_MS} ms"
    );
}

/// Seed 1 of the failover profile showed the slow round of issue 16 before the fix: the
/// restarted node (log `1-73`, two entries behind) and the other follower (`2-75`) timed
/// out on the same tick; the restarted node, refused by log, called an election every
/// 30–80 ms (terms 3, 4, 5, …), each outbidding the follower that could win, which then
/// waited a whole election timeout again — 553, 790 and 966 ms rounds. The node now leaves
/// the next election to a voter with a longer log, and followers call an election as soon as
/// the dead leader's host refuses them (`catalog_node::election`): 158 ms at worst.
#[test]
fn seed_1_restarted_node_behind_does_not_outbid_the_longer_log() {
    let r = run(1, &SimConfig::failover());
    crate::assert_all_passed(std::slice::from_ref(&r), "failover regression");
    let worst = percentiles(&to_commit_ms(std::slice::from_ref(&r)))[3];
    assert!(
        worst <= SEED_1_WORST_MS,
        "seed 1: worst failover {worst:.0} ms > {SEED_1_WORST_MS} ms\n{}",
        r.trace
    );
}

/// Seed 599 shows the slowest kind of round left (599 ms to the first commit at 20:1.035 s):
/// n1 and n2, logs equal, split term 4; both schedule a retry. n2 starts term 5 first; n1's
/// retry checks that it is still a candidate in term 4 and asks openraft to elect — but n2's
/// vote request is already queued before that command, so n1 grants term 5 and then starts
/// term 6 at once. n2 leads term 5 and cannot commit (n1 refuses its appends; n3 is dead),
/// and the next leader needs a lease plus an election timeout. The check and the command
/// cannot be made atomic from outside openraft 0.9; the round stays within issue 16's bound.
#[test]
fn seed_599_a_retry_racing_a_vote_request_stays_within_bounds() {
    let r = run(599, &SimConfig::failover());
    crate::assert_all_passed(std::slice::from_ref(&r), "failover regression");
    let worst = percentiles(&to_commit_ms(std::slice::from_ref(&r)))[3];
    assert!(
        worst <= SEED_599_WORST_MS,
        "seed 599: worst failover {worst:.0} ms > {SEED_599_WORST_MS} ms\n{}",
        r.trace
    );
}
