//! One simulated run from one seed: build the world, drive it step by step (sampling every
//! node's role, opening and closing fault windows), then hand the recorded history to the
//! checkers. The trace it returns is a pure function of the seed and the configuration, so
//! two runs of one seed must produce byte-identical traces.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

use crate::checkers::{self, RunData, Violation};
use crate::cluster::{node_host, run_node, NodeSpec, Nodes};
use crate::config::SimConfig;
use crate::driver::{client_host, Driver, CTL_HOST};
use crate::failover::{self, Failover, Killer};
use crate::history::{fmt_micros, Op, Outcome};
use crate::nemesis;
use crate::saga::{self, ORDERS_HOST};
use crate::shared::SharedRef;
use crate::workload::{self, Kind};

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Everything that happened, deterministically rendered.
    pub trace: String,
    /// Properties the checkers found violated.
    pub violations: Vec<Violation>,
    /// Why the run itself failed (a host's software returned an error), if it did.
    pub error: Option<String>,
    /// Counts, for summaries.
    pub stats: Stats,
    /// The one command that replays this run.
    pub replay: String,
    /// The leader kills of the failover profile, measured (empty otherwise).
    pub failovers: Vec<Failover>,
}

/// Counts of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Operations recorded.
    pub ops: usize,
    /// Acknowledged.
    pub ok: usize,
    /// Refused.
    pub failed: usize,
    /// Unknown outcome.
    pub unknown: usize,
    /// Fault windows opened.
    pub faults: usize,
    /// Distinct (leader, term) pairs seen.
    pub leaderships: usize,
    /// Simulated time, in ms.
    pub sim_ms: u64,
    /// Reservations refused as expired (`reservation_expired`).
    pub expired: usize,
    /// Closes (`encerrar`) acknowledged.
    pub closed: usize,
    /// Releases acknowledged of reservations that were closed, or released, before:
    /// each left a fresh tombstone on a forgotten id.
    pub tombstones: usize,
    /// Reads (workload and final) served by a learner.
    pub learner_reads: usize,
    /// Of which linearizable.
    pub learner_lin_reads: usize,
}

impl Report {
    /// True if the run completed and every checker passed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.violations.is_empty()
    }

    /// A short account of what failed, empty if nothing did.
    pub fn failures(&self) -> String {
        let mut s = String::new();
        if let Some(e) = &self.error {
            let _ = writeln!(s, "  run error: {e}");
        }
        for v in &self.violations {
            let _ = writeln!(s, "  [{}] {}", v.checker, v.message);
        }
        s
    }
}

