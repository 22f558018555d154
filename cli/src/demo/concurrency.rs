//! Concurrency: 60 shoppers, each with one unit of the same product in their cart, check out
//! at the same instant through the gateway while only 10 units are left. The catalog's
//! state machine applies reservations one at a time in log order, all-or-nothing, so exactly
//! 10 orders are confirmed and 50 rejected with `insufficient_stock`: no oversell.

use std::sync::Arc;

use confeitaria_types::orders::StatusPedido;
use tokio::sync::Barrier;

use super::failover::new_key;
use super::report::Report;
use super::shop::{Checkout, DemoShop};
use super::Info;
use crate::error::CliError;

/// The product raced for.
pub const DOCE: u64 = 4;
/// Shoppers.
pub const SHOPPERS: usize = 60;
/// Units left.
pub const UNITS: u64 = 10;

/// What the scenario says before it acts.
pub const INFO: Info = Info {
    title: (
        "Concorrência: 60 compradores, 10 unidades",
        "Concurrency: 60 shoppers, 10 units",
    ),
    concept: (
        "pedidos concorrentes pelo mesmo estoque são serializados pelo log do Raft; cada \
         reserva é tudo-ou-nada, então nunca se vende o que não existe.",
        "concurrent orders for the same stock are serialized by the Raft log; each reservation \
         is all-or-nothing, so nothing that does not exist is ever sold.",
    ),
    action: (
        "põe 10 unidades no produto 4, enche 60 carrinhos com 1 unidade cada e dispara os 60 \
         checkouts ao mesmo tempo pelo gateway.",
        "sets product 4 to 10 units, fills 60 carts with 1 unit each and fires the 60 checkouts \
         at once through the gateway.",
    ),
    look: (
        "a contagem abaixo; depois: confeitaria produtos show 4 (disponível 0, reservado +10)",
        "the counts below; afterwards: confeitaria produtos show 4 (available 0, reserved +10)",
    ),
};

/// What the race came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Race {
    /// Orders confirmed.
    pub confirmed: u64,
    /// Orders rejected for want of stock.
    pub rejected: u64,
    /// Anything else (errors, other refusals).
    pub other: u64,
    /// Units available after the race.
    pub available: u64,
    /// Units the catalog reserved during the race.
    pub reserved: u64,
}

impl Race {
    /// The race is fair when exactly `units` were sold to `shoppers`, every other shopper
    /// was told no, and the catalog holds exactly what was sold.
    pub fn fair(&self, shoppers: u64, units: u64) -> bool {
        self.confirmed == units
            && self.rejected == shoppers - units
            && self.other == 0
            && self.available == 0
            && self.reserved == units
    }
}

/// Runs the scenario.
pub async fn run(shop: &DemoShop, rep: &mut Report) -> Result<(), CliError> {
    let l = rep.lang();
    shop.gateway()?;
    let original = shop.estoque(DOCE).await?.disponivel;
    // Carts first, with stock to spare, so every shopper holds one unit when the race starts.
    shop.client
        .set_estoque(DOCE, SHOPPERS as u64 + UNITS)
        .await?;
    let carts = futures::future::join_all((0..SHOPPERS).map(|_| shop.new_cart(DOCE, 1))).await;
    let carts: Vec<String> = carts
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::Other(format!("filling the carts: {e}")))?;
    shop.client.set_estoque(DOCE, UNITS).await?;
    let before = shop.estoque(DOCE).await?;
    rep.step(tr!(
        l,
        "{n} carrinhos com 1 unidade do produto {DOCE}; estoque disponível: {d}",
        "{n} carts with 1 unit of product {DOCE}; available stock: {d}",
        n = carts.len(),
        d = before.disponivel
    ));
    let barrier = Arc::new(Barrier::new(SHOPPERS));
    let t = tokio::time::Instant::now();
    let outcomes = futures::future::join_all(carts.iter().map(|session| {
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            shop.checkout(session, &new_key()).await
        }
    }))
    .await;
    let took = t.elapsed();
    let mut race = Race::default();
    for o in &outcomes {
        match o {
            Checkout::Placed(p) if p.status == StatusPedido::Confirmado => race.confirmed += 1,
            Checkout::Placed(p)
                if p.status == StatusPedido::Rejeitado
                    && p.rejeicao
                        .as_ref()
                        .is_some_and(|r| r.code == "insufficient_stock") =>
            {
                race.rejected += 1
            }
            _ => race.other += 1,
        }
    }
    let after = shop.estoque(DOCE).await?;
    race.available = after.disponivel;
    race.reserved = after.reservado.saturating_sub(before.reservado);
    rep.step(tr!(
        l,
        "{n} checkouts simultâneos em {ms} ms",
        "{n} simultaneous checkouts in {ms} ms",
        n = outcomes.len(),
        ms = took.as_millis()
    ));
    rep.check(
        race.confirmed == UNITS,
        tr!(
            l,
            "{c} pedidos confirmados (esperado: exatamente {UNITS})",
            "{c} orders confirmed (expected: exactly {UNITS})",
            c = race.confirmed
        ),
    );
    rep.check(
        race.rejected == SHOPPERS as u64 - UNITS && race.other == 0,
        tr!(
            l,
            "{r} rejeitados com insufficient_stock, {o} com outro resultado",
            "{r} rejected with insufficient_stock, {o} with another outcome",
            r = race.rejected,
            o = race.other
        ),
    );
    rep.check(
        race.fair(SHOPPERS as u64, UNITS),
        tr!(
            l,
            "catálogo: disponível {a}, reservado +{r} — nenhuma unidade vendida a mais",
            "catalog: available {a}, reserved +{r} — no unit oversold",
            a = race.available,
            r = race.reserved
        ),
    );
    shop.client.set_estoque(DOCE, original).await?;
    rep.figure(tr!(
        l,
        "{c} vendidos, {r} recusados, disponível {a}: vendido a mais = {x}",
        "{c} sold, {r} refused, available {a}: oversold = {x}",
        c = race.confirmed,
        r = race.rejected,
        a = race.available,
        x = race.confirmed.saturating_sub(UNITS)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exactly_the_units_in_stock_sold_is_fair() {
        let fair = Race {
            confirmed: 10,
            rejected: 50,
            other: 0,
            available: 0,
            reserved: 10,
        };
        assert!(fair.fair(60, 10));
        assert!(!Race {
            confirmed: 11,
            rejected: 49,
            ..fair
        }
        .fair(60, 10));
        assert!(!Race {
            reserved: 11,
            ..fair
        }
        .fair(60, 10));
        assert!(!Race { other: 1, ..fair }.fair(60, 10));
    }
}
