// A benchmark's SQLite file: a fresh path in /dev/shm (tmpfs: no fsync cost) or the temp
// directory (a real disk), its files removed afterwards. Shared by journal_bench.cpp and
// runner_bench.cpp.
#pragma once

#include <tutti/context.hpp>

#include <filesystem>
#include <string>
#include <system_error>

namespace bench {

/// A fresh database path in /dev/shm (`disk` false) or the temp directory, its files removed
/// afterwards. `path` is empty when /dev/shm does not exist.
struct bench_db {
  std::string path;
  explicit bench_db(bool disk) {
    std::error_code ec;
    std::filesystem::path base;
    if (disk) {
      base = std::filesystem::temp_directory_path(ec);
    } else if (std::filesystem::is_directory("/dev/shm", ec)) {
      base = "/dev/shm";
    }
    if (base.empty()) return;
    const auto hex = tutti::run_id::generate().hex();
    path = (base / ("tutti-bench-" + std::string(hex.data(), hex.size()) + ".db")).string();
  }
  bench_db(const bench_db&) = delete;
  bench_db& operator=(const bench_db&) = delete;
  ~bench_db() {
    if (path.empty()) return;
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      std::filesystem::remove(path + suffix, ec);
  }
};

}  // namespace bench
