# Runs an example and checks both how it ends and what it prints (ctest's PASS_REGULAR_EXPRESSION
# alone ignores the exit code and accepts any one of its patterns):
#   cmake -DEXAMPLE=<executable> [-DEXAMPLE_ARGS=<arg;...>] -DEXPECTED_EXIT=<code>
#         -P check_output.cmake -- <regex>...
# Passes when the example exits with EXPECTED_EXIT and its standard output matches every regex.
if(NOT DEFINED EXAMPLE OR NOT DEFINED EXPECTED_EXIT)
  message(FATAL_ERROR "check_output.cmake: EXAMPLE and EXPECTED_EXIT must be set")
endif()

# The regexes: the arguments after "--".
set(patterns "")
set(after_dashes FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_dashes)
    list(APPEND patterns "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_dashes TRUE)
  endif()
endforeach()
if(NOT patterns)
  message(FATAL_ERROR "check_output.cmake: no regex given after --")
endif()

execute_process(COMMAND "${EXAMPLE}" ${EXAMPLE_ARGS}
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(err)
  message("standard error:\n${err}")
endif()

set(failed FALSE)
if(NOT code STREQUAL "${EXPECTED_EXIT}")
  message(SEND_ERROR "exit status ${code}, expected ${EXPECTED_EXIT}")
  set(failed TRUE)
endif()
foreach(pattern IN LISTS patterns)
  if(NOT out MATCHES "${pattern}")
    message(SEND_ERROR "the output does not match: ${pattern}")
    set(failed TRUE)
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "${EXAMPLE} ${EXAMPLE_ARGS}: not the expected behaviour")
endif()
