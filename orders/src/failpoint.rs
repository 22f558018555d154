//! Failpoints: `CONFEITARIA_FAILPOINT=name[,name...]` makes the process abort (as `kill -9`
//! would stop it: no destructor, no flush) when it reaches a named step.
//!
//! Always compiled in and a no-op unless the variable is set, so the crash tests run the very
//! binary that ships. The steps are the variants of [`Failpoint`]; their names (what the
//! variable lists) are [`Failpoint::name`], also in `docs/orders.md`.

use std::sync::OnceLock;

/// Environment variable naming the failpoints to arm.
pub const VAR: &str = "CONFEITARIA_FAILPOINT";

/// A step the process can be made to abort at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// The order was logged `pendente`, before anything else.
    AfterPending,
    /// The catalog reserved the stock; `confirmado` not yet logged.
    AfterReserve,
    /// The catalog refused the reservation; `rejeitado` not yet logged.
    AfterReserveRefused,
    /// `confirmado` was logged.
    AfterConfirmed,
    /// The payment intent was logged; the catalog not yet asked.
    AfterPaymentRequested,
    /// The catalog confirmed the reservation; `pago` not yet logged.
    AfterConfirm,
    /// `pago` was logged.
    AfterPaid,
    /// The cancellation intent was logged; the catalog not yet asked.
    AfterCancellationRequested,
    /// The catalog released the reservation; `cancelado` not yet logged.
    AfterRelease,
    /// `cancelado` was logged.
    AfterCancelled,
    /// Events were published; not yet removed from the outbox.
    AfterPublish,
}

impl Failpoint {
    /// Every failpoint, in saga order.
    pub const ALL: [Failpoint; 11] = [
        Failpoint::AfterPending,
        Failpoint::AfterReserve,
        Failpoint::AfterReserveRefused,
        Failpoint::AfterConfirmed,
        Failpoint::AfterPaymentRequested,
        Failpoint::AfterConfirm,
        Failpoint::AfterPaid,
        Failpoint::AfterCancellationRequested,
        Failpoint::AfterRelease,
        Failpoint::AfterCancelled,
        Failpoint::AfterPublish,
    ];

    /// The name `CONFEITARIA_FAILPOINT` arms it by.
    pub fn name(self) -> &'static str {
        match self {
            Failpoint::AfterPending => "after_pendente",
            Failpoint::AfterReserve => "after_reserve",
            Failpoint::AfterReserveRefused => "after_reserve_refused",
            Failpoint::AfterConfirmed => "after_confirmado",
            Failpoint::AfterPaymentRequested => "after_pagamento_solicitado",
            Failpoint::AfterConfirm => "after_confirm",
            Failpoint::AfterPaid => "after_pago",
            Failpoint::AfterCancellationRequested => "after_cancelamento_solicitado",
            Failpoint::AfterRelease => "after_release",
            Failpoint::AfterCancelled => "after_cancelado",
            Failpoint::AfterPublish => "after_publish",
        }
    }

    /// The failpoint named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What the variable armed: the failpoints, and the names that match none.
struct Armed {
    points: Vec<Failpoint>,
    unknown: Vec<String>,
}

fn armed() -> &'static Armed {
    static ARMED: OnceLock<Armed> = OnceLock::new();
    ARMED.get_or_init(|| {
        let value = std::env::var(VAR).unwrap_or_default();
        let mut armed = Armed {
            points: vec![],
            unknown: vec![],
        };
        for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Failpoint::from_name(name) {
                Some(f) => armed.points.push(f),
                None => armed.unknown.push(name.to_owned()),
            }
        }
        armed
    })
}

/// Aborts the process if failpoint `f` is armed.
pub fn hit(f: Failpoint) {
    if armed().points.contains(&f) {
        let name = f.name();
        tracing::error!(failpoint = name, "failpoint reached: aborting");
        eprintln!("failpoint {name} reached: aborting");
        std::process::abort();
    }
}

/// Logs the armed failpoints (at start-up), warning about unknown names.
pub fn announce() {
    let armed = armed();
    for f in &armed.points {
        tracing::warn!(
            failpoint = f.name(),
            "failpoint armed: the process will abort there"
        );
    }
    for name in &armed.unknown {
        tracing::warn!(failpoint = %name, "unknown failpoint name ignored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failpoint_is_found_by_its_own_name_and_names_are_distinct() {
        for f in Failpoint::ALL {
            assert_eq!(Failpoint::from_name(f.name()), Some(f));
        }
        let mut names: Vec<_> = Failpoint::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Failpoint::ALL.len());
        assert_eq!(Failpoint::from_name("after_nothing"), None);
    }
}
