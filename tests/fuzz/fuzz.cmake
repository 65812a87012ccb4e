# libFuzzer targets (configure with -DKILN_FUZZ=ON and CC=clang CXX=clang++; run_fuzzers.sh does it).
#
# The engine sources are compiled once more, with AddressSanitizer and UBSan and libFuzzer's coverage
# instrumentation, into an object library that every fuzzer links; the system protobuf and onnx
# libraries stay uninstrumented.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "KILN_FUZZ needs clang (configure with CC=clang CXX=clang++)")
endif()

set(KILN_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-sanitize=vptr)

add_library(kiln_fuzz_core OBJECT ${KILN_SOURCES})
target_include_directories(kiln_fuzz_core PUBLIC include src)
# The same libraries the engine links (see CMakeLists.txt): oneDNN and its OpenMP runtime.
target_link_libraries(kiln_fuzz_core PUBLIC onnx_proto protobuf::libprotobuf kiln_dnnl OpenMP::OpenMP_CXX)
target_compile_options(kiln_fuzz_core PUBLIC ${KILN_FUZZ_SANITIZERS} -fsanitize=fuzzer-no-link -g -O1
                                             -fno-omit-frame-pointer)

foreach(target model_import_fuzz npy_fuzz tensor_proto_fuzz)
  add_executable(kiln_${target} ${CMAKE_CURRENT_LIST_DIR}/${target}.cc)
  target_link_libraries(kiln_${target} PRIVATE kiln_fuzz_core)
  target_link_options(kiln_${target} PRIVATE ${KILN_FUZZ_SANITIZERS} -fsanitize=fuzzer)
endforeach()
