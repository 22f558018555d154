//! Consistency: a node cut off from the others keeps serving `consistency=local` reads from
//! its own replica — stale — while a linearizable read on the same node refuses (503) rather
//! than answer something a quorum may have overwritten.
//!
//! How the stale node is made, honestly and repeatably: a follower F is cut off (killed, for
//! processes; its container taken off the network, under Compose); the stock is changed
//! (acknowledged by the leader and the other follower); both of those are killed and F comes
//! back alone (started, or its container reconnected, so its published port answers), so it
//! cannot learn the new value. Once the others are back, F's linearizable read answers the
//! acknowledged value.

use std::time::Duration;

use confeitaria_client::Consistency;

use super::control::Act;
use super::report::Report;
use super::shop::{DemoShop, SETTLE};
use super::Info;
use crate::error::CliError;
use crate::output::opt;

/// The product this scenario writes.
pub const DOCE: u64 = 3;

/// What the scenario says before it acts.
pub const INFO: Info = Info {
    title: (
        "Consistência: leitura local (pode estar velha) × leitura linearizável",
        "Consistency: local read (may be stale) × linearizable read",
    ),
    concept: (
        "cada leitura escolhe o nível: ?consistency=local responde da réplica do próprio nó \
         (rápida, disponível, talvez velha); ?consistency=linearizable (o padrão) confirma com \
         a maioria e nunca devolve um valor velho — sem maioria, recusa com 503.",
        "each read picks its level: ?consistency=local answers from the node's own replica \
         (fast, available, maybe stale); ?consistency=linearizable (the default) confirms with \
         a majority and never returns a stale value — without a majority it refuses with 503.",
    ),
    action: (
        "isola um seguidor F (processos: derruba; containers: tira da rede), muda o estoque do \
         produto 3 (confirmado pela maioria), derruba os outros dois e traz F de volta sozinho: \
         F não sabe da mudança. Lê em F nos dois níveis; \
         religa os outros e lê de novo.",
        "cuts a follower F off (processes: killed; containers: off the network), changes \
         product 3's stock (acknowledged by the majority), kills the other two and brings F \
         back alone: F cannot know of the change. Reads on F at both \
         levels; starts the others and reads again.",
    ),
    look: (
        "{painel}: dois nós fora e nenhum líder por alguns segundos; à mão, no nó F: \
         curl -si 'http://F/api/produtos/3?consistency=local' (cabeçalho X-Raft-Applied-Index)",
        "{painel}: two nodes down and no leader for a few seconds; by hand, on node F: \
         curl -si 'http://F/api/produtos/3?consistency=local' (header X-Raft-Applied-Index)",
    ),
};

/// A read of the product's `estoque` at one node: HTTP status, the value (on 200), the
/// applied index it names, `Retry-After`, and how long it took.
struct Read {
    status: u16,
    estoque: Option<u64>,
    applied: String,
    retry_after: Option<String>,
    took: Duration,
}

async fn read(shop: &DemoShop, addr: &str, level: Consistency, deadline: Duration) -> Read {
    let url = format!(
        "http://{addr}/api/produtos/{DOCE}?consistency={}",
        level.query()
    );
    let t = tokio::time::Instant::now();
    match shop.get(&url, deadline).await {
        Ok(r) => Read {
            status: r.status.as_u16(),
            estoque: serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| v["estoque"].as_u64())
                .filter(|_| r.status.is_success()),
            applied: r.header("x-raft-applied-index").unwrap_or("-").to_owned(),
            retry_after: r.header("retry-after").map(str::to_owned),
            took: t.elapsed(),
        },
        Err(e) => Read {
            status: 0,
            estoque: None,
            applied: e,
            retry_after: None,
            took: t.elapsed(),
        },
    }
}

