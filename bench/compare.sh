#!/usr/bin/env bash
# chatops beside Hubot and Errbot, in one run on this machine: installs the peers when
# missing (../shared/peer-bench/setup.sh), runs their quick benchmark and cold start, then
# `chatops bench --json`, and prints each figure with its ratio to each peer.
#
#   bash bench/compare.sh                 # ~1 min; builds the release binary if missing
#   SECONDS_EACH=2 K=10 bash bench/compare.sh
#
# Environment: PEER_BENCH (default ../shared/peer-bench beside this checkout),
# PEERBENCH_WORK (where the peers are installed, default /tmp/chatops-peerbench),
# CHATOPS_BIN (default target/release/chatops), N and WARMUP (peers' commands),
# K (cold starts per bot), SECONDS_EACH (chatops's time per measurement).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEER_BENCH:-$root/../shared/peer-bench}
export PEERBENCH_WORK=${PEERBENCH_WORK:-/tmp/chatops-peerbench}
bin=${CHATOPS_BIN:-$root/target/release/chatops}
K=${K:-5}
if [ ! -f "$peers/quick.sh" ]; then
  echo "compare.sh: the peer benchmark is not at $peers; set PEER_BENCH to its folder" >&2
  exit 1
fi
if [ ! -x "$PEERBENCH_WORK/errbot-venv/bin/python" ] || [ ! -d "$PEERBENCH_WORK/hubot/node_modules" ]; then
  echo "installing Hubot and Errbot into $PEERBENCH_WORK (once)…" >&2
  bash "$peers/setup.sh" >&2
fi
if [ ! -x "$bin" ]; then
  echo "building $bin (once)…" >&2
  cargo build --release -p chatops --manifest-path "$root/Cargo.toml" >&2
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "peers: quick benchmark (N=${N:-2000})…" >&2
bash "$peers/quick.sh" > "$out/peers.jsonl"
echo "peers: $K cold starts each…" >&2
(cd "$PEERBENCH_WORK" && . ./env.sh && python3 coldstart.py --k "$K" > "$out/cold.jsonl")
echo "chatops: bench…" >&2
"$bin" bench --json --seconds "${SECONDS_EACH:-1}" --cold-runs "$K" > "$out/chatops.json"
python3 - "$out" <<'EOF'
import json, os, platform, subprocess, sys
d = sys.argv[1]
peer = {}
for l in open(os.path.join(d, "peers.jsonl")):
    r = json.loads(l); peer.setdefault(r["framework"], {})["run"] = r
for l in open(os.path.join(d, "cold.jsonl")):
    r = json.loads(l); peer.setdefault(r["framework"], {})["cold"] = r
