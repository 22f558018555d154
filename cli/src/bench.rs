//! `bench` (placeholder until the load generator lands).

use crate::args::BenchArgs;
use crate::context::Context;
use crate::error::CliError;

/// `bench`.
pub async fn bench(_ctx: &Context, _args: &BenchArgs) -> Result<(), CliError> {
    Err(CliError::Other("bench: not yet".into()))
}
