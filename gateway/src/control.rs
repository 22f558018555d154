//! [`NodeControl`]: how the dashboard kills and starts catalog nodes. The gateway does not
//! know how nodes run; `confeitaria up` hands it an implementation that goes through its own
//! control socket — the path `confeitaria node kill/start` takes.

use futures::future::BoxFuture;

/// Kills and starts catalog nodes by id.
pub trait NodeControl: Send + Sync + 'static {
    /// SIGKILLs node `id`; resolves once it is gone.
    fn kill(&self, id: u64) -> BoxFuture<'static, Result<(), String>>;
    /// Starts node `id` again on its ports and data.
    fn start(&self, id: u64) -> BoxFuture<'static, Result<(), String>>;
}
