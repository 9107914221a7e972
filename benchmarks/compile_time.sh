#!/usr/bin/env bash
# Compile-time benchmark: times the compiler on benchmarks/compile_time/include_only.cpp (just an
# #include of tutti) and benchmarks/compile_time/workflow32.cpp (a 32-step saga, run once), plus
# an empty TU for reference, and prints a Markdown table of medians: CPU seconds (user + sys; wall
# in parentheses), the compiler's peak RSS, the object's .text size, and the ratio
# workflow32 / include-only (CPU time) against the goal (<= 1.5).
#
# Three variants, all in the same run so that they share the machine's load:
#   baseline  the two files and headers of commit $BASELINE (default bf16489, the state before
#             issue 14's compile-time work), taken with `git archive`; skipped outside a git clone
#   umbrella  the working tree, files including <tutti/tutti.hpp>
#   core      the working tree, files including <tutti/core.hpp> (-DTUTTI_BENCH_CORE)
# and, per compiler and flags, each variant's time and memory as a share of the baseline's
# (goal for include-only and workflow32: <= 60%).
# A reference row, "core, erased", has no goal: benchmarks/compile_time/erased32.cpp, the same 32
# steps in a type-erased orchestrator (std::function steps, compiled once) over <tutti/core.hpp>,
# with its ratio over the core include-only TU: what a step costs when nothing of it is inlined.
#
#   benchmarks/compile_time.sh [repetitions]      (default 5)
#
# With STEPS="8 16 32 48" it also prints how the cost grows with the number of steps: workflows
# of that many steps, shaped as workflow32.cpp (generated), over <tutti/core.hpp>.
#
# Compilers: $COMPILERS (default "g++ clang++"), each at -O2 and -O0 (or $OPTS), invoked as
#   <cxx> -std=c++20 <opt> -I include -c <file> -o <obj>
# Times and peak RSS come from GNU time (/usr/bin/time -f '%e %U %S %M'; Debian package `time`);
# without it the script falls back to bash's `time` and reports no memory. CPU time is used for
# the ratio because it is far less disturbed than wall time when other builds share the machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reps="${1:-5}"
compilers="${COMPILERS:-g++ clang++}"
opts="${OPTS:--O2 -O0}"
baseline_commit="${BASELINE:-bf16489}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf 'int main() { return 0; }\n' >"$work/empty.cpp"

have_time=0
[[ -x /usr/bin/time ]] && have_time=1

variants="umbrella core"
if git -C "$root" cat-file -e "$baseline_commit^{commit}" 2>/dev/null; then
  mkdir -p "$work/baseline"
  git -C "$root" archive "$baseline_commit" include benchmarks/compile_time | tar -x -C "$work/baseline"
  variants="baseline $variants"
else
  echo "(baseline commit $baseline_commit not found: no baseline rows)" >&2
fi

# tree <variant>: the source root whose include/ and benchmarks/compile_time/ the variant uses.
tree() { if [[ "$1" == baseline ]]; then echo "$work/baseline"; else echo "$root"; fi; }
# defs <variant>: the extra compiler flags of the variant.
defs() { if [[ "$1" == core ]]; then echo "-DTUTTI_BENCH_CORE"; fi; }

# measure <cxx> <opt> <file> <include dir> [flags]: prints "cpu_seconds wall_seconds peak_kb".
measure() {
  local cxx="$1" opt="$2" file="$3" inc="$4"
  shift 4
  local cmd=("$cxx" -std=c++20 "$opt" "$@" -I "$inc" -c "$file" -o "$work/out.o")
  if ((have_time)); then
    /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "${cmd[@]}"
  else
    local TIMEFORMAT='%R %U %S -'
    { time "${cmd[@]}"; } 2>"$work/time.txt"
  fi
  awk 'END { printf "%.2f %.2f %s\n", $2 + $3, $1, $4 }' "$work/time.txt"
}

