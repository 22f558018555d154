//! Catalog commands replicated through the Raft log, their validation, and their results.
//!
//! Validation is a pure function of the command, so the API rejects bad input before it
//! reaches the log, and the state machine applies the same checks deterministically.

use confeitaria_types::{AtualizaDoce, Categoria, Doce, NovaReserva, NovoDoce, Reserva};
use serde::{Deserialize, Serialize};

/// The limits the commands check, defined with the wire types so that the OpenAPI schemas
/// (`confeitaria_types::schema`) are built from the same figures.
pub use confeitaria_types::catalog::{
    DESCRICAO_MAX, MAX_ESTOQUE, MAX_ITENS_RESERVA, MAX_PRECO_CENTAVOS, MAX_QUANTIDADE,
    NOME_CATEGORIA_MAX, NOME_DOCE_MAX, RESERVA_ID_MAX, SLUG_MAX,
};

/// A change to the catalog, applied identically on every node.
///
/// Commands are stored in the Raft log in bincode ([`crate::codec`]), which knows a variant
/// by its position and a struct's fields by their order: a new variant goes last and a field
/// is never reordered or removed (`the_log_encoding_is_pinned`). Their serde names are kept
/// too (`serialized_names_are_the_logs`): renamed in code, a variant or field keeps its old
/// name through `#[serde(rename)]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The starting catalog, applied only once in the cluster's life.
    Seed {
        /// Categories to create.
        categorias: Vec<Categoria>,
        /// Sweets to create.
        doces: Vec<NovoDoce>,
    },
    /// Create a category or rename it.
    UpsertCategoria(Categoria),
    /// Create a sweet; the state machine assigns its id.
    CreateDoce(NovoDoce),
    /// Change a sweet's descriptive fields.
    UpdateDoce {
        /// Sweet id.
        id: u64,
        /// Fields to change.
        update: AtualizaDoce,
    },
    /// Set available stock.
    #[serde(rename = "SetEstoque")]
    SetStock {
        /// Sweet id.
        id: u64,
        /// New available stock.
        estoque: u64,
    },
    /// Adjust available stock; refused if it would go below zero.
    #[serde(rename = "AdjustEstoque")]
    AdjustStock {
        /// Sweet id.
        id: u64,
        /// Signed change.
        delta: i64,
    },
    /// Reserve every item or none; idempotent by reservation id.
    #[serde(rename = "Reservar")]
    Reserve(NovaReserva),
    /// Turn a reservation's units into sold units; idempotent.
    #[serde(rename = "Confirmar")]
    Confirm {
        /// Reservation id.
        id: String,
    },
    /// Return a reservation's units to available; idempotent, and remembered even for an
    /// id never reserved, so a late reservation with that id is refused.
    #[serde(rename = "Liberar")]
    Release {
        /// Reservation id.
        id: String,
    },
    /// Close a confirmed reservation for good: its order is final (`entregue`), so its units
    /// stay sold and the reservation is settled (forgotten after the retention window). A
    /// released reservation is settled already; an open one is refused. Idempotent.
    #[serde(rename = "Encerrar")]
    Close {
        /// Reservation id.
        id: String,
    },
    /// Proposed by the leader only: advance the log's clock to `now_ms` (the leader's wall
    /// clock; the clock never goes back), stamp the records settled since the previous
    /// `Expire` with it, and forget the settled records stamped more than `retention_ms`
    /// before it (at most [`MAX_FORGET`] per entry). Expiry is decided by these entries
    /// alone, so every replica forgets the same records at the same log index.
    #[serde(rename = "Expirar")]
    Expire {
        /// The leader's wall clock, milliseconds since the Unix epoch.
        #[serde(rename = "agora_ms")]
        now_ms: u64,
        /// The retention window, milliseconds.
        #[serde(rename = "retencao_ms")]
        retention_ms: u64,
    },
    /// Concurrent commands proposed as one log entry (one append, one flush), applied in order,
    /// each with its own result. Batches do not nest.
    Batch(Vec<Command>),
}

/// Most commands in one batch.
pub const MAX_BATCH: usize = 512;

/// Most settled records one [`Command::Expire`] forgets, so that applying it never holds
/// the state for long; the leader proposes another while more are due.
pub const MAX_FORGET: usize = 10_000;

