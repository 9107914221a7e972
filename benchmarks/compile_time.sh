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
#
#   benchmarks/compile_time.sh [repetitions]      (default 5)
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
    done
    unset 'base[inc_s]'
  done
done
echo
echo "Goals: ratio <= 1.50; include-only and workflow32 each <= 60% of the baseline's time and memory."
