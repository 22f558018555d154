//! The catalog's domain as it travels on the wire (field names follow docs/design.md).

use serde::{Deserialize, Serialize};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

pub use crate::limits::{
    DESCRICAO_MAX, MAX_ESTOQUE, MAX_ITENS_RESERVA, MAX_PRECO_CENTAVOS, MAX_QUANTIDADE,
    NOME_CATEGORIA_MAX, NOME_DOCE_MAX, RESERVA_ID_MAX, SLUG_MAX,
};
use crate::schema::{
    Contagem, DeltaEstoque, Descricao, DoceId, NomeCategoria, NomeDoce, PrecoCentavos,
    QuantidadeReserva, ReservaId, Slug, Unidades,
};

/// A product category, e.g. `{"slug": "bolos", "nome": "Bolos"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Categoria {
    /// Stable identifier used in paths (`/api/produtos/categoria/{slug}`).
    #[schema(value_type = Slug)]
    pub slug: String,
    /// Display name.
    #[schema(value_type = NomeCategoria)]
    pub nome: String,
}

/// A sweet for sale. `estoque` is what can still be sold (available, not reserved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Doce {
    /// Identifier assigned by the catalog.
    #[schema(value_type = Contagem)]
    pub id: u64,
    /// Display name.
    pub nome: String,
    /// Free-text description.
    pub descricao: String,
    /// Price in integer cents.
    #[schema(value_type = Contagem)]
    pub preco_centavos: u64,
    /// Category slug.
    pub categoria: String,
    /// Units available for sale.
    #[schema(value_type = Contagem)]
    pub estoque: u64,
    /// Whether the sweet can be added to carts.
    pub ativo: bool,
    /// Incremented on every change to this sweet.
    #[schema(value_type = Contagem)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EstoqueDetalhe {
    /// Product id.
    #[schema(value_type = Contagem)]
    pub doce_id: u64,
    /// Units that can still be sold.
    #[schema(value_type = Contagem)]
    pub disponivel: u64,
    /// Units held by open reservations.
    #[schema(value_type = Contagem)]
    pub reservado: u64,
    /// Units sold.
    #[schema(value_type = Contagem)]
    pub vendido: u64,
    /// Sum of the three.
    #[schema(value_type = Contagem)]
    pub recebido: u64,
}

/// Body of `POST /api/produtos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NovoDoce {
    /// Display name (1..=200 characters).
    #[schema(value_type = NomeDoce)]
    pub nome: String,
    /// Description (at most 2000 characters).
    #[serde(default)]
    #[schema(value_type = Descricao)]
    pub descricao: String,
    /// Price in cents.
    #[schema(value_type = PrecoCentavos)]
    #[serde(deserialize_with = "crate::whole::u64")]
    pub preco_centavos: u64,
    /// Existing category slug.
    #[schema(value_type = Slug)]
    pub categoria: String,
    /// Initial available stock.
    #[serde(default)]
    #[schema(value_type = Unidades)]
    #[serde(deserialize_with = "crate::whole::u64")]
    pub estoque: u64,
    /// Defaults to true.
    #[serde(default = "default_true")]
    #[schema(default = true)]
    pub ativo: bool,
}

fn default_true() -> bool {
    true
}

/// Body of `PUT /api/produtos/{id}`: every field optional, absent ones unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AtualizaDoce {
    /// New name.
    #[schema(value_type = Option<NomeDoce>)]
    pub nome: Option<String>,
    /// New description.
    #[schema(value_type = Option<Descricao>)]
    pub descricao: Option<String>,
    /// New price in cents.
    #[schema(value_type = Option<PrecoCentavos>)]
    #[serde(default, deserialize_with = "crate::whole::option_u64")]
    pub preco_centavos: Option<u64>,
    /// New category slug (must exist).
    #[schema(value_type = Option<Slug>)]
    pub categoria: Option<String>,
    /// Activate or deactivate.
    pub ativo: Option<bool>,
}

/// Body of `PUT /api/produtos/{id}/estoque`: exactly one of the two fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockUpdate {
    /// Set available stock to this value.
    #[serde(default, deserialize_with = "crate::whole::option_u64")]
    pub estoque: Option<u64>,
    /// Adjust available stock by this amount (refused with 409 below zero).
    #[serde(default, deserialize_with = "crate::whole::option_i64")]
    pub delta: Option<i64>,
}

/// `EstoqueUpdate` in the documents: both fields optional, and exactly one of them required
/// (a `oneOf` of the two `required` lists), which no derive states.
impl PartialSchema for StockUpdate {
    fn schema() -> RefOr<Schema> {
        // ObjectBuilder has no `oneOf` beside `properties`: it goes in as a keyword of the object
        // (an extension entry serializes flattened, like any keyword).
        let one_of = serde_json::json!([{"required": ["estoque"]}, {"required": ["delta"]}]);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "exactly one of estoque (set available stock) or delta (adjust it; below zero is 409 negative_stock)",
            ))
            .property("estoque", Unidades::schema())
            .property("delta", DeltaEstoque::schema())
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .extensions(Some(Extensions::from_iter([("oneOf", one_of)])))
            .into()
    }
}

impl ToSchema for StockUpdate {
    fn name() -> std::borrow::Cow<'static, str> {
        "EstoqueUpdate".into()
    }
}

/// One line of a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemReserva {
    /// Product id.
    #[serde(deserialize_with = "crate::whole::u64")]
    #[schema(value_type = DoceId)]
    pub doce_id: u64,
    /// Units (at least 1).
    #[serde(deserialize_with = "crate::whole::u64")]
    #[schema(value_type = QuantidadeReserva)]
    pub quantidade: u64,
}

/// Body of `POST /api/reservas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NovaReserva {
    /// Caller-chosen id (the order id); makes the call idempotent.
    #[schema(value_type = ReservaId)]
    pub id: String,
    /// Items, reserved all or nothing.
    #[schema(min_items = 1, max_items = 100)]
    pub itens: Vec<ItemReserva>,
    /// When the caller first issued this reservation, in milliseconds since the Unix epoch
    /// (the orders service sends its order's creation time, so every retry carries the same
    /// figure). Absent, the catalog node that receives the request stamps its own clock. A
    /// reservation id the catalog does not know, issued before the catalog's low-water mark
    /// (settled reservations older than the retention window are forgotten), is refused with
    /// 409 `reservation_expired` (docs/design.md, "Retention").
    #[serde(default, deserialize_with = "crate::whole::option_u64")]
    #[schema(value_type = Option<Contagem>)]
    pub emitida_em: Option<u64>,
}

/// State of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reserva {
    /// Caller-chosen id.
    pub id: String,
    /// Reserved items.
    pub itens: Vec<ItemReserva>,
    /// Current state.
    pub estado: EstadoReserva,
}

/// A page of products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaginaDoces {
    /// The products on this page, by id.
    pub produtos: Vec<Doce>,
    /// Total products matching.
    #[schema(value_type = Contagem)]
    pub total: u64,
    /// Page size asked for.
    #[schema(value_type = Contagem)]
    pub limit: u64,
    /// Offset asked for.
    #[schema(value_type = Contagem)]
    pub offset: u64,
}
