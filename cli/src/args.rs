//! The command line: every subcommand and flag, parsed once by clap (flags, then
//! `CONFEITARIA_*` variables, then defaults).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `confeitaria`: brings the bakery up, shows the catalog cluster, and lets you kill its
/// leader and watch another take over.
#[derive(Debug, Parser)]
#[command(name = "confeitaria", version, about)]
pub struct Cli {
    /// Options every command shares.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command shares.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The cluster file.
    #[arg(
        long,
        global = true,
        env = "CONFEITARIA_CONFIG",
        default_value = "cluster.toml"
    )]
    pub config: PathBuf,
    /// Catalog nodes to talk to (`host:port`, comma-separated), instead of those `up` started
    /// or the cluster file lists.
    #[arg(
        long,
        global = true,
        env = "CONFEITARIA_CATALOG_NODES",
        value_delimiter = ','
    )]
    pub nodes: Vec<String>,
    /// Bearer token for admin calls (default: one minted from the cluster file's secret).
    #[arg(long, global = true, env = "CONFEITARIA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start every service the cluster file lists, wait until each is ready, and keep them
    /// running until Ctrl-C.
    Up(UpArgs),
    /// One table of the catalog nodes; exits non-zero when there is no leader.
    Status,
    /// The status table, refreshed four times a second, with each leader change.
    Watch(WatchArgs),
    /// Kill or start one of the catalog nodes that `up` started.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Cause failures and measure the recovery.
    #[command(subcommand)]
    Chaos(ChaosCommand),
    /// Products.
    #[command(subcommand)]
    Produtos(ProdutosCommand),
    /// Stock (admin).
    #[command(subcommand)]
    Estoque(EstoqueCommand),
    /// Mint a JWT signed with the cluster file's secret, for local use.
    Token(TokenArgs),
    /// Measure writes, reads and failover of a running cluster (and, optionally, etcd and a
    /// bare axum handler side by side).
    Bench(BenchArgs),
    /// A guided demonstration of the distributed-systems concepts against the shop `up`
    /// runs: each scenario does one thing, says what to look at, and prints a verdict it
    /// measured; exits non-zero when any verdict fails.
    Demo(DemoArgs),
    /// Memory against history: many reservations settled, the retention window waited out,
    /// each node's RSS, data directory and the write p99 over time (needs `up`).
    BenchMemory(MemoryBenchArgs),
    /// Run one catalog node in this process (what `up` starts as a child).
    #[command(hide = true)]
    ServeNode(ServeNodeArgs),
    /// Run the cart service in this process (what `up` starts as a child).
    #[command(hide = true)]
    ServeCart(ServeServiceArgs),
    /// Run the orders service in this process (what `up` starts as a child).
    #[command(hide = true)]
    ServeOrders(ServeServiceArgs),
    /// Run the gateway in this process (what `up` starts as a child).
    #[command(hide = true)]
    ServeGateway(ServeServiceArgs),
    /// Serve a fixed JSON body with a bare axum handler (the bench's baseline).
    #[command(hide = true)]
    ServeBaseline(ServeBaselineArgs),
}

/// `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Start with empty data: erase what earlier runs left in the data directory.
    #[arg(long)]
    pub fresh: bool,
    /// How long to wait for every service to be ready, in seconds.
    #[arg(long, env = "CONFEITARIA_UP_TIMEOUT_SECS", default_value_t = 60)]
    pub timeout_secs: u64,
    /// Also start this many learners: catalog nodes after the file's (4, 5, … on API ports
    /// 5031, 5041, …, RPC 6031, …; free ports where the file's are 0) that join through the
    /// voters, replicate the log, serve reads and never vote.
    #[arg(long, default_value_t = 0)]
    pub learners: u32,
}

