//! The cart's wire types (`/api/carrinho/...`), shared with orders, which checks carts out.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::limits::{MAX_LINHAS, QUANTIDADE_MAXIMA, QUANTIDADE_MINIMA, SESSION_ID_LEN};

/// Whether `raw` is a session id: exactly [`SESSION_ID_LEN`] hex characters, either case
/// (the schema is `crate::schema::SessionId`).
pub fn is_session_id(raw: &str) -> bool {
    raw.len() == SESSION_ID_LEN && raw.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Body of `POST /api/carrinho/adicionar`: add `quantidade` units of `doce_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdicionarItem {
    /// Product id in the catalog.
    #[serde(deserialize_with = "crate::whole::u64")]
    #[schema(value_type = crate::schema::DoceId)]
    pub doce_id: u64,
    /// Units to add, `QUANTIDADE_MINIMA..=QUANTIDADE_MAXIMA`.
    #[serde(deserialize_with = "crate::whole::u64")]
    #[schema(value_type = crate::schema::Quantidade)]
    pub quantidade: u64,
}

/// One line of a cart, priced from the catalog when the cart is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemCarrinho {
    /// Product id.
    #[schema(value_type = crate::schema::Contagem)]
    pub doce_id: u64,
    /// Product name, from the catalog.
    pub nome: String,
    /// Unit price in cents, from the catalog.
    #[schema(value_type = crate::schema::Contagem)]
    pub preco_centavos: u64,
    /// Units in the cart.
    #[schema(value_type = crate::schema::Quantidade)]
    pub quantidade: u64,
    /// `preco_centavos * quantidade`.
    #[schema(value_type = crate::schema::Contagem)]
    pub subtotal_centavos: u64,
}

/// A shopper's cart, as every cart endpoint answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Carrinho {
    /// The session id (32 hex characters): the only key to this cart.
    #[schema(value_type = crate::schema::SessionId)]
    pub session_id: String,
    /// Lines, ordered by `doce_id`.
    #[schema(max_items = 50)]
    pub itens: Vec<ItemCarrinho>,
    /// Sum of the subtotals, in cents.
    #[schema(value_type = crate::schema::Contagem)]
    pub total_centavos: u64,
    /// When the cart expires unless written to again (RFC 3339, UTC).
    #[schema(value_type = crate::schema::Instante)]
    pub expira_em: String,
}
