# Small helpers so every module declares its targets the same way.
#
#   fsb_cc_library(NAME name SRCS ... [DEPS ...] [UNINSTRUMENTED])
#                                                    static library, include root = repo root
#   fsb_cc_binary(NAME name SRCS ... [DEPS ...] [UNINSTRUMENTED])
#   fsb_cc_test(NAME name SRCS ... [DEPS ...] [LABELS unit|integration|e2e [deploy|allocator]]
#               [DESCRIPTOR_CASES gtest-pattern])
#       `deploy` marks a test of what ships (chart, images, package, units): it runs in the
#       plain tree only; `allocator` one that needs tcmalloc (absent from sanitizer trees):
#       it runs in the plain tree too. DESCRIPTOR_CASES names the cases that exhaust the
#       process's file descriptors: a sanitizer needs descriptors of its own (UBSan's
#       first check of a type opens a pipe, and reports an error when it cannot), so they
#       run as a ctest entry of their own, NAME_descriptors, label `descriptors`, in the
#       plain tree; NAME runs the others. The target fsb_plain_checks builds the programs
#       and these tests, all that the plain tree's part of scripts/test.sh runs.
#   fsb_cc_benchmark(NAME name SRCS ... [DEPS ...])  Google Benchmark program (its own
#                                                    main); not registered with ctest

set(FSB_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)

# FSB_SANITIZE is a -fsanitize= list (address,undefined or thread) for a checking tree
# (scripts/test.sh --sanitize=...). Every target is instrumented except those declared
# UNINSTRUMENTED: the statically linked programs, which run where no sanitizer runtime
# exists (fsb-init inside containers, fsb-logger under the shim), and the libc-only
# libraries they are built from. A finding stops the process (no recovery), so it fails
# the test that caused it.
set(FSB_SANITIZE "" CACHE STRING "-fsanitize= list for every instrumented target, or empty")

# ThreadSanitizer cannot see Debian's uninstrumented absl::Mutex: a ThreadSanitizer tree
# links internal/tsan_absl_mutex.cc, which tells it, into every program. And the
# libraries' headers must describe the prebuilt libraries: with __SANITIZE_THREAD__
# defined, protobuf's MapFieldBase grows two members libprotobuf does not have (a
# different layout: crashes in Map), and Abseil's and gRPC's headers change too. So an
# instrumented file is compiled as if it were not (-U__SANITIZE_THREAD__); fsb's own code
# does not ask.
set(FSB_SANITIZE_COMPILE_OPTIONS -fsanitize=${FSB_SANITIZE} -fno-sanitize-recover=all
                                 -fno-omit-frame-pointer)
if(FSB_SANITIZE MATCHES "thread")
  list(APPEND FSB_SANITIZE_COMPILE_OPTIONS -U__SANITIZE_THREAD__)
  add_library(fsb_tsan_absl_mutex OBJECT ${PROJECT_SOURCE_DIR}/internal/tsan_absl_mutex.cc
                                         ${PROJECT_SOURCE_DIR}/internal/tsan_absl_condition.cc)
  target_include_directories(fsb_tsan_absl_mutex PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(fsb_tsan_absl_mutex PRIVATE ${FSB_SANITIZE_COMPILE_OPTIONS})
  # Not instrumented: see internal/tsan_absl_condition.h.
  set_source_files_properties(${PROJECT_SOURCE_DIR}/internal/tsan_absl_condition.cc
                              PROPERTIES COMPILE_OPTIONS -fno-sanitize=thread)
  target_link_libraries(fsb_tsan_absl_mutex PUBLIC absl::synchronization ${CMAKE_DL_LIBS})
endif()

add_custom_target(fsb_plain_checks)

function(fsb_instrument target)
  if(NOT FSB_SANITIZE)
    return()
  endif()
  target_compile_options(${target} PRIVATE ${FSB_SANITIZE_COMPILE_OPTIONS})
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "STATIC_LIBRARY")
    target_link_options(${target} PRIVATE -fsanitize=${FSB_SANITIZE})
    if(FSB_SANITIZE MATCHES "thread")
      target_link_libraries(${target} PRIVATE fsb_tsan_absl_mutex)
    endif()
  endif()
endfunction()

function(fsb_cc_library)
  cmake_parse_arguments(A "UNINSTRUMENTED" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  target_include_directories(${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${A_NAME} PRIVATE ${FSB_WARNINGS})
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS})
  if(NOT A_UNINSTRUMENTED)
    fsb_instrument(${A_NAME})
  endif()
endfunction()

function(fsb_cc_binary)
  cmake_parse_arguments(A "UNINSTRUMENTED" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_compile_options(${A_NAME} PRIVATE ${FSB_WARNINGS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  if(NOT A_UNINSTRUMENTED)
    fsb_instrument(${A_NAME})
  endif()
endfunction()

function(fsb_cc_test)
  cmake_parse_arguments(A "" "NAME;DESCRIPTOR_CASES" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_compile_options(${A_NAME} PRIVATE ${FSB_WARNINGS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gmock GTest::gtest_main)
  fsb_instrument(${A_NAME})
  if(A_DESCRIPTOR_CASES)
    add_test(NAME ${A_NAME} COMMAND ${A_NAME} --gtest_filter=-${A_DESCRIPTOR_CASES})
    add_test(NAME ${A_NAME}_descriptors COMMAND ${A_NAME}
             --gtest_filter=${A_DESCRIPTOR_CASES})
    set_tests_properties(${A_NAME}_descriptors PROPERTIES LABELS "${A_LABELS};descriptors")
    add_dependencies(fsb_plain_checks ${A_NAME})
  else()
    add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  endif()
  set_tests_properties(${A_NAME} PROPERTIES LABELS "${A_LABELS}")
  if("deploy" IN_LIST A_LABELS OR "allocator" IN_LIST A_LABELS)
    add_dependencies(fsb_plain_checks ${A_NAME})
  endif()
endfunction()

function(fsb_cc_benchmark)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  fsb_cc_binary(NAME ${A_NAME} SRCS ${A_SRCS} DEPS ${A_DEPS} benchmark::benchmark)
endfunction()