# median of the numbers on stdin ("-" when there are none).
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0 || v[1] == "-") { print "-"; exit }
    print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# text_kb: .text size of the last object, in KiB.
text_kb() { size -A "$work/out.o" | awk '$1 == ".text" { printf "%.1f", $2 / 1024 }'; }

# row <cxx> <opt> <file> <include dir> [flags]: sets secs (CPU), wall, mb, text (medians).
row() {
  local cxx="$1" opt="$2" file="$3" inc="$4" cpus="" walls="" mems="" i c w m
  shift 4
  for ((i = 0; i < reps; ++i)); do
    read -r c w m < <(measure "$cxx" "$opt" "$file" "$inc" "$@")
    cpus+="$c"$'\n' walls+="$w"$'\n' mems+="$m"$'\n'
  done
  secs="$(printf '%s' "$cpus" | median)"
  wall="$(printf '%s' "$walls" | median)"
  mb="$(printf '%s' "$mems" | median |
    awk '$1 == "-" { print "-"; next } { printf "%.0f", $1 / 1024 }')"
  text="$(text_kb)"
}

# share <value> <baseline value>: "57%" (or "-").
share() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.0f%%", 100 * a / b }'; }

echo "Median of $reps compilations each: CPU seconds (wall seconds), peak RSS of the compiler (MB),"
echo ".text of the object (KiB). Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
((have_time)) || echo "(/usr/bin/time not found: no peak RSS; install the Debian package 'time'.)"
echo
cols='s (wall) / MB / KiB'
printf '| Compiler | Flags | Variant | Empty TU (s) | Include-only: %s | workflow32: %s |' "$cols" "$cols"
printf ' Ratio (goal <= 1.50) | Include-only vs baseline: s / MB | workflow32 vs baseline: s / MB |\n'
echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
declare -A base
for cxx in $compilers; do
  command -v "$cxx" >/dev/null 2>&1 || { echo "skipping $cxx: not found" >&2; continue; }
  version="$("$cxx" --version | head -n1 | sed 's/ (.*)//')"
  for opt in $opts; do
    row "$cxx" "$opt" "$work/empty.cpp" "$root/include"
    empty_s="$secs"
    for v in $variants; do
      t="$(tree "$v")"
      # shellcheck disable=SC2046  # defs is one flag or nothing
      row "$cxx" "$opt" "$t/benchmarks/compile_time/include_only.cpp" "$t/include" $(defs "$v")
      inc_s="$secs" inc_wall="$wall" inc_mb="$mb" inc_text="$text"
      # shellcheck disable=SC2046
      row "$cxx" "$opt" "$t/benchmarks/compile_time/workflow32.cpp" "$t/include" $(defs "$v")
      wf_s="$secs" wf_wall="$wall" wf_mb="$mb" wf_text="$text"
      ratio="$(awk -v a="$wf_s" -v b="$inc_s" 'BEGIN { printf "%.2f", a / b }')"
      result="$(awk -v r="$ratio" 'BEGIN { print (r <= 1.5) ? "PASS" : "FAIL" }')"
      if [[ "$v" == baseline ]]; then
        base[inc_s]="$inc_s" base[inc_mb]="$inc_mb" base[wf_s]="$wf_s" base[wf_mb]="$wf_mb"
        vs_inc="(100%)" vs_wf="(100%)"
      elif [[ -n "${base[inc_s]:-}" ]]; then
        vs_inc="$(share "$inc_s" "${base[inc_s]}") / $(share "$inc_mb" "${base[inc_mb]}")"
        vs_wf="$(share "$wf_s" "${base[wf_s]}") / $(share "$wf_mb" "${base[wf_mb]}")"
      else
        vs_inc="-" vs_wf="-"
      fi
      printf '| %s | %s | %s | %s | %s (%s) / %s / %s | %s (%s) / %s / %s | %s %s | %s | %s |\n' \
        "$version" "$opt" "$v" "$empty_s" "$inc_s" "$inc_wall" "$inc_mb" "$inc_text" \
        "$wf_s" "$wf_wall" "$wf_mb" "$wf_text" "$ratio" "$result" "$vs_inc" "$vs_wf"
      if [[ "$v" == core ]]; then
        row "$cxx" "$opt" "$root/benchmarks/compile_time/erased32.cpp" "$root/include"
        ratio="$(awk -v a="$secs" -v b="$inc_s" 'BEGIN { printf "%.2f", a / b }')"
        vs_wf="-"
        [[ -n "${base[wf_s]:-}" ]] && vs_wf="$(share "$secs" "${base[wf_s]}") / $(share "$mb" "${base[wf_mb]}")"
        printf '| %s | %s | core, erased (reference) | %s | %s (%s) / %s / %s | %s (%s) / %s / %s | %s | %s | %s |\n' \
          "$version" "$opt" "$empty_s" "$inc_s" "$inc_wall" "$inc_mb" "$inc_text" \
          "$secs" "$wall" "$mb" "$text" "$ratio" "-" "$vs_wf"
      fi
    done
    unset 'base[inc_s]'
  done
