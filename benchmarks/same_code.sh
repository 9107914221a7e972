#!/usr/bin/env bash
# Shows that observers vanish when absent: compiles benchmarks/same_code/null_observer.cpp at -O2
# with g++ and clang++ and compares, labels and comments stripped, the instructions of
#   run_null_observer (tutti::null_observer passed explicitly) and run_plain (no observer), and
#   run_plain compiled against the headers of commit 75c6f85, before observers existed
#   (taken with `git archive`; skipped outside a git clone).
#   benchmarks/same_code.sh          exit 0 when every comparison shows the same instructions
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/benchmarks/same_code/null_observer.cpp"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
baseline_commit=75c6f85
have_baseline=0
if git -C "$root" cat-file -e "$baseline_commit^{commit}" 2>/dev/null; then
  mkdir -p "$tmp/baseline"
  git -C "$root" archive "$baseline_commit" include | tar -x -C "$tmp/baseline"
  have_baseline=1
fi

# body FILE SYMBOL: the function's hot-path instructions (up to g++'s .cold part, which holds
# the exception-capture paths), normalised: local labels, comments, directives, and the
# numbers of xmm registers (a swap of two vector registers is not a cost).
body() {
  awk -v sym="$2" '
    $0 == sym":" || index($0, sym":") == 1 { on = 1; next }
    on && ($1 == ".size" || $0 ~ /^\.Lfunc_end/ || index($0, sym".cold:") == 1) { exit }
    on {
      sub(/#.*/, "")
      if ($0 ~ /^[ \t]*$/ || $1 ~ /^\.cfi/ || $1 == ".section") next
      gsub(/\.L[A-Za-z0-9_.]+/, "L")
      gsub(sym, "F")
      # out-of-line functions of tutti: their mangled names now carry the observer type
      gsub(/_ZN5tutti[A-Za-z0-9_]*/, "tutti_function")
      gsub(/%xmm[0-9]+/, "%xmm")
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
  if ((have_baseline)); then
    "$cxx" -std=c++20 -O2 -DTUTTI_SAME_CODE_BASELINE -I "$tmp/baseline/include" -S -o "$tmp/$cxx.base.s" "$src"
    body "$tmp/$cxx.base.s" _Z9run_plaini >"$tmp/base"
    if cmp -s "$tmp/base" "$tmp/null"; then
      echo "$cxx: same instructions as before observers existed ($baseline_commit)"
    else
      echo "$cxx: DIFFERENT code from before observers existed ($baseline_commit):"
      diff "$tmp/base" "$tmp/null" | head -30 || true
      status=1
    fi
  fi
done
exit "$status"
