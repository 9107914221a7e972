#!/usr/bin/env bash
# Builds and runs the async engine benchmarks (benchmarks/async_bench.cpp) on a release build and
# prints a Markdown table of medians, the chain ratio and the 10,000-run counters.
#
#   benchmarks/run_async.sh [gcc|clang] [extra Google Benchmark flags...]
#
# Compiler: the first argument (default gcc); the build goes to build/bench-<compiler>.
# Output: the tables on stdout; the raw JSON in build/bench-<compiler>/async_bench.json.
# The chain ratio uses CPU time (steadier than wall time on a shared machine); the 10,000-run
# benchmarks are wall time (what they measure) and report counters. Needs cmake, ninja, Google
# Benchmark (libbenchmark-dev), Asio 1.22+ (libasio-dev) and python3.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_setup tutti_bench_async "$@"
[[ $# -gt 0 ]] && shift
json="$root/$build/async_bench.json"

# The chains: 10 repetitions each. The 10,000-run benchmarks: 3 iterations, once.
"$build/benchmarks/tutti_bench_async" --benchmark_filter='BM_async_chain4_' --benchmark_enable_random_interleaving=true \
  --benchmark_repetitions=10 --benchmark_report_aggregates_only=true \
  --benchmark_format=json "$@" >"$json.chain"
"$build/benchmarks/tutti_bench_async" --benchmark_filter='10k' \
  --benchmark_format=json "$@" >"$json.10k"
# The durable chains (SQLite, per-record commits; tmpfs and disk): 5 repetitions each.
"$build/benchmarks/tutti_bench_async" --benchmark_filter='durable' \
  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_format=json "$@" >"$json.durable"

python3 - "$json.chain" "$json.10k" "$($cxx --version | head -n1)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$json.durable" <<'PY'
import json, sys
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
chain = {b["run_name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]
         if b.get("aggregate_name") == "median"}
tenk = {b["run_name"].split("/")[0]: b for b in json.load(open(sys.argv[2]))["benchmarks"]}
print(f"Compiler: {sys.argv[3]}; load average at the end: {sys.argv[4]}\n")
print("| Benchmark (median of 10) | Real time (ns) | CPU time (ns) |")
print("|---|---:|---:|")
for name, b in chain.items():
    k = scale[b["time_unit"]]
    print(f"| {name} | {b['real_time'] * k:.1f} | {b['cpu_time'] * k:.1f} |")
def cpu(n): return chain[n]["cpu_time"] * scale[chain[n]["time_unit"]]
r = cpu("BM_async_chain4_tutti") / cpu("BM_async_chain4_handwritten")
print("\n| Ratio (CPU time medians) | Value | Goal | Result |")
print("|---|---:|---|---|")
print(f"| async chain4 tutti / handwritten | {r:.2f} | <= 1.25 | {'PASS' if r <= 1.25 else 'FAIL'} |")
r0 = cpu("BM_async_chain4_noop_tutti") / cpu("BM_async_chain4_noop_handwritten")
print(f"| chain4 with no call: tutti / handwritten | {r0:.2f} | (reported) | |")
print("\n| 10,000 runs in flight (3 iterations) | Wall (ms) | Wall / longest chain | Bytes per run | Beyond the steps' frames |")
print("|---|---:|---:|---:|---:|")
for name in ("BM_async_10k_one_thread_handwritten", "BM_async_10k_one_thread", "BM_sync_10k_threads"):
    b = tenk.get(name)
    if b is None:
        print(f"| {name} | missing | | | |"); continue
    wall = b["real_time"] * scale[b["time_unit"]] / 1e6
    ratio = b.get("ratio_to_longest", float("nan"))
    per = b.get("bytes_per_run")
    beyond = b.get("run_bytes_beyond_steps")
    fmt = lambda v: "" if v is None else f"{v:.0f}"
    print(f"| {name} | {wall:.1f} | {ratio:.2f} | {fmt(per)} | {fmt(beyond)} |")
durable = {b["run_name"]: b for b in json.load(open(sys.argv[5]))["benchmarks"]
           if b.get("aggregate_name") == "median"}
if durable:
    plain = chain["BM_async_chain4_tutti"]["real_time"] * scale[chain["BM_async_chain4_tutti"]["time_unit"]] / 1e3
    print("\n| Durable chain4, SQLite per-record commits (median of 5) | Real time per run (us) | Journal's time on the run's thread (us) |")
    print("|---|---:|---:|")
    for name, b in durable.items():
        us = b["real_time"] * scale[b["time_unit"]] / 1e3
        held = f"{us - plain:.1f}" if name.startswith("BM_async") else ""
        print(f"| {name} | {us:.1f} | {held} |")
PY
