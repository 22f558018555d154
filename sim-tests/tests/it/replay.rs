//! `SIM_SEED=<n> cargo test --release --test it replay -- --nocapture`: runs one seed of the
//! default configuration (`SIM_SAGA=1`: of the saga run) and prints its whole trace.

use sim_tests::{run, seeds, SimConfig};

#[test]
fn replay() {
    let seed = seeds::from_env().unwrap_or(1);
    let cfg = if std::env::var_os("SIM_SAGA").is_some() {
        SimConfig::saga()
    } else {
        SimConfig::default()
    };
    let report = run(seed, &cfg);
    println!("{}", report.trace);
    crate::assert_all_passed(&[report], "replayed");
}
