//! What one sandbox holds: per-invocation state inside a fresh `Store`.

use crate::capabilities::http::HttpState;
use crate::capabilities::{CallContext, Sandbox};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: HttpState,
    pub(crate) table: ResourceTable,
    pub(crate) call: CallContext,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
    pub(crate) started: Instant,
    /// Time spent inside host calls, which does not count against the CPU limit.
    pub(crate) host_time: Duration,
    pub(crate) host_entered: Option<Instant>,
    pub(crate) cpu_exceeded: bool,
    /// The plugin is being asked whether a command needs confirming (`Call::AskThenRun`):
    /// an error now is the question's, and the command did not run.
    pub(crate) asking: bool,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http.ctx,
            table: &mut self.table,
            hooks: &mut self.http.policy,
        }
    }
}

impl Sandbox for HostState {
    fn call(&mut self) -> &mut CallContext {
        &mut self.call
    }
}

/// The contract's shared types carry no functions.
impl crate::model::bindings::chatops::plugin::types::Host for HostState {}

impl HostState {
    /// Guest time so far: wall time minus time spent in host calls.
    pub(crate) fn guest_time(&self) -> Duration {
        let in_host = self.host_entered.map(|t| t.elapsed()).unwrap_or_default();
        self.started
            .elapsed()
            .saturating_sub(self.host_time + in_host)
    }
}

/// Caps linear memory per store and remembers that the cap was hit, so the error can say so.
pub struct MemoryLimiter {
    pub(crate) max_bytes: usize,
    pub(crate) exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
    fn instances(&self) -> usize {
        64
    }
    fn memories(&self) -> usize {
        64
    }
}

/// Captures a guest's stdout or stderr, keeping the last `cap` bytes: a panic message is
/// at the end, and a plugin that prints without end must not grow the host.
#[derive(Clone)]
pub struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    cap: usize,
}

impl Capture {
    pub fn new(cap: usize) -> Self {
        Capture {
            buf: Arc::new(Mutex::new(Vec::new())),
            cap,
        }
    }
    pub fn text(&self) -> String {
        let buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        buf.extend_from_slice(data);
        if buf.len() > self.cap {
            let excess = buf.len() - self.cap;
            buf.drain(..excess);
        }
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl wasmtime_wasi::cli::IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
