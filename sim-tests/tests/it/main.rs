//! The simulation suite: determinism, the CI seed budget, the failover profile, the broken
//! variant the checkers must catch, named regression seeds, the turmoil adapters, and
//! `replay` for `SIM_SEED`.
//!
//! Build with `--release` (and, for determinism, `--cfg tokio_unstable`, which
//! `sim-tests/.cargo/config.toml` sets): `cd sim-tests && cargo test --release`.

// A failed assertion or unwrap here is a test failure, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adapters;
mod broken;
mod budget;
mod determinism;
mod expiry;
mod failover;
mod learners;
mod regressions;
mod replay;

use sim_tests::Report;

/// Panics with every failed seed, what failed, and the command that replays it.
pub fn assert_all_passed(reports: &[Report], what: &str) {
    let failed: Vec<&Report> = reports.iter().filter(|r| !r.passed()).collect();
    if failed.is_empty() {
        return;
    }
    let mut msg = format!(
        "{} of {} {what} seeds failed:\n",
        failed.len(),
        reports.len()
    );
    for r in failed {
        msg.push_str(&format!(
            "seed {}:\n{}  replay: {}\n",
            r.seed,
            r.failures(),
            r.replay
        ));
    }
    panic!("{msg}");
}
