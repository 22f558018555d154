//! The hidden `serve-*` subcommands: the services `up` starts as child processes of this
//! same executable, and the bench's bare axum baseline.
//!
//! A child started by `up` gets `--stop-on-stdin-eof`: `up` holds the write end of its
//! standard input, so the child stops cleanly when `up` closes it, and also when `up` dies
//! without a chance to (even by SIGKILL), never outliving it.

use std::path::PathBuf;
use std::sync::Arc;

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
        shutdown_signal(args.stop_on_stdin_eof),
    )
    .await
    .map_err(|e| CliError::Other(format!("node {}: {e}", args.id)))
}

#[cfg(feature = "services")]
/// `serve-cart`: the cart on `[cart] addr`, on Redis when `redis_url` is set and on its
/// embedded store otherwise, pricing from the catalog nodes of the cluster file.
pub async fn serve_cart(ctx: &Context, args: &ServeServiceArgs) -> Result<(), CliError> {
    let file = ctx.cluster_file()?;
    let entry = file
        .cart
        .clone()
        .ok_or_else(|| CliError::Other("the cluster file has no [cart]".into()))?;
    let mut argv = vec![
        "cart".to_owned(),
        "--addr".into(),
        entry.addr.clone(),
        "--catalog-nodes".into(),
        file.api_addrs().join(","),
    ];
    if !entry.redis_url.is_empty() {
        argv.extend(["--redis-url".into(), entry.redis_url.clone()]);
    }
    let config = <cart::config::Config as clap::Parser>::try_parse_from(argv)
        .map_err(|e| CliError::Other(format!("cart settings: {e}")))?;
    let store = config
        .store()
        .map_err(|e| CliError::Other(format!("cart store: {e}")))?;
    let catalogo: Arc<dyn cart::catalog::Catalogo> = Arc::new(cart::catalog::ClientCatalogo::new(
        config.catalog_nodes.clone(),
        config.limits().catalog_deadline,
    ));
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(CliError::io(format!("binding {}", config.addr)))?;
    tracing::info!(addr = %config.addr, store = store.kind(), "cart listening");
    let state = cart::AppState::new(store, catalogo, config.limits());
    cart::run(listener, state, shutdown_signal(args.stop_on_stdin_eof))
        .await
        .map_err(CliError::io("serving the cart"))
}

#[cfg(feature = "services")]
/// `serve-orders`: orders on `[orders] addr`, data in `<data_dir>/orders`, the saga against
/// the catalog nodes and the cart of the cluster file.
pub async fn serve_orders(ctx: &Context, args: &ServeServiceArgs) -> Result<(), CliError> {
    let file = ctx.cluster_file()?;
    let entry = file
        .orders
        .clone()
        .ok_or_else(|| CliError::Other("the cluster file has no [orders]".into()))?;
    let jwt = String::from_utf8_lossy(file.cluster.jwt_secret.expose()).into_owned();
    let mut argv = vec![
        "orders".to_owned(),
        "--addr".into(),
        entry.addr.clone(),
        "--catalog-nodes".into(),
        file.api_addrs().join(","),
        "--jwt-secret".into(),
        jwt,
        "--data-dir".into(),
        PathBuf::from(&file.cluster.data_dir)
            .join("orders")
            .display()
            .to_string(),
        "--redis-url".into(),
        entry.redis_url.clone(),
    ];
    if let Some(c) = &file.cart {
        argv.extend(["--cart-url".into(), format!("http://{}", c.addr)]);
    }
    let config = <orders::config::Config as clap::Parser>::try_parse_from(argv)
        .map_err(|e| CliError::Other(format!("orders settings: {e}")))?;
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(CliError::io(format!("binding {}", config.addr)))?;
    tracing::info!(addr = %config.addr, "orders listening");
    orders::run(listener, config, shutdown_signal(args.stop_on_stdin_eof))
        .await
        .map_err(|e| CliError::Other(format!("orders: {e}")))
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
