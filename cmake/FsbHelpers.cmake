# Small helpers so every module declares its targets the same way.
#
#   fsb_cc_library(NAME name SRCS ... [DEPS ...])   static library, include root = repo root
#   fsb_cc_binary(NAME name SRCS ... [DEPS ...])
#   fsb_cc_test(NAME name SRCS ... [DEPS ...] [LABELS unit|integration|e2e])
#   fsb_cc_benchmark(NAME name SRCS ... [DEPS ...])  Google Benchmark program (its own
#                                                    main); not registered with ctest

set(FSB_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)

function(fsb_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  target_include_directories(${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${A_NAME} PRIVATE ${FSB_WARNINGS})
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS})
endfunction()

function(fsb_cc_binary)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_compile_options(${A_NAME} PRIVATE ${FSB_WARNINGS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
endfunction()

function(fsb_cc_test)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_compile_options(${A_NAME} PRIVATE ${FSB_WARNINGS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  set_tests_properties(${A_NAME} PROPERTIES LABELS "${A_LABELS}")
endfunction()

function(fsb_cc_benchmark)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  fsb_cc_binary(NAME ${A_NAME} SRCS ${A_SRCS} DEPS ${A_DEPS} benchmark::benchmark)
endfunction()
