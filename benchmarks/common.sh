# Shared by benchmarks/run_*.sh (sourced): the compiler from the first argument, the build
# directory, and a release build of one target.
#   bench_setup <target> "$@"   sets: root, compiler, cxx, build; shifts nothing (use bench_args)
bench_setup() {
  local target="$1"
  shift
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  compiler="${1:-gcc}"
  case "$compiler" in
    gcc) cxx=g++ ;;
    clang) cxx=clang++ ;;
    *) echo "usage: $0 [gcc|clang] [benchmark flags...]" >&2; exit 2 ;;
  esac
  build="build/bench-$compiler"
  cd "$root"
  CXX="$cxx" cmake --preset release -B "$build" >/dev/null
  cmake --build "$build" --target "$target" >/dev/null
}
