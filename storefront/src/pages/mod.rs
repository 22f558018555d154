//! The storefront's handlers, one module per part of the shop, each with the data its
//! templates print:
//!
//! - [`shop`]: vitrine (categories, pagination, "esgotado") and product pages;
//! - [`cart`]: the cart (change quantities, remove lines) and the checkout with its one-time
//!   idempotency key;
//! - [`orders`]: an order's page, its live event stream, and "meus pedidos";
//! - [`admin`]: login with an admin token, products, stock, order status.

pub mod admin;
pub mod cart;
pub mod orders;
pub mod shop;

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;

/// Query parameters, or none when the query string does not parse (a page never fails on it).
pub type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// One query parameter.
pub fn param<'a>(q: &'a Params, name: &str) -> Option<&'a str> {
    q.as_ref()
        .ok()
        .and_then(|Query(m)| m.get(name))
        .map(String::as_str)
}
