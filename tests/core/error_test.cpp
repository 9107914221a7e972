// tutti::errc and its error category.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <tutti/tutti.hpp>

TEST_CASE("errc values convert to std::error_code in the tutti category", "[core][error]") {
  const std::error_code ec = tutti::errc::compensation_failed;
  CHECK(ec.category().name() == std::string_view{"tutti"});
  CHECK(&ec.category() == &tutti::error_category());
  CHECK(ec.value() == 3);
  CHECK(ec == tutti::errc::compensation_failed);
  CHECK(ec != tutti::errc::cancelled);
  CHECK(static_cast<bool>(ec));
}

TEST_CASE("every errc has its own readable message", "[core][error]") {
  std::set<std::string> messages;
  for (int v = 1; v <= 13; ++v) {
    const std::error_code ec{v, tutti::error_category()};
    CHECK_FALSE(ec.message().empty());
    CHECK(ec.message() != "unknown tutti error");
    messages.insert(ec.message());
  }
  CHECK(messages.size() == 13);
  CHECK(std::error_code(99, tutti::error_category()).message() == "unknown tutti error");
}

TEST_CASE("describe and the fmt formatter name message, category and value", "[core][error]") {
  CHECK(tutti::describe(tutti::errc::timeout) == "timed out [tutti:5]");
  CHECK(fmt::format("{}", tutti::errc::cancelled) == "cancelled [tutti:4]");
  CHECK(fmt::format("{}", tutti::step_status::compensation_failed) == "compensation failed");
  CHECK(fmt::format("{}", tutti::run_outcome::compensated) == "failed, compensated");
}

TEST_CASE("std::error_code formats with message, category and value", "[core][error]") {
  const std::error_code ec = tutti::errc::rate_limited;
#if FMT_VERSION < 100000
  CHECK(fmt::format("{}", ec) == "rate limited [tutti:8]");
#else
  CHECK(fmt::format("{}", ec).find("tutti") != std::string::npos);
#endif
}
