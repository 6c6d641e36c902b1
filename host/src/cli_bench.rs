//! `chatops bench`: the figures behind the speed claims, measured on the real path of a
//! chat command in one process: text in, parse, access, fresh sandbox, plugin, redaction,
//! reply out, and its audit record durable (a SQLite file in WAL mode, `synchronous =
//! NORMAL`: it survives `kill -9`; group commit) before the reply counts as sent; and the
//! same with `[host] store_sync = "full"` (an fsync per commit: survives a power cut).
//!
//! Cold starts run this binary again (`--cold-child`, hidden) and time it from spawn to the
//! first reply on its standard output.

use crate::bot::{Bot, Dev};
use crate::capabilities::http::HttpGrant;
use crate::capabilities::{CallContext, NoProgress, ProgressSink};
use crate::config::StoreSync;
use crate::dispatch::{Caller, Dispatcher, Request};
use crate::model::User;
use crate::runtime::Call;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// The command measured.
    #[arg(long, default_value = "echo hello")]
    pub line: String,
    /// Seconds each latency or throughput measurement runs.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Cold starts per case (the median is shown).
    #[arg(long, default_value_t = 5)]
    pub cold_runs: u32,
    /// Commands kept waiting on a slow upstream (127.0.0.1, answers after 2 s) while the
    /// fast command is measured; 0 skips that case.
    #[arg(long, default_value_t = 1000)]
    pub slow: u32,
    /// Skip the cold starts.
    #[arg(long)]
    pub no_cold: bool,
    /// (internal) One cold start: load this many plugins, answer once, exit.
    #[arg(long, hide = true)]
    pub cold_child: Option<usize>,
}

/// The slow upstream's delay.
const SLOW_UPSTREAM: Duration = Duration::from_secs(2);
/// What the child prints on standard output when its first reply is ready.
const FIRST_REPLY: &str = "FIRST_REPLY";

