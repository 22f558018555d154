//! One simulated run from one seed: build the world, drive it step by step (sampling every
//! node's role, opening and closing fault windows), then hand the recorded history to the
//! checkers. The trace it returns is a pure function of the seed and the configuration, so
//! two runs of one seed must produce byte-identical traces.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use catalog_node::raft_node::Faults;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tempfile::TempDir;

use crate::checkers::{self, LeaderSeen, RunData, Violation};
use crate::cluster::{node_host, run_node, NodeSpec, Nodes};
use crate::history::{fmt_micros, Micros, NodeId, Outcome};
use crate::nemesis::{self, Fault, NemesisConfig, Window};
use crate::saga::{self, ORDERS_HOST};
use crate::workload::{self, Kind, Shared, SharedRef, WorkloadConfig};

/// Everything that shapes a run besides its seed.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Catalog nodes.
    pub nodes: u64,
    /// The client workload.
    pub workload: WorkloadConfig,
    /// The faults.
    pub nemesis: NemesisConfig,
    /// Deliberate bugs switched on in every node (none by default).
    pub faults: Faults,
    /// Simulated time per step, in ms.
    pub tick_ms: u64,
    /// Shortest and longest one-way message latency, in ms.
    pub latency_ms: (u64, u64),
    /// Hard limit of simulated time, in seconds.
    pub max_sim_secs: u64,
    /// Record a write refused after a client retry as unknown rather than refused: a
    /// workaround for the late-duplicate issue (README, "Findings"), off by default so the
    /// checkers keep full strength.
    pub lenient_refusals: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 3,
            workload: WorkloadConfig::default(),
            nemesis: NemesisConfig::default(),
            faults: Faults::default(),
            tick_ms: 1,
            latency_ms: (1, 5),
            max_sim_secs: 120,
            lenient_refusals: false,
        }
    }
}

impl SimConfig {
    /// The saga run: three shoppers checking out through the orders service, on products 4
    /// and 5 (thirty units each), with the orders service crashed too.
    pub fn saga() -> Self {
        let mut c = Self::default();
        c.workload.kind = Kind::Saga;
        c.workload.processes = 3;
        c.workload.products = vec![4, 5];
        c.workload.initial_stock = 30;
        c
    }

    /// A focused run: the leader isolated again and again for 0.5–1 s — long enough for a
    /// new leader, short enough that a client's attempt on the old one outlives the
    /// isolation — on little stock so that retries are often refused. It hunts the
    /// late-duplicate issue (README, "Findings").
    pub fn leader_isolation() -> Self {
        let mut c = Self::default();
        c.workload.initial_stock = 6;
        c.nemesis = NemesisConfig {
            min_fault_ms: 400,
            max_fault_ms: 1000,
            max_gap_ms: 300,
            only_isolate_leader: true,
        };
        c
    }

    /// The same run with the deliberately broken node: linearizable reads served from the
    /// local replica without a read index.
    pub fn broken(mut self) -> Self {
        self.faults.skip_read_index = true;
        self
    }
}

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

/// Backlog and receive-buffer capacity of simulated TCP, in segments.
const TCP_CAPACITY: usize = 4096;

/// Host name of the control process.
const CTL_HOST: &str = "ctl";

fn client_host(i: usize) -> String {
    format!("c{i}")
}

