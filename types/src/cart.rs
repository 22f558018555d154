//! The cart's wire types (`/api/carrinho/...`), shared with orders, which checks carts out.

use serde::{Deserialize, Serialize};

/// Smallest quantity one add may ask for, and the smallest quantity of a line.
pub const QUANTIDADE_MINIMA: u64 = 1;
/// Largest quantity of one line (and so of one add).
pub const QUANTIDADE_MAXIMA: u64 = 99;
/// Largest number of distinct products in one cart.
pub const MAX_LINHAS: usize = 50;

/// Body of `POST /api/carrinho/adicionar`: add `quantidade` units of `doce_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdicionarItem {
    /// Product id in the catalog.
    #[serde(deserialize_with = "crate::whole::u64")]
    pub doce_id: u64,
    /// Units to add, `QUANTIDADE_MINIMA..=QUANTIDADE_MAXIMA`.
    #[serde(deserialize_with = "crate::whole::u64")]
    pub quantidade: u64,
}

/// One line of a cart, priced from the catalog when the cart is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemCarrinho {
    /// Product id.
    pub doce_id: u64,
    /// Product name, from the catalog.
    pub nome: String,
    /// Unit price in cents, from the catalog.
    pub preco_centavos: u64,
    /// Units in the cart.
    pub quantidade: u64,
    /// `preco_centavos * quantidade`.
    pub subtotal_centavos: u64,
}

/// A shopper's cart, as every cart endpoint answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carrinho {
    /// The session id (32 hex characters): the only key to this cart.
    pub session_id: String,
    /// Lines, ordered by `doce_id`.
    pub itens: Vec<ItemCarrinho>,
    /// Sum of the subtotals, in cents.
    pub total_centavos: u64,
    /// When the cart expires unless written to again (RFC 3339, UTC).
    pub expira_em: String,
}
