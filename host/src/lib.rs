//! chatops: a ChatOps bot host whose commands are sandboxed WebAssembly plugins.
//!
//! Dependencies run one way: `adapters` and `triggers` → `dispatch` → `runtime` →
//! `capabilities` → `exit`, `store`, `model`, `config`. `model` is the contract; `exit`
//! is the one way out for everything a plugin says; `bot` assembles a host from the
//! configuration and keeps plugins fresh; `cli` is the `chatops` command.

pub mod adapters;
pub mod admin;
pub mod audit_writer;
pub mod bot;
pub mod bundled;
pub mod capabilities;
pub mod cli;
pub mod cli_bench;
pub mod cli_new;
pub mod config;
pub mod dispatch;
pub mod exit;
pub mod model;
pub mod render;
pub mod runtime;
pub mod scenario;
pub mod store;
pub mod triggers;

/// Run `f`, which may block (an fsync, compiling a plugin), without holding up the async
/// runtime: on a multi-thread runtime's worker it runs with `block_in_place`, so the
/// worker's other tasks move to another thread meanwhile; elsewhere (a current-thread
/// runtime, a blocking-pool thread, no runtime) it just runs.
pub fn off_the_workers<T>(f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}
