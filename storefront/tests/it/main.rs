//! Integration tests of the storefront: one binary, one harness (an in-process shop).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod admin;
mod browser;
mod checkout;
mod degraded;
mod harness;
mod pages;
mod security;
