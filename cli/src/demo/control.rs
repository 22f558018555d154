//! [`ShopControl`]: how the demo breaks and mends the shop, written once for every way the
//! shop runs. The scenarios only ask for an effect (kill node 2, cut node 3 off, kill the
//! orders service, start whatever is down); an implementation makes it real:
//!
//! - [`Processes`]: the processes of a running `confeitaria up`, through its control socket
//!   (SIGKILL and start, as `confeitaria node kill|start`); a cut-off node is a killed one,
//!   since processes on one loopback cannot be partitioned;
//! - [`super::compose::Compose`]: the containers of `docker-compose.yml` — `docker kill`
//!   (SIGKILL) and `docker start`, and `docker network disconnect|connect` for a cut-off node.
//!
//! [`Layout`] is what the demo may talk to: every address in it is one the demo's host
//! reaches (`127.0.0.1:…`), beside the name the shop's own services know a node by.

use futures::future::BoxFuture;

use crate::context::Context;
use crate::control::{self, ControlRequest, ServiceRow, UpState};
use crate::error::CliError;

/// What a control call comes to.
pub type Fut<'a, T> = BoxFuture<'a, Result<T, CliError>>;

/// A catalog node as the demo sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Node id.
    pub id: u64,
    /// `host:port` of its API from the demo's host (always on 127.0.0.1).
    pub reach: String,
    /// `host:port` of its API as the shop knows it (the Raft membership, the gateway's
    /// `X-Upstream` and breaker labels): `catalog-2:5011` in containers, the same as
    /// `reach` for processes.
    pub known_as: String,
}

/// Everything the demo may reach.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Catalog nodes, voters and learners, by id.
    pub nodes: Vec<Node>,
    /// Base URL of the gateway (`http://127.0.0.1:8000`), when the shop runs one.
    pub gateway: Option<String>,
    /// Base URL of the cart.
    pub cart: Option<String>,
    /// Base URL of orders.
    pub orders: Option<String>,
    /// Names of the other services (`redis`, `cart`, `orders`, `gateway`, …).
    pub services: Vec<String>,
}

/// A fault, as [`ShopControl::how`] names the command that makes it by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// SIGKILL.
    Kill,
    /// Start again.
    Start,
    /// Cut off from its peers.
    CutOff,
    /// Join its peers again.
    Reconnect,
}

/// How the demo breaks and mends the shop. Every call returns once the effect is made (a
/// killed process is gone, a started one is running — not necessarily ready).
pub trait ShopControl: std::fmt::Debug + Send + Sync {
    /// `processes` or `compose`, for the demo's header.
    fn kind(&self) -> &'static str;
    /// SIGKILLs catalog node `id`.
    fn kill_node(&self, id: u64) -> Fut<'_, ()>;
    /// Starts catalog node `id` again.
    fn start_node(&self, id: u64) -> Fut<'_, ()>;
    /// Cuts node `id` off from every peer (it keeps running where it can).
    fn cut_off(&self, id: u64) -> Fut<'_, ()>;
    /// Undoes [`ShopControl::cut_off`]: node `id` reaches its peers again.
    fn reconnect(&self, id: u64) -> Fut<'_, ()>;
    /// SIGKILLs service `name` (`orders`, `redis`, …).
    fn kill_service<'a>(&'a self, name: &'a str) -> Fut<'a, ()>;
    /// Starts service `name` again.
    fn start_service<'a>(&'a self, name: &'a str) -> Fut<'a, ()>;
    /// Starts (and reconnects) whatever is down, Redis first; returns what it mended.
    fn restore(&self) -> Fut<'_, Vec<String>>;
    /// The command that does `act` to `target` (a node id or a service name) by hand.
    fn how(&self, act: Act, target: &str) -> String;
}

/// The processes of a running `confeitaria up`.
#[derive(Debug, Clone)]
pub struct Processes {
    ctx: Context,
    up: UpState,
}

fn base(row: Option<&ServiceRow>) -> Option<String> {
    row.map(|r| r.url.trim_end_matches('/').to_owned())
}

