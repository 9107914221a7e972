# ctest package/install: a fresh `cmake --install` of the build tree into PREFIX.
# Usage: cmake -DBUILD_DIR=<build> -DPREFIX=<prefix> -DCONFIG=<config> -P install.cmake
foreach(var IN ITEMS BUILD_DIR PREFIX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install.cmake: -D${var}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE "${PREFIX}")
set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${result}")
endif()
foreach(expected IN ITEMS include/tutti/tutti.hpp include/tutti/version.hpp
                          share/cmake/tutti/tutti-config.cmake
                          share/cmake/tutti/tutti-config-version.cmake
                          share/cmake/tutti/tutti-targets.cmake)
  if(NOT EXISTS "${PREFIX}/${expected}")
    message(FATAL_ERROR "not installed: ${PREFIX}/${expected}")
  endif()
endforeach()
