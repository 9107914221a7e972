// tutti — what defining and running workflows needs, and no more: steps, workflows, sagas, the
// policies, parallel groups and branches, the event model. Not the built-in observers
// (<tutti/observe/...>), the fmt formatting of reports (<tutti/format.hpp>) or the durability
// backends: <tutti/tutti.hpp> adds the first two. Costs about half the umbrella to compile.
#ifndef TUTTI_CORE_HPP
#define TUTTI_CORE_HPP

#include "branch.hpp"
#include "clock.hpp"
#include "config.hpp"
#include "context.hpp"
#include "error.hpp"
#include "events.hpp"
#include "executor.hpp"
#include "fixed_string.hpp"
#include "fwd.hpp"
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

#endif  // TUTTI_CORE_HPP