impl Processes {
    /// The `up` running for the context's cluster file, and what it runs.
    pub async fn connect(ctx: &Context) -> Result<(Self, Layout), CliError> {
        let up = ctx.require_up().await?;
        let row = |n: &str| up.services.iter().find(|s| s.name == n);
        let layout = Layout {
            nodes: up
                .nodes()
                .into_iter()
                .map(|(id, a)| Node {
                    id,
                    reach: a.clone(),
                    known_as: a,
                })
                .collect(),
            gateway: base(row("gateway")),
            cart: base(row("cart")),
            orders: base(row("orders")),
            services: up
                .services
                .iter()
                .filter(|s| s.node_id.is_none())
                .map(|s| s.name.clone())
                .collect(),
        };
        let me = Self {
            ctx: ctx.clone(),
            up,
        };
        Ok((me, layout))
    }

    async fn request(&self, req: ControlRequest) -> Result<(), CliError> {
        control::request(&self.up.control, &req).await.map(|_| ())
    }
}

impl ShopControl for Processes {
    fn kind(&self) -> &'static str {
        "confeitaria up"
    }

    fn kill_node(&self, id: u64) -> Fut<'_, ()> {
        Box::pin(self.request(ControlRequest::Kill { node: id }))
    }

    fn start_node(&self, id: u64) -> Fut<'_, ()> {
        Box::pin(self.request(ControlRequest::Start { node: id }))
    }

    fn cut_off(&self, id: u64) -> Fut<'_, ()> {
        self.kill_node(id)
    }

    fn reconnect(&self, id: u64) -> Fut<'_, ()> {
        self.start_node(id)
    }

    fn kill_service<'a>(&'a self, name: &'a str) -> Fut<'a, ()> {
        Box::pin(self.request(ControlRequest::KillService { name: name.into() }))
    }

    fn start_service<'a>(&'a self, name: &'a str) -> Fut<'a, ()> {
        Box::pin(async move {
            // Redis stops on SIGTERM once its supervisor is gone: start it when its port is
            // free, or the new one could not listen.
            if let Some(row) = self.up.services.iter().find(|s| s.name == name) {
                if name == "redis" {
                    wait_port_free(&row.addr).await?;
                }
            }
            self.request(ControlRequest::StartService { name: name.into() })
                .await
        })
    }

    fn restore(&self) -> Fut<'_, Vec<String>> {
        Box::pin(async move {
            let up = self.ctx.require_up().await?;
            // Redis first: the cart and orders stand on it.
            let mut down: Vec<&ServiceRow> = up.services.iter().filter(|r| !r.running).collect();
            down.sort_by_key(|r| (r.name != "redis", r.node_id.is_none()));
            let mut mended = Vec::new();
            for r in down {
                let req = match r.node_id {
                    Some(id) => ControlRequest::Start { node: id },
                    None => ControlRequest::StartService {
                        name: r.name.clone(),
                    },
                };
                self.request(req).await?;
                mended.push(r.name.clone());
            }
            Ok(mended)
        })
    }

    fn how(&self, act: Act, target: &str) -> String {
        let node = target.parse::<u64>().is_ok();
        match (act, node) {
            (Act::Kill | Act::CutOff, true) => format!("confeitaria node kill {target}"),
            (Act::Start | Act::Reconnect, true) => format!("confeitaria node start {target}"),
            (Act::Kill | Act::CutOff, false) => format!("SIGKILL {target}"),
            (Act::Start | Act::Reconnect, false) => format!("start {target}"),
        }
    }
}

/// Waits (15 s at most) until nothing accepts connections at `addr`.
async fn wait_port_free(addr: &str) -> Result<(), CliError> {
    let end = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let probe = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            tokio::net::TcpStream::connect(addr),
        )
        .await;
        if probe.map_or(true, |c| c.is_err()) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= end {
            return Err(CliError::Timeout(format!(
                "{addr} still taken (waited 15 s)"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
