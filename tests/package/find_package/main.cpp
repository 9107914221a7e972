// Consumer of tutti through find_package.
#include <tutti/tutti.hpp>
#include <tutti/version.hpp>

#include <cstdio>  // std::printf

int main() {
  std::printf("tutti version %d\n", TUTTI_VERSION);
  return TUTTI_VERSION > 0 ? 0 : 1;
}
