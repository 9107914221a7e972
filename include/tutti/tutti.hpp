// tutti — umbrella header: base, core, policies, control flow and observe.
// The testing kit (<tutti/testing/...>) and durability backends are included on purpose. A file
// that only defines and runs workflows can include <tutti/core.hpp> instead: half the cost.
#ifndef TUTTI_TUTTI_HPP
#define TUTTI_TUTTI_HPP

#include "core.hpp"
#include "format.hpp"
#include "observe/alert.hpp"
#include "observe/diagram.hpp"
#include "observe/log.hpp"
#include "observe/metrics.hpp"
#include "observe/trace.hpp"

#endif  // TUTTI_TUTTI_HPP
