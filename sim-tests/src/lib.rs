//! Deterministic simulation tests of the catalog cluster, on turmoil.
//!
//! Simulated hosts run the real `catalog-node` (its HTTP servers on turmoil's listeners,
//! Raft RPC and forwarding over turmoil's streams, a real sled store per host that survives
//! crashes) and client hosts run the real client library. A seed decides everything: the
//! network's latencies, the fault schedule, the workload, openraft's election jitter. The
//! run's history is then judged by checkers, never by eye.
//!
//! - [`net`]: turmoil adapters — an `axum` listener and a hyper-util connector;
//! - [`cluster`]: node hosts, and what the driver observes of them;
//! - [`shared`]: what the driver and the processes share, and how an operation is recorded;
//! - [`conn`]: a process's connections to the catalog, and outcomes from answers;
//! - [`workload`]: the catalog run's client processes;
//! - [`control`]: the control process (the stage before, the final reads after);
//! - [`saga`]: the orders service on a simulated host, and shoppers checking out through it;
//! - [`nemesis`]: the fault schedule;
//! - [`failover`]: the leader killed soon after each restart, and each failover's time;
//! - [`history`]: operations with invocation, completion and outcome;
//! - [`model`]: the sequential specification of a product's stock;
//! - [`checkers`]: one property per module;
//! - [`driver`]: between steps — role sampling, fault windows, crashes, healing;
//! - [`config`]: what shapes a run besides its seed, and the named profiles;
//! - [`runner`]: one run from one seed, and its byte-exact trace;
//! - [`seeds`]: the seed budget, `SIM_SEED`, and the command that replays a failure.

pub mod checkers;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod control;
pub mod driver;
pub mod failover;
pub mod history;
pub mod model;
pub mod nemesis;
pub mod net;
pub mod runner;
pub mod saga;
pub mod seeds;
pub mod shared;
pub mod workload;

pub use config::SimConfig;
pub use runner::{run, Report};
