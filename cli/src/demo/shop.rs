//! [`DemoShop`]: the running shop as the demo sees it: its addresses (a [`Layout`]: from
//! `up`'s state file, or the ports the containers publish), an admin [`CatalogClient`], the
//! [`ShopControl`] through which faults are made, and HTTP helpers for the gateway's shopper
//! paths. Every call carries a deadline; every wait is on a
//! condition, with a deadline.

use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::transport::Response;
use confeitaria_client::{CallPolicy, CatalogClient, Consistency, Transport};
use confeitaria_types::orders::Pedido;
use confeitaria_types::{ClusterStatus, EstoqueDetalhe, Role};
use http::Method;
use tokio::time::Instant;

use super::control::{Act, Layout, Processes, ShopControl};
use crate::args::Lang;
use crate::chaos::wait_stable;
use crate::context::Context;
use crate::error::CliError;
use crate::status::{gather, NodeView};

/// Deadline of one shopper request (a checkout may wait for a new leader).
pub const REQUEST: Duration = Duration::from_secs(20);
/// Deadline of a quick probe (status, metrics, a read).
pub const PROBE: Duration = Duration::from_secs(2);
/// Longest wait for the shop to settle (a leader, services ready).
pub const SETTLE: Duration = Duration::from_secs(30);
/// Longest wait for a voter to answer as a follower.
pub const FOLLOWERS: Duration = Duration::from_secs(10);
/// Pause between two looks at the cluster while waiting on it.
pub const POLL: Duration = Duration::from_millis(200);

/// What a checkout came to.
#[derive(Debug, Clone)]
pub enum Checkout {
    /// 201 (new) or 200 (replayed by its `Idempotency-Key`): the order.
    Placed(Box<Pedido>),
    /// An error answer.
    Refused {
        /// HTTP status.
        status: u16,
        /// The error body's `code`.
        code: String,
        /// The `Retry-After` header, when sent.
        retry_after: Option<String>,
    },
    /// No answer within the deadline, or the connection broke.
    Lost(String),
}

/// The running shop.
#[derive(Debug, Clone)]
pub struct DemoShop {
    /// Output language.
    pub lang: Lang,
    /// What the demo reaches.
    pub layout: Layout,
    /// How it breaks and mends the shop.
    pub ctl: Arc<dyn ShopControl>,
    /// Base URL of the gateway (`http://127.0.0.1:8000`), when the shop runs one.
    pub gateway: Option<String>,
    /// Base URL of the cart.
    pub cart: Option<String>,
    /// Base URL of orders.
    pub orders: Option<String>,
    /// Admin JWT.
    pub token: String,
    /// Admin client of every catalog node.
    pub client: CatalogClient,
    http: Transport,
}

impl DemoShop {
    /// The shop of the `up` running for the context's cluster file.
    pub async fn connect(ctx: &Context, lang: Lang) -> Result<Self, CliError> {
        let (ctl, layout) = Processes::connect(ctx).await?;
        Ok(Self::new(lang, layout, Arc::new(ctl), ctx.admin_token()?))
    }

    /// The shop `ctl` controls, seen through `layout`, with an admin `token`.
    pub fn new(lang: Lang, layout: Layout, ctl: Arc<dyn ShopControl>, token: String) -> Self {
        let client = CatalogClient::new(layout.nodes.iter().map(|n| n.reach.clone()).collect())
            .with_token(token.clone())
            // A shopper's deadline: containers on a loaded host answer slowly.
            .with_policy(CallPolicy {
                deadline: REQUEST,
                attempt: Duration::from_secs(2),
                backoff: Duration::from_millis(20),
            });
        Self {
            gateway: layout.gateway.clone(),
            cart: layout.cart.clone(),
            orders: layout.orders.clone(),
            lang,
            token,
            client,
            http: Transport::http(),
            layout,
            ctl,
        }
    }

    /// The dashboard's URL.
    pub fn painel(&self) -> String {
        match &self.gateway {
            Some(g) => format!("{g}/painel"),
            None => "-".into(),
        }
    }

    /// The gateway's base URL, or an error saying the shop runs none.
    pub fn gateway(&self) -> Result<&str, CliError> {
        self.gateway.as_deref().ok_or_else(|| {
            CliError::Other("this shop runs no gateway (cluster file without [gateway])".into())
        })
    }

    /// Catalog nodes as `(id, api address the demo reaches)`, voters and learners.
    pub fn nodes(&self) -> Vec<(Option<u64>, String)> {
        self.layout
            .nodes
            .iter()
            .map(|n| (Some(n.id), n.reach.clone()))
            .collect()
    }

