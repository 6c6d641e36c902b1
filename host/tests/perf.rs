//! The performance work, by what it does (never by how fast: figures come from
//! `chatops bench`): compiled code cached on disk in every mode and never trusted when it
//! is damaged, and the benchmark itself runs every case it reports.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod common;
use common::run;

fn chatops(cache: &Path) -> Command {
    let mut c = common::chatops();
    c.env("CHATOPS_CACHE_DIR", cache);
    c
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(cache)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "cwasm"));
    v.sort();
    v
}

fn bundled(dir: &Path, name: &str) -> PathBuf {
    let bytes = chatops::bundled::BUNDLED
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1;
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn invoke_shell_and_inspect_cache_compiled_code_and_rebuild_a_damaged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let echo = bundled(dir.path(), "echo");

    let mut invoke = chatops(&cache);
    invoke.arg("invoke").arg(&echo).arg("echo first");
    assert!(ok(&run(invoke, "", Duration::from_secs(120))).contains("first"));
    let after_invoke = entries(&cache);
    assert_eq!(after_invoke.len(), 1, "{after_invoke:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // A damaged entry (one byte of code flipped) is not loaded: it is compiled again and
    // the entry rewritten, and the command still answers.
    let entry = &after_invoke[0];
    let mut code = std::fs::read(entry).unwrap();
    let last = code.len() - 1;
    code[last] ^= 0xff;
    std::fs::write(entry, &code).unwrap();
    let mut again = chatops(&cache);
    again.arg("invoke").arg(&echo).arg("echo second");
    assert!(ok(&run(again, "", Duration::from_secs(120))).contains("second"));
    assert_ne!(
        std::fs::read(entry).unwrap(),
        code,
        "the entry was rewritten"
    );

    // The shell caches the bundled plugins; `plugins inspect` uses the same cache.
    let mut shell = chatops(&cache);
    shell.current_dir(dir.path()).arg("shell");
    assert!(ok(&run(
        shell,
        "echo from the shell\n",
        Duration::from_secs(120)
    ))
    .contains("from the shell"));
    let after_shell = entries(&cache);
    assert_eq!(
        after_shell.len(),
        chatops::bundled::BUNDLED.len(),
        "one entry per bundled plugin (echo's shared with invoke): {after_shell:?}"
    );
    let dice = bundled(dir.path(), "dice");
    let mut inspect = chatops(&cache);
    inspect.args(["plugins", "inspect"]).arg(&dice);
    ok(&run(inspect, "", Duration::from_secs(120)));
    assert_eq!(entries(&cache), after_shell, "inspect found dice cached");

    // Written by someone else's hand (not this host's format): ignored and rebuilt.
    std::fs::write(&after_shell[0], b"\x7fELF not ours").unwrap();
    let mut shell = chatops(&cache);
    shell.current_dir(dir.path()).arg("shell");
    assert!(ok(&run(shell, "echo still\n", Duration::from_secs(120))).contains("still"));
    assert_ne!(std::fs::read(&after_shell[0]).unwrap(), b"\x7fELF not ours");
}

#[test]
fn bench_reports_every_case_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut bench = chatops(&dir.path().join("cache"));
    bench.args([
        "bench",
        "--json",
        "--seconds",
        "0.05",
        "--slow",
        "20",
        "--cold-runs",
        "1",
    ]);
    let out = ok(&run(bench, "", Duration::from_secs(300)));
    let r: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    for key in ["one_in_flight", "cores_in_flight", "in_flight_64"] {
        assert!(r[key]["n"].as_u64().unwrap() > 0, "{key}: {r}");
        assert!(r[key]["p99_us"].as_f64().unwrap() > 0.0, "{key}: {r}");
    }
    assert!(r["one_in_flight_audit_in_memory"]["n"].as_u64().unwrap() > 0);
    let slow = &r["fast_among_slow"];
    assert_eq!(slow["slow_in_flight"], 20, "{r}");
    assert!(slow["n"].as_u64().unwrap() > 0, "{r}");
    assert!(slow["os_threads"].as_u64().unwrap() > 0, "{r}");
    for key in ["cold_start_1", "cold_start_10"] {
        assert!(
            r[key]["cache_warm_ms"].as_f64().unwrap() > 0.0,
            "{key}: {r}"
        );
        assert!(r[key]["peak_rss_mb"].as_f64().unwrap() > 0.0, "{key}: {r}");
    }
}

#[test]
fn bench_takes_the_same_grant_flags_as_invoke() {
    let dir = tempfile::tempdir().unwrap();
    let mut bench = chatops(&dir.path().join("cache"));
    bench.args([
        "bench",
        "--http",
        "not a url",
        "--seconds",
        "0.01",
        "--slow",
        "0",
        "--no-cold",
    ]);
    let out = run(bench, "", Duration::from_secs(120));
    assert!(!out.status.success());
    let mut invoke = chatops(&dir.path().join("cache"));
    invoke.args(["invoke", "x.wasm", "echo", "--http", "not a url"]);
    let refused = run(invoke, "", Duration::from_secs(120));
    assert!(!refused.status.success());
    // The same parser refuses the same flag with the same words.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&refused.stderr)
    );
}
