# shellcheck shell=bash
# Shared helpers for scripts/test and scripts/demo. Source it; do not run it.

# shellcheck disable=SC2034  # used by the scripts that source this file
TUTTI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian 12 packages each script needs; a script passes its list to ensure_packages.
# The library and the demo: a compiler, CMake, Boost (Outcome), fmt, SQLite (the journal) and
# Graphviz (the demo draws the workflow's diagram).
TUTTI_DEMO_PACKAGES=(cmake ninja-build g++ libboost-dev libfmt-dev libsqlite3-dev graphviz)
# The test suite: the library's packages, clang (the second compiler and the sanitizer runtimes),
# Catch2, Google Benchmark (the benchmarks are built, so they cannot rot), nlohmann-json (tests
# parse the traces and the CLI's JSON).
TUTTI_TEST_PACKAGES=(
  cmake ninja-build g++ clang libclang-rt-14-dev
  libboost-dev libfmt-dev libsqlite3-dev catch2 libbenchmark-dev nlohmann-json3-dev
)

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_packages PKG...: installs whichever of them is missing (as root), or says how to
# (otherwise).
ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    log "not a Debian system: make sure these (or equivalents) are installed: $*"
    return 0
  fi
  local missing=() pkg
  for pkg in "$@"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if ((EUID == 0)); then
    log "installing missing Debian packages: ${missing[*]}"
    if [[ -z "${TUTTI_APT_UPDATED:-}" ]]; then
      apt-get update
      TUTTI_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  else
    printf 'error: missing Debian packages: %s\n' "${missing[*]}" >&2
    printf 'install them with:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n' \
      "${missing[*]}" >&2
    exit 1
  fi
}

jobs_count() { nproc 2>/dev/null || echo 2; }

# compiler_cxx gcc|clang -> g++|clang++
compiler_cxx() {
  case "$1" in
    gcc) echo g++ ;;
    clang) echo clang++ ;;
    *) die "unknown compiler '$1' (expected gcc or clang)" ;;
  esac
}