/// Restarts the software of a crashed host, once its sled database in `dir` is really
/// closed.
///
/// sled finishes closing on its own I/O threads, in real time; reopening before they let go
/// of the database's file lock would fail at random. The wait is in real time and simulated
/// time does not move meanwhile, so the run stays deterministic.
fn restart_host(sim: &mut turmoil::Sim<'_>, host: &str, dir: &std::path::Path) {
    let lock = dir.join("db");
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < end {
        match std::fs::File::open(&lock).map(|f| f.try_lock()) {
            Ok(Ok(())) | Err(_) => break,
            Ok(Err(_)) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    sim.bounce(host);
}

/// A fault window with its resolved target once open.
struct Active {
    window: Window,
    /// The node a leader-directed fault hit.
    target: Option<NodeId>,
}

struct Driver<'a> {
    cfg: &'a SimConfig,
    dirs: Vec<PathBuf>,
    orders_dir: Option<PathBuf>,
    shared: SharedRef,
    nodes: Rc<RefCell<Nodes>>,
    trace: String,
    leaders: Vec<LeaderSeen>,
    seen: BTreeSet<(NodeId, u64)>,
    schedule: Vec<Window>,
    next_window: usize,
    active: Option<Active>,
    healed: bool,
    faults_opened: usize,
}

impl Driver<'_> {
    fn log(&mut self, now: Micros, what: impl std::fmt::Display) {
        let _ = writeln!(self.trace, "{} {what}", fmt_micros(now));
    }

    fn node_hosts(&self) -> Vec<String> {
        (1..=self.cfg.nodes).map(node_host).collect()
    }

    fn others(&self, node: NodeId) -> Vec<String> {
        (1..=self.cfg.nodes)
            .filter(|n| *n != node)
            .map(node_host)
            .collect()
    }

    fn observe(&mut self, now: Micros) {
        let leaders = self.nodes.borrow().leaders();
        for (node, term, detail) in leaders {
            if self.seen.insert((node, term)) {
                self.leaders.push(LeaderSeen {
                    at: now,
                    node,
                    term,
                });
                self.log(now, format_args!("n{node} leads term {term} ({detail})"));
            }
        }
    }

    fn pick_target(&self, fallback: NodeId) -> NodeId {
        self.nodes.borrow().leader().unwrap_or(fallback)
    }

    fn open(&mut self, sim: &mut turmoil::Sim<'_>, now: Micros, window: Window) {
        let mut target = None;
        match &window.fault {
            Fault::IsolateLeader => {
                let l = self.pick_target(1);
                target = Some(l);
                for o in self.others(l) {
                    sim.partition(node_host(l), o);
                }
            }
            Fault::Split { node, clients } => {
                let (a, b) = self.split_sides(*node, clients);
                for x in &a {
                    for y in &b {
                        sim.partition(x.as_str(), y.as_str());
                    }
                }
            }
            Fault::OneWay { from, to } => sim.partition_oneway(node_host(*from), node_host(*to)),
            Fault::Hold { a, b } => sim.hold(node_host(*a), node_host(*b)),
            Fault::Crash { node } => {
                target = Some(*node);
                self.crash(sim, *node);
            }
            Fault::CrashLeader => {
                let l = self.pick_target(1);
                target = Some(l);
                self.crash(sim, l);
            }
            Fault::Slow { max_ms } => {
                let hosts = self.node_hosts();
                for a in &hosts {
                    for b in &hosts {
                        if a < b {
                            sim.set_link_max_message_latency(
                                a.as_str(),
                                b.as_str(),
                                Duration::from_millis(*max_ms),
                            );
                        }
                    }
                }
            }
            Fault::Lossy { a, b, percent } => {
                sim.set_link_fail_rate(node_host(*a), node_host(*b), f64::from(*percent) / 100.0)
            }
            Fault::CrashOrders => self.crash_host(sim, ORDERS_HOST),
        }
        self.faults_opened += 1;
        match target {
            Some(t) => self.log(now, format_args!("open {} (n{t})", window.fault)),
            None => self.log(now, format_args!("open {}", window.fault)),
        }
        self.active = Some(Active { window, target });
    }

    fn split_sides(&self, node: NodeId, clients: &[usize]) -> (Vec<String>, Vec<String>) {
        let mut a = vec![node_host(node)];
        let mut b = self.others(node);
        for c in 0..self.cfg.workload.processes {
            if clients.contains(&c) {
                a.push(client_host(c));
            } else {
                b.push(client_host(c));
            }
        }
        (a, b)
    }

    /// Crashes a node the way a machine dies: its connections are not closed politely.
    ///
    /// turmoil drops a crashed host's tasks in an order that depends on tokio's task ids — a
    /// process-wide counter, so it differs between runs — and every dropped socket sends a
    /// FIN that draws a latency from the simulation's generator. Cutting the host off for
    /// the instant of the crash discards those FINs (and what was in flight on its links),
    /// which keeps the run a function of its seed. Peers learn of the crash from timeouts,
    /// or from a reset the next time they write to an old connection.
    fn crash(&mut self, sim: &mut turmoil::Sim<'_>, node: NodeId) {
        self.nodes.borrow_mut().crashed(node);
        self.crash_host(sim, &node_host(node));
    }

    fn crash_host(&mut self, sim: &mut turmoil::Sim<'_>, me: &str) {
        let me = me.to_owned();
        let all = self.all_hosts();
        for h in all.iter().filter(|h| **h != me) {
            sim.partition(me.as_str(), h.as_str());
        }
        sim.crash(me.as_str());
        for h in all.iter().filter(|h| **h != me) {
            sim.repair(me.as_str(), h.as_str());
        }
    }

    /// Restarts a crashed node on its data (see [`restart_host`]).
    fn restart(&mut self, sim: &mut turmoil::Sim<'_>, node: NodeId) {
        let dir = self.dirs[(node - 1) as usize].clone();
        restart_host(sim, &node_host(node), &dir);
    }

    fn all_hosts(&self) -> Vec<String> {
        let mut all = self.node_hosts();
        all.extend((0..self.cfg.workload.processes).map(client_host));
        all.push(CTL_HOST.to_owned());
        if self.orders_dir.is_some() {
            all.push(ORDERS_HOST.to_owned());
        }
        all
    }

    fn close(&mut self, sim: &mut turmoil::Sim<'_>, now: Micros) {
        let Some(Active { window, target }) = self.active.take() else {
            return;
        };
        match &window.fault {
            Fault::IsolateLeader => {
                if let Some(l) = target {
                    for o in self.others(l) {
                        sim.repair(node_host(l), o);
                    }
                }
            }
            Fault::Split { node, clients } => {
                let (a, b) = self.split_sides(*node, clients);
                for x in &a {
                    for y in &b {
                        sim.repair(x.as_str(), y.as_str());
                    }
                }
            }
            Fault::OneWay { from, to } => sim.repair_oneway(node_host(*from), node_host(*to)),
            Fault::Hold { a, b } => sim.release(node_host(*a), node_host(*b)),
            Fault::Crash { .. } | Fault::CrashLeader => {
                if let Some(n) = target {
                    self.restart(sim, n);
                }
            }
            Fault::Slow { .. } => {
                let hosts = self.node_hosts();
                for a in &hosts {
                    for b in &hosts {
                        if a < b {
                            sim.set_link_max_message_latency(
                                a.as_str(),
                                b.as_str(),
                                Duration::from_millis(self.cfg.latency_ms.1),
                            );
                        }
                    }
                }
            }
            Fault::Lossy { a, b, .. } => {
                sim.set_link_fail_rate(node_host(*a), node_host(*b), 0.0);
                sim.repair(node_host(*a), node_host(*b));
            }
            Fault::CrashOrders => {
                if let Some(dir) = self.orders_dir.clone() {
                    restart_host(sim, ORDERS_HOST, &dir);
                }
            }
        }
        self.log(now, format_args!("close {}", window.fault));
    }

    /// Opens and closes fault windows due by `now`; heals at the end of the workload.
    fn nemesis(&mut self, sim: &mut turmoil::Sim<'_>, now: Micros) {
        let (start, end) = {
            let s = self.shared.borrow();
            match (s.setup_done, s.workload_end) {
                (Some(a), Some(b)) => (a, b),
                _ => return,
            }
        };
        if self.healed {
            return;
        }
        if now >= end {
            self.close(sim, now);
            self.healed = true;
            self.shared.borrow_mut().healed = true;
            self.log(now, "healed");
            return;
        }
        if let Some(a) = &self.active {
            if now >= start + a.window.end {
                self.close(sim, now);
            }
        }
        if self.active.is_none() {
            if let Some(w) = self.schedule.get(self.next_window) {
                if now >= start + w.start {
                    let w = w.clone();
                    self.next_window += 1;
                    self.open(sim, now, w);
                }
            }
        }
    }
}

