//! The sandbox: one wasmtime `Engine` per process, each plugin compiled once into an
//! `InstancePre`, and a fresh `Store` per invocation with its own memory, CPU and wall-time
//! limits, so no state leaks between users and a runaway plugin stops alone.

mod authoring;
pub mod cache;
mod guest;
mod load;
mod state;
mod v0_1;
mod v0_2;
pub mod validate;

pub use guest::Version;

pub use state::{Capture, HostState, MemoryLimiter};

use crate::capabilities::http::HttpState;
use crate::capabilities::CallContext;
use crate::model::{
    AutocompleteRequest, CommandError, ComponentPress, Event, Invocation, OptionChoice, PluginInfo,
    Post, PressResult, Reply, Setting,
};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{CallHook, Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

/// How often the epoch advances: the granularity of CPU accounting and of yielding.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Bytes of a plugin's stdout/stderr kept (the tail: where a panic message is).
const CAPTURE_BYTES: usize = 16 * 1024;

/// Sandboxes alive at once, all plugins together: the pooling allocator's slots. A plugin
/// may run up to 1,000 commands at once (`max_concurrent`'s ceiling); past this many, a
/// command waits for a slot rather than failing.
const POOL_SLOTS: u32 = 1_100;
/// The largest `memory_mb` a config may set: every memory slot can grow this far, and each
/// plugin's own limit is enforced by its `MemoryLimiter`.
const MAX_MEMORY_BYTES: usize = 4096 << 20;
/// Bytes of a freed memory reset in place (only the pages it dirtied, found with
/// `PAGEMAP_SCAN` on Linux 6.7+) instead of unmapped: a small plugin's whole working set,
/// so the next command on that slot takes no page faults.
const KEEP_RESIDENT: usize = 4 << 20;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{source_name} is not a WebAssembly component ({reason}). Fix: build a WASI 0.2 component for chatops:plugin (Rust: `cargo build --release --target wasm32-wasip2`; Python: componentize-py; JavaScript: componentize-js; `chatops new NAME --lang …` sets one up)")]
    NotAComponent { source_name: String, reason: String },
    #[error("{source_name} imports `{import}`, which this host does not provide. Fix: rebuild the plugin against chatops:plugin (the WIT `chatops new` writes into a project) without that import, or run a host that provides it")]
    MissingImport { source_name: String, import: String },
    #[error("{source_name} does not export the chatops plugin interface ({reason}). Fix: export a type with `chatops_sdk::plugin!(YourPlugin)`")]
    NotAPlugin { source_name: String, reason: String },
    #[error("{source_name} failed while describing itself: {error}")]
    Describe {
        source_name: String,
        error: RunError,
    },
    #[error("{source_name} describes itself wrongly: {reason}")]
    BadInfo { source_name: String, reason: String },
}

/// Why a sandboxed call did not return normally. Each names the limit and how to raise it.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RunError {
    #[error("took longer than its wall-time limit of {limit_ms} ms and was stopped (raise `wall_ms` under [plugins.{plugin}.limits])")]
    Timeout { plugin: String, limit_ms: u64 },
    #[error("used more than its CPU limit of {limit_ms} ms and was stopped (raise `cpu_ms` under [plugins.{plugin}.limits])")]
    Cpu { plugin: String, limit_ms: u64 },
    #[error("ran out of memory: it may use {limit_mb} MiB (raise `memory_mb` under [plugins.{plugin}.limits])")]
    Memory { plugin: String, limit_mb: u64 },
    #[error("panicked: {message}")]
    Panic { plugin: String, message: String },
    #[error("crashed: {message}")]
    Trap { plugin: String, message: String },
    /// The error came while the plugin was asked whether to confirm (`Call::AskThenRun`):
    /// the command itself did not run.
    #[error("{0}")]
    Asking(Box<RunError>),
}

/// A compiled, validated plugin, ready to instantiate.
pub struct CompiledPlugin {
    pub info: PluginInfo,
    /// The settings it declares it reads (empty if it does not export `settings`).
    pub settings: Vec<Setting>,
    pub digest: String,
    pub size: usize,
    pre: wasmtime::component::InstancePre<HostState>,
    /// The guest's exports for its contract version, resolved once, so a call does not
    /// look them up by name (the optional ones: `None` when not exported).
    exports: guest::Exports,
}

