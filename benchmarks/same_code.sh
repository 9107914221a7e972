#!/usr/bin/env bash
# Shows what a run without an observer compiles to. Compiles benchmarks/same_code/null_observer.cpp
# at -O2 with g++ and clang++ and checks, labels and comments stripped:
#   1. run_plain (no observer) and run_null_observer (tutti::null_observer passed explicitly) are
#      the same instructions;
#   2. against run_plain compiled with the headers of commit 75c6f85, before observers existed
#      (taken with `git archive`; skipped outside a git clone): the run calls no kind of costly
#      function that it did not call then -- clock reads, allocations, system calls, locks,
#      guarded statics: what an observer left behind would cost -- except those listed in
#      `accepted` below, each with the commit that added it and why. Kinds, not call sites: how
#      many sites a compiler makes of one call changes with what it inlines; cheap calls are not
#      compared at all, for the same reason. The instruction counts of both are printed; they
#      differ because the engine changed since (docs/benchmarks.md, "Same code", says where).
#   benchmarks/same_code.sh          exit 0 when every check holds; the last line says PASS/FAIL
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/benchmarks/same_code/null_observer.cpp"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
baseline_commit=75c6f85
# Costly functions a run may call that it did not call at the baseline ("# commit: why").
# (getpid, accepted from 429b615, is gone again: a forked child is told by an atfork handler.)
accepted=()
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
      # out-of-line functions of tutti: their mangled names carry the observer type
      gsub(/_ZN[A-Z]*5tutti[A-Za-z0-9_]*/, "tutti_function")
      gsub(/%xmm[0-9]+/, "%xmm")
      print
    }' "$1"
}
# instructions BODY: lines that are neither labels nor directives.
instructions() { grep -cE '^[[:space:]]+[a-z]' "$1" || true; }
# costly_calls BODY: the costly functions it calls, one name a line.
costly='now|gettime|getpid|syscall|_Znw|_Zna|malloc|mutex|guard_acquire|sleep'
costly_calls() {
  awk -v costly="$costly" '($1 ~ /^(call|callq|jmp|jmpq)$/) && $2 ~ costly { sub(/@PLT$/, "", $2); print $2 }' "$1" |
    sort -u
}

status=0
for cxx in g++ clang++; do
  command -v "$cxx" >/dev/null || { echo "$cxx: not installed, skipped"; continue; }
  "$cxx" -std=c++20 -O2 -I "$root/include" -S -o "$tmp/$cxx.s" "$src"
  body "$tmp/$cxx.s" _Z9run_plaini >"$tmp/plain"
  body "$tmp/$cxx.s" _Z17run_null_observeri >"$tmp/null"
  n="$(instructions "$tmp/plain")"
  if [[ "$n" -gt 0 ]] && cmp -s "$tmp/plain" "$tmp/null"; then
    echo "$cxx: same instructions with and without the null observer ($n instructions)"
  else
    echo "$cxx: DIFFERENT code with the null observer:"
    diff "$tmp/plain" "$tmp/null" | head -20 || true
    status=1
  fi
  ((have_baseline)) || continue
  "$cxx" -std=c++20 -O2 -DTUTTI_SAME_CODE_BASELINE -I "$tmp/baseline/include" -S -o "$tmp/$cxx.base.s" "$src"
  body "$tmp/$cxx.base.s" _Z9run_plaini >"$tmp/base"
  costly_calls "$tmp/base" >"$tmp/base.calls"
  costly_calls "$tmp/plain" >"$tmp/plain.calls"
  # Costly callees now, less those called then and those accepted.
  extra="$(printf '%s\n' "${accepted[@]}" | cat - "$tmp/base.calls" | sort -u |
    comm -23 "$tmp/plain.calls" - | sed 's/^/  /')"
  if [[ -z "$extra" ]]; then
    echo "$cxx: no costly call that a run did not make before observers ($baseline_commit;" \
      "accepted since: ${accepted[*]}); $n instructions now, $(instructions "$tmp/base") then"
  else
    echo "$cxx: NEW costly calls in a run since before observers ($baseline_commit):"
    echo "$extra"
    status=1
  fi
done
if ((status == 0)); then echo "same code: PASS"; else echo "same code: FAIL"; fi
exit "$status"
