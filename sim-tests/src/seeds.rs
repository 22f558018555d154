//! Seeds: which ones a test runs, `SIM_SEED` to run exactly one, and the command that
//! replays a failure.

/// The seed named by `SIM_SEED`, if set (decimal or `0x` hex).
pub fn from_env() -> Option<u64> {
    let v = std::env::var("SIM_SEED").ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// `count` seeds starting at `first`, or only `SIM_SEED` when it is set.
pub fn budget(first: u64, count: u64) -> Vec<u64> {
    match from_env() {
        Some(s) => vec![s],
        None => (first..first + count).collect(),
    }
}

use crate::config::SimConfig;
use crate::workload::Kind;

/// The one command that replays `seed` under `cfg`, printing its trace: the `replay` test for
/// the two standard runs, the `sim` binary with the matching flags otherwise.
pub fn replay_command(seed: u64, cfg: &SimConfig) -> String {
    let saga = cfg.workload.kind == Kind::Saga;
    let expiry = cfg.timing.retention_ms > 0;
    let standard = if saga {
        SimConfig::saga()
    } else if expiry {
        SimConfig::expiry()
    } else {
        SimConfig::default()
    };
    let mut flags = String::new();
    if saga {
        flags.push_str(" --saga");
    }
    if cfg.faults.skip_read_index {
        flags.push_str(" --broken");
    }
    if cfg.nemesis.only_isolate_leader {
        flags.push_str(" --leader-isolation");
    }
    if cfg.failover.is_some() {
        flags.push_str(" --failover");
    }
    if expiry {
        flags.push_str(" --expiry");
    }
    if cfg.learners > 0 {
        flags.push_str(&format!(" --learners {}", cfg.learners));
    }
    if cfg.workload.duration_ms != standard.workload.duration_ms {
        flags.push_str(&format!(" --duration-ms {}", cfg.workload.duration_ms));
    }
    let plain = !cfg.faults.skip_read_index
        && !cfg.nemesis.only_isolate_leader
        && cfg.failover.is_none()
        && !expiry
        && cfg.learners == 0
        && cfg.workload.duration_ms == standard.workload.duration_ms;
    if plain {
        let env = if saga { "SIM_SAGA=1 " } else { "" };
        format!(
            "cd sim-tests && {env}SIM_SEED={seed} cargo test --release --test it replay -- \
             --nocapture"
        )
    } else {
        replay_command_bin(seed, &flags)
    }
}

/// The replay command with the sim binary, for long runs, given the run's flags.
pub fn replay_command_bin(seed: u64, flags: &str) -> String {
    format!("cd sim-tests && cargo run --release --bin sim -- --seed {seed}{flags} --trace")
}
