//! `chatops bench`: the figures behind the speed claims, measured in one process.

use crate::bot::{Bot, Dev};
use crate::capabilities::{CallContext, NoProgress, ProgressSink};
use crate::dispatch::{Caller, Request};
use crate::model::User;
use crate::runtime::Call;
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn bench(plugin: Option<PathBuf>, line: &str, iterations: u32) -> Result<()> {
    if iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let rss_start = rss_kib();
    let started = Instant::now();
    let bot = match plugin {
        Some(p) => {
            Bot::start_dev(Dev {
                plugins: vec![p],
                ..Dev::default()
            })
            .await?
        }
        None => Bot::start(None).await?,
    };
    let load = started.elapsed();
    let caller = Caller {
        user: User {
            id: "bench".into(),
            name: "bench".into(),
            roles: vec![],
        },
        channel: "bench".into(),
        guild: None,
    };
    let progress: Arc<dyn ProgressSink> = Arc::new(NoProgress);
    let first = bot
        .dispatcher
        .dispatch(&caller, Request::Text(line.into()), progress.clone())
        .await;
    if first.is_error() {
        bail!("`{line}` does not run: {}", first.text);
    }
    let mut times = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations {
        let t = Instant::now();
        let r = bot
            .dispatcher
            .dispatch(&caller, Request::Text(line.into()), progress.clone())
            .await;
        times.push(t.elapsed());
        if r.is_error() {
            bail!("`{line}` failed during the run: {}", r.text);
        }
    }
    times.sort();
    let total: Duration = times.iter().sum();
    println!(
        "plugins loaded (compile + describe): {:.1} ms",
        load.as_secs_f64() * 1e3
    );
    println!("`{line}` x {iterations}: fresh sandbox + run + audit per command");
    println!(
        "  mean {:.1} µs   p50 {:.1} µs   p99 {:.1} µs   max {:.1} µs",
        (total / iterations).as_secs_f64() * 1e6,
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6
    );
    println!(
        "  throughput {:.0} commands/s on one task",
        iterations as f64 / total.as_secs_f64()
    );
    // The sandbox alone: fresh Store, instantiate from the InstancePre, run.
    let plugin = bot.dispatcher.plugins().into_iter().find(|p| {
        p.info()
            .commands
            .iter()
            .any(|c| Some(c.name.as_str()) == line.split_whitespace().next())
    });
    if let Some(plugin) = plugin {
        let cmd = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let command = plugin
            .info()
            .commands
            .iter()
            .find(|c| c.name == cmd)
            .cloned();
        let words = crate::dispatch::parse::tokenize(line).map_err(anyhow::Error::msg)?;
        let args = match &command {
            Some(c) => {
                crate::dispatch::parse::arguments(c, &words[1..]).map_err(anyhow::Error::msg)?
            }
            None => Vec::new(),
        };
        let inv = crate::model::Invocation {
            id: "bench".into(),
            command: cmd,
            args,
            user: caller.user.clone(),
            channel: caller.channel.clone(),
            guild: None,
        };
        let ctx = CallContext::ungranted(&plugin.name, plugin.limits.clone());
        let mut times = Vec::with_capacity(iterations as usize);
        for _ in 0..iterations {
            let t = Instant::now();
            bot.dispatcher
                .runtime()
                .call(&plugin.compiled, ctx.clone(), Call::Run(inv.clone()))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed());
        }
        times.sort();
        let total: Duration = times.iter().sum();
        println!("sandbox only (fresh Store + instantiate + run) x {iterations}:");
        println!(
            "  mean {:.1} µs   p50 {:.1} µs   p99 {:.1} µs",
            (total / iterations).as_secs_f64() * 1e6,
            percentile(&times, 0.5).as_secs_f64() * 1e6,
            percentile(&times, 0.99).as_secs_f64() * 1e6
        );
    }
    if let (Some(a), Some(b)) = (rss_start, rss_kib()) {
        println!(
            "resident memory: {} KiB at start, {} KiB after (+{} KiB)",
            a,
            b,
            b.saturating_sub(a)
        );
    }
    Ok(())
}