impl CompiledPlugin {
    /// Whether the plugin decides per invocation that a command needs confirming.
    pub fn asks_confirmation(&self) -> bool {
        self.exports.confirm.is_some()
    }
    /// The contract the plugin was built for.
    pub fn version(&self) -> Version {
        self.exports.version()
    }
    /// Whether the plugin handles button presses and menu choices (`components`).
    pub fn answers_components(&self) -> bool {
        self.exports.component.is_some()
    }
    /// Whether the plugin completes option values while they are typed (`autocomplete`).
    pub fn completes(&self) -> bool {
        self.exports.autocomplete.is_some()
    }
}

/// What the sandbox is asked to do.
pub enum Call {
    Describe,
    Run(Invocation),
    Event(Event),
    /// Ask the plugin whether this invocation needs confirming (only when it exports
    /// `confirmation`; see [`CompiledPlugin::asks_confirmation`]).
    NeedsConfirmation(Invocation),
    /// Ask whether this invocation needs confirming and, if not, run it, in one sandbox
    /// (answers `NeedsConfirmation(Some(question))` without running, or `Run`).
    AskThenRun(Invocation),
    /// A button pressed or a menu chosen (0.2, `components`).
    Component(ComponentPress),
    /// Complete an option being typed (0.2, `autocomplete`).
    Autocomplete(AutocompleteRequest),
}

pub enum CallResult {
    Describe(PluginInfo, Vec<Setting>),
    Run(Result<Reply, CommandError>),
    Event(Result<Vec<Post>, CommandError>),
    NeedsConfirmation(Option<String>),
    Component(Result<PressResult, CommandError>),
    Autocomplete(Vec<OptionChoice>),
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    ticker_stop: Arc<AtomicBool>,
    /// Compiled code by digest, so a restart does not recompile (`None`: compile each time).
    cache: Option<cache::CodeCache>,
    /// One permit per pool slot: a command past [`POOL_SLOTS`] waits here.
    slots: tokio::sync::Semaphore,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// The engine, with compiled code cached in [`cache::default_dir`] (if there is one).
    pub fn new() -> anyhow::Result<Self> {
        let mut runtime = Self::uncached()?;
        if let Some(dir) = cache::default_dir() {
            match cache::CodeCache::open(&dir, &runtime.engine) {
                Ok(c) => runtime.cache = Some(c),
                Err(e) => tracing::warn!("compiling plugins without a cache: {e:#}"),
            }
        }
        Ok(runtime)
    }

