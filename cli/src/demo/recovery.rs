//! Crash recovery: the orders service is SIGKILLed while shoppers are checking out through
//! the gateway, and started again. Each step of the checkout saga is logged (and flushed)
//! before it is acted on, so after the restart every order resolves: the checkouts the crash
//! cut off, retried with their `Idempotency-Key` as a shopper's browser would, come back
//! `confirmado` (one order per key, never two), orders acknowledged before the crash are
//! still there, no saga step is left open, and the catalog holds exactly the units of the
//! confirmed orders — no reservation dangling, none made twice.

use std::time::Duration;

use confeitaria_types::orders::StatusPedido;
use confeitaria_types::EstadoReserva;
use tokio::time::Instant;

use super::control::Act;
use super::failover::{missing, Placed, Stream};
use super::report::Report;
use super::shop::{sample, Checkout, DemoShop, SETTLE};
use super::Info;
use crate::error::CliError;

/// The product bought.
pub const DOCE: u64 = 5;
/// Concurrent shoppers.
pub const SHOPPERS: usize = 12;
/// Orders acknowledged before the crash.
pub const BEFORE: usize = 10;

/// What the scenario says before it acts.
pub const INFO: Info = Info {
    title: (
        "Recuperação de falhas: pedidos mortos no meio do checkout",
        "Crash recovery: orders killed mid-checkout",
    ),
    concept: (
        "a saga do pedido grava cada passo antes de agir (log de eventos + outbox); um processo \
         morto em qualquer ponto retoma ou compensa ao reiniciar, e a chave de idempotência \
         garante um pedido por checkout.",
        "the order saga logs every step before acting (event log + outbox); a process killed \
         at any point resumes or compensates on restart, and the idempotency key makes one \
         order per checkout.",
    ),
    action: (
        "12 compradores fazem checkout sem parar; o serviço de pedidos leva SIGKILL no meio; \
         ele é reiniciado e cada checkout interrompido é repetido com a mesma Idempotency-Key.",
        "12 shoppers keep checking out; the orders service gets SIGKILL mid-way; it is \
         restarted and each interrupted checkout is retried with the same Idempotency-Key.",
    ),
    look: (
        "a contagem abaixo; o log do serviço em data/logs/orders.log (a retomada na partida); \
         {painel} mostra o serviço de pedidos fora e de volta.",
        "the counts below; the service's log in data/logs/orders.log (the recovery at start); \
         {painel} shows orders down and back.",
    ),
};

