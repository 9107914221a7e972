#!/usr/bin/env bash
# Shows that observers vanish when absent: compiles benchmarks/same_code/null_observer.cpp at -O2
# with g++ and clang++ and compares the instructions of run_plain (no observer) and
# run_null_observer (tutti::null_observer passed explicitly), labels and comments stripped.
#   benchmarks/same_code.sh          exit 0 when both compilers emit the same instructions
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/benchmarks/same_code/null_observer.cpp"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# body FILE SYMBOL: the function's instructions, normalised (local labels, comments, directives).
body() {
  awk -v sym="$2" '
    $0 == sym":" || index($0, sym":") == 1 { on = 1; next }
    on && ($1 == ".size" || $0 ~ /^\.Lfunc_end/) { exit }
    on {
      sub(/#.*/, "")
      if ($0 ~ /^[ \t]*$/ || $1 ~ /^\.cfi/ || $1 == ".section") next
      gsub(/\.L[A-Za-z0-9_]+/, "L")
      gsub(sym, "F")
      print
    }' "$1"
}

status=0
for cxx in g++ clang++; do
  command -v "$cxx" >/dev/null || { echo "$cxx: not installed, skipped"; continue; }
  "$cxx" -std=c++20 -O2 -I "$root/include" -S -o "$tmp/$cxx.s" "$src"
  body "$tmp/$cxx.s" _Z9run_plaini >"$tmp/plain"
  body "$tmp/$cxx.s" _Z17run_null_observeri >"$tmp/null"
  n="$(wc -l <"$tmp/plain")"
  if [[ "$n" -gt 0 ]] && cmp -s "$tmp/plain" "$tmp/null"; then
    echo "$cxx: same instructions with and without the null observer ($n lines)"
  else
    echo "$cxx: DIFFERENT code with the null observer:"
    diff "$tmp/plain" "$tmp/null" | head -20 || true
    status=1
  fi
done
exit "$status"
