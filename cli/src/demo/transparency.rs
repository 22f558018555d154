//! Location and access transparency: the same read through the gateway and sent to each
//! node answers the same product, whoever leads; a write sent to a follower is forwarded to
//! the leader and answered as if the leader had received it (`X-Served-By` names the node
//! that answered, `X-Raft-Leader` the leader), and every node then reads the new value.

use confeitaria_client::Consistency;
use http::Method;

use super::report::Report;
use super::shop::{DemoShop, PROBE};
use super::Info;
use crate::error::CliError;

/// The product this scenario reads and writes.
pub const DOCE: u64 = 1;

/// Writes to a follower tried when leadership moves under them.
const WRITE_ATTEMPTS: u32 = 3;

/// What the scenario says before it acts.
pub const INFO: Info = Info {
    title: (
        "Transparência de localização e de acesso",
        "Location and access transparency",
    ),
    concept: (
        "o cliente não precisa saber onde os dados estão nem quem é o líder: qualquer nó \
         (ou o gateway) responde igual, e uma escrita enviada a um seguidor é encaminhada ao líder.",
        "a client need not know where the data lives nor who leads: any node (or the gateway) \
         answers the same, and a write sent to a follower is forwarded to the leader.",
    ),
    action: (
        "lê o produto 1 pelo gateway e por cada nó; depois grava o estoque dele num SEGUIDOR.",
        "reads product 1 through the gateway and from each node; then writes its stock to a FOLLOWER.",
    ),
    look: (
        "os cabeçalhos X-Served-By / X-Raft-Leader / X-Upstream na tabela abaixo; à mão: \
         curl -si {shop}/api/produtos/1 | grep -i x-",
        "the X-Served-By / X-Raft-Leader / X-Upstream headers in the table below; by hand: \
         curl -si {shop}/api/produtos/1 | grep -i x-",
    ),
};

/// One place asked, and what it answered.
struct Answer {
    place: String,
    status: u16,
    served_by: String,
    leader: String,
    upstream: String,
    body: Option<serde_json::Value>,
}

fn answer(place: String, r: Result<confeitaria_client::transport::Response, String>) -> Answer {
    let h = |r: &confeitaria_client::transport::Response, n: &str| {
        r.header(n).unwrap_or("-").to_owned()
    };
    match r {
        Ok(r) => Answer {
            place,
            status: r.status.as_u16(),
            served_by: h(&r, "x-served-by"),
            leader: h(&r, "x-raft-leader"),
            upstream: h(&r, "x-upstream"),
            body: serde_json::from_slice(&r.body).ok(),
        },
        Err(e) => Answer {
            place,
            status: 0,
            served_by: e,
            leader: "-".into(),
            upstream: "-".into(),
            body: None,
        },
    }
}

