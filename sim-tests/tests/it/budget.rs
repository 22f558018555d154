//! The CI budget: a few hundred seeds of the catalog run and some of the saga run, every
//! checker passing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sim_tests::{run, seeds, Report, SimConfig};

/// Catalog seeds run in a release build; `SIM_SEEDS` overrides, `SIM_SEED` runs one.
const RELEASE_BUDGET: u64 = 240;
/// A debug build is ~10x slower: it runs a smoke budget.
const DEBUG_BUDGET: u64 = 16;
/// Saga seeds (release, debug): each takes about twice a catalog seed.
const SAGA_BUDGET: (u64, u64) = (60, 4);
/// First seed of the budget (fixed: CI runs the same seeds every time; long runs with the
/// `sim` binary explore others).
const FIRST: u64 = 10_000;

/// Runs `list` on every core.
pub fn run_many(list: &[u64], cfg: &SimConfig) -> Vec<Report> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = list.get(i) else { return };
                let r = run(seed, cfg);
                out.lock().unwrap().push(r);
            });
        }
    });
    let mut v = out.into_inner().unwrap();
    v.sort_by_key(|r| r.seed);
    v
}

/// The release or debug budget, or `SIM_SEEDS`.
pub fn budget(release: u64, debug: u64) -> u64 {
    if let Some(n) = std::env::var("SIM_SEEDS").ok().and_then(|v| v.parse().ok()) {
        return n;
    }
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

#[test]
fn every_checker_passes_on_the_ci_seed_budget() {
    let list = seeds::budget(FIRST, budget(RELEASE_BUDGET, DEBUG_BUDGET));
    let reports = run_many(&list, &SimConfig::default());
    let ops: usize = reports.iter().map(|r| r.stats.ops).sum();
    let unknown: usize = reports.iter().map(|r| r.stats.unknown).sum();
    let faults: usize = reports.iter().map(|r| r.stats.faults).sum();
    println!(
        "{} seeds: {ops} operations ({unknown} unknown), {faults} faults",
        reports.len()
    );
    crate::assert_all_passed(&reports, "budget");
}

#[test]
fn no_reservation_dangles_on_the_saga_seed_budget() {
    let list = seeds::budget(FIRST, budget(SAGA_BUDGET.0, SAGA_BUDGET.1));
    let reports = run_many(&list, &SimConfig::saga());
    let ops: usize = reports.iter().map(|r| r.stats.ops).sum();
    let faults: usize = reports.iter().map(|r| r.stats.faults).sum();
    println!(
        "{} saga seeds: {ops} operations, {faults} faults",
        reports.len()
    );
    crate::assert_all_passed(&reports, "saga budget");
}
