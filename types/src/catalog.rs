//! The catalog's domain as it travels on the wire (field names follow docs/design.md).

use serde::{Deserialize, Serialize};

/// A product category, e.g. `{"slug": "bolos", "nome": "Bolos"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Categoria {
    /// Stable identifier used in paths (`/api/produtos/categoria/{slug}`).
    pub slug: String,
    /// Display name.
    pub nome: String,
}

/// A sweet for sale. `estoque` is what can still be sold (available, not reserved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doce {
    /// Identifier assigned by the catalog.
    pub id: u64,
    /// Display name.
    pub nome: String,
    /// Free-text description.
    pub descricao: String,
    /// Price in integer cents.
    pub preco_centavos: u64,
    /// Category slug.
    pub categoria: String,
    /// Units available for sale.
    pub estoque: u64,
    /// Whether the sweet can be added to carts.
    pub ativo: bool,
    /// Incremented on every change to this sweet.
    pub versao: u64,
}

/// The three stock counters of one product. Every command keeps
/// `disponivel + reservado + vendido == recebido` and none of them negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estoque {
    /// Units that can still be sold.
    pub disponivel: u64,
    /// Units held by open reservations.
    pub reservado: u64,
    /// Units sold (confirmed reservations).
    pub vendido: u64,
}

impl Estoque {
    /// Total units ever received: the sum of the three counters.
    pub fn recebido(&self) -> u64 {
        self.disponivel
            .saturating_add(self.reservado)
            .saturating_add(self.vendido)
    }
}

/// `GET /api/produtos/{id}/estoque`: the counters of one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstoqueDetalhe {
    /// Product id.
    pub doce_id: u64,
    /// Units that can still be sold.
    pub disponivel: u64,
    /// Units held by open reservations.
    pub reservado: u64,
    /// Units sold.
    pub vendido: u64,
    /// Sum of the three.
    pub recebido: u64,
}

/// Body of `POST /api/produtos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NovoDoce {
    /// Display name (1..=200 characters).
    pub nome: String,
    /// Description (at most 2000 characters).
    #[serde(default)]
    pub descricao: String,
    /// Price in cents.
    pub preco_centavos: u64,
    /// Existing category slug.
    pub categoria: String,
    /// Initial available stock.
    #[serde(default)]
    pub estoque: u64,
    /// Defaults to true.
    #[serde(default = "default_true")]
    pub ativo: bool,
}

fn default_true() -> bool {
    true
}

/// Body of `PUT /api/produtos/{id}`: every field optional, absent ones unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtualizaDoce {
    /// New name.
    pub nome: Option<String>,
    /// New description.
    pub descricao: Option<String>,
    /// New price in cents.
    pub preco_centavos: Option<u64>,
    /// New category slug (must exist).
    pub categoria: Option<String>,
    /// Activate or deactivate.
    pub ativo: Option<bool>,
}

/// Body of `PUT /api/produtos/{id}/estoque`: exactly one of the two fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockUpdate {
    /// Set available stock to this value.
    pub estoque: Option<u64>,
    /// Adjust available stock by this amount (refused with 409 below zero).
    pub delta: Option<i64>,
}

/// One line of a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemReserva {
    /// Product id.
    #[serde(deserialize_with = "crate::whole::u64")]
    pub doce_id: u64,
    /// Units (at least 1).
    #[serde(deserialize_with = "crate::whole::u64")]
    pub quantidade: u64,
}

/// Body of `POST /api/reservas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NovaReserva {
    /// Caller-chosen id (the order id); makes the call idempotent.
    pub id: String,
    /// Items, reserved all or nothing.
    pub itens: Vec<ItemReserva>,
    /// When the caller first issued this reservation, in milliseconds since the Unix epoch
    /// (the orders service sends its order's creation time, so every retry carries the same
    /// figure). Absent, the catalog node that receives the request stamps its own clock. A
    /// reservation id the catalog does not know, issued before the catalog's low-water mark
    /// (settled reservations older than the retention window are forgotten), is refused with
    /// 409 `reservation_expired` (docs/design.md, "Retention").
    #[serde(default)]
    pub emitida_em: Option<u64>,
}

/// State of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EstadoReserva {
    /// Units held.
    Reservada,
    /// Units sold.
    Confirmada,
    /// Units returned to available (or never held: a release that arrived first).
    Liberada,
}

/// A stock reservation, all-or-nothing over its items, idempotent by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserva {
    /// Caller-chosen id.
    pub id: String,
    /// Reserved items.
    pub itens: Vec<ItemReserva>,
    /// Current state.
    pub estado: EstadoReserva,
}

/// A page of products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaginaDoces {
    /// The products on this page, by id.
    pub produtos: Vec<Doce>,
    /// Total products matching.
    pub total: u64,
    /// Page size asked for.
    pub limit: u64,
    /// Offset asked for.
    pub offset: u64,
}