/// Runs the scenario.
pub async fn run(shop: &DemoShop, rep: &mut Report) -> Result<(), CliError> {
    let l = rep.lang();
    let g = shop.gateway()?.to_owned();
    let leader = shop.leader().await?;
    rep.step(tr!(
        l,
        "líder agora: nó {leader}",
        "leader now: node {leader}"
    ));

    let path = format!("/api/produtos/{DOCE}");
    let mut answers = vec![answer(
        "gateway".into(),
        shop.get(&format!("{g}{path}"), PROBE).await,
    )];
    for (id, addr) in shop.nodes() {
        let id = id.unwrap_or_default();
        let r = shop.get(&format!("http://{addr}{path}"), PROBE).await;
        answers.push(answer(tr!(l, "nó {id} ({addr})", "node {id} ({addr})"), r));
    }
    let rows: Vec<Vec<String>> = answers
        .iter()
        .map(|a| {
            let estoque = a
                .body
                .as_ref()
                .map_or("-".into(), |b| format!("{}", b["estoque"]));
            vec![
                a.place.clone(),
                a.status.to_string(),
                a.served_by.clone(),
                a.leader.clone(),
                a.upstream.clone(),
                estoque,
            ]
        })
        .collect();
    let t = crate::output::table(
        &[
            "GET /api/produtos/1",
            "HTTP",
            "X-Served-By",
            "X-Raft-Leader",
            "X-Upstream",
            "estoque",
        ],
        &rows,
    );
    for line in t.lines() {
        rep.step(line);
    }
    let first = answers[0].body.clone();
    let same = answers.iter().all(|a| a.status == 200 && a.body == first);
    rep.check(
        same && first.is_some(),
        tr!(
            l,
            "as {n} respostas (gateway e cada nó) trazem o mesmo JSON",
            "the {n} answers (gateway and each node) are identical JSON",
            n = answers.len()
        ),
    );

    // A write to a follower. Leadership can move between choosing the follower and the
    // write arriving (an election after a healed partition, or on a loaded machine): the
    // chosen node then answers as the leader itself, without forwarding. That is not the
    // concept this step shows, so it asks who leads again and writes to a follower of the
    // new leader, a bounded number of times; the verdict is the last attempt's.
    let original = shop
        .client
        .doce(DOCE, Consistency::Linearizable)
        .await?
        .estoque;
    let auth = format!("Bearer {}", shop.token);
    let mut attempt = 1;
    let (follower, leader, novo, forwarded) = loop {
        let leader = shop.leader().await?;
        let Some(&follower) = shop.followers(leader).await.first() else {
            rep.check(
                false,
                tr!(l, "nenhum seguidor responde", "no follower answers"),
            );
            return Ok(());
        };
        let novo = shop
            .client
            .doce(DOCE, Consistency::Linearizable)
            .await?
            .estoque
            + 1;
        let url = format!("http://{}{path}/estoque", shop.addr(follower));
        let body = serde_json::json!({ "estoque": novo });
        let r = shop
            .send(
                Method::PUT,
                &url,
                &[("authorization", &auth)],
                Some(&body),
                PROBE * 5,
            )
            .await;
        let w = answer(String::new(), r);
        rep.step(tr!(
            l,
            "PUT {url} {{\"estoque\": {novo}}} → HTTP {s}, X-Served-By: {sb}, X-Raft-Leader: {ld}",
            "PUT {url} {{\"estoque\": {novo}}} → HTTP {s}, X-Served-By: {sb}, X-Raft-Leader: {ld}",
            s = w.status,
            sb = w.served_by,
            ld = w.leader
        ));
        let forwarded = w.status == 200
            && w.served_by == follower.to_string()
            && w.leader == leader.to_string()
            && w.body.as_ref().is_some_and(|b| b["estoque"] == novo);
        // Only an accepted write that was not forwarded means leadership moved; a refusal
        // (401, 503, ...) is the verdict itself.
        let moved = w.status == 200 && w.leader != leader.to_string();
        if forwarded || !moved || attempt == WRITE_ATTEMPTS {
            break (follower, leader, novo, forwarded);
        }
        rep.step(tr!(
            l,
            "a liderança mudou durante a escrita (líder era {leader}); de novo, num seguidor do líder atual",
            "leadership moved during the write (leader was {leader}); again, on a follower of the current leader"
        ));
        attempt += 1;
    };
    rep.check(
        forwarded,
        tr!(
            l,
            "a escrita no seguidor {follower} foi aceita e encaminhada ao líder {leader}",
            "the write to follower {follower} was accepted and forwarded to leader {leader}"
        ),
    );
    // Every node now reads it, linearizably, wherever it is asked.
    let mut seen = 0;
    for (_, addr) in shop.nodes() {
        let r = shop
            .get(
                &format!("http://{addr}{path}?consistency=linearizable"),
                PROBE,
            )
            .await;
        let a = answer(addr, r);
        if a.body.as_ref().is_some_and(|b| b["estoque"] == novo) {
            seen += 1;
        }
    }
    let n = shop.nodes().len();
    rep.check(
        seen == n,
        tr!(
            l,
            "{seen} de {n} nós leem o novo estoque ({novo}) numa leitura linearizável",
            "{seen} of {n} nodes read the new stock ({novo}) in a linearizable read"
        ),
    );
    shop.client.set_estoque(DOCE, original).await?;
    rep.figure(tr!(
        l,
        "{k} respostas idênticas; escrita no nó {follower} encaminhada ao líder {leader}",
        "{k} identical answers; write to node {follower} forwarded to leader {leader}",
        k = answers.len()
    ));
    Ok(())
}
