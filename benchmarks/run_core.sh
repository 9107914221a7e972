#!/usr/bin/env bash
# Builds and runs the core run-time benchmarks (benchmarks/core_bench.cpp) on a release build and
# prints a Markdown table of medians and the three ratios checked against the goals.
#
#   benchmarks/run_core.sh [gcc|clang] [extra Google Benchmark flags...]
#
# Compiler: the first argument (default gcc); the build goes to build/bench-<compiler>.
# Output: the table on stdout; the raw JSON in build/bench-<compiler>/core_bench.json.
# Ratios use CPU time (steadier than wall time when the machine is shared); both are shown.
# Needs cmake, ninja, Google Benchmark (Debian: libbenchmark-dev); python3 if present, else awk.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_setup tutti_bench_core "$@"
[[ $# -gt 0 ]] && shift
json="$root/$build/core_bench.json"

"$build/benchmarks/tutti_bench_core" \
  --benchmark_repetitions=10 --benchmark_report_aggregates_only=true \
  --benchmark_format=json "$@" >"$json"

# Emits "name real_ns cpu_ns" for every *_median entry of the JSON.
medians() {
  if command -v python3 >/dev/null 2>&1 && [[ "${TUTTI_BENCH_PARSER:-}" != awk ]]; then
    python3 - "$json" <<'EOF'
import json, sys
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") == "median":
        k = scale[b["time_unit"]]
        print(b["run_name"], b["real_time"] * k, b["cpu_time"] * k)
EOF
  else
    # Google Benchmark writes one JSON field per line; read the median entries field by field.
    awk -F': ' '
      function val(s) { gsub(/[",]/, "", s); return s }
      /"run_name":/ { name = val($2) }
      /"aggregate_name":/ { agg = val($2) }
      /"real_time":/ { real = val($2) }
      /"cpu_time":/ { cpu = val($2) }
      /"time_unit":/ {
        u = val($2); k = (u == "us") ? 1e3 : (u == "ms") ? 1e6 : (u == "s") ? 1e9 : 1
        if (agg == "median") print name, real * k, cpu * k
        agg = ""
      }' "$json"
  fi
}

medians | awk -v cxx="$($cxx --version | head -n1)" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
  { real[$1] = $2; cpu[$1] = $3; order[++n] = $1 }
  # op is "<=", "<" or ">=": the ratio num/den must satisfy `ratio op limit`.
  function ratio_row(label, num, den, op, limit,   r, ok) {
    if (!(num in cpu) || !(den in cpu) || cpu[den] == 0) {
      printf "| %s | missing | %s %.2f | FAIL |\n", label, op, limit; return
    }
    r = cpu[num] / cpu[den]
    ok = (op == "<=") ? (r <= limit) : (op == "<") ? (r < limit) : (r >= limit)
    printf "| %s | %.2f | %s %.2f | %s |\n", label, r, op, limit, ok ? "PASS" : "FAIL"
  }
  END {
    printf "Compiler: %s; median of 10 repetitions; load average at the end: %s\n\n", cxx, load
    print "| Benchmark | Real time (ns) | CPU time (ns) |"
    print "|---|---:|---:|"
    for (i = 1; i <= n; ++i)
      printf "| %s | %.1f | %.1f |\n", order[i], real[order[i]], cpu[order[i]]
    print ""
    print "| Ratio (CPU time medians) | Value | Goal | Result |"
    print "|---|---:|---|---|"
    ratio_row("chain8 tutti / handwritten", "BM_chain8_tutti", "BM_chain8_handwritten", "<=", 1.10)
    ratio_row("chain8 tutti / dynamic", "BM_chain8_tutti", "BM_chain8_dynamic", "<", 1.00)
    ratio_row("saga8 dynamic / tutti", "BM_saga8_dynamic", "BM_saga8_tutti", ">=", 5.00)
  }'