/// Runs one seed.
pub fn run(seed: u64, cfg: &SimConfig) -> Report {
    raft_store::runtime::seed_thread_rng(derive(seed, 1));
    let root = data_root();
    let dirs: Vec<TempDir> = (1..=cfg.nodes)
        .map(|id| {
            tempfile::Builder::new()
                .prefix(&format!("sim-{seed}-n{id}-"))
                .tempdir_in(&root)
        })
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("cannot create node data dirs under {root:?}: {e}"));

    let shared: SharedRef = Rc::new(RefCell::new(Shared {
        lenient: cfg.lenient_refusals,
        ..Shared::default()
    }));
    let nodes: Rc<RefCell<Nodes>> = Rc::default();
    let mut sim = turmoil::Builder::new()
        .rng_seed(derive(seed, 2))
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
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
            data_dir: dir.path().to_path_buf(),
            faults: cfg.faults,
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
            let fut = workload::process(shared.clone(), cfg.workload.clone(), cfg.nodes, p, s);
            sim.client(client_host(p), fut);
        }
    }
    let ctl = workload::control(
        shared.clone(),
        cfg.workload.clone(),
        cfg.nodes,
        procs,
        derive(seed, 99),
    );
    sim.client(CTL_HOST, ctl);

    let mut rng = StdRng::seed_from_u64(derive(seed, 3));
    let schedule = nemesis::schedule(
        &mut rng,
        &cfg.nemesis,
        cfg.nodes,
        procs,
        saga,
        cfg.workload.duration_ms,
    );
    let mut d = Driver {
        cfg,
        dirs: dirs.iter().map(|d| d.path().to_path_buf()).collect(),
        orders_dir: orders_dir.as_ref().map(|d| d.path().to_path_buf()),
        shared: shared.clone(),
        nodes,
        trace: String::new(),
        leaders: Vec::new(),
        seen: BTreeSet::new(),
        schedule,
        next_window: 0,
        active: None,
        healed: false,
        faults_opened: 0,
    };
    let _ = writeln!(
        d.trace,
        "seed {seed}; {} nodes, {} processes, products {:?}, workload {} ms, broken: {}",
        cfg.nodes,
        procs,
        cfg.workload.products,
        cfg.workload.duration_ms,
        cfg.faults.skip_read_index
    );
    for w in &d.schedule {
        let _ = writeln!(
            d.trace,
            "scheduled +{} .. +{} {}",
            fmt_micros(w.start),
            fmt_micros(w.end),
            w.fault
        );
    }

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
        leaders: std::mem::take(&mut d.leaders),
        final_process: s.final_process,
        several_leaders_per_term: checkers::election_safety::several_leaders_per_term(),
    };
    let violations = if error.is_none() {
        checkers::check_all(&data)
    } else {
        Vec::new()
    };

    let mut trace = std::mem::take(&mut d.trace);
    for n in &s.notes {
        let _ = writeln!(trace, "{n}");
    }
    let mut stats = Stats {
        faults: d.faults_opened,
        leaderships: d.seen.len(),
        sim_ms,
        ..Stats::default()
    };
    for r in &data.records {
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
    Report {
        seed,
        trace,
        violations,
        error,
        stats,
        replay: crate::seeds::replay_command(seed, cfg),
    }
}