/// Runs the scenario.
pub async fn run(shop: &DemoShop, rep: &mut Report) -> Result<(), CliError> {
    let l = rep.lang();
    let leader = shop.leader().await?;
    let followers = shop.followers(leader).await;
    let (Some(&f), Some(&g)) = (followers.first(), followers.get(1)) else {
        rep.check(
            false,
            tr!(
                l,
                "precisa de dois seguidores votantes; há {n}",
                "needs two voting followers; there are {n}",
                n = followers.len()
            ),
        );
        return Ok(());
    };
    shop.wait_caught_up(f).await?;
    let v0 = shop.estoque(DOCE).await?.disponivel;
    let v1 = v0 + 5;
    rep.step(tr!(
        l,
        "líder: nó {leader}; F = nó {f}; estoque do produto {DOCE} agora: {v0}",
        "leader: node {leader}; F = node {f}; stock of product {DOCE} now: {v0}"
    ));
    shop.ctl.cut_off(f).await?;
    shop.client.set_estoque(DOCE, v1).await?;
    rep.step(tr!(
        l,
        "F (nó {f}) isolado ({how}); estoque mudado para {v1} — confirmado pelos nós {leader} e {g}",
        "F (node {f}) cut off ({how}); stock changed to {v1} — acknowledged by nodes {leader} and {g}",
        how = shop.how(Act::CutOff, f)
    ));
    shop.kill_node(leader).await?;
    shop.kill_node(g).await?;
    shop.ctl.reconnect(f).await?;
    let addr = shop.addr(f);
    let what = format!("node {f} answers its status");
    shop.wait_for(SETTLE, &what, || async {
        shop.client.node_status(&addr).await.is_ok()
    })
    .await?;
    rep.step(tr!(
        l,
        "nós {leader} e {g} derrubados; F de volta sozinho ({how}: sem maioria, sem líder)",
        "nodes {leader} and {g} killed; F back alone ({how}: no majority, no leader)",
        how = shop.how(Act::Reconnect, f)
    ));

    let local = read(shop, &addr, Consistency::Local, Duration::from_secs(5)).await;
    rep.step(tr!(
        l,
        "F, local: HTTP {s}, estoque {e}, X-Raft-Applied-Index {a}, {t} ms",
        "F, local: HTTP {s}, stock {e}, X-Raft-Applied-Index {a}, {t} ms",
        s = local.status,
        e = opt(local.estoque),
        a = local.applied,
        t = local.took.as_millis()
    ));
    let lin = read(
        shop,
        &addr,
        Consistency::Linearizable,
        Duration::from_secs(15),
    )
    .await;
    rep.step(tr!(
        l,
        "F, linearizável: HTTP {s}, Retry-After {r}, depois de {t} ms",
        "F, linearizable: HTTP {s}, Retry-After {r}, after {t} ms",
        s = lin.status,
        r = lin.retry_after.as_deref().unwrap_or("-"),
        t = lin.took.as_millis()
    ));
    rep.check(
        local.status == 200 && local.estoque.is_some() && local.estoque != Some(v1),
        tr!(
            l,
            "a leitura local respondeu, com um valor VELHO ({e} ≠ {v1} confirmado)",
            "the local read answered, with a STALE value ({e} ≠ {v1} acknowledged)",
            e = opt(local.estoque)
        ),
    );
    rep.check(
        lin.status == 503 && lin.retry_after.is_some(),
        tr!(
            l,
            "a leitura linearizável recusou (503 + Retry-After) em vez de mentir",
            "the linearizable read refused (503 + Retry-After) instead of lying"
        ),
    );

    shop.start_node(leader).await?;
    shop.start_node(g).await?;
    shop.leader().await?;
    let end = tokio::time::Instant::now() + SETTLE;
    let healed = loop {
        let r = read(
            shop,
            &addr,
            Consistency::Linearizable,
            Duration::from_secs(5),
        )
        .await;
        if r.status == 200 || tokio::time::Instant::now() >= end {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    rep.check(
        healed.estoque == Some(v1),
        tr!(
            l,
            "com a maioria de volta, a leitura linearizável em F dá {e} (o valor confirmado, {v1})",
            "with the majority back, the linearizable read on F gives {e} (the acknowledged value, {v1})",
            e = opt(healed.estoque)
        ),
    );
    shop.client.set_estoque(DOCE, v0).await?;
    rep.figure(tr!(
        l,
        "local em F: {e} (velho); linearizável: {s} em {t} ms; depois: {h}",
        "local on F: {e} (stale); linearizable: {s} in {t} ms; after: {h}",
        e = opt(local.estoque),
        s = lin.status,
        t = lin.took.as_millis(),
        h = opt(healed.estoque)
    ));
    Ok(())
}
