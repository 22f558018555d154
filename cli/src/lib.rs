//! The `confeitaria` command.
//!
//! - [`args`]: the command line (clap, with `CONFEITARIA_*` variables);
//! - [`context`]: the cluster file, where the nodes are, an admin token;
//! - [`up`], [`supervisor`], [`services`]: `up` and the child processes it runs;
//! - [`control`]: the state file and control socket through which `node` and `chaos` reach
//!   a running `up`;
//! - [`serve`]: the hidden `serve-*` subcommands those children run;
//! - [`status`]: `status` and `watch`;
//! - [`chaos`]: `chaos kill-leader`; [`rounds`]: one kill and its recovery, as it measures it;
//! - [`shop`]: `produtos`, `estoque`, `token`, `node`;
//! - [`bench`]: `bench`, side by side with etcd and a bare axum handler;
//! - [`demo`]: `demo`, the guided demonstration with measured verdicts;
//! - [`output`]: tables and formatting; [`error`]: [`CliError`].
//!
//! [`run`] carries out a parsed command line.

pub mod args;
pub mod bench;
pub mod chaos;
pub mod context;
pub mod control;
pub mod demo;
pub mod error;
pub mod output;
pub mod rounds;
pub mod serve;
pub mod services;
pub mod shop;
pub mod status;
pub mod supervisor;
pub mod up;

pub use args::Cli;
pub use error::CliError;

use args::{ChaosCommand, Command};
use context::Context;

/// Whether this command runs a long-lived service whose logs matter (the others keep the
/// terminal for their own output).
pub fn is_service(cli: &Cli) -> bool {
    matches!(
        cli.command,
        Command::ServeNode(_) | Command::ServeGateway(_) | Command::ServeBaseline(_)
    )
}

/// Carries out the command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Context::new(cli.global.clone());
    match &cli.command {
        Command::Up(a) => up::up(&ctx, a).await,
        Command::Status => status::status(&ctx).await,
        Command::Watch(a) => status::watch(&ctx, a).await,
        Command::Node(c) => shop::node(&ctx, c).await,
        Command::Chaos(ChaosCommand::KillLeader(a)) => chaos::kill_leader(&ctx, a).await,
        Command::Produtos(c) => shop::produtos(&ctx, c).await,
        Command::Estoque(c) => shop::estoque(&ctx, c).await,
        Command::Token(a) => shop::token(&ctx, a),
        Command::Bench(a) => bench::bench(&ctx, a).await,
        Command::Demo(a) => demo::demo(&ctx, a).await,
        Command::BenchMemory(a) => bench::memory::bench_memory(&ctx, a).await,
        Command::ServeNode(a) => serve::serve_node(&ctx, a).await,
        #[cfg(feature = "services")]
        Command::ServeCart(a) => serve::serve_cart(&ctx, a).await,
        #[cfg(feature = "services")]
        Command::ServeOrders(a) => serve::serve_orders(&ctx, a).await,
        #[cfg(feature = "services")]
        Command::ServeGateway(a) => serve::serve_gateway(&ctx, a).await,
        #[cfg(not(feature = "services"))]
        Command::ServeCart(_) | Command::ServeOrders(_) | Command::ServeGateway(_) => Err(
            CliError::Other("built without the `services` feature".into()),
        ),
        Command::ServeBaseline(a) => serve::serve_baseline(a).await,
    }
}