/// What a successful command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutput {
    /// Nothing to report (blank and membership entries).
    Empty,
    /// The seed ran (`true`) or had already run (`false`).
    Seeded(bool),
    /// The category as stored.
    Categoria(Categoria),
    /// The sweet as stored.
    Doce(Doce),
    /// The reservation as stored.
    Reserva(Reserva),
    /// The result of each command of a batch, in order.
    Batch(Vec<CommandResult>),
}

/// Why a command was refused. Refusals are deterministic and change nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    /// A bad field (400).
    #[error("{message}")]
    Invalid {
        /// Error code, e.g. `invalid_field`, `unknown_category`.
        code: String,
        /// What is wrong.
        message: String,
    },
    /// Unknown id (404).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// Not enough available stock for an item (409).
    #[error("insufficient stock for product {doce_id}: {disponivel} available, {pedido} asked")]
    InsufficientStock {
        /// The short product.
        doce_id: u64,
        /// Units available.
        disponivel: u64,
        /// Units asked.
        pedido: u64,
    },
    /// A reservation names a product that is not for sale (409 `inactive_product`).
    #[error("product {doce_id} is not for sale")]
    InactiveProduct {
        /// The product.
        doce_id: u64,
    },
    /// The command conflicts with the current state (409).
    #[error("{message}")]
    Conflict {
        /// Error code, e.g. `negative_stock`, `reservation_released`.
        code: String,
        /// What conflicts.
        message: String,
    },
}

impl CommandError {
    /// The product the refusal is about, for callers that act on it (the orders saga names
    /// the short product to the shopper) without parsing the message.
    pub fn doce_id(&self) -> Option<u64> {
        match self {
            CommandError::InsufficientStock { doce_id, .. }
            | CommandError::InactiveProduct { doce_id } => Some(*doce_id),
            CommandError::Invalid { .. }
            | CommandError::NotFound { .. }
            | CommandError::Conflict { .. } => None,
        }
    }
}

/// The result every applied command returns.
pub type CommandResult = Result<CommandOutput, CommandError>;

pub(crate) fn invalid(code: &str, message: impl Into<String>) -> CommandError {
    CommandError::Invalid {
        code: code.to_owned(),
        message: message.into(),
    }
}

pub(crate) fn conflict(code: &str, message: impl Into<String>) -> CommandError {
    CommandError::Conflict {
        code: code.to_owned(),
        message: message.into(),
    }
}

fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), CommandError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(invalid(
            "invalid_field",
            format!("{field} must have {min} to {max} characters"),
        ));
    }
    Ok(())
}

/// Slugs: 1..=64 of `a-z`, `0-9`, `-`.
pub fn check_slug(slug: &str) -> Result<(), CommandError> {
    if slug.is_empty()
        || slug.len() > SLUG_MAX
        || !slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            "invalid_field",
            "slug must be 1 to 64 characters of a-z, 0-9 and -",
        ));
    }
    Ok(())
}

/// Reservation ids: 1..=128 of `A-Za-z0-9_-`.
pub fn check_reserva_id(id: &str) -> Result<(), CommandError> {
    if id.is_empty()
        || id.len() > RESERVA_ID_MAX
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            "invalid_field",
            "reservation id must be 1 to 128 characters of A-Z, a-z, 0-9, _ and -",
        ));
    }
    Ok(())
}

fn check_novo_doce(d: &NovoDoce) -> Result<(), CommandError> {
    check_text("nome", &d.nome, 1, NOME_DOCE_MAX)?;
    check_text("descricao", &d.descricao, 0, DESCRICAO_MAX)?;
    check_slug(&d.categoria)?;
    check_preco(d.preco_centavos)?;
    check_estoque(d.estoque)
}

fn check_preco(p: u64) -> Result<(), CommandError> {
    if p > MAX_PRECO_CENTAVOS {
        return Err(invalid(
            "invalid_field",
            format!("preco_centavos must be at most {MAX_PRECO_CENTAVOS}"),
        ));
    }
    Ok(())
}

fn check_estoque(e: u64) -> Result<(), CommandError> {
    if e > MAX_ESTOQUE {
        return Err(invalid(
            "invalid_field",
            format!("estoque must be at most {MAX_ESTOQUE}"),
        ));
    }
    Ok(())
}

