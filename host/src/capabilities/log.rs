//! `chatops:plugin/log`: plugin log lines land in the host's log, attributed to the plugin,
//! through the exit (redacted and cut).

use super::{CallContext, Sandbox};
use crate::model::bindings::chatops::plugin::log::{self as wit, Host, Level};
use wasmtime::component::{HasData, Linker};

pub const INTERFACES: &[&str] = &["chatops:plugin/log"];

pub struct LogView<'a>(pub(crate) &'a CallContext);

struct HasLog;
impl HasData for HasLog {
    type Data<'a> = LogView<'a>;
}

pub fn add_to_linker<T: Sandbox>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasLog>(linker, |t| LogView(t.call()))
}

impl Host for LogView<'_> {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        self.0.exit.log(level, &message);
        Ok(())
    }
}
