// tutti — forward declarations of the public types, for headers that only name them.
#ifndef TUTTI_FWD_HPP
#define TUTTI_FWD_HPP

#include <cstddef>  // std::size_t
#include <cstdint>  // underlying types of the enums

#include "config.hpp"

TUTTI_BEGIN_NAMESPACE

template <std::size_t N>
struct fixed_string;
enum class errc : int;
enum class step_role : unsigned char;
enum class step_status : std::uint8_t;
enum class run_outcome : std::uint8_t;
enum class compensation_policy : std::uint8_t;
struct unit;
struct run_id;
struct idempotency_key;
struct call_context;
struct run_options;
struct step_report;
class run_report;
struct steady_clock;
class any_clock;
struct no_compensation;
template <class Inner, class Policy>
class with_policy;
class bad_run_access;
// Templates over a compile-time name (from, step_node, basic_workflow, run_result) are not
// forward-declared: clang 14 rejects redeclaring a template whose parameter is a class-type
// placeholder. Include <tutti/workflow.hpp> for them.
struct max_attempts;
struct constant_backoff;
struct retry_transient;
struct linear_backoff;
struct exponential_backoff;
struct decorrelated_jitter;
struct policy_info;
struct timeout;
struct deadline;
template <class Backoff, class Predicate, class OnRetry>
struct retry;
template <class Backoff, class Predicate>
struct retry_forever;

namespace testing {
class manual_clock;
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_FWD_HPP
