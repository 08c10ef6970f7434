# Every third-party dependency is a Debian 12 package (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(glog CONFIG REQUIRED)
find_package(gflags REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
find_program(FSB_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# containerd's API protos, unpacked by scripts/install-deps.sh.
set(FSB_PROTO_CACHE "${PROJECT_SOURCE_DIR}/.cache/protos" CACHE PATH
    "Folder holding github.com/containerd/containerd/api and gogoproto protos")
if(NOT EXISTS "${FSB_PROTO_CACHE}/github.com/containerd/containerd/api")
  message(FATAL_ERROR "containerd protos missing under ${FSB_PROTO_CACHE}: run scripts/install-deps.sh")
endif()

# civetweb: the admin HTTP listeners (internal/admin). Debian's CMake config for it needs
# the `civetweb` binary package too, so the library and header are found directly.
find_library(FSB_CIVETWEB_LIBRARY civetweb REQUIRED)
find_path(FSB_CIVETWEB_INCLUDE_DIR civetweb.h REQUIRED)
add_library(fsb::civetweb UNKNOWN IMPORTED)
set_target_properties(fsb::civetweb PROPERTIES
  IMPORTED_LOCATION "${FSB_CIVETWEB_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${FSB_CIVETWEB_INCLUDE_DIR}")

# gperftools has no CMake config: pkg-config gives the CPU profiler and tcmalloc.
# fsb_gperftools links both into a binary: tcmalloc becomes its allocator (heap samples
# for /debug/pprof/heap) and libprofiler serves /debug/pprof/profile. fsb_admin links it
# publicly, so every binary linking fsb_admin gets both.
# A sanitizer tree (FSB_SANITIZE) keeps the sanitizer's allocator, which tcmalloc would
# replace: it links only the CPU profiler, and FSB_HEAP_PROFILES=0 tells
# /debug/pprof/heap to say so.
find_package(PkgConfig REQUIRED)
add_library(fsb_gperftools INTERFACE)
if(FSB_SANITIZE)
  pkg_check_modules(FSB_GPERFTOOLS REQUIRED IMPORTED_TARGET libprofiler)
  target_compile_definitions(fsb_gperftools INTERFACE FSB_HEAP_PROFILES=0)
else()
  pkg_check_modules(FSB_GPERFTOOLS REQUIRED IMPORTED_TARGET libprofiler libtcmalloc)
  target_compile_definitions(fsb_gperftools INTERFACE FSB_HEAP_PROFILES=1)
endif()
target_link_libraries(fsb_gperftools INTERFACE PkgConfig::FSB_GPERFTOOLS)
