//! Scalability: a learner — a catalog node that replicates the log without voting — serves
//! reads, so read capacity grows without slowing writes (a write still needs 2 of the 3
//! voters). Checked: the learner is in the membership as a learner, has applied a write
//! made just before, answers a linearizable read with the leader's value, and receives its
//! share of the local reads the gateway balances.
//!
//! The learner comes from `confeitaria up --learners 1` (or `POST /cluster/members` for a
//! node started by hand); without one the scenario says how and is skipped.

use confeitaria_client::Consistency;
use confeitaria_types::Role;

use super::report::Report;
use super::shop::{DemoShop, PROBE};
use super::Info;
use crate::error::CliError;

/// The product read.
pub const DOCE: u64 = 7;
/// Local reads sent through the gateway.
pub const READS: usize = 60;

/// What the scenario says before it acts.
pub const INFO: Info = Info {
    title: (
        "Escalabilidade: learners servem leituras",
        "Scalability: learners serve reads",
    ),
    concept: (
        "nós learner replicam o log sem votar: mais capacidade de leitura sem aumentar a \
         maioria que cada escrita precisa; o gateway balanceia leituras sobre todos os nós.",
        "learner nodes replicate the log without voting: more read capacity without growing \
         the majority each write needs; the gateway balances reads over every node.",
    ),
    action: (
        "grava um valor, confere que o learner o aplicou e responde leituras linearizáveis, e \
         manda 60 leituras locais pelo gateway contando quem respondeu (X-Upstream).",
        "writes a value, checks the learner applied it and answers linearizable reads, and \
         sends 60 local reads through the gateway counting who answered (X-Upstream).",
    ),
    look: (
        "confeitaria status (o learner aparece com papel learner); carga: \
         locust -f loadtest/locustfile.py --headless -u 1000 -r 100 -t 2m (loadtest/README.md)",
        "confeitaria status (the learner shows as learner); load: \
         locust -f loadtest/locustfile.py --headless -u 1000 -r 100 -t 2m (loadtest/README.md)",
    ),
};

/// Runs the scenario.
pub async fn run(shop: &DemoShop, rep: &mut Report) -> Result<(), CliError> {
    let l = rep.lang();
    let g = shop.gateway()?.to_owned();
    let views = shop.views().await;
    let Some(learner) = views
        .iter()
        .filter_map(|v| v.status.as_ref())
        .find(|s| s.role == Role::Learner)
        .map(|s| s.id)
    else {
        rep.skip(tr!(
            l,
            "a loja não tem learner: rode `confeitaria up --learners 1` (ou POST /cluster/members)",
            "the shop has no learner: run `confeitaria up --learners 1` (or POST /cluster/members)"
        ));
        return Ok(());
    };
    let addr = shop.addr(learner);
    let leader = shop.leader().await?;
    let voters = views
        .iter()
        .filter_map(|v| v.status.as_ref())
        .find(|s| s.id == leader)
        .map(|s| s.membership.voters.len())
        .unwrap_or(0);
    rep.step(tr!(
        l,
        "líder: nó {leader}; {voters} votantes; learner: nó {learner} ({addr})",
        "leader: node {leader}; {voters} voters; learner: node {learner} ({addr})"
    ));
    let before = shop.client.doce(DOCE, Consistency::Linearizable).await?;
    let novo = before.estoque + 3;
    shop.client.set_estoque(DOCE, novo).await?;
    shop.wait_caught_up(learner).await?;
    let local = shop
        .get(
            &format!("http://{addr}/api/produtos/{DOCE}?consistency=linearizable"),
            PROBE * 3,
        )
        .await
        .ok()
        .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
        .and_then(|v| v["estoque"].as_u64());
    rep.check(
        local == Some(novo),
        tr!(
            l,
            "o learner aplicou a escrita e responde a leitura linearizável com {v} (gravado: {novo})",
            "the learner applied the write and answers the linearizable read with {v} (written: {novo})",
            v = local.map_or("-".into(), |v| v.to_string())
        ),
    );
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for _ in 0..READS {
        let up = shop
            .get(&format!("{g}/api/produtos/{DOCE}?consistency=local"), PROBE)
            .await
            .ok()
            .filter(|r| r.status.is_success())
            .and_then(|r| r.header("x-upstream").map(str::to_owned))
            .unwrap_or_else(|| "erro".into());
        *by.entry(up).or_default() += 1;
    }
    let spread = by
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    rep.step(tr!(
        l,
        "{READS} leituras locais pelo gateway, por X-Upstream: {spread}",
        "{READS} local reads through the gateway, by X-Upstream: {spread}"
    ));
    let known_as = shop.known_as(learner);
    let to_learner = by
        .iter()
        .filter(|(k, _)| k.contains(&known_as))
        .map(|(_, v)| *v)
        .sum::<usize>();
    rep.check(
        to_learner > 0 && !by.contains_key("erro"),
        tr!(
            l,
            "o learner respondeu {to_learner} de {READS} leituras do gateway, sem erro",
            "the learner answered {to_learner} of {READS} gateway reads, with no error"
        ),
    );
    shop.client.set_estoque(DOCE, before.estoque).await?;
    rep.figure(tr!(
        l,
        "learner {learner}: {to_learner}/{READS} leituras; {voters} votantes",
        "learner {learner}: {to_learner}/{READS} reads; {voters} voters"
    ));
    Ok(())
}
