//! Adapters turn chat events into dispatcher requests and show the responses. Only
//! `discord` knows serenity; neither knows wasmtime.

pub mod discord;
pub mod shell;
