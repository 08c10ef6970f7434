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