/// A sub-seed for one consumer of randomness (splitmix64), so that adding a consumer does
/// not shift the others' streams.
pub fn derive(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where node data directories go: `SIM_DATA_DIR`, else `/dev/shm` (fsync is free there),
/// else the system temp dir.
fn data_root() -> PathBuf {
    if let Ok(d) = std::env::var("SIM_DATA_DIR") {
        return PathBuf::from(d);
    }
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// The simulated clock, in ms since the Unix epoch (turmoil's epoch is set to
/// [`crate::history::EPOCH_MS`]); 0 outside a host.
fn sim_clock_ms() -> u64 {
    turmoil::since_epoch()
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Backlog and receive-buffer capacity of simulated TCP, in segments.
const TCP_CAPACITY: usize = 4096;

/// Runs one seed.
pub fn run(seed: u64, cfg: &SimConfig) -> Report {
    raft_store::runtime::seed_thread_rng(derive(seed, 1));
    // The nodes' clock (expiry, `emitida_em`) is the simulated one.
    catalog_node::retention::set_thread_clock(Some(sim_clock_ms));
    let root = data_root();
    let dirs: Vec<TempDir> = (1..=cfg.all_nodes())
        .map(|id| {
            tempfile::Builder::new()
                .prefix(&format!("sim-{seed}-n{id}-"))
                .tempdir_in(&root)
        })
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("cannot create node data dirs under {root:?}: {e}"));

    let shared: SharedRef = Rc::default();
    let nodes: Rc<RefCell<Nodes>> = Rc::default();
    let mut sim = turmoil::Builder::new()
        .rng_seed(derive(seed, 2))
        .epoch(UNIX_EPOCH + Duration::from_millis(crate::history::EPOCH_MS))
        .simulation_duration(Duration::from_secs(cfg.max_sim_secs))
        .tick_duration(Duration::from_millis(cfg.tick_ms))
        .min_message_latency(Duration::from_millis(cfg.latency_ms.0))
        .max_message_latency(Duration::from_millis(cfg.latency_ms.1))
        // turmoil panics when a listener's backlog overflows; a released hold can deliver
        // a burst of SYNs (one per RPC that timed out meanwhile) in a single step.
        .tcp_capacity(TCP_CAPACITY)
        .build();

    for (i, dir) in dirs.iter().enumerate() {
        let spec = NodeSpec {
            id: i as u64 + 1,
            cluster_size: cfg.nodes,
            learner: i as u64 >= cfg.nodes,
            data_dir: dir.path().to_path_buf(),
            faults: cfg.faults,
            timing: cfg.timing,
        };
        let nodes = nodes.clone();
        sim.host(node_host(spec.id), move || {
            run_node(spec.clone(), nodes.clone())
        });
    }
    let procs = cfg.workload.processes;
    let saga = cfg.workload.kind == Kind::Saga;
    let orders_dir = if saga {
        let d = tempfile::Builder::new()
            .prefix(&format!("sim-{seed}-orders-"))
            .tempdir_in(&root)
            .unwrap_or_else(|e| panic!("cannot create the orders data dir under {root:?}: {e}"));
        let path = d.path().to_path_buf();
        let n = cfg.nodes;
        sim.host(ORDERS_HOST, move || saga::run_orders(path.clone(), n));
        Some(d)
    } else {
        None
    };
    for p in 0..procs {
        let s = derive(seed, 100 + p as u64);
        if saga {
            sim.client(
                client_host(p),
                saga::shopper(shared.clone(), cfg.workload.clone(), p, s),
            );
        } else {
            let fut = workload::process(
                shared.clone(),
                cfg.workload.clone(),
                cfg.nodes,
                cfg.all_nodes(),
                p,
                s,
            );
            sim.client(client_host(p), fut);
        }
    }
    let ctl = crate::control::control(
        shared.clone(),
        cfg.workload.clone(),
        cfg.nodes,
        cfg.all_nodes(),
        procs,
        derive(seed, 99),
    );
    sim.client(CTL_HOST, ctl);

    let mut rng = StdRng::seed_from_u64(derive(seed, 3));
    let mut schedule = nemesis::schedule(
        &mut rng,
        &cfg.nemesis,
        cfg.all_nodes(),
        procs,
        saga,
        cfg.workload.duration_ms,
    );
    if cfg.failover.is_some() {
        schedule.clear();
    }
    let mut trace = String::new();
    let _ = writeln!(
        trace,
        "seed {seed}; {} nodes, {} learners, {} processes, products {:?}, workload {} ms, \
         retention {} ms, broken: {}",
        cfg.nodes,
        cfg.learners,
        procs,
        cfg.workload.products,
        cfg.workload.duration_ms,
        cfg.timing.retention_ms,
        cfg.faults.skip_read_index
    );
    for w in &schedule {
        let _ = writeln!(
            trace,
            "scheduled +{} .. +{} {}",
            fmt_micros(w.start),
            fmt_micros(w.end),
            w.fault
        );
    }
    let killer = cfg.failover.clone().map(|f| {
        let first = 300_000 + rng.gen_range(0..300_000);
        Killer::new(f, StdRng::seed_from_u64(derive(seed, 4)), first)
    });
    let mut d = Driver::new(
        cfg,
        dirs.iter().map(|d| d.path().to_path_buf()).collect(),
        orders_dir.as_ref().map(|d| d.path().to_path_buf()),
        shared.clone(),
        nodes,
        schedule,
        trace,
    )
    .with_killer(killer);

    let mut error = None;
    loop {
        let finished = match sim.step() {
            Ok(f) => f,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        };
        let now = u64::try_from(sim.elapsed().as_micros()).unwrap_or(u64::MAX);
        d.observe(now);
        d.nemesis(&mut sim, now);
        if finished {
            break;
        }
    }
    let sim_ms = u64::try_from(sim.elapsed().as_millis()).unwrap_or(u64::MAX);
    // Drop the world (and with it every node and its store) before the data directories.
    drop(sim);

    let s = shared.borrow();
    let records = s.history.records();
    let data = RunData {
        records,
        initial: s.initial.clone(),
        saga_initial: s.saga_initial.clone(),
        leaders: d.leaders().to_vec(),
        final_process: s.final_process,
        expiry: cfg.timing.retention_ms > 0,
    };
    let violations = if error.is_none() {
        checkers::check_all(&data)
    } else {
        Vec::new()
    };

    let mut failovers = d.failovers();
    failover::measure(&mut failovers, &data.leaders, d.commits(), &data.records);
    let (mut trace, faults, leaderships) = d.finish();
    for f in &failovers {
        let _ = writeln!(trace, "{f}");
    }
    for n in &s.notes {
        let _ = writeln!(trace, "{n}");
    }
    let mut stats = Stats {
        faults,
        leaderships,
        sim_ms,
        ..Stats::default()
    };
    let mut settled: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for r in &data.records {
        match (&r.op, &r.outcome) {
            (_, Outcome::Fail(crate::history::Refusal::Expired)) => stats.expired += 1,
            (Op::Close { rid }, Outcome::Ok(_)) => {
                stats.closed += 1;
                settled.insert(rid);
            }
            (Op::Release { rid }, Outcome::Ok(_)) if !settled.insert(rid) => {
                stats.tombstones += 1;
            }
            _ => {}
        }
        if let Some((_, level, s)) = r.stock() {
            if s.served_by.is_some_and(|n| n > cfg.nodes) {
                stats.learner_reads += 1;
                if level == crate::history::ReadLevel::Linearizable {
                    stats.learner_lin_reads += 1;
                }
            }
        }
        stats.ops += 1;
        match r.outcome {
            Outcome::Ok(_) => stats.ok += 1,
            Outcome::Fail(_) => stats.failed += 1,
            Outcome::Unknown(_) => stats.unknown += 1,
        }
        let _ = writeln!(trace, "{r}");
    }
    let _ = writeln!(
        trace,
        "end at {} ms: {} ops ({} ok, {} failed, {} unknown)",
        sim_ms, stats.ops, stats.ok, stats.failed, stats.unknown
    );
    if let Some(e) = &error {
        let _ = writeln!(trace, "run error: {e}");
    }
    for v in &violations {
        let _ = writeln!(trace, "VIOLATION [{}] {}", v.checker, v.message);
    }
    drop(dirs);
    drop(orders_dir);
    catalog_node::retention::set_thread_clock(None);
    Report {
        seed,
        trace,
        violations,
        error,
        stats,
        replay: crate::seeds::replay_command(seed, cfg),
        failovers,
    }
}