fn status_field(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident memory of this process so far, KiB.
fn peak_rss_kib() -> Option<u64> {
    status_field("VmHWM:")
}

fn os_threads() -> Option<u64> {
    status_field("Threads:")
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// Latencies and throughput of one measurement.
struct Run {
    n: usize,
    elapsed: Duration,
    sorted: Vec<Duration>,
}

impl Run {
    fn json(&self) -> Value {
        json!({
            "n": self.n,
            "p50_us": us(percentile(&self.sorted, 0.5)),
            "p99_us": us(percentile(&self.sorted, 0.99)),
            "p999_us": us(percentile(&self.sorted, 0.999)),
            "throughput_cmd_s": self.throughput().round(),
        })
    }
    fn throughput(&self) -> f64 {
        self.n as f64 / self.elapsed.as_secs_f64()
    }
    fn row(&self, what: &str) -> String {
        format!(
            "{what:<34} p50 {:>8.1} µs  p99 {:>8.1} µs  p99.9 {:>8.1} µs  {:>8.0} cmd/s",
            us(percentile(&self.sorted, 0.5)),
            us(percentile(&self.sorted, 0.99)),
            us(percentile(&self.sorted, 0.999)),
            self.throughput()
        )
    }
}

fn caller(id: &str) -> Caller {
    Caller {
        user: User {
            id: id.into(),
            name: id.into(),
            roles: vec![],
        },
        channel: "bench".into(),
        guild: None,
    }
}

async fn once(d: &Dispatcher, caller: &Caller, line: &str) -> Result<Duration> {
    let progress: Arc<dyn ProgressSink> = Arc::new(NoProgress);
    let t = Instant::now();
    let r = d
        .dispatch(caller, Request::Text(line.into()), progress)
        .await;
    let took = t.elapsed();
    if r.is_error() {
        bail!("`{line}` failed: {}", r.text);
    }
    Ok(took)
}

/// `in_flight` tasks each sending `line` one after another until `for_how_long` is over.
async fn measure(
    d: &Arc<Dispatcher>,
    line: &str,
    in_flight: usize,
    for_how_long: Duration,
) -> Result<Run> {
    let started = Instant::now();
    let deadline = started + for_how_long;
    let tasks: Vec<_> = (0..in_flight)
        .map(|i| {
            let (d, line) = (d.clone(), line.to_string());
            tokio::spawn(async move {
                let caller = caller(&format!("bench{i}"));
                let mut times = Vec::new();
                while Instant::now() < deadline {
                    times.push(once(&d, &caller, &line).await?);
                    // The next command arrives through the scheduler's queue, as one read
                    // from a socket does. Looping straight on would keep whatever this
                    // task just woke in its worker's next-task slot, which no other worker
                    // may take: the senders would share one core (measured: 2 in flight
                    // no faster than 1, p99 5–8 ms).
                    tokio::task::yield_now().await;
                }
                Ok::<_, anyhow::Error>(times)
            })
        })
        .collect();
    let mut sorted = Vec::new();
    for t in tasks {
        sorted.extend(t.await??);
    }
    let elapsed = started.elapsed();
    sorted.sort();
    Ok(Run {
        n: sorted.len(),
        elapsed,
        sorted,
    })
}

/// The sandbox alone: fresh store, instantiate from the compiled plugin, run.
async fn sandbox_only(d: &Dispatcher, line: &str, for_how_long: Duration) -> Result<Option<Run>> {
    let words = crate::dispatch::parse::tokenize(line).map_err(anyhow::Error::msg)?;
    let Some(cmd) = words.first() else {
        return Ok(None);
    };
    let Some(plugin) = d
        .plugins()
        .into_iter()
        .find(|p| p.info().commands.iter().any(|c| &c.name == cmd))
    else {
        return Ok(None);
    };
    let Some(command) = plugin
        .info()
        .commands
        .iter()
        .find(|c| &c.name == cmd)
        .cloned()
    else {
        return Ok(None);
    };
    let args =
        crate::dispatch::parse::arguments(&command, &words[1..]).map_err(anyhow::Error::msg)?;
    let caller = caller("bench");
    let inv = crate::model::Invocation {
        id: "bench".into(),
        command: cmd.clone(),
        subcommand: vec![],
        args,
        user: caller.user.clone(),
        channel: caller.channel.clone(),
        guild: None,
    };
    let ctx = CallContext::ungranted(&plugin.name, plugin.limits.clone());
    let started = Instant::now();
    let mut sorted = Vec::new();
    while started.elapsed() < for_how_long {
        let t = Instant::now();
        d.runtime()
            .call(&plugin.compiled, ctx.clone(), Call::Run(inv.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        sorted.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    sorted.sort();
    Ok(Some(Run {
        n: sorted.len(),
        elapsed,
        sorted,
    }))
}

/// An HTTP server on 127.0.0.1 that answers every request after [`SLOW_UPSTREAM`].
async fn slow_upstream() -> Result<(u16, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(SLOW_UPSTREAM).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow",
                    )
                    .await;
            });
        }
    });
    Ok((port, seen))
}

/// Write a bundled plugin to `dir`, so it can be loaded as a file (with the bench's grants).
fn bundled_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let (_, bytes) = crate::bundled::BUNDLED
        .iter()
        .find(|(n, _)| *n == name)
        .with_context(|| format!("no bundled plugin {name}"))?;
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// The same component made distinct (a custom section appended): compiled and cached
/// separately, as another plugin would be.
fn variant(bytes: &[u8], n: u8) -> Vec<u8> {
    let name = b"chatops-bench";
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    out.push((1 + name.len() + 1) as u8); // size (LEB128, < 128)
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.push(n);
    out
}

/// The child of a cold start: load `n` plugins (1: echo; 10: the bundled ones and two
/// more components), answer `echo hello` once, print [`FIRST_REPLY`] and the peak RSS.
async fn cold_child(n: usize) -> Result<()> {
    let dir = Scratch::new("cold")?;
    let dev = if n <= 1 {
        Dev {
            plugins: vec![bundled_file(dir.path(), "echo")?],
            store: Some(dir.path().join("cold.db")),
            ..Dev::default()
        }
    } else {
        Dev {
            with_bundled: true,
            store: Some(dir.path().join("cold.db")),
            ..Dev::default()
        }
    };
    let bot = Bot::start_dev(dev).await?;
    let bundled = crate::bundled::BUNDLED.len();
    let limits = crate::config::Limits::default();
    for i in bundled..n {
        let (name, bytes) = crate::bundled::BUNDLED[i % bundled];
        let bytes = variant(bytes, i as u8);
        bot.dispatcher
            .runtime()
            .load(&bytes, name, &limits)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    once(&bot.dispatcher, &caller("cold"), "echo hello").await?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{FIRST_REPLY} rss_kib={}", peak_rss_kib().unwrap_or(0))?;
    out.flush()?;
    Ok(())
}

/// A private directory for the run, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!(
            "chatops-{what}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Scratch(dir))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Cold {
    first_reply: Duration,
    rss_kib: u64,
}

