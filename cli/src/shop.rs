//! The shop's own commands: `produtos list|show`, `estoque set|add`, `token`, and
//! `node kill|start` (which go through the running `up`).

use confeitaria_client::Consistency;
use confeitaria_types::auth::TokenRole;
use confeitaria_types::Doce;

use crate::args::{EstoqueCommand, NodeCommand, ProdutosCommand, Role, TokenArgs};
use crate::context::{mint, Context};
use crate::control::{self, ControlRequest};
use crate::error::CliError;
use crate::output::{reais, table};

fn level(local: bool) -> Consistency {
    if local {
        Consistency::Local
    } else {
        Consistency::Linearizable
    }
}

fn doce_rows(doces: &[Doce]) -> String {
    let rows: Vec<Vec<String>> = doces
        .iter()
        .map(|d| {
            vec![
                d.id.to_string(),
                d.nome.clone(),
                d.categoria.clone(),
                reais(d.preco_centavos),
                d.estoque.to_string(),
                if d.ativo { "sim" } else { "não" }.to_owned(),
            ]
        })
        .collect();
    table(
        &["ID", "NOME", "CATEGORIA", "PREÇO", "ESTOQUE", "ATIVO"],
        &rows,
    )
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), CliError> {
    let text =
        serde_json::to_string(v).map_err(|e| CliError::Other(format!("encoding JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// `produtos list|show`.
pub async fn produtos(ctx: &Context, cmd: &ProdutosCommand) -> Result<(), CliError> {
    let client = ctx.client().await?;
    match cmd {
        ProdutosCommand::List {
            categoria,
            limit,
            offset,
            local,
        } => {
            let (doces, total) = match categoria {
                Some(c) => {
                    let d = client.produtos_por_categoria(c, level(*local)).await?;
                    let n = d.len() as u64;
                    (d, n)
                }
                None => {
                    let p = client.produtos(*limit, *offset, level(*local)).await?;
                    (p.produtos, p.total)
                }
            };
            if ctx.global.json {
                return print_json(&serde_json::json!({"produtos": doces, "total": total}));
            }
            print!("{}", doce_rows(&doces));
            println!("{} of {total}", doces.len());
        }
        ProdutosCommand::Show { id, local } => {
            let d = client.doce(*id, level(*local)).await?;
            let e = client.estoque(*id, level(*local)).await?;
            if ctx.global.json {
                return print_json(&serde_json::json!({"produto": d, "estoque": e}));
            }
            let rows = vec![
                vec!["id".into(), d.id.to_string()],
                vec!["nome".into(), d.nome.clone()],
                vec!["descrição".into(), d.descricao.clone()],
                vec!["categoria".into(), d.categoria.clone()],
                vec!["preço".into(), reais(d.preco_centavos)],
                vec!["ativo".into(), d.ativo.to_string()],
                vec!["versão".into(), d.versao.to_string()],
                vec!["disponível".into(), e.disponivel.to_string()],
                vec!["reservado".into(), e.reservado.to_string()],
                vec!["vendido".into(), e.vendido.to_string()],
                vec!["recebido".into(), e.recebido.to_string()],
            ];
            print!("{}", table(&["CAMPO", "VALOR"], &rows));
        }
    }
    Ok(())
}

/// `estoque set|add` (admin).
pub async fn estoque(ctx: &Context, cmd: &EstoqueCommand) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let d = match cmd {
        EstoqueCommand::Set { id, estoque } => client.set_estoque(*id, *estoque).await?,
        EstoqueCommand::Add { id, delta } => client.adjust_estoque(*id, *delta).await?,
    };
    if ctx.global.json {
        return print_json(&d);
    }
    print!("{}", doce_rows(std::slice::from_ref(&d)));
    Ok(())
}

/// `token --role admin|service`.
pub fn token(ctx: &Context, args: &TokenArgs) -> Result<(), CliError> {
    let role = match args.role {
        Role::Admin => TokenRole::Admin,
        Role::Service => TokenRole::Service,
    };
    let t = mint(&ctx.cluster_file()?, role, args.ttl_secs)?;
    if ctx.global.json {
        return print_json(&serde_json::json!({"token": t, "ttl_secs": args.ttl_secs}));
    }
    println!("{t}");
    Ok(())
}

/// `node kill|start`.
pub async fn node(ctx: &Context, cmd: &NodeCommand) -> Result<(), CliError> {
    let up = ctx.require_up().await?;
    let (req, verb) = match cmd {
        NodeCommand::Kill { id } => (ControlRequest::Kill { node: *id }, "killed"),
        NodeCommand::Start { id } => (ControlRequest::Start { node: *id }, "started"),
    };
    let reply = control::request(&up.control, &req).await?;
    let id = match cmd {
        NodeCommand::Kill { id } | NodeCommand::Start { id } => *id,
    };
    let row = reply.services.iter().find(|s| s.node_id == Some(id));
    if ctx.global.json {
        return print_json(&serde_json::json!({"node": id, "action": verb, "service": row}));
    }
    match row.and_then(|r| r.pid) {
        Some(pid) => println!("node {id} {verb} (pid {pid})"),
        None => println!("node {id} {verb}"),
    }
    Ok(())
}
