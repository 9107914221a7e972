// A directory of its own under the system's temp directory, removed with everything in it:
// where the SQLite journal tests put their files.
#ifndef TUTTI_TESTS_SUPPORT_TEMP_DIR_HPP
#define TUTTI_TESTS_SUPPORT_TEMP_DIR_HPP

#include <tutti/context.hpp>  // run_id::generate, a unique name

#include <filesystem>
#include <string>
#include <system_error>

namespace support {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    const auto hex = tutti::run_id::generate().hex();
    path = std::filesystem::temp_directory_path() /
           ("tutti-sqlite-" + std::string(hex.data(), hex.size()));
    std::filesystem::create_directories(path);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace support

#endif  // TUTTI_TESTS_SUPPORT_TEMP_DIR_HPP
