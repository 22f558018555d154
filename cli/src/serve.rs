//! The hidden `serve-*` subcommands: the services `up` starts as child processes of this
//! same executable, and the bench's bare axum baseline.
//!
//! A child started by `up` gets `--stop-on-stdin-eof`: `up` holds the write end of its
//! standard input, so the child stops cleanly when `up` closes it, and also when `up` dies
//! without a chance to (even by SIGKILL), never outliving it.

#[cfg(feature = "services")]
use confeitaria_client::config::ClusterFile;
use tokio::io::AsyncReadExt;

#[cfg(feature = "services")]
use crate::args::ServeServiceArgs;
use crate::args::{ServeBaselineArgs, ServeNodeArgs};
use crate::context::Context;
use crate::error::CliError;

/// `serve-node`: one catalog node, exactly as `catalog-node` runs it.
pub async fn serve_node(ctx: &Context, args: &ServeNodeArgs) -> Result<(), CliError> {
    let file = ctx.cluster_file()?;
    catalog_node::run_from_file(
        &file,
        args.id,
        args.data_dir.clone(),
        false,
        None,
        shutdown_signal(args.stop_on_stdin_eof),
    )
    .await
    .map_err(|e| CliError::Other(format!("node {}: {e}", args.id)))
}

#[cfg(feature = "services")]
/// `serve-cart`: the cart as the cluster file sets it up (`[cart] addr`, on Redis when
/// `redis_url` is set — consuming order events to empty confirmed orders' carts — and on its
/// embedded store otherwise, pricing from the file's nodes), as the `cart` binary runs it.
pub async fn serve_cart(ctx: &Context, args: &ServeServiceArgs) -> Result<(), CliError> {
    let config: cart::config::Config = service_config(ctx, "cart", |f| f.cart.is_some())?;
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(CliError::io(format!("binding {}", config.addr)))?;
    cart::run_configured(&config, listener, shutdown_signal(args.stop_on_stdin_eof))
        .await
        .map_err(|e| CliError::Other(format!("cart: {e}")))
}

#[cfg(feature = "services")]
/// `serve-orders`: orders as the cluster file sets them up (`[orders] addr`, data in
/// `<data_dir>/orders`, the saga against the file's nodes and cart, its JWT secret).
pub async fn serve_orders(ctx: &Context, args: &ServeServiceArgs) -> Result<(), CliError> {
    let config: orders::config::Config = service_config(ctx, "orders", |f| f.orders.is_some())?;
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(CliError::io(format!("binding {}", config.addr)))?;
    tracing::info!(addr = %config.addr, "orders listening");
    orders::run(listener, config, shutdown_signal(args.stop_on_stdin_eof))
        .await
        .map_err(|e| CliError::Other(format!("orders: {e}")))
}

#[cfg(feature = "services")]
/// `serve-gateway`: the gateway as the cluster file sets it up (`[gateway] addr`, the file's
/// nodes with their ids, cart and orders, its JWT secret), with the dashboard's kill and
/// start buttons going through `up`'s control socket — the path `node kill/start` takes.
pub async fn serve_gateway(ctx: &Context, args: &ServeServiceArgs) -> Result<(), CliError> {
    let config: gateway::config::Config = service_config(ctx, "gateway", |f| f.gateway.is_some())?;
    let socket = ctx
        .data_dir(&ctx.cluster_file()?)?
        .join(crate::control::SOCKET_FILE);
    let control: std::sync::Arc<dyn gateway::control::NodeControl> =
        std::sync::Arc::new(UpControl(socket));
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(CliError::io(format!("binding {}", config.addr)))?;
    gateway::run(
        listener,
        &config,
        Some(control),
        shutdown_signal(args.stop_on_stdin_eof),
    )
    .await
    .map_err(|e| CliError::Other(format!("gateway: {e}")))
}

#[cfg(feature = "services")]
/// Node controls through `up`'s control socket at this path.
struct UpControl(std::path::PathBuf);

#[cfg(feature = "services")]
impl UpControl {
    fn send(
        &self,
        req: crate::control::ControlRequest,
    ) -> futures::future::BoxFuture<'static, Result<(), String>> {
        let socket = self.0.clone();
        Box::pin(async move {
            crate::control::request(&socket, &req)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(feature = "services")]
impl gateway::control::NodeControl for UpControl {
    fn kill(&self, id: u64) -> futures::future::BoxFuture<'static, Result<(), String>> {
        self.send(crate::control::ControlRequest::Kill { node: id })
    }
    fn start(&self, id: u64) -> futures::future::BoxFuture<'static, Result<(), String>> {
        self.send(crate::control::ControlRequest::Start { node: id })
    }
}

#[cfg(feature = "services")]
/// The settings of service `name` from the cluster file, whose values win over the
/// environment's (they are what `up` resolved and waits on); `listed` says whether the file
/// has the service's section.
fn service_config<C: confeitaria_service::config::Settings>(
    ctx: &Context,
    name: &str,
    listed: fn(&ClusterFile) -> bool,
) -> Result<C, CliError> {
    let file = ctx.cluster_file()?;
    if !listed(&file) {
        return Err(CliError::Other(format!("the cluster file has no [{name}]")));
    }
    C::from_cluster_file(&file).map_err(|e| CliError::Other(format!("{name} settings: {e}")))
}

/// `serve-baseline`: a bare axum handler answering a fixed JSON body, the ceiling a node's
/// local reads are compared with.
pub async fn serve_baseline(args: &ServeBaselineArgs) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(CliError::io(format!("binding {}", args.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(CliError::io("reading the bound address"))?;
    // The parent reads this line to learn the port.
    println!("listening {addr}");
    let app = axum::Router::new().route(
        "/api/produtos/{id}",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({
                "id": 1, "nome": "Bolo de cenoura com chocolate",
                "descricao": "Fofinho, com cobertura de brigadeiro", "preco_centavos": 4500,
                "categoria": "bolos", "estoque": 12, "ativo": true, "versao": 1
            }))
        }),
    );
    let stop = args.stop_on_stdin_eof;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal(stop))
        .await
        .map_err(CliError::io("serving"))
}

/// Resolves on SIGINT, SIGTERM, or (when asked) end of standard input.
pub async fn shutdown_signal(stop_on_stdin_eof: bool) {
    let stdin_closed = async {
        if !stop_on_stdin_eof {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let signals = async {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = stdin_closed => {}
        () = signals => {}
    }
}