c = json.load(open(os.path.join(d, "chatops.json")))
h, e = peer["hubot"], peer["errbot"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Machine: {platform.node()}, {c['cores']} cores ({cpu}), Linux {platform.release()}")
print(f"Peers: Hubot {h['run'].get('variant', '')} and Errbot {e['run'].get('variant', '')}, "
      f"N={h['run']['n']} one in flight; chatops: `{c['line']}`, {c['audit']}")
print()
print(f"| figure | chatops | Hubot | chatops/Hubot | Errbot | chatops/Errbot | target |")
print(f"|---|---|---|---|---|---|---|")
def row(name, ours, hv, ev, unit, target, fmt="{:.1f}"):
    f = lambda v: "-" if v is None else fmt.format(v) + unit
    rat = lambda p: "-" if (p in (None, 0) or ours is None) else f"{ours / p:.2f}×"
    print(f"| {name} | {f(ours)} | {f(hv)} | {rat(hv)} | {f(ev)} | {rat(ev)} | {target} |")
one, cores, many = c["one_in_flight"], c["cores_in_flight"], c["in_flight_64"]
hr, er = h["run"], e["run"]
row("p50, 1 in flight", one["p50_us"], hr["p50_us"], er["p50_us"], " µs", "≤ 3× Hubot")
row("p99, 1 in flight", one["p99_us"], hr["p99_us"], er["p99_us"], " µs", "≤ 200 µs")
row(f"p99, {c['cores']} in flight", cores["p99_us"], None, None, " µs", "")
row("p99, 64 in flight", many["p99_us"], None, None, " µs", "")
row("p99.9, 1 in flight", one["p999_us"], None, None, " µs", "")
mem = c.get("one_in_flight_audit_in_memory")
if mem:
    row("p50, 1 in flight, audit in memory", mem["p50_us"], hr["p50_us"], er["p50_us"], " µs", "")
    row("p99, 1 in flight, audit in memory", mem["p99_us"], hr["p99_us"], er["p99_us"], " µs", "")
memc = c.get("cores_in_flight_audit_in_memory")
if memc:
    row(f"throughput, {c['cores']} in flight, audit in memory", memc["throughput_cmd_s"], hr["throughput_cmd_s"], er["throughput_cmd_s"], " /s", "", "{:.0f}")
full = c.get("one_in_flight_store_sync_full")
if full:
    row("p50, 1 in flight, store_sync = full (fsync per commit)", full["p50_us"], hr["p50_us"], er["p50_us"], " µs", "")
    row("p99, 1 in flight, store_sync = full (fsync per commit)", full["p99_us"], hr["p99_us"], er["p99_us"], " µs", "")
fullc = c.get("cores_in_flight_store_sync_full")
if fullc:
    row(f"throughput, {c['cores']} in flight, store_sync = full", fullc["throughput_cmd_s"], hr["throughput_cmd_s"], er["throughput_cmd_s"], " /s", "", "{:.0f}")
sb = c.get("sandbox_only")
if sb:
    row("p50, sandbox only (fresh instance + call)", sb["p50_us"], hr["p50_us"], er["p50_us"], " µs", "")
row("throughput, 1 in flight", one["throughput_cmd_s"], hr["throughput_cmd_s"], er["throughput_cmd_s"], " /s", "", "{:.0f}")
row(f"throughput, {c['cores']} in flight (all cores)", cores["throughput_cmd_s"], hr["throughput_cmd_s"], er["throughput_cmd_s"], " /s",
    "≥ 1× Hubot, ≥ 10× Errbot", "{:.0f}")
row("throughput, 64 in flight", many["throughput_cmd_s"], hr["throughput_cmd_s"], er["throughput_cmd_s"], " /s", "", "{:.0f}")
hc, ec = h["cold"], e["cold"]
for key, label in (("cold_start_1", "1 plugin"), ("cold_start_10", "10 plugins")):
    cs = c.get(key)
    if cs:
        row(f"cold start, {label}, cache cold", cs["cache_cold_ms"], hc["first_reply_ms"], ec["first_reply_ms"], " ms", "")
        row(f"cold start, {label}, cache warm", cs["cache_warm_ms"], hc["first_reply_ms"], ec["first_reply_ms"], " ms",
            "≤ ½ Hubot" if key == "cold_start_10" else "")
cs = c.get("cold_start_10")
if cs:
    row("peak RSS, cold start (10 plugins)", cs["peak_rss_mb"], hc["max_rss_mb"], ec["max_rss_mb"], " MB", "< Hubot")
row("peak RSS, whole bench (before slow case)", c["peak_rss_mb"], None, None, " MB", "")
s = c.get("fast_among_slow")
if s:
    row(f"p99 of a fast command, {s['slow_in_flight']} slow in flight", s["p99_ms"], None, None, " ms", "≤ 5 ms")
    print(f"| OS threads with {s['slow_in_flight']} slow in flight | {s['os_threads']} | | | | | ≤ cores ({c['cores']}) + small constant |")
print()
print("Ratios are chatops divided by the peer: below 1 is better for times and memory, above 1 for throughput.")
EOF
