# Checks that a compile error is readable where people look: at the top of the compiler's output.
#
# For each tests/compile_fail/<name>.cpp whose second line is "// error-within-lines: <N>", this
# compiles the misuse (-DTUTTI_COMPILE_FAIL) with the given compiler and requires the file's
# error-regex (its first line: the tutti message, and the step names in readable text) to match
# within the first N lines of the output. g++ and clang++ only (their flags are used).
#
#   cmake -DCXX=<compiler> -DSOURCE_DIR=<tests/compile_fail> "-DINCLUDE_DIRS=<dir>|<dir>..."
#         [-DONLY=<name>] -P first_lines.cmake
#
# INCLUDE_DIRS separates directories with '|' (a ';' would split the argument in add_test).
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS CXX SOURCE_DIR INCLUDE_DIRS)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "first_lines.cmake: -D${var}=... is required")
  endif()
endforeach()

string(REPLACE "|" ";" include_dirs "${INCLUDE_DIRS}")
list(REMOVE_DUPLICATES include_dirs)
list(REMOVE_ITEM include_dirs "" "/usr/include")  # searched anyway; -I would reorder it
set(include_flags "")
foreach(dir IN LISTS include_dirs)
  list(APPEND include_flags "-I${dir}")
endforeach()

file(GLOB sources "${SOURCE_DIR}/*.cpp")
list(SORT sources)
set(checked 0)
set(failures "")
foreach(src IN LISTS sources)
  get_filename_component(name "${src}" NAME_WE)
  if(DEFINED ONLY AND NOT ONLY STREQUAL name)
    continue()
  endif()
  file(STRINGS "${src}" head LIMIT_COUNT 2)
  list(LENGTH head head_length)
  if(head_length LESS 2)
    continue()
  endif()
  list(GET head 0 first)
  list(GET head 1 second)
  if(NOT second MATCHES "^// error-within-lines: ([0-9]+)$")
    continue()
  endif()
  set(max_lines "${CMAKE_MATCH_1}")
  if(NOT first MATCHES "^// error-regex: (.+)$")
    message(FATAL_ERROR "${src}: the first line must be '// error-regex: <regex>'")
  endif()
  string(STRIP "${CMAKE_MATCH_1}" error_regex)

  execute_process(
    COMMAND "${CXX}" -std=c++20 -fsyntax-only -fdiagnostics-color=never -DTUTTI_COMPILE_FAIL
            ${include_flags} "${src}"
    RESULT_VARIABLE result
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)
  math(EXPR checked "${checked} + 1")
  if(result EQUAL 0)
    list(APPEND failures "${name}: the misuse compiled")
    continue()
  endif()

  # The first max_lines lines of the output, as one string (a regex may span lines).
  set(top "")
  set(rest "${output}")
  foreach(n RANGE 1 ${max_lines})
    string(FIND "${rest}" "\n" end)
    if(end EQUAL -1)
      string(APPEND top "${rest}")
      break()
    endif()
    math(EXPR next "${end} + 1")
    string(SUBSTRING "${rest}" 0 ${next} line)
    string(APPEND top "${line}")
    string(SUBSTRING "${rest}" ${next} -1 rest)
  endforeach()
  if(NOT top MATCHES "${error_regex}")
    list(APPEND failures "${name}: the first ${max_lines} lines do not match '${error_regex}'")
    message(STATUS "${name}: first ${max_lines} lines of ${CXX}:\n${top}")
  endif()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "first_lines.cmake: no test in ${SOURCE_DIR} has '// error-within-lines: N'")
endif()
if(failures)
  list(JOIN failures "\n  " text)
  message(FATAL_ERROR "first_lines.cmake (${CXX}):\n  ${text}")
endif()
message(STATUS "first_lines.cmake: ${checked} compile errors readable at the top (${CXX})")