impl Command {
    /// Whether sending this command a second time, after the first may already have been
    /// applied, leaves the catalog as one application would: the second is a no-op or sets
    /// the same value. Forwarding retries a write that may have reached a leader only when
    /// this holds.
    ///
    /// The `match` is exhaustive on purpose: a new variant does not compile until someone
    /// decides whether it is safe to re-send.
    pub fn retry_safe(&self) -> bool {
        match self {
            // Applied once in the cluster's life; a repeat reports `Seeded(false)`.
            Command::Seed { .. } => true,
            // Sets the category to the given value.
            Command::UpsertCategoria(_) => true,
            // Sets the given fields.
            Command::UpdateDoce { .. } => true,
            // Sets available stock to an absolute figure.
            Command::SetStock { .. } => true,
            // Idempotent by reservation id (refusals included).
            Command::Reserve(_)
            | Command::Confirm { .. }
            | Command::Release { .. }
            | Command::Close { .. } => true,
            // The clock never goes back and a record is forgotten once: a repeat stamps
            // nothing new and forgets only what had come due anyway.
            Command::Expire { .. } => true,
            // A second application creates a second sweet.
            Command::CreateDoce(_) => false,
            // A second application moves stock twice.
            Command::AdjustStock { .. } => false,
            // A re-sent batch is each of its commands re-sent, in order: each answers as its
            // own retry would. (The batch as a whole need not equal one application: in
            // `[Confirm r, Reserve r]` the second pass confirms what the first reserved, a
            // legal order of the same two requests.)
            Command::Batch(cmds) => cmds.iter().all(Command::retry_safe),
        }
    }

    /// Checks the command's own fields (not the state): bounds, formats, lengths.
    pub fn validate(&self) -> Result<(), CommandError> {
        match self {
            Command::Seed { categorias, doces } => {
                for c in categorias {
                    check_slug(&c.slug)?;
                    check_text("nome", &c.nome, 1, NOME_CATEGORIA_MAX)?;
                }
                doces.iter().try_for_each(check_novo_doce)
            }
            Command::UpsertCategoria(c) => {
                check_slug(&c.slug)?;
                check_text("nome", &c.nome, 1, NOME_CATEGORIA_MAX)
            }
            Command::CreateDoce(d) => check_novo_doce(d),
            Command::UpdateDoce { update, .. } => {
                if let Some(n) = &update.nome {
                    check_text("nome", n, 1, NOME_DOCE_MAX)?;
                }
                if let Some(d) = &update.descricao {
                    check_text("descricao", d, 0, DESCRICAO_MAX)?;
                }
                if let Some(c) = &update.categoria {
                    check_slug(c)?;
                }
                update.preco_centavos.map_or(Ok(()), check_preco)
            }
            Command::SetStock { estoque, .. } => check_estoque(*estoque),
            Command::AdjustStock { delta, .. } => {
                if delta.unsigned_abs() > MAX_ESTOQUE {
                    return Err(invalid(
                        "invalid_field",
                        format!("delta must be within ±{MAX_ESTOQUE}"),
                    ));
                }
                Ok(())
            }
            Command::Reserve(r) => {
                check_reserva_id(&r.id)?;
                if r.itens.is_empty() || r.itens.len() > MAX_ITENS_RESERVA {
                    return Err(invalid(
                        "invalid_field",
                        format!("itens must have 1 to {MAX_ITENS_RESERVA} lines"),
                    ));
                }
                for i in &r.itens {
                    if i.quantidade == 0 || i.quantidade > MAX_QUANTIDADE {
                        return Err(invalid(
                            "invalid_quantity",
                            format!("quantidade must be 1 to {MAX_QUANTIDADE}"),
                        ));
                    }
                }
                Ok(())
            }
            Command::Confirm { id } | Command::Release { id } | Command::Close { id } => {
                check_reserva_id(id)
            }
            Command::Expire { retention_ms, .. } => {
                if *retention_ms == 0 {
                    return Err(invalid("invalid_field", "retencao_ms must be at least 1"));
                }
                Ok(())
            }
            Command::Batch(cmds) => {
                if cmds.len() > MAX_BATCH || cmds.iter().any(|c| matches!(c, Command::Batch(_))) {
                    return Err(invalid(
                        "invalid_batch",
                        "batches hold at most 512 plain commands",
                    ));
                }
                Ok(())
            }
        }
    }
}
