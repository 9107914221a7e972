// tutti — the event model, kept at its former place: it is now <tutti/events.hpp>.
#ifndef TUTTI_OBSERVE_EVENTS_HPP
#define TUTTI_OBSERVE_EVENTS_HPP

#include "../events.hpp"  // IWYU pragma: export

#endif  // TUTTI_OBSERVE_EVENTS_HPP
