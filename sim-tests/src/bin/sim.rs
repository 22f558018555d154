//! `sim`: runs many seeds for long runs and reports every failure with its replay command.
//!
//! `sim --seeds 10000 --start 0 [--broken] [--jobs 2]`, or `sim --seed N --trace` to replay
//! one seed and print its whole trace.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use sim_tests::failover::{self, Failover, Variant};
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
    /// Run the failover profile (see `SimConfig::failover`) and print the percentiles of
    /// each failover's time.
    #[arg(long)]
    failover: bool,
    /// Run with a retention window: settled reservations forgotten within the run, closed
    /// and re-sent by the clients (see `SimConfig::expiry`).
    #[arg(long)]
    expiry: bool,
    /// Learners beside the three voters (see `SimConfig::learners`).
    #[arg(long, default_value_t = 0)]
    learners: u64,
    /// Print the trace of every seed run (use with --seed).
    #[arg(long)]
    trace: bool,
    /// Simulated workload duration per seed, in ms.
    #[arg(long)]
    duration_ms: Option<u64>,
}

fn main() {
    let args = Args::parse();
    // `SIM_LOG=openraft=debug,catalog_node=debug` prints the nodes' own logs (to stderr,
    // stamped with real time) — for one seed, when a trace is not enough.
    if let Ok(filter) = std::env::var("SIM_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let mut cfg = if args.saga {
        SimConfig::saga()
    } else if args.leader_isolation {
        SimConfig::leader_isolation()
    } else if args.failover {
        SimConfig::failover()
    } else if args.expiry {
        SimConfig::expiry()
    } else {
        SimConfig::default()
    };
    cfg = cfg.learners(args.learners);
    if args.broken {
        cfg = cfg.broken();
    }
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
    let totals = Arc::new(Mutex::new(Totals::default()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.jobs.max(1) {
        let (list, next, totals, cfg) = (list.clone(), next.clone(), totals.clone(), cfg.clone());
        let trace = args.trace;
        workers.push(std::thread::spawn(move || loop {
            let i = next.fetch_add(1, Ordering::SeqCst) as usize;
            let Some(&seed) = list.get(i) else { return };
            let outcome = std::panic::catch_unwind(|| run(seed, &cfg));
            let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
            t.done += 1;
            match outcome {
                Ok(report) => {
                    if trace {
                        print!("{}", report.trace);
                    }
                    t.add(&report);
                    if !report.passed() {
                        println!(
                            "seed {seed} FAILED:\n{}  replay: {}",
                            report.failures(),
                            report.replay
                        );
                        t.failed.push(seed);
                    }
                }
                Err(_) => {
                    println!(
                        "seed {seed} PANICKED; replay: {}",
                        seeds::replay_command(seed, &cfg)
                    );
                    t.failed.push(seed);
                }
            }
            if t.done % 100 == 0 {
                eprintln!("{}/{total} seeds, {:.0?}", t.done, started.elapsed());
            }
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let t = totals.lock().map(|t| t.clone()).unwrap_or_default();
    println!(
        "{total} seeds in {:.1?}: {} passed, {} failed {:?}",
        started.elapsed(),
        total - t.failed.len(),
        t.failed.len(),
        t.failed
    );
    println!(
        "{} operations ({} ok, {} refused, {} unknown), {} fault windows, {} leaderships, \
         {:.0} s simulated",
        t.ops,
        t.ok,
        t.refused,
        t.unknown,
        t.faults,
        t.leaderships,
        t.sim_ms as f64 / 1000.0
    );
    if args.expiry || args.learners > 0 {
        println!(
            "{} re-sent reservations refused as expired, {} closes acknowledged, {} tombstones \
             left by releases of forgotten ids, {} reads served by learners ({} linearizable)",
            t.expired, t.closed, t.tombstones, t.learner_reads, t.learner_lin_reads
        );
    }
    for (checker, n) in &t.by_checker {
        println!("  {checker}: {n} seeds with violations");
    }
    if args.failover {
        print_failovers(&t.failovers);
    }
    if !t.failed.is_empty() {
        std::process::exit(1);
    }
}

/// Sums over the seeds run.
#[derive(Debug, Clone, Default)]
struct Totals {
    done: u64,
    failed: Vec<u64>,
    ops: usize,
    ok: usize,
    refused: usize,
    unknown: usize,
    faults: usize,
    leaderships: usize,
    sim_ms: u64,
    expired: usize,
    closed: usize,
    tombstones: usize,
    learner_reads: usize,
    learner_lin_reads: usize,
    by_checker: BTreeMap<&'static str, usize>,
    failovers: Vec<(u64, Failover)>,
}

/// The failover profile's figures: percentiles of kill → leader and kill → first write, for
/// every kill and by variant, and the slowest kills with their seeds.
fn print_failovers(all: &[(u64, Failover)]) {
    let line = |name: String, fs: &[&(u64, Failover)]| {
        let lead: Vec<f64> = fs.iter().filter_map(|(_, f)| f.to_leader_ms()).collect();
        let commit: Vec<f64> = fs.iter().filter_map(|(_, f)| f.to_commit_ms()).collect();
        let write: Vec<f64> = fs.iter().filter_map(|(_, f)| f.to_write_ms()).collect();
        let missing = fs.len() - write.len();
        let [a, b, c, d] = failover::percentiles(&lead);
        let [j, k, l, m] = failover::percentiles(&commit);
        let [e, g, h, i] = failover::percentiles(&write);
        println!(
            "{name:<16} {:>6} kills | to leader p50 {a:>5.0} p90 {b:>5.0} p99 {c:>5.0} worst {d:>5.0} ms | to commit p50 {j:>5.0} p90 {k:>5.0} p99 {l:>5.0} worst {m:>5.0} ms | to write p50 {e:>5.0} p90 {g:>5.0} p99 {h:>5.0} worst {i:>5.0} ms | {missing} without a write",
            fs.len()
        );
    };
    println!("failover (simulated time):");
    line("all".into(), &all.iter().collect::<Vec<_>>());
    for v in Variant::ALL {
        let fs: Vec<_> = all.iter().filter(|(_, f)| f.variant == v).collect();
        line(v.to_string(), &fs);
    }
    let mut slow: Vec<&(u64, Failover)> = all.iter().collect();
    slow.sort_by(|x, y| {
        let k = |f: &Failover| f.to_write_ms().unwrap_or(f64::INFINITY);
        k(&y.1).total_cmp(&k(&x.1))
    });
    println!("slowest to write:");
    for (seed, f) in slow.iter().take(10) {
        println!("  seed {seed}: {f}");
    }
    slow.sort_by(|x, y| {
        let k = |f: &Failover| f.to_commit_ms().unwrap_or(f64::INFINITY);
        k(&y.1).total_cmp(&k(&x.1))
    });
    println!("slowest to commit:");
    for (seed, f) in slow.iter().take(5) {
        println!("  seed {seed}: {f}");
    }
}

impl Totals {
    fn add(&mut self, r: &sim_tests::Report) {
        self.ops += r.stats.ops;
        self.ok += r.stats.ok;
        self.refused += r.stats.failed;
        self.unknown += r.stats.unknown;
        self.faults += r.stats.faults;
        self.leaderships += r.stats.leaderships;
        self.sim_ms += r.stats.sim_ms;
        self.expired += r.stats.expired;
        self.closed += r.stats.closed;
        self.tombstones += r.stats.tombstones;
        self.learner_reads += r.stats.learner_reads;
        self.learner_lin_reads += r.stats.learner_lin_reads;
        self.failovers
            .extend(r.failovers.iter().map(|f| (r.seed, f.clone())));
        let mut seen: Vec<&'static str> = r.violations.iter().map(|v| v.checker).collect();
        seen.dedup();
        for c in seen {
            *self.by_checker.entry(c).or_insert(0) += 1;
        }
        if r.error.is_some() {
            *self.by_checker.entry("run-error").or_insert(0) += 1;
        }
    }
}
