#!/usr/bin/env bash
# ctest package/readme_<route>: runs README.md's own CMake commands for one route, literally, in
# a clean directory, then builds and runs a consumer. The commands are taken from the code block
# that follows the line `<!-- readme-route: NAME -->` in README.md; only placeholders a reader
# replaces too are replaced (the install prefix, the repository URL and tag, the vendored path).
#   readme_route.sh ROUTE SOURCE_DIR WORK_DIR
#   ROUTE: add_subdirectory | fetchcontent | find_package | find_package_sqlite
# The compiler is $CXX (the test leg's). Exit 77 means skipped (reason printed).
set -euo pipefail
route="$1" src="$(cd "$2" && pwd)" work="$3"
readme="$src/README.md"

# block NAME: the lines of the code block after <!-- readme-route: NAME -->.
block() {
  awk -v marker="<!-- readme-route: $1 -->" '
    $0 == marker { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }' "$readme"
}
require_block() {
  local text
  text="$(block "$1")"
  [[ -n "$text" ]] || { echo "README.md has no code block after '<!-- readme-route: $1 -->'" >&2; exit 1; }
  printf '%s\n' "$text"
}

rm -rf "$work"
mkdir -p "$work/consumer"
cd "$work"
cp "$src/tests/package/consumer.cpp" "$src/tests/package/consumer_sqlite.cpp" consumer/

# consumer MAIN_SOURCE CMAKE_LINES [configure args...]: a project whose my_app is MAIN_SOURCE,
# with the README's lines after add_executable; configured, built and run.
consumer() {
  local main="$1" lines="$2"
  shift 2
  {
    echo 'cmake_minimum_required(VERSION 3.25)'
    echo 'project(readme_consumer LANGUAGES CXX)'
    echo "add_executable(my_app $main)"
    printf '%s\n' "$lines"
  } >consumer/CMakeLists.txt
  echo "---- consumer/CMakeLists.txt"
  cat consumer/CMakeLists.txt
  cmake -S consumer -B consumer-build -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "$@"
  cmake --build consumer-build
  (cd consumer-build && ./my_app)
}

case "$route" in
  add_subdirectory)
    lines="$(require_block add_subdirectory)"
    mkdir -p consumer/third_party
    ln -s "$src" consumer/third_party/tutti
    consumer consumer.cpp "$lines"
    ;;
  fetchcontent)
    lines="$(require_block fetchcontent)"
    if ! commit="$(git -C "$src" rev-parse HEAD 2>/dev/null)"; then
      echo "skipped: $src is not a git checkout, so there is nothing for FetchContent to clone"
      exit 77
    fi
    lines="${lines//<url of the tutti repository>/$src}"
    lines="${lines//<release tag or commit>/$commit}"
    consumer consumer.cpp "$lines" -DFETCHCONTENT_QUIET=OFF
    ;;
  find_package | find_package_sqlite)
    install="$(require_block install)"
    lines="$(require_block "$route")"
    ln -s "$src" tutti
    install="${install//\/opt\/tutti/$work/prefix}"
    echo "---- README install commands, run in $work:"
    printf '%s\n' "$install"
    bash -euxo pipefail -c "$install"
    [[ -f prefix/share/cmake/tutti/tutti-config.cmake ]] || { echo "no tutti-config.cmake installed" >&2; exit 1; }
    if [[ "$route" == find_package_sqlite ]]; then
      [[ -f prefix/share/cmake/tutti/tutti-sqlite-targets.cmake ]] ||
        { echo "the install has no sqlite component" >&2; exit 1; }
      [[ -x prefix/bin/tutti-journal ]] || { echo "tutti-journal was not installed" >&2; exit 1; }
      prefix/bin/tutti-journal --help >/dev/null || { echo "installed tutti-journal does not run" >&2; exit 1; }
      consumer consumer_sqlite.cpp "$lines" "-DCMAKE_PREFIX_PATH=$work/prefix"
    else
      consumer consumer.cpp "$lines" "-DCMAKE_PREFIX_PATH=$work/prefix"
    fi
    ;;
  *) echo "unknown route '$route'" >&2; exit 2 ;;
esac
echo "README route '$route': OK"
