# fsb_proto_library(NAME name ROOT dir PROTOS a.proto ... [GRPC a.proto ...] [DEPS ...])
#
# Generates C++ (and gRPC C++ for the GRPC subset) from PROTOS, given relative to ROOT,
# into ${CMAKE_CURRENT_BINARY_DIR}/gen, and compiles them into a static library whose
# users include "<relative path>.pb.h". Generated code is kept out of the modules'
# own targets so it is compiled once.
function(fsb_proto_library)
  cmake_parse_arguments(A "" "NAME;ROOT" "PROTOS;GRPC;DEPS;INCLUDES" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${out})
  set(import_flags -I${A_ROOT})
  foreach(inc ${A_INCLUDES} ${Protobuf_INCLUDE_DIRS})
    list(APPEND import_flags -I${inc})
  endforeach()
  set(srcs)
  foreach(rel ${A_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(outputs ${out}/${stem}.pb.cc ${out}/${stem}.pb.h)
    set(plugin_flags)
    if(rel IN_LIST A_GRPC)
      list(APPEND outputs ${out}/${stem}.grpc.pb.cc ${out}/${stem}.grpc.pb.h)
      set(plugin_flags --grpc_out=${out} --plugin=protoc-gen-grpc=${FSB_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND protobuf::protoc ${import_flags} --cpp_out=${out} ${plugin_flags} ${A_ROOT}/${rel}
      DEPENDS ${A_ROOT}/${rel} protobuf::protoc
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND srcs ${outputs})
  endforeach()
  add_library(${A_NAME} STATIC ${srcs})
  target_include_directories(${A_NAME} SYSTEM PUBLIC ${out})
  target_link_libraries(${A_NAME} PUBLIC protobuf::libprotobuf gRPC::grpc++ ${A_DEPS})
endfunction()
