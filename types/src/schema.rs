//! The OpenAPI schemas of constrained wire values, built from the constants the handlers
//! validate with, so that a document cannot state one limit while a handler checks another.
//!
//! Each named type here is a schema only (never constructed): a field or parameter points at it
//! with `#[schema(value_type = ...)]` or by type in `#[utoipa::path(params(...))]`, and the
//! document carries it once under `components/schemas`.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::limits::{
    DESCRICAO_MAX, IDEMPOTENCY_KEY_MAX, MAX_ESTOQUE, MAX_PRECO_CENTAVOS, MAX_QUANTIDADE,
    NOME_CATEGORIA_MAX, NOME_DOCE_MAX, QUANTIDADE_MAXIMA, QUANTIDADE_MINIMA, RESERVA_ID_MAX,
    SESSION_ID_LEN, SLUG_MAX,
};

/// Largest integer a JSON number holds exactly (2^53 - 1): the documents bound unbounded
/// counters by it, since a client's JSON parser may not hold more.
pub const JSON_SAFE_MAX: u64 = (1 << 53) - 1;

/// The regular expression of a session id, from [`SESSION_ID_LEN`].
pub fn session_id_pattern() -> String {
    format!("^[0-9a-fA-F]{{{SESSION_ID_LEN}}}$")
}

/// A whole number in `min..=max`.
pub fn integer(min: u64, max: u64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
}

/// A string that matches `pattern`.
pub fn text(pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
}

/// Declares a schema-only type named `$name` whose schema is `$schema`.
macro_rules! named_schema {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $name {}
    };
}

named_schema! {
    /// A cart's session id: [`SESSION_ID_LEN`] hex characters, either case
    /// (`crate::cart::is_session_id`).
    SessionId => text(&session_id_pattern())
        .description(Some("128-bit random id, the only key to a cart"))
}

named_schema! {
    /// Units of one cart line or add: `QUANTIDADE_MINIMA..=QUANTIDADE_MAXIMA`.
    Quantidade => integer(QUANTIDADE_MINIMA, QUANTIDADE_MAXIMA)
}

named_schema! {
    /// A product id as a request carries it (`crate::whole::u64`: `7` or `7.0`).
    DoceId => integer(0, JSON_SAFE_MAX)
}

named_schema! {
    /// A count, id or amount in cents the service writes: a whole number, JSON-safe.
    Contagem => integer(0, JSON_SAFE_MAX)
}

named_schema! {
    /// An instant as RFC 3339 text, UTC (`crate::time::rfc3339`).
    Instante => ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
}

named_schema! {
    /// The checkout's `Idempotency-Key`: 1 to [`IDEMPOTENCY_KEY_MAX`] visible ASCII
    /// characters (`crate::orders::is_idempotency_key`).
    IdempotencyKey => text(&format!("^[!-~]{{1,{IDEMPOTENCY_KEY_MAX}}}$"))
        .min_length(Some(1))
        .max_length(Some(IDEMPOTENCY_KEY_MAX))
}

named_schema! {
    /// An order id: 32 lowercase hex characters (any other id names no order: 404).
    PedidoId => text("^[0-9a-f]{32}$")
}

named_schema! {
    /// A category slug: 1 to [`SLUG_MAX`] of `a-z`, `0-9`, `-` (`raft_store`'s `check_slug`).
    Slug => text(&format!("^[a-z0-9-]{{1,{SLUG_MAX}}}$"))
        .min_length(Some(1))
        .max_length(Some(SLUG_MAX))
}

named_schema! {
    /// A category's display name: 1 to [`NOME_CATEGORIA_MAX`] characters.
    NomeCategoria => ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(NOME_CATEGORIA_MAX))
}

named_schema! {
    /// A product's display name: 1 to [`NOME_DOCE_MAX`] characters.
    NomeDoce => ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(NOME_DOCE_MAX))
}

named_schema! {
    /// A product's description: at most [`DESCRICAO_MAX`] characters.
    Descricao => ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(DESCRICAO_MAX))
}

named_schema! {
    /// A price in cents a write may set: `0..=MAX_PRECO_CENTAVOS`.
    PrecoCentavos => integer(0, MAX_PRECO_CENTAVOS)
}

named_schema! {
    /// Units of stock a write may set: `0..=MAX_ESTOQUE`.
    Unidades => integer(0, MAX_ESTOQUE)
}

named_schema! {
    /// A change of available stock: `-MAX_ESTOQUE..=MAX_ESTOQUE`.
    DeltaEstoque => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(-(MAX_ESTOQUE as f64)))
        .maximum(Some(MAX_ESTOQUE as f64))
}

named_schema! {
    /// Units of one reservation line: `1..=MAX_QUANTIDADE`.
    QuantidadeReserva => integer(1, MAX_QUANTIDADE)
}

named_schema! {
    /// A reservation id: 1 to [`RESERVA_ID_MAX`] of `A-Z`, `a-z`, `0-9`, `_`, `-`
    /// (`raft_store`'s `check_reserva_id`); the pattern alone, as `SessionId` (no length
    /// keywords beside it for schemathesis to combine into values the pattern refuses).
    ReservaId => text(&format!("^[A-Za-z0-9_-]{{1,{RESERVA_ID_MAX}}}$"))
}

named_schema! {
    /// A catalog node's id (`/cluster/members/{id}`): a whole number, JSON-safe.
    NoId => integer(0, JSON_SAFE_MAX)
}

/// Every named schema of this module, by name: what a document adds when a parameter (whose
/// schema utoipa does not collect) points at one.
pub fn all() -> Vec<(String, RefOr<Schema>)> {
    fn entry<T: ToSchema>() -> (String, RefOr<Schema>) {
        (T::name().into_owned(), T::schema())
    }
    vec![
        entry::<SessionId>(),
        entry::<Quantidade>(),
        entry::<DoceId>(),
        entry::<Contagem>(),
        entry::<Instante>(),
        entry::<IdempotencyKey>(),
        entry::<PedidoId>(),
        entry::<Slug>(),
        entry::<NomeCategoria>(),
        entry::<NomeDoce>(),
        entry::<Descricao>(),
        entry::<PrecoCentavos>(),
        entry::<Unidades>(),
        entry::<DeltaEstoque>(),
        entry::<QuantidadeReserva>(),
        entry::<ReservaId>(),
        entry::<NoId>(),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cart::is_session_id;

    fn json<T: PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn limits_come_from_the_validation_constants() {
        let q = json::<Quantidade>();
        assert_eq!(q["minimum"], QUANTIDADE_MINIMA as f64);
        assert_eq!(q["maximum"], QUANTIDADE_MAXIMA as f64);
        let s = json::<SessionId>();
        assert_eq!(s["pattern"], session_id_pattern());
        assert_eq!(json::<IdempotencyKey>()["maxLength"], IDEMPOTENCY_KEY_MAX);
    }

    #[test]
    fn the_session_pattern_says_what_is_session_id_accepts() {
        let good = "0123456789abcdefABCDEF0123456789";
        assert!(is_session_id(good));
        assert!(session_id_pattern().contains(&SESSION_ID_LEN.to_string()));
        assert!(!is_session_id(&good[1..]));
        assert!(!is_session_id(&format!("{good}0")));
        assert!(!is_session_id(&good.replace('0', "g")));
    }
}
