// tutti — umbrella header: base, core, policies, control flow and observe.
// The testing kit (<tutti/testing/...>) and durability backends are included on purpose.
#ifndef TUTTI_TUTTI_HPP
#define TUTTI_TUTTI_HPP

#include "branch.hpp"
#include "clock.hpp"
#include "config.hpp"
#include "context.hpp"
#include "error.hpp"
#include "events.hpp"
#include "executor.hpp"
#include "fixed_string.hpp"
#include "format.hpp"
#include "fwd.hpp"
#include "observe/alert.hpp"
#include "observe/diagram.hpp"
#include "observe/log.hpp"
#include "observe/metrics.hpp"
#include "observe/trace.hpp"
#include "parallel.hpp"
#include "policy.hpp"
#include "policy/backoff.hpp"
#include "policy/breaker_state.hpp"
#include "policy/bulkhead.hpp"
#include "policy/circuit_breaker.hpp"
#include "policy/fallback.hpp"
#include "policy/rate_limiter.hpp"
#include "policy/retry.hpp"
#include "policy/timeout.hpp"
#include "report.hpp"
#include "result.hpp"
#include "step.hpp"
#include "version.hpp"
#include "workflow.hpp"

#endif  // TUTTI_TUTTI_HPP
