#!/usr/bin/env bash
# Compile-time benchmark: times the compiler on benchmarks/compile_time/include_only.cpp (just
# #include <tutti/tutti.hpp>) and benchmarks/compile_time/workflow32.cpp (a 32-step saga, run
# once), plus an empty TU for reference, and prints a Markdown table of medians: CPU seconds
# (user + sys; wall in parentheses), the compiler's peak RSS, the object's .text size, and the
# ratio workflow32 / include-only (CPU time) against the goal (<= 1.5).
#
#   benchmarks/compile_time.sh [repetitions]      (default 5)
#
# Compilers: $COMPILERS (default "g++ clang++"), each at -O2 and -O0, invoked as
#   <cxx> -std=c++20 <opt> -I include -c <file> -o <obj>
# Times and peak RSS come from GNU time (/usr/bin/time -f '%e %U %S %M'; Debian package `time`);
# without it the script falls back to bash's `time` and reports no memory. CPU time is used for
# the ratio because it is far less disturbed than wall time when other builds share the machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reps="${1:-5}"
compilers="${COMPILERS:-g++ clang++}"
dir="$root/benchmarks/compile_time"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf 'int main() { return 0; }\n' >"$work/empty.cpp"

have_time=0
[[ -x /usr/bin/time ]] && have_time=1

# measure <cxx> <opt> <file>: prints "cpu_seconds wall_seconds peak_kb" for one compilation.
measure() {
  local cxx="$1" opt="$2" file="$3"
  local cmd=("$cxx" -std=c++20 "$opt" -I "$root/include" -c "$file" -o "$work/out.o")
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

# row <cxx> <opt> <file>: sets secs (CPU), wall, mb, text (medians of $reps compilations).
row() {
  local cxx="$1" opt="$2" file="$3" cpus="" walls="" mems="" i c w m
  for ((i = 0; i < reps; ++i)); do
    read -r c w m < <(measure "$cxx" "$opt" "$file")
    cpus+="$c"$'\n' walls+="$w"$'\n' mems+="$m"$'\n'
  done
  secs="$(printf '%s' "$cpus" | median)"
  wall="$(printf '%s' "$walls" | median)"
  mb="$(printf '%s' "$mems" | median |
    awk '$1 == "-" { print "-"; next } { printf "%.0f", $1 / 1024 }')"
  text="$(text_kb)"
}

echo "Median of $reps compilations each: CPU seconds (wall seconds), peak RSS of the compiler (MB),"
echo ".text of the object (KiB). Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
((have_time)) || echo "(/usr/bin/time not found: no peak RSS; install the Debian package 'time'.)"
echo
cols='s (wall) / MB / KiB'
printf '| Compiler | Flags | Empty TU (s) | Include-only: %s | workflow32: %s |' "$cols" "$cols"
printf ' Ratio | Goal | Result |\n'
echo "|---|---|---:|---:|---:|---:|---|---|"
for cxx in $compilers; do
  command -v "$cxx" >/dev/null 2>&1 || { echo "skipping $cxx: not found" >&2; continue; }
  version="$("$cxx" --version | head -n1 | sed 's/ (.*)//')"
  for opt in -O2 -O0; do
    row "$cxx" "$opt" "$work/empty.cpp"
    empty_s="$secs"
    row "$cxx" "$opt" "$dir/include_only.cpp"
    inc_s="$secs" inc_wall="$wall" inc_mb="$mb" inc_text="$text"
    row "$cxx" "$opt" "$dir/workflow32.cpp"
    wf_s="$secs" wf_wall="$wall" wf_mb="$mb" wf_text="$text"
    ratio="$(awk -v a="$wf_s" -v b="$inc_s" 'BEGIN { printf "%.2f", a / b }')"
    result="$(awk -v r="$ratio" 'BEGIN { print (r <= 1.5) ? "PASS" : "FAIL" }')"
    printf '| %s | %s | %s | %s (%s) / %s / %s | %s (%s) / %s / %s | %s | <= 1.50 | %s |\n' \
      "$version" "$opt" "$empty_s" "$inc_s" "$inc_wall" "$inc_mb" "$inc_text" \
      "$wf_s" "$wf_wall" "$wf_mb" "$wf_text" "$ratio" "$result"
  done
done
