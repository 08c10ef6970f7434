# FSB_FUZZ=ON: the tree for libFuzzer (tests/fuzz, scripts/fuzz.sh). Every target is
# compiled with libFuzzer's coverage instrumentation and ASan+UBSan, so that the fuzzer
# sees and checks the libraries it drives, not only the targets; UBSan findings abort
# like ASan's. Needs clang (Debian's clang-14 with libclang-rt-14-dev).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "FSB_FUZZ=ON needs clang (-DCMAKE_CXX_COMPILER=clang++-14), "
                      "not ${CMAKE_CXX_COMPILER_ID}")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                    -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)
# ASan brings its own allocator: a program linking tcmalloc (fsb_admin's heap profiles)
# would have two. The fuzz tree uses the system allocator.
set_property(TARGET fsb_gperftools PROPERTY INTERFACE_LINK_LIBRARIES "")
