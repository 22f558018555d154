//! The internal RPC port between catalog nodes, in three parts that import one way:
//! [`wire`] (routes, the secret header, request and answer bodies) ← [`client`] (what a node
//! sends) and [`server`] (what a node answers, through its [`crate::raft_node::CatalogNode`]).

pub mod client;
pub mod server;
pub mod wire;