/// Spawn this binary for one cold start with `plugins` plugins and the cache in `cache`.
async fn cold_start(plugins: usize, cache: &Path) -> Result<Cold> {
    let cache = cache.to_path_buf();
    tokio::task::spawn_blocking(move || cold_start_blocking(plugins, &cache)).await?
}

fn cold_start_blocking(plugins: usize, cache: &Path) -> Result<Cold> {
    use std::io::BufRead;
    // This very binary, even if its file was replaced since it started (a rebuild).
    let exe = match Path::new("/proc/self/exe").exists() {
        true => PathBuf::from("/proc/self/exe"),
        false => std::env::current_exe()?,
    };
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(["bench", "--cold-child", &plugins.to_string()])
        .env("CHATOPS_CACHE_DIR", cache)
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut result = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix(FIRST_REPLY) {
            let first_reply = started.elapsed();
            let rss_kib = rest
                .trim()
                .strip_prefix("rss_kib=")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            result = Some(Cold {
                first_reply,
                rss_kib,
            });
        }
    }
    let out = child.wait_with_output()?;
    match result {
        Some(r) if out.status.success() => Ok(r),
        _ => bail!(
            "the cold start with {plugins} plugin(s) failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median first-reply times of cold starts, cache cold then warm; peak RSS (warm).
async fn cold_starts(plugins: usize, runs: u32, scratch: &Path) -> Result<Value> {
    let mut cold = Vec::new();
    for i in 0..runs {
        let dir = scratch.join(format!("cache-cold-{plugins}-{i}"));
        cold.push(cold_start(plugins, &dir).await?.first_reply);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let warm_dir = scratch.join(format!("cache-warm-{plugins}"));
    cold_start(plugins, &warm_dir).await?; // fills the cache
    let (mut warm, mut rss) = (Vec::new(), 0);
    for _ in 0..runs {
        let c = cold_start(plugins, &warm_dir).await?;
        warm.push(c.first_reply);
        rss = rss.max(c.rss_kib);
    }
    Ok(json!({
        "plugins": plugins,
        "cache_cold_ms": ms(median(cold)),
        "cache_warm_ms": ms(median(warm)),
        "peak_rss_mb": (rss as f64 / 1024.0 * 10.0).round() / 10.0,
    }))
}

/// The fast command's latency while `slow` commands wait on the slow upstream.
async fn among_slow(
    d: &Arc<Dispatcher>,
    line: &str,
    slow: u32,
    port: u16,
    seen: &AtomicUsize,
    for_how_long: Duration,
) -> Result<Value> {
    let url = format!("http://127.0.0.1:{port}/slow");
    let threads_before = os_threads().unwrap_or(0);
    let waiting: Vec<_> = (0..slow)
        .map(|i| {
            let (d, url) = (d.clone(), url.clone());
            tokio::spawn(async move {
                let caller = caller(&format!("slow{i}"));
                let progress: Arc<dyn ProgressSink> = Arc::new(NoProgress);
                let r = d
                    .dispatch(&caller, Request::Text(format!("httpcheck {url}")), progress)
                    .await;
                (!r.is_error() && r.text.contains("answered 200"))
                    .then_some(())
                    .ok_or(r.text)
            })
        })
        .collect();
    let started = Instant::now();
    while seen.load(Ordering::Relaxed) < slow as usize {
        if started.elapsed() > SLOW_UPSTREAM * 9 / 10 {
            bail!(
                "only {} of {slow} slow commands reached the upstream in {:?}",
                seen.load(Ordering::Relaxed),
                SLOW_UPSTREAM * 9 / 10
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let all_waiting = started.elapsed();
    // Measure while every slow command is still waiting (they answer 2 s after arriving).
    let window = for_how_long.min(
        SLOW_UPSTREAM
            .saturating_sub(all_waiting)
            .saturating_sub(Duration::from_millis(100)),
    );
    let caller = caller("fast");
    let mut sorted = Vec::new();
    let mut threads = os_threads().unwrap_or(0);
    let t0 = Instant::now();
    while t0.elapsed() < window {
        sorted.push(once(d, &caller, line).await?);
        if sorted.len() % 64 == 0 {
            threads = threads.max(os_threads().unwrap_or(0));
        }
    }
    threads = threads.max(os_threads().unwrap_or(0));
    sorted.sort();
    let mut failed = 0;
    let mut first_error = None;
    for w in waiting {
        if let Err(text) = w.await? {
            failed += 1;
            first_error.get_or_insert(text);
        }
    }
    if let Some(e) = first_error {
        bail!("{failed} of {slow} slow commands failed, e.g.: {e}");
    }
    Ok(json!({
        "slow_in_flight": slow,
        "all_waiting_after_ms": ms(all_waiting),
        "n": sorted.len(),
        "p50_ms": (us(percentile(&sorted, 0.5)) / 100.0).round() / 10.0,
        "p99_ms": (us(percentile(&sorted, 0.99)) / 100.0).round() / 10.0,
        "os_threads": threads,
        "os_threads_before": threads_before,
    }))
}

pub async fn bench(mut dev: Dev, opts: BenchArgs) -> Result<()> {
    if let Some(n) = opts.cold_child {
        return cold_child(n).await;
    }
    if !(opts.seconds > 0.0) {
        bail!("--seconds must be more than 0");
    }
    let period = Duration::from_secs_f64(opts.seconds);
    let scratch = Scratch::new("bench")?;
    // The slow case's upstream, and httpcheck as a file so it gets the bench's grant.
    let upstream = if opts.slow > 0 {
        let (port, seen) = slow_upstream().await?;
        dev.grants
            .http
            .push(format!("http://127.0.0.1:{port}").parse::<HttpGrant>()?);
        // Its optional token, so its asking is not refused (and logged) 1,000 times.
        if !dev.grants.secrets.iter().any(|s| s == "httpcheck-token") {
            dev.grants.secrets.push("httpcheck-token".into());
            dev.secrets
                .insert("httpcheck-token".into(), "bench-token".into());
        }
        if !dev.plugins.iter().any(|p| p.ends_with("httpcheck.wasm")) {
            dev.plugins.push(bundled_file(scratch.path(), "httpcheck")?);
        }
        Some((port, seen))
    } else {
        None
    };
    dev.limits = Some(crate::config::Limits {
        max_concurrent: opts.slow.max(64) + 8,
        ..crate::config::Limits::default()
    });
    // The same host with its audit trail in memory: what the command costs without the
    // fsync that makes its record durable.
    let like = |store: Option<PathBuf>, store_sync: StoreSync| Dev {
        plugins: dev.plugins.clone(),
        grants: dev.grants.clone(),
        secrets: dev.secrets.clone(),
        settings: dev.settings.clone(),
        with_bundled: dev.with_bundled,
        store,
        store_sync,
        limits: dev.limits.clone(),
    };
    let in_memory = like(None, StoreSync::Normal);
    // `[host] store_sync = "full"`: an fsync per group of records, durable across a power cut.
    let power_cut = like(Some(scratch.path().join("full.db")), StoreSync::Full);
    dev.store = Some(scratch.path().join("bench.db"));
    dev.store_sync = StoreSync::Normal;
    let started = Instant::now();
    let bot = Bot::start_dev(dev).await?;
    let load = started.elapsed();
    let d = bot.dispatcher.clone();
    let line = opts.line.as_str();
    // Warm-up: a first call fills caches and the allocator's pool.
    measure(&d, line, 1, Duration::from_millis(200)).await?;
    let one = measure(&d, line, 1, period).await?;
    let n_cores = cores();
    let on_cores = measure(&d, line, n_cores, period).await?;
    let on_64 = measure(&d, line, 64, period).await?;
    let sandbox = sandbox_only(&d, line, period).await?;
    let (not_durable, not_durable_cores) = {
        let bot = Bot::start_dev(in_memory).await?;
        measure(&bot.dispatcher, line, 1, Duration::from_millis(200)).await?;
        (
            measure(&bot.dispatcher, line, 1, period).await?,
            measure(&bot.dispatcher, line, n_cores, period).await?,
        )
    };
    let (full_one, full_cores) = {
        let bot = Bot::start_dev(power_cut).await?;
        measure(&bot.dispatcher, line, 1, Duration::from_millis(200)).await?;
        (
            measure(&bot.dispatcher, line, 1, period).await?,
            measure(&bot.dispatcher, line, n_cores, period).await?,
        )
    };
    let peak_before_slow = peak_rss_kib().unwrap_or(0);
    let slow = match upstream {
        Some((port, seen)) => Some(among_slow(&d, line, opts.slow, port, &seen, period).await?),
        None => None,
    };
    let peak = peak_rss_kib().unwrap_or(0);
    let (cold1, cold10) = if opts.no_cold || opts.cold_runs == 0 {
        (None, None)
    } else {
        (
            Some(cold_starts(1, opts.cold_runs, scratch.path()).await?),
            Some(cold_starts(10, opts.cold_runs, scratch.path()).await?),
        )
    };
    let report = json!({
        "framework": "chatops",
        "line": line,
        "cores": n_cores,
        "seconds_per_measurement": opts.seconds,
        "audit": "durable across kill -9: SQLite file, WAL, synchronous=NORMAL, group commit",
        "start_ms": ms(load),
        "one_in_flight": one.json(),
        "cores_in_flight": on_cores.json(),
        "in_flight_64": on_64.json(),
        "sandbox_only": sandbox.as_ref().map(Run::json),
        "one_in_flight_audit_in_memory": not_durable.json(),
        "cores_in_flight_audit_in_memory": not_durable_cores.json(),
        "one_in_flight_store_sync_full": full_one.json(),
        "cores_in_flight_store_sync_full": full_cores.json(),
        "fast_among_slow": slow,
        "cold_start_1": cold1,
        "cold_start_10": cold10,
        "peak_rss_mb": (peak_before_slow as f64 / 102.4).round() / 10.0,
        "peak_rss_with_slow_mb": (peak as f64 / 102.4).round() / 10.0,
    });
    if opts.json {
        println!("{report}");
        return Ok(());
    }
    println!(
        "chatops bench: `{line}`, {n_cores} cores, every audit record durable across kill -9 before its reply (SQLite WAL, synchronous=NORMAL, group commit)"
    );
    println!("{}", one.row("1 in flight"));
    println!(
        "{}",
        on_cores.row(&format!("{n_cores} in flight (one per core)"))
    );
    println!("{}", on_64.row("64 in flight"));
    println!("{}", not_durable.row("1 in flight, audit in memory"));
    println!(
        "{}",
        not_durable_cores.row(&format!("{n_cores} in flight, audit in memory"))
    );
    println!("{}", full_one.row("1 in flight, store_sync = full"));
    println!(
        "{}",
        full_cores.row(&format!("{n_cores} in flight, store_sync = full"))
    );
    if let Some(s) = &sandbox {
        println!("{}", s.row("sandbox only (no dispatch, audit)"));
    }
    if let Some(s) = &report["fast_among_slow"].as_object() {
        println!(
            "{:<34} p50 {:>8} ms  p99 {:>8} ms  OS threads {} ({} before)",
            format!("1 fast among {} slow", s["slow_in_flight"]),
            s["p50_ms"],
            s["p99_ms"],
            s["os_threads"],
            s["os_threads_before"]
        );
    }
    for key in ["cold_start_1", "cold_start_10"] {
        if let Some(c) = report[key].as_object() {
            println!(
                "{:<34} cache cold {:>7} ms  cache warm {:>7} ms  peak RSS {} MiB",
                format!("cold start to first reply, {} plugin(s)", c["plugins"]),
                c["cache_cold_ms"],
                c["cache_warm_ms"],
                c["peak_rss_mb"]
            );
        }
    }
    println!(
        "{:<34} {} MiB (with the slow commands: {} MiB); plugins loaded in {} ms",
        "peak RSS of this process",
        report["peak_rss_mb"],
        report["peak_rss_with_slow_mb"],
        report["start_ms"]
    );
    Ok(())
}
