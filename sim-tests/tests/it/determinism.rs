//! A seed replays byte for byte.

use sim_tests::{run, seeds, SimConfig};

/// Seeds whose traces are compared (or `SIM_SEED`): one quiet, two with crashes.
const SEEDS: &[u64] = &[7, 1151, 1175];

#[test]
fn one_seed_run_twice_gives_byte_identical_traces() {
    if !cfg!(tokio_unstable) {
        panic!(
            "determinism needs tokio's select! randomness seeded, which tokio allows only \
             with --cfg tokio_unstable: run `cd sim-tests && cargo test --release` (see \
             sim-tests/.cargo/config.toml and sim-tests/README.md)"
        );
    }
    let list = seeds::from_env().map(|s| vec![s]).unwrap_or(SEEDS.to_vec());
    for seed in list {
        let cfg = SimConfig::default();
        let a = run(seed, &cfg);
        let b = run(seed, &cfg);
        if a.trace != b.trace {
            let first = a
                .trace
                .lines()
                .zip(b.trace.lines())
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            panic!(
                "seed {seed} diverged at trace line {}:\n  first run:  {}\n  second run: {}\n\
                 replay: {}",
                first + 1,
                a.trace.lines().nth(first).unwrap_or(""),
                b.trace.lines().nth(first).unwrap_or(""),
                a.replay
            );
        }
        assert!(
            a.stats.ops > 100,
            "seed {seed} did too little: {:?}",
            a.stats
        );
    }
}

#[test]
fn different_seeds_give_different_runs() {
    let cfg = SimConfig::default();
    assert_ne!(run(1, &cfg).trace, run(2, &cfg).trace);
}

/// The saga run replays too: the orders service draws order ids from the simulation's seeded
/// generator and flushes on its own thread (not tokio's blocking pool, which runs in real time).
#[test]
fn a_saga_seed_run_twice_gives_byte_identical_traces() {
    let seed = seeds::from_env().unwrap_or(1);
    let cfg = SimConfig::saga();
    assert_eq!(run(seed, &cfg).trace, run(seed, &cfg).trace, "seed {seed}");
}
