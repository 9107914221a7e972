// Run ids and idempotency keys.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <thread>
#include <tutti/tutti.hpp>

TEST_CASE("a run id prints as 32 hex digits and parses back", "[core][context]") {
  const tutti::run_id id{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  const auto hex = id.hex();
  CHECK(std::string(hex.data(), hex.size()) == "0123456789abcdeffedcba9876543210");
  CHECK(fmt::format("{}", id) == "0123456789abcdeffedcba9876543210");
  const auto back = tutti::run_id::parse(std::string_view{hex.data(), hex.size()});
  REQUIRE(back.has_value());
  CHECK(*back == id);
  CHECK(tutti::run_id::parse("0123").has_value() == false);
  CHECK(tutti::run_id::parse("0123456789abcdeffedcba987654321g").has_value() == false);
  CHECK(tutti::run_id::parse("0123456789ABCDEFFEDCBA9876543210") == id);
}

TEST_CASE("a run id's hex digits format with fmt and read as text", "[core][context][format]") {
  const tutti::run_id id{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  const std::string expected = "0123456789abcdeffedcba9876543210";
  STATIC_REQUIRE(fmt::is_formattable<decltype(id.hex())>::value);
  STATIC_REQUIRE(fmt::is_formattable<tutti::run_id>::value);
  CHECK(fmt::format("{}", id.hex()) == expected);
  CHECK(fmt::format("{}", id) == expected);
  CHECK(fmt::format("[{:>34}]", id.hex()) == "[  " + expected + "]");  // string specs apply
  CHECK(fmt::format("[{:<34}]", id) == "[" + expected + "  ]");
  const std::string text{id.hex()};
  CHECK(text == expected);
  CHECK(std::string_view{id.hex()} == expected);
  STATIC_REQUIRE(tutti::run_id{0, 0xab}.hex()[31] == 'b');  // still usable at compile time
}

TEST_CASE("generated run ids are never empty and differ between threads", "[core][context]") {
  const auto a = tutti::run_id::generate();
  tutti::run_id b;
  std::thread([&b] { b = tutti::run_id::generate(); }).join();
  CHECK_FALSE(a.empty());
  CHECK_FALSE(b.empty());
  CHECK(a != b);
  CHECK(tutti::run_id::generate() != a);
}

TEST_CASE("an idempotency key is run id and step path, formatted with a colon",
          "[core][context]") {
  const tutti::idempotency_key key{tutti::run_id{0, 1}, "payment/authorize"};
  CHECK(fmt::format("{}", key) == "00000000000000000000000000000001:payment/authorize");
  std::string appended = "key=";
  key.append_to(appended);
  CHECK(appended == "key=00000000000000000000000000000001:payment/authorize");
  CHECK(key == tutti::idempotency_key{tutti::run_id{0, 1}, "payment/authorize"});
  CHECK_FALSE(key == tutti::idempotency_key{tutti::run_id{0, 2}, "payment/authorize"});
}

TEST_CASE("a forked child draws run ids of its own", "[context][run_id]") {
  const tutti::run_id before = tutti::run_id::generate();  // the parent's generator is seeded
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const tutti::run_id child = tutti::run_id::generate();
    const std::uint64_t halves[2] = {child.hi, child.lo};
    const auto n = ::write(fds[1], halves, sizeof halves);
    std::_Exit(n == static_cast<ssize_t>(sizeof halves) ? 0 : 1);
  }
  const tutti::run_id parent = tutti::run_id::generate();
  std::uint64_t halves[2] = {0, 0};
  REQUIRE(::read(fds[0], halves, sizeof halves) == static_cast<ssize_t>(sizeof halves));
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  ::close(fds[0]);
  ::close(fds[1]);
  const tutti::run_id child{halves[0], halves[1]};
  CHECK(child != parent);
  CHECK(child != before);
  CHECK(child.hi != parent.hi);  // another generator, not the parent's next number
}