/// `demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Run every step without waiting for Enter (for CI and recordings).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Only these scenarios (comma-separated), in the demo's order.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Scenario>,
    /// Language of the output.
    #[arg(long, value_enum, default_value_t = Lang::Pt)]
    pub lang: Lang,
    /// Run against the Docker Compose stack (`scripts/compose.sh up`) instead of the processes
    /// of `up`: faults are `docker kill|start` and `docker network disconnect|connect`.
    #[arg(long)]
    pub compose: bool,
    /// The Compose project to run against (with `--compose`).
    #[arg(long, env = "COMPOSE_PROJECT_NAME", default_value = "confeitaria")]
    pub compose_project: String,
    /// The file holding the stack's `CONFEITARIA_JWT_SECRET` (with `--compose`, when neither
    /// `--token` nor the variable is set): the `.env` scripts/compose.sh writes.
    #[arg(long, default_value = ".env")]
    pub compose_env: std::path::PathBuf,
}

/// The demo's scenarios, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    /// Location and access transparency: one request through the gateway and every node.
    Transparencia,
    /// Replication and failure transparency: the leader killed under a stream of orders.
    Failover,
    /// Consistency: a stale local read beside a linearizable one.
    Consistencia,
    /// Concurrency: 60 shoppers race for 10 units.
    Concorrencia,
    /// Crash recovery: orders killed mid-checkout, restarted, every order resolved.
    Recuperacao,
    /// Graceful degradation: no catalog leader; Redis down; the gateway's breakers.
    Degradacao,
    /// Scalability: a learner serving reads.
    Escalabilidade,
}

/// Output language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Português (the default: the examiners' language).
    Pt,
    /// English.
    En,
}

/// `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Stop after this many refreshes (default: until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,
    /// Refresh period in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
}

/// `node kill|start`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// SIGKILL catalog node N.
    Kill {
        /// Node id.
        id: u64,
    },
    /// Start catalog node N again, on its ports and data.
    Start {
        /// Node id.
        id: u64,
    },
}

/// `chaos ...`.
#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// Kill the leader while a writer keeps writing; measure the time to a new leader and to
    /// the first acknowledged write; restart it and wait until it has caught up.
    KillLeader(KillLeaderArgs),
}

/// `chaos kill-leader`.
#[derive(Debug, Clone, Args)]
pub struct KillLeaderArgs {
    /// How many times.
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    /// Product whose stock the writer sets (it is restored at the end).
    #[arg(long, default_value_t = 1)]
    pub doce: u64,
    /// Longest wait for each recovery step, in seconds.
    #[arg(long, default_value_t = 30)]
    pub step_timeout_secs: u64,
    /// Least time between the restarted node's catch-up and the next kill, in ms (0: kill
    /// as soon as the cluster is stable again).
    #[arg(long, default_value_t = 0)]
    pub min_gap: u64,
    /// Kill the leader of a three-member etcd cluster (started on free loopback ports in a
    /// temporary directory) instead of the catalog's, measured the same way.
    #[arg(long)]
    pub etcd: bool,
    /// Path of the etcd binary (Debian `etcd-server`).
    #[arg(long, default_value = "etcd")]
    pub etcd_bin: PathBuf,
    /// With `--etcd`: etcd tuned to the catalog's timing (heartbeat 30 ms, election timeout
    /// 160 ms) instead of its defaults (100 ms, 1000 ms).
    #[arg(long, requires = "etcd")]
    pub etcd_tuned: bool,
    /// Also write every round to this CSV file (`target,round,gap_ms,to_leader_ms,to_write_ms,catch_up_ms`).
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

/// `produtos ...`.
#[derive(Debug, Subcommand)]
pub enum ProdutosCommand {
    /// One page of products, or one category's.
    List {
        /// Only this category (slug).
        #[arg(long)]
        categoria: Option<String>,
        /// Page size (1..=100).
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Page start.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Read this node's replica instead of a linearizable read.
        #[arg(long)]
        local: bool,
    },
    /// One product with its stock counters.
    Show {
        /// Product id.
        id: u64,
        /// Read a replica instead of a linearizable read.
        #[arg(long)]
        local: bool,
    },
}

/// `estoque ...`.
#[derive(Debug, Subcommand)]
pub enum EstoqueCommand {
    /// Set the available stock of a product.
    Set {
        /// Product id.
        id: u64,
        /// New available stock.
        estoque: u64,
    },
    /// Add to (or, negative, take from) the available stock.
    Add {
        /// Product id.
        id: u64,
        /// Units to add; negative takes away.
        #[arg(allow_hyphen_values = true)]
        delta: i64,
    },
}

/// Token roles.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Role {
    /// Everything.
    Admin,
    /// Service-to-service calls (reservations).
    Service,
}

