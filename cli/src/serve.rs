//! The hidden `serve-*` subcommands: the services `up` starts as child processes of this
//! same executable, and the bench's bare axum baseline.
//!
//! A child started by `up` gets `--stop-on-stdin-eof`: `up` holds the write end of its
//! standard input, so the child stops cleanly when `up` closes it, and also when `up` dies
//! without a chance to (even by SIGKILL), never outliving it.

use std::path::PathBuf;
use std::sync::Arc;

use confeitaria_client::transport::Transport;
use tokio::io::AsyncReadExt;

use crate::args::{ServeBaselineArgs, ServeNodeArgs};
use crate::context::Context;
use crate::error::CliError;

/// `serve-node`: one catalog node, as `catalog-node` runs it.
pub async fn serve_node(ctx: &Context, args: &ServeNodeArgs) -> Result<(), CliError> {
    let file = ctx.cluster_file()?;
    let me = file.nodes.iter().find(|n| n.id == args.id).ok_or_else(|| {
        CliError::Other(format!(
            "node {} is not in {}",
            args.id,
            ctx.global.config.display()
        ))
    })?;
    let first = file.nodes.iter().map(|n| n.id).min();
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => PathBuf::from(&file.cluster.data_dir).join(format!("node-{}", args.id)),
    };
    std::fs::create_dir_all(&data_dir)
        .map_err(CliError::io(format!("creating {}", data_dir.display())))?;
    let api = tokio::net::TcpListener::bind(&me.api)
        .await
        .map_err(CliError::io(format!("binding {}", me.api)))?;
    let rpc = tokio::net::TcpListener::bind(&me.rpc)
        .await
        .map_err(CliError::io(format!("binding {}", me.rpc)))?;
    tracing::info!(id = args.id, api = %me.api, rpc = %me.rpc, data = %data_dir.display(), "catalog node listening");
    let opts = catalog_node::NodeOptions {
        id: args.id,
        data_dir,
        members: file.members(),
        bootstrap: first == Some(args.id),
        cluster_secret: file.cluster.secret.clone(),
        jwt_secret: file.cluster.jwt_secret.clone(),
        timing: file.raft,
        seed: true,
        faults: Default::default(),
    };
    let handle = catalog_node::start(opts, api, rpc, Arc::new(Transport::http()))
        .await
        .map_err(|e| CliError::Other(format!("node {}: {e}", args.id)))?;
    shutdown_signal(args.stop_on_stdin_eof).await;
    tracing::info!("shutting down");
    handle.stop().await;
    Ok(())
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
