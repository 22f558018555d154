//! `sim`: runs many seeds for long runs and reports every failure with its replay command.
//!
//! `sim --seeds 10000 --start 0 [--broken] [--jobs 2]`, or `sim --seed N --trace` to replay
//! one seed and print its whole trace.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use sim_tests::{run, seeds, SimConfig};

/// Runs simulation seeds.
#[derive(Debug, Parser)]
struct Args {
    /// Run only this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// First seed of the range.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// How many seeds.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Worker threads (each runs whole seeds).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Switch on the deliberately broken node (stale linearizable reads).
    #[arg(long)]
    broken: bool,
    /// Run the saga scenario (orders service and shoppers) instead of catalog clients.
    #[arg(long)]
    saga: bool,
    /// Run the focused leader-isolation profile (see `SimConfig::leader_isolation`).
    #[arg(long)]
    leader_isolation: bool,
    /// Record refusals after a client retry as unknown (workaround; README, "Findings").
    #[arg(long)]
    lenient: bool,
    /// Print the trace of every seed run (use with --seed).
    #[arg(long)]
    trace: bool,
    /// Simulated workload duration per seed, in ms.
    #[arg(long)]
    duration_ms: Option<u64>,
}

fn main() {
    let args = Args::parse();
    let mut cfg = if args.saga {
        SimConfig::saga()
    } else if args.leader_isolation {
        SimConfig::leader_isolation()
    } else {
        SimConfig::default()
    };
    if args.broken {
        cfg = cfg.broken();
    }
    cfg.lenient_refusals = args.lenient;
    if let Some(d) = args.duration_ms {
        cfg.workload.duration_ms = d;
    }
    let list: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (args.start..args.start + args.seeds).collect(),
    };
    let total = list.len();
    let list = Arc::new(list);
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.jobs.max(1) {
        let (list, next, failed, cfg, done) = (
            list.clone(),
            next.clone(),
            failed.clone(),
            cfg.clone(),
            done.clone(),
        );
        let trace = args.trace;
        let mut flags = String::new();
        if args.broken {
            flags.push_str(" --broken");
        }
        if args.lenient {
            flags.push_str(" --lenient");
        }
        if args.saga {
            flags.push_str(" --saga");
        }
        if args.leader_isolation {
            flags.push_str(" --leader-isolation");
        }
        if let Some(d) = args.duration_ms {
            flags.push_str(&format!(" --duration-ms {d}"));
        }
        workers.push(std::thread::spawn(move || loop {
            let i = next.fetch_add(1, Ordering::SeqCst) as usize;
            let Some(&seed) = list.get(i) else { return };
            let outcome = std::panic::catch_unwind(|| run(seed, &cfg));
            let n = done.fetch_add(1, Ordering::SeqCst) + 1;
            match outcome {
                Ok(report) => {
                    if trace {
                        print!("{}", report.trace);
                    }
                    if !report.passed() {
                        println!(
                            "seed {seed} FAILED:\n{}  replay: {}",
                            report.failures(),
                            report.replay
                        );
                        failed.lock().unwrap_or_else(|e| e.into_inner()).push(seed);
                    }
                }
                Err(_) => {
                    println!(
                        "seed {seed} PANICKED; replay: {}",
                        seeds::replay_command_bin(seed, &flags)
                    );
                    failed.lock().unwrap_or_else(|e| e.into_inner()).push(seed);
                }
            }
            if n % 100 == 0 {
                eprintln!("{n}/{total} seeds, {:.0?}", started.elapsed());
            }
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let failed = failed.lock().map(|f| f.clone()).unwrap_or_default();
    println!(
        "{total} seeds in {:.1?}: {} passed, {} failed {:?}",
        started.elapsed(),
        total - failed.len(),
        failed.len(),
        failed
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