done
echo
echo "Goals: ratio <= 1.50; include-only and workflow32 each <= 60% of the baseline's time and memory."

# gen_steps <n>: a workflow of n steps shaped as workflow32.cpp (the last four without a
# compensation, every step after the first reading the previous output), over core.hpp.
gen_steps() {
  local n="$1" i
  printf '#include <tutti/core.hpp>\n'
  printf 'namespace compile_time_bench {\ntutti::result<int> next(int x);\nvoid undo(int x);\n}\n'
  printf 'int main() {\n  using compile_time_bench::next;\n  using compile_time_bench::undo;\n'
  printf '  using tutti::from;\n  using tutti::step;\n  const auto wf = tutti::workflow<"steps">(\n'
  for ((i = 1; i <= n; ++i)); do
    if ((i == 1)); then printf '      step<"s%02d">([](int x) { return next(x); })' "$i"
    else printf '      step<"s%02d">([](from<"s%02d", int> x) { return next(*x); })' "$i" $((i - 1)); fi
    ((i <= n - 4)) && printf '.compensate_with([](int v) { undo(v); })'
    ((i < n)) && printf ','
    printf '\n'
  done
  printf '  );\n  const auto r = wf.run(0);\n  return r ? 0 : 1;\n}\n'
}

if [[ -n "${STEPS:-}" ]]; then
  echo
  echo "Growth with the number of steps (over <tutti/core.hpp>; CPU s / MB, and the CPU ms each step"
  echo "added since the previous row costs):"
  echo
  echo "| Compiler | Flags | Steps | CPU s / MB | ms per added step |"
  echo "|---|---|---:|---:|---:|"
  for n in $STEPS; do gen_steps "$n" >"$work/steps$n.cpp"; done
  for cxx in $compilers; do
    command -v "$cxx" >/dev/null 2>&1 || continue
    version="$("$cxx" --version | head -n1 | sed 's/ (.*)//')"
    for opt in $opts; do
      prev_n=0 prev_s=""
      row "$cxx" "$opt" "$root/benchmarks/compile_time/include_only.cpp" "$root/include" -DTUTTI_BENCH_CORE
      prev_s="$secs"
      printf '| %s | %s | 0 (include-only) | %s / %s | |\n' "$version" "$opt" "$secs" "$mb"
      for n in $STEPS; do
        row "$cxx" "$opt" "$work/steps$n.cpp" "$root/include"
        per="$(awk -v a="$secs" -v b="$prev_s" -v n="$n" -v p="$prev_n" 'BEGIN { printf "%.0f", 1000 * (a - b) / (n - p) }')"
        printf '| %s | %s | %s | %s / %s | %s |\n' "$version" "$opt" "$n" "$secs" "$mb" "$per"
        prev_n="$n" prev_s="$secs"
      done
    done
  done
fi
