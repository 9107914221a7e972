// The one Catch2 main for every unit test (built once as tutti_catch_main).
#define CATCH_CONFIG_MAIN  // NOLINT(readability-identifier-naming): Catch2 configuration
#include <catch2/catch.hpp>