/// Runs the scenario.
pub async fn run(shop: &DemoShop, rep: &mut Report) -> Result<(), CliError> {
    let l = rep.lang();
    let Some(orders) = shop.orders.clone() else {
        rep.skip(tr!(
            l,
            "a loja não roda o serviço de pedidos",
            "the shop runs no orders service"
        ));
        return Ok(());
    };
    shop.gateway()?;
    let before = shop.estoque(DOCE).await?;
    shop.client.set_estoque(DOCE, 100_000).await?;

    let stream = Stream::start(shop, DOCE, SHOPPERS, true);
    let waited = shop
        .wait_for(SETTLE, "the shoppers' first orders", || async {
            stream.placed() >= BEFORE
        })
        .await;
    // The process dies somewhere between the kill being sent and the call returning (a
    // `docker kill` takes a while under load): a checkout begun before the call returned
    // and then cut off was under way when the process went.
    let killed = match waited {
        Ok(()) => shop.ctl.kill_service("orders").await,
        Err(e) => Err(e),
    };
    let killed_at = Instant::now();
    let (placed, cut) = stream.stop().await;
    killed?;
    rep.step(tr!(
        l,
        "SIGKILL no serviço de pedidos ({how}) com {p} pedidos confirmados; {c} checkouts interrompidos",
        "SIGKILL to the orders service ({how}) with {p} orders acknowledged; {c} checkouts cut off",
        how = shop.ctl.how(Act::Kill, "orders"),
        p = placed.len(),
        c = cut.len()
    ));
    shop.ctl.start_service("orders").await?;
    let t = Instant::now();
    shop.wait_ready(&orders, SETTLE).await?;
    rep.step(tr!(
        l,
        "pedidos reiniciado e pronto em {ms} ms",
        "orders restarted and ready in {ms} ms",
        ms = t.elapsed().as_millis()
    ));

    // Retry each cut-off checkout with its key until it resolves.
    let mut resolved: Vec<Placed> = Vec::new();
    let mut unresolved = 0usize;
    for c in cut.iter().filter(|c| !c.session.is_empty()) {
        let end = Instant::now() + SETTLE;
        let started = Instant::now();
        loop {
            match shop.checkout(&c.session, &c.key).await {
                Checkout::Placed(p) if p.status != StatusPedido::Pendente => {
                    resolved.push(Placed {
                        id: p.id,
                        status: p.status,
                        started,
                        done: Instant::now(),
                    });
                    break;
                }
                _ if Instant::now() >= end => {
                    unresolved += 1;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    let adds_cut = cut.iter().filter(|c| c.session.is_empty()).count();
    let in_flight = cut.iter().filter(|c| c.started < killed_at).count();
    rep.check(
        in_flight > 0,
        tr!(
            l,
            "o SIGKILL pegou {in_flight} checkouts em andamento ({x} outros recusados enquanto pedidos estava fora)",
            "the SIGKILL caught {in_flight} checkouts under way ({x} more refused while orders was down)",
            x = cut.len() - in_flight
        ),
    );
    let confirmed_again = resolved
        .iter()
        .filter(|p| p.status == StatusPedido::Confirmado)
        .count();
    rep.check(
        unresolved == 0,
        tr!(
            l,
            "{r} de {n} checkouts interrompidos resolvidos ao repetir com a mesma chave \
             ({confirmed_again} confirmados, {x} rejeitados, {unresolved} sem resposta)",
            "{r} of {n} cut-off checkouts resolved by retrying with the same key \
             ({confirmed_again} confirmed, {x} rejected, {unresolved} unanswered)",
            r = resolved.len(),
            n = cut.len() - adds_cut,
            x = resolved.len() - confirmed_again
        ),
    );
    let lost = missing(
        shop,
        &placed,
        StatusPedido::Confirmado,
        EstadoReserva::Reservada,
    )
    .await;
    rep.check(
        lost.is_empty(),
        tr!(
            l,
            "os {n} pedidos confirmados antes da queda seguem confirmados, com reserva (perdidos: {p})",
            "the {n} orders acknowledged before the crash are still confirmed, reserved (lost: {p})",
            n = placed.len(),
            p = lost.len()
        ),
    );
    let open = std::cell::Cell::new(None);
    let waited = shop
        .wait_for(SETTLE, "no open saga step", || async {
            let v = shop
                .metrics(&orders)
                .await
                .ok()
                .and_then(|m| sample(&m, "orders_open_saga_steps", ""));
            open.set(v);
            v == Some(0.0)
        })
        .await;
    let recovered = shop
        .metrics(&orders)
        .await
        .ok()
        .and_then(|m| sample(&m, "orders_saga_steps_recovered_total", ""))
        .unwrap_or(0.0);
    rep.check(
        waited.is_ok(),
        tr!(
            l,
            "nenhum passo da saga ficou aberto (orders_open_saga_steps = {o}; passos retomados \
             pelo processo novo: {recovered})",
            "no saga step left open (orders_open_saga_steps = {o}; steps the new process \
             recovered: {recovered})",
            o = open.get().map_or("-".into(), |v| v.to_string())
        ),
    );
    let units = (placed.len() + confirmed_again) as u64;
    let now = shop.estoque(DOCE).await?;
    let held = now.reservado.saturating_sub(before.reservado);
    rep.check(
        held == units,
        tr!(
            l,
            "o catálogo reservou {held} unidades = {units} pedidos confirmados: nenhuma reserva \
             pendurada nem duplicada",
            "the catalog reserved {held} units = {units} confirmed orders: no reservation \
             dangling or doubled"
        ),
    );
    shop.client.set_estoque(DOCE, before.disponivel).await?;
    rep.figure(tr!(
        l,
        "{c} checkouts interrompidos, {r} resolvidos; {held} unidades reservadas = {units} pedidos",
        "{c} checkouts cut off, {r} resolved; {held} units reserved = {units} orders",
        c = cut.len(),
        r = resolved.len()
    ));
    Ok(())
}
