//! Failpoints: `CONFEITARIA_FAILPOINT=name[,name...]` makes the process abort (as `kill -9`
//! would stop it: no destructor, no flush) when it reaches a named step.
//!
//! Always compiled in and a no-op unless the variable is set, so the crash tests run the very
//! binary that ships. The names are listed in [`NOMES`] and in `docs/orders.md`.

use std::sync::OnceLock;

/// Environment variable naming the failpoints to arm.
pub const VAR: &str = "CONFEITARIA_FAILPOINT";

/// Every failpoint, in saga order.
pub const NOMES: &[&str] = &[
    "after_pendente",
    "after_reserve",
    "after_reserve_refused",
    "after_confirmado",
    "after_pagamento_solicitado",
    "after_confirm",
    "after_pago",
    "after_cancelamento_solicitado",
    "after_release",
    "after_cancelado",
    "after_publish",
];

fn armados() -> &'static [String] {
    static ARMADOS: OnceLock<Vec<String>> = OnceLock::new();
    ARMADOS.get_or_init(|| {
        std::env::var(VAR)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Aborts the process if failpoint `nome` is armed.
pub fn hit(nome: &str) {
    if armados().iter().any(|a| a == nome) {
        tracing::error!(failpoint = nome, "failpoint reached: aborting");
        eprintln!("failpoint {nome} reached: aborting");
        std::process::abort();
    }
}

/// Logs the armed failpoints (at start-up), warning about unknown names.
pub fn anunciar() {
    for a in armados() {
        if NOMES.contains(&a.as_str()) {
            tracing::warn!(failpoint = %a, "failpoint armed: the process will abort there");
        } else {
            tracing::warn!(failpoint = %a, "unknown failpoint name ignored");
        }
    }
}