/// `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Role the token grants.
    #[arg(long, value_enum)]
    pub role: Role,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 24 * 3600)]
    pub ttl_secs: u64,
}

/// `bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Concurrent clients of each run.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    pub clients: Vec<usize>,
    /// Length of each run, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Most requests of each run, whatever its length.
    #[arg(long, default_value_t = 200_000)]
    pub max_requests: u64,
    /// Leader kills to time (needs `up`; 0 skips).
    #[arg(long, default_value_t = 5)]
    pub kills: u32,
    /// Also measure a three-member etcd cluster (the `etcd` binary, Debian `etcd-server`)
    /// started on free loopback ports in a temporary directory.
    #[arg(long)]
    pub etcd: bool,
    /// Path of the etcd binary.
    #[arg(long, default_value = "etcd")]
    pub etcd_bin: PathBuf,
    /// Also measure a bare axum handler returning a fixed JSON body, in a child process.
    #[arg(long)]
    pub baseline: bool,
    /// Also measure local catalog reads through the gateway `up` runs against the same reads
    /// sent straight to the nodes (needs `up` with a `[gateway]`).
    #[arg(long)]
    pub gateway: bool,
    /// Where to write the table as CSV.
    #[arg(long, default_value = "bench.csv")]
    pub csv: PathBuf,
}

/// `bench-memory`.
#[derive(Debug, Args)]
pub struct MemoryBenchArgs {
    /// Reservations to make (unique ids, one unit each), each settled at once.
    #[arg(long, default_value_t = 1_000_000)]
    pub reservations: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Stop making reservations after this many seconds even if fewer were made (0: no
    /// limit).
    #[arg(long, default_value_t = 0)]
    pub max_load_secs: u64,
    /// Every this-many-th reservation is confirmed and closed (a delivered order's), the
    /// others released (0: all released).
    #[arg(long, default_value_t = 10)]
    pub close_every: u64,
    /// Length of the write probes on the fresh shop and after the window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub probe_secs: f64,
    /// How long to wait beyond the cluster file's retention window for every node to
    /// forget, in seconds.
    #[arg(long, default_value_t = 120)]
    pub grace_secs: u64,
    /// Idle seconds sampled after every node has forgotten, before the second probe.
    #[arg(long, default_value_t = 10)]
    pub idle_secs: u64,
    /// Sampling period, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub sample_ms: u64,
    /// Where to write the samples as CSV.
    #[arg(long, default_value = "memory.csv")]
    pub csv: PathBuf,
}

/// `serve-node` (hidden).
#[derive(Debug, Args)]
pub struct ServeNodeArgs {
    /// This node's id, as listed in the cluster file.
    #[arg(long, env = "CONFEITARIA_NODE_ID")]
    pub id: u64,
    /// Data directory (default: `<data_dir>/node-<id>`).
    #[arg(long, env = "CONFEITARIA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Stop when standard input closes (set by `up`, so a node never outlives it).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
}

/// `serve-cart`, `serve-orders`, `serve-gateway` (hidden): everything else comes from the cluster file.
#[derive(Debug, Args)]
pub struct ServeServiceArgs {
    /// Stop when standard input closes (set by `up`, so a service never outlives it).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
}

/// `serve-baseline` (hidden).
#[derive(Debug, Args)]
pub struct ServeBaselineArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: String,
    /// Stop when standard input closes.
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
}
