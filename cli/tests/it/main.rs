//! confeitaria-cli end-to-end tests: the real `confeitaria` binary, `up` on free ports in a
//! temporary directory, examined and shaken by the other subcommands.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod bench;
mod demo;
mod gateway;
mod harness;
mod metrics;
mod up;