    /// The API address of node `id`, as the demo reaches it.
    pub fn addr(&self, id: u64) -> String {
        self.layout
            .nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.reach.clone())
            .unwrap_or_default()
    }

    /// The API address of node `id` as the shop's own services know it (the gateway's
    /// `X-Upstream` and breaker labels).
    pub fn known_as(&self, id: u64) -> String {
        self.layout
            .nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.known_as.clone())
            .unwrap_or_default()
    }

    /// Whether the shop runs a service of this name (`redis`, …).
    pub fn has(&self, name: &str) -> bool {
        self.layout.services.iter().any(|s| s == name)
    }

    /// Every node's own status, each within [`PROBE`].
    pub async fn views(&self) -> Vec<NodeView> {
        gather(&self.nodes(), PROBE).await
    }

    /// Waits until every node answers and agrees on one leader; returns it.
    pub async fn leader(&self) -> Result<u64, CliError> {
        wait_stable(&self.nodes(), SETTLE).await
    }

    /// Voters that follow the leader `leader` (learners excluded), by id. Waits up to
    /// [`FOLLOWERS`] for one to answer as a follower: a node restarted or reconnected just
    /// before (the container test's healed partition) may still be a candidate or slow to
    /// answer its status.
    pub async fn followers(&self, leader: u64) -> Vec<u64> {
        let deadline = Instant::now() + FOLLOWERS;
        loop {
            let mut v: Vec<u64> = self
                .views()
                .await
                .iter()
                .filter_map(|v| v.status.as_ref())
                .filter(|s| s.role == Role::Follower && s.id != leader)
                .map(|s| s.id)
                .collect();
            if !v.is_empty() || Instant::now() >= deadline {
                v.sort_unstable();
                return v;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGKILLs catalog node `id`.
    pub async fn kill_node(&self, id: u64) -> Result<(), CliError> {
        self.ctl.kill_node(id).await
    }

    /// Starts catalog node `id` again.
    pub async fn start_node(&self, id: u64) -> Result<(), CliError> {
        self.ctl.start_node(id).await
    }

    /// The command that does `act` to node `id` by hand (`confeitaria node kill 2`,
    /// `docker kill confeitaria_catalog-2_1`).
    pub fn how(&self, act: Act, id: u64) -> String {
        self.ctl.how(act, &id.to_string())
    }

    /// Starts every process or container that is not running (and reconnects a cut-off
    /// node), then waits for one leader and every service ready: each scenario starts from
    /// a whole shop, whatever the last one left.
    pub async fn heal(&self) -> Result<(), CliError> {
        for n in self.ctl.restore().await? {
            println!(
                "{}",
                tr!(
                    self.lang,
                    "  · {n} estava parado: iniciado de novo",
                    "  · {n} was down: started again"
                )
            );
        }
        self.leader().await?;
        for url in [&self.cart, &self.orders, &self.gateway]
            .into_iter()
            .flatten()
        {
            self.wait_ready(url, SETTLE).await?;
        }
        Ok(())
    }

    /// Waits until `GET {base}/ready` answers 200.
    pub async fn wait_ready(&self, base: &str, within: Duration) -> Result<(), CliError> {
        let url = format!("{base}/ready");
        self.wait_for(within, &format!("{url} answers 200"), || async {
            self.send(Method::GET, &url, &[], None, PROBE)
                .await
                .is_ok_and(|r| r.status.is_success())
        })
        .await
    }

    /// Polls `cond` every 50 ms until it holds or `within` passes (then a timeout naming
    /// `what`).
    pub async fn wait_for<F, Fut>(
        &self,
        within: Duration,
        what: &str,
        mut cond: F,
    ) -> Result<(), CliError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let end = Instant::now() + within;
        loop {
            if cond().await {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(CliError::Timeout(format!(
                    "{what} (waited {} s)",
                    within.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until node `id` has applied everything the leader had committed when asked.
    pub async fn wait_caught_up(&self, id: u64) -> Result<(), CliError> {
        let leader = self.leader().await?;
        let status = |views: &[NodeView], who: u64| -> Option<ClusterStatus> {
            views
                .iter()
                .filter_map(|v| v.status.clone())
                .find(|s| s.id == who)
        };
        let target = status(&self.views().await, leader).and_then(|s| s.commit_index);
        let what = format!("node {id} catches up");
        self.wait_for(SETTLE, &what, || async {
            let views = self.views().await;
            status(&views, id).is_some_and(|s| s.applied_index >= target)
        })
        .await
    }

    /// One HTTP request within `deadline`; a transport failure as text.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        deadline: Duration,
    ) -> Result<Response, String> {
        let body = body.map(|b| b.to_string().into_bytes());
        self.http
            .send(method, url, headers, body, deadline)
            .await
            .map_err(|e| e.to_string())
    }

    /// A `GET` of `url`.
    pub async fn get(&self, url: &str, deadline: Duration) -> Result<Response, String> {
        self.send(Method::GET, url, &[], None, deadline).await
    }

    /// A new cart holding `quantidade` units of `doce`, through the gateway: its session id.
    pub async fn new_cart(&self, doce: u64, quantidade: u64) -> Result<String, String> {
        let g = self.gateway().map_err(|e| e.to_string())?;
        let body = serde_json::json!({"doce_id": doce, "quantidade": quantidade});
        let url = format!("{g}/api/carrinho/adicionar");
        let r = self
            .send(Method::POST, &url, &[], Some(&body), REQUEST)
            .await?;
        if !r.status.is_success() {
            return Err(format!("{} {}", r.status.as_u16(), error_code(&r)));
        }
        r.header("x-session-id")
            .map(str::to_owned)
            .ok_or_else(|| "no X-Session-Id".to_owned())
    }

    /// Checks out the cart `session` through the gateway with `Idempotency-Key: key`.
    pub async fn checkout(&self, session: &str, key: &str) -> Checkout {
        let Some(g) = &self.gateway else {
            return Checkout::Lost("no gateway".into());
        };
        let body = serde_json::json!({ "session_id": session });
        let url = format!("{g}/api/pedidos");
        let headers = [("idempotency-key", key)];
        match self
            .send(Method::POST, &url, &headers, Some(&body), REQUEST)
            .await
        {
            Err(e) => Checkout::Lost(e),
            Ok(r) if r.status.is_success() => match serde_json::from_slice::<Pedido>(&r.body) {
                Ok(p) => Checkout::Placed(Box::new(p)),
                Err(e) => Checkout::Lost(format!("unreadable order: {e}")),
            },
            Ok(r) => Checkout::Refused {
                status: r.status.as_u16(),
                code: error_code(&r),
                retry_after: r.header("retry-after").map(str::to_owned),
            },
        }
    }

    /// Order `id` as orders has it now (admin, through the gateway).
    pub async fn pedido(&self, id: &str) -> Result<Pedido, String> {
        let g = self.gateway().map_err(|e| e.to_string())?;
        let auth = format!("Bearer {}", self.token);
        let url = format!("{g}/api/pedidos/{id}");
        let r = self
            .send(Method::GET, &url, &[("authorization", &auth)], None, PROBE)
            .await?;
        if !r.status.is_success() {
            return Err(format!("{} {}", r.status.as_u16(), error_code(&r)));
        }
        serde_json::from_slice(&r.body).map_err(|e| e.to_string())
    }

    /// Product `doce`'s stock counters, read linearizably.
    pub async fn estoque(&self, doce: u64) -> Result<EstoqueDetalhe, CliError> {
        Ok(self.client.estoque(doce, Consistency::Linearizable).await?)
    }

    /// The `/metrics` text of the service at `base`.
    pub async fn metrics(&self, base: &str) -> Result<String, String> {
        let r = self.get(&format!("{base}/metrics"), PROBE).await?;
        Ok(String::from_utf8_lossy(&r.body).into_owned())
    }
}

/// The `code` of an error body, or `-`.
pub fn error_code(r: &Response) -> String {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "-".into())
}

/// The samples of metric `name` in Prometheus/OpenMetrics text: each one's label text (what
/// is between the braces, empty when none) and value.
pub fn samples(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => {
                    let (labels, v) = r.split_once('}')?;
                    (labels.to_owned(), v)
                }
                None if rest.starts_with(' ') => (String::new(), rest),
                None => return None,
            };
            let value = value.split_whitespace().next()?.parse().ok()?;
            Some((labels, value))
        })
        .collect()
}

/// The value of the sample of `name` whose labels contain `label` (e.g.
/// `instance="127.0.0.1:5001"`), or of its only sample when `label` is empty.
pub fn sample(text: &str, name: &str, label: &str) -> Option<f64> {
    samples(text, name)
        .into_iter()
        .find(|(l, _)| label.is_empty() || l.contains(label))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE gateway_breaker_state gauge\n\
        gateway_breaker_state{instance=\"127.0.0.1:5001\"} 1\n\
        gateway_breaker_state{instance=\"127.0.0.1:5011\"} 0\n\
        gateway_breaker_state_other 7\n\
        orders_open_saga_steps 3\n# EOF\n";

    #[test]
    fn samples_are_read_by_name_and_label() {
        assert_eq!(
            sample(TEXT, "gateway_breaker_state", "instance=\"127.0.0.1:5001\""),
            Some(1.0)
        );
        assert_eq!(
            sample(TEXT, "gateway_breaker_state", "127.0.0.1:5011"),
            Some(0.0)
        );
        assert_eq!(samples(TEXT, "gateway_breaker_state").len(), 2);
        assert_eq!(sample(TEXT, "orders_open_saga_steps", ""), Some(3.0));
        assert_eq!(sample(TEXT, "orders_open_saga", ""), None);
    }
}
