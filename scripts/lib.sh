# shellcheck shell=bash
# Shared helpers for scripts/test and scripts/demo. Source it; do not run it.

# shellcheck disable=SC2034  # used by the scripts that source this file
TUTTI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian 12 packages each script needs; a script passes its list to ensure_packages.
# The library and the demo: a compiler, CMake, Boost (Outcome), fmt, SQLite (the journal), CLI11
# (tutti-journal's command line) and Graphviz (the demo draws the workflow's diagram).
TUTTI_DEMO_PACKAGES=(cmake ninja-build g++ libboost-dev libfmt-dev libsqlite3-dev libcli11-dev
                     graphviz)
# The test suite: the library's packages, clang (the second compiler and the sanitizer runtimes),
# Catch2, Google Benchmark (the benchmarks are built, so they cannot rot), nlohmann-json (tests
# parse the traces and the CLI's JSON), libpq and the PostgreSQL server (the [postgres] tests run
# against a real server that scripts/test starts), standalone Asio (the [async] tests), and LLD
# (the test builds link with it: three times faster than the default linker on sanitized
# binaries, and a build links a few hundred of them).
TUTTI_TEST_PACKAGES=(
  cmake ninja-build g++ clang libclang-rt-14-dev lld
  libboost-dev libfmt-dev libsqlite3-dev libcli11-dev catch2 libbenchmark-dev nlohmann-json3-dev
  libpq-dev postgresql libasio-dev
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

# ---- PostgreSQL for the tests tagged [postgres] ------------------------------------------------
# start_postgres DIR: a private PostgreSQL server from Debian's packages in DIR (data, a Unix
# socket directory, its log), fsync off (tests only). Sets and exports TUTTI_PG_CONNINFO (what the
# tests connect with), TUTTI_PG_CTL (the pg_ctl command line the chaos test restarts it with) and
# TUTTI_PG_DATA. initdb refuses to run as root: as root the server runs as the postgres user.
# Returns 1 (and says why) when no server can be started; the tests then report themselves
# skipped with that reason (TUTTI_PG_SKIP_REASON).
start_postgres() {
  local dir="$1" bin="" as=() v
  for v in 17 16 15 14; do
    if [[ -x "/usr/lib/postgresql/$v/bin/initdb" ]]; then bin="/usr/lib/postgresql/$v/bin"; break; fi
  done
  if [[ -z "$bin" ]]; then
    export TUTTI_PG_SKIP_REASON="no PostgreSQL server installed (Debian package postgresql)"
    log "PostgreSQL: $TUTTI_PG_SKIP_REASON: the [postgres] tests will be reported skipped"
    return 1
  fi
  mkdir -p "$dir"
  if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || { export TUTTI_PG_SKIP_REASON="running as root and there is no postgres user"; return 1; }
    chown postgres "$dir"
    chmod 755 "$dir"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" mkdir -p "$dir/data" "$dir/socket"
  if ! "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    export TUTTI_PG_SKIP_REASON="initdb failed (see $dir/initdb.log)"
    return 1
  fi
  local fsync="${TUTTI_PG_FSYNC:-off}"
  local opts="-c listen_addresses='' -k $dir/socket -c fsync=$fsync -c full_page_writes=$fsync -c max_connections=300 -c shared_buffers=128MB"
  if ! "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start >/dev/null; then
    cat "$dir/server.log" >&2
    export TUTTI_PG_SKIP_REASON="the PostgreSQL server did not start (see $dir/server.log)"
    return 1
  fi
  export TUTTI_PG_CONNINFO="host=$dir/socket user=postgres dbname=postgres"
  export TUTTI_PG_DATA="$dir/data"
  export TUTTI_PG_CTL="${as[*]} $bin/pg_ctl -D $dir/data -l $dir/server.log"
  unset TUTTI_PG_SKIP_REASON
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') started in $dir (socket $dir/socket)"
}

# stop_postgres DIR: stops the server start_postgres started there and removes DIR.
stop_postgres() {
  local dir="$1"
  [[ -n "${TUTTI_PG_CTL:-}" && -d "$dir/data" ]] && $TUTTI_PG_CTL -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
