//! chatops: a ChatOps bot host whose commands are sandboxed WebAssembly plugins.
//!
//! `runtime` runs plugins; `capabilities` enforces what each was granted; `dispatch` routes
//! commands for every adapter; `adapters` speak to the terminal and to Discord; `bot`
//! loads the configuration and keeps plugins fresh; `cli` is the `chatops` command.

pub mod adapters;
pub mod bot;
pub mod bundled;
pub mod capabilities;
pub mod cli;
pub mod cli_bench;
pub mod cli_new;
pub mod config;
pub mod dispatch;
pub mod model;
pub mod runtime;
pub mod store;