    /// The engine configuration: sized for many short sandboxes, each a fresh instance.
    fn config() -> Config {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        // A freed sandbox's memory, tables, instance and fiber stack go back to a pool and
        // are reset in place, not unmapped and mapped again for the next command; memories
        // start as copy-on-write images of the plugin's data.
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_SLOTS)
            // A Rust plugin is 3 core instances, 1 memory and 2 tables; other toolchains
            // (componentize-py, -js) link more modules into one component.
            .total_core_instances(POOL_SLOTS * 8)
            .total_memories(POOL_SLOTS * 2)
            .total_tables(POOL_SLOTS * 8)
            .total_stacks(POOL_SLOTS)
            .max_memories_per_module(2)
            .max_tables_per_module(4)
            .table_elements(1 << 17)
            .max_memory_size(MAX_MEMORY_BYTES)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto);
        // CHATOPS_POOLING=0: map and unmap per call instead (to measure what the pool saves).
        if std::env::var_os("CHATOPS_POOLING").is_none_or(|v| v != "0") {
            config.allocation_strategy(pool);
        }
        config.memory_init_cow(true);
        config
    }

    /// The engine, compiling every plugin it loads.
    pub fn uncached() -> anyhow::Result<Self> {
        let engine = Engine::new(&Self::config())?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        crate::model::bindings::chatops::plugin::types::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        crate::capabilities::add_to_linker(&mut linker)?;
        v0_2::add_to_linker(&mut linker)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (weak, stop) = (engine.weak(), ticker_stop.clone());
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Runtime {
            engine,
            linker,
            ticker_stop,
            cache: None,
            slots: tokio::sync::Semaphore::new(POOL_SLOTS as usize),
        })
    }

    /// Keep compiled plugins in `dir` (created private to this user) instead. Only this
    /// host writes there: see [`cache`] for what is checked before code is loaded.
    pub fn with_cache(mut self, dir: &std::path::Path) -> anyhow::Result<Self> {
        self.cache = Some(cache::CodeCache::open(dir, &self.engine)?);
        Ok(self)
    }

    /// Where compiled code is cached, if anywhere.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache.as_ref().map(|c| c.dir())
    }

    /// Run one call in a fresh sandbox.
    pub async fn call(
        &self,
        plugin: &CompiledPlugin,
        ctx: CallContext,
        call: Call,
    ) -> Result<CallResult, RunError> {
        let limits = ctx.limits.clone();
        let name = ctx.plugin.clone();
        let exit = ctx.exit.clone();
        // A pool slot, held until the store (declared after, so dropped before) is gone.
        let _slot = self.slots.acquire().await.ok();
        let mut store = self.new_store(ctx);
        let outcome = tokio::time::timeout(Duration::from_millis(limits.wall_ms), async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            plugin.exports.call(&mut store, &instance, call).await
        })
        .await;
        let state = store.data();
        let stdout = state.stdout.text();
        if !stdout.is_empty() {
            exit.log(
                tracing::Level::DEBUG,
                &format!("stdout: {}", stdout.trim_end()),
            );
        }
        let asking = state.asking;
        let result = match outcome {
            Err(_) => {
                let error = RunError::Timeout {
                    plugin: name,
                    limit_ms: limits.wall_ms,
                };
                let stderr = state.stderr.text();
                exit.log(
                    tracing::Level::WARN,
                    &format!("sandbox stopped: {error}; stderr: {}", stderr.trim_end()),
                );
                Err(error)
            }
            Ok(Ok(result)) => Ok(result),
            Ok(Err(trap)) => {
                let stderr = state.stderr.text();
                let error = if state.limiter.exceeded {
                    RunError::Memory {
                        plugin: name,
                        limit_mb: limits.memory_mb,
                    }
                } else if state.cpu_exceeded {
                    RunError::Cpu {
                        plugin: name,
                        limit_ms: limits.cpu_ms,
                    }
                } else if let Some(message) =
                    authoring::exception(&stderr).or_else(|| panic_message(&stderr))
                {
                    RunError::Panic {
                        plugin: name,
                        message,
                    }
                } else {
                    RunError::Trap {
                        plugin: name,
                        message: first_line(&format!("{trap:#}")),
                    }
                };
                exit.log(
                    tracing::Level::WARN,
                    &format!(
                        "sandbox stopped: {error}; trap: {trap:#}; stderr: {}",
                        stderr.trim_end()
                    ),
                );
                Err(error)
            }
        };
        match result {
            Err(e) if asking => Err(RunError::Asking(Box::new(e))),
            r => r,
        }
    }

    fn new_store(&self, call: CallContext) -> Store<HostState> {
        let limits = call.limits.clone();
        let stdout = Capture::new(CAPTURE_BYTES);
        let stderr = Capture::new(CAPTURE_BYTES);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        if let Some(at) = call.grants.clock {
            wasi.wall_clock(authoring::FixedClock::at(at));
        }
        let state = HostState {
            wasi: wasi.build(),
            http: HttpState::new(&call),
            table: ResourceTable::new(),
            call,
            limiter: MemoryLimiter {
                max_bytes: (limits.memory_mb as usize).saturating_mul(1 << 20),
                exceeded: false,
            },
            stdout,
            stderr,
            started: Instant::now(),
            host_time: Duration::ZERO,
            host_entered: None,
            cpu_exceeded: false,
            asking: false,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.call_hook(|mut ctx, hook| {
            let s = ctx.data_mut();
            match hook {
                CallHook::CallingHost => s.host_entered = Some(Instant::now()),
                CallHook::ReturningFromHost => {
                    if let Some(t) = s.host_entered.take() {
                        s.host_time += t.elapsed();
                    }
                }
                _ => {}
            }
            Ok(())
        });
        let cpu = Duration::from_millis(limits.cpu_ms);
        store.epoch_deadline_callback(move |mut ctx| {
            if ctx.data().guest_time() > cpu {
                ctx.data_mut().cpu_exceeded = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            // Yield so a busy plugin never starves the other commands on this thread.
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);
        store
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// The message of a Rust panic, from what the guest printed on stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at")?;
    let tail = &stderr[start..];
    // "panicked at src/lib.rs:10:5:\nmessage\nnote: run with RUST_BACKTRACE=1 ..."
    let mut lines = tail.lines();
    let location = lines
        .next()?
        .trim_start_matches("panicked at")
        .trim()
        .trim_end_matches(':')
        .to_string();
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    let message = message.join(" ").trim().to_string();
    Some(if message.is_empty() {
        location
    } else {
        format!("{message} (at {location})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_extracted() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:12:9:\nboom: the thing broke\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "boom: the thing broke (at src/lib.rs:12:9)"
        );
        assert_eq!(panic_message("nothing here"), None);
    }
}
