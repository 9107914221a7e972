// Consumer of tutti through add_subdirectory.
#include <tutti/tutti.hpp>
#include <tutti/version.hpp>

#include <cstdio>  // std::printf

int main() {
  std::printf("tutti version %d\n", TUTTI_VERSION);
  return TUTTI_VERSION > 0 ? 0 : 1;
}
