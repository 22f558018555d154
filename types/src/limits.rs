//! The validation limits of the wire types: what the services check on input and what their
//! OpenAPI documents state ([`crate::schema`]), defined once. Each domain module re-exports its
//! own ([`crate::cart`], [`crate::catalog`], [`crate::orders`]).

// The cart.
/// Smallest quantity one add may ask for, and the smallest quantity of a line.
pub const QUANTIDADE_MINIMA: u64 = 1;
/// Largest quantity of one line (and so of one add).
pub const QUANTIDADE_MAXIMA: u64 = 99;
/// Largest number of distinct products in one cart.
pub const MAX_LINHAS: usize = 50;
/// Length of a session id: 128 bits as hex characters.
pub const SESSION_ID_LEN: usize = 32;

// The catalog.
/// Largest price accepted, in cents.
pub const MAX_PRECO_CENTAVOS: u64 = 100_000_000;
/// Largest stock figure accepted in one command (and largest `delta`, either sign).
pub const MAX_ESTOQUE: u64 = 1_000_000;
/// Most lines in one reservation.
pub const MAX_ITENS_RESERVA: usize = 100;
/// Most units of one line in a reservation.
pub const MAX_QUANTIDADE: u64 = 10_000;
/// Longest category slug (`a-z`, `0-9`, `-`; at least one character).
pub const SLUG_MAX: usize = 64;
/// Longest category name, in characters (at least one).
pub const NOME_CATEGORIA_MAX: usize = 100;
/// Longest product name, in characters (at least one).
pub const NOME_DOCE_MAX: usize = 200;
/// Longest product description, in characters.
pub const DESCRICAO_MAX: usize = 2000;
/// Longest reservation id (`A-Z`, `a-z`, `0-9`, `_`, `-`; at least one character).
pub const RESERVA_ID_MAX: usize = 128;

// Orders.
/// Longest accepted `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_MAX: usize = 200;
