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

# The server's request decoding: only the sources that turn a client's bytes into tensors, so the
# fuzzer needs neither Asio, gRPC nor prometheus-cpp.
set(KILN_FUZZ_SERVE_CODEC_SOURCES
  src/serve/http/infer_codec.cc src/serve/http/tensor_codec.cc src/serve/http/content_coding.cc
  src/serve/datatype_names.cc src/serve/raw_tensor.cc src/serve/cancellation.cc
  src/serve/shared_memory/system_shared_memory.cc src/serve/shared_memory/shared_memory_tensors.cc)
add_library(kiln_fuzz_serve_codec OBJECT ${KILN_FUZZ_SERVE_CODEC_SOURCES})
target_include_directories(kiln_fuzz_serve_codec PUBLIC ${RAPIDJSON_INCLUDE_DIRS})
target_compile_definitions(kiln_fuzz_serve_codec PUBLIC RAPIDJSON_HAS_STDSTRING=1)
# Debian's rapidjson 1.1 offsets a null pointer when its parse stack first grows (internal/stack.h,
# fixed upstream after 1.1); the check is left off where rapidjson is compiled in, all others stay on.
# A source file's options come after the sanitizer flags the target inherits, so they win.
set_source_files_properties(${KILN_FUZZ_SERVE_CODEC_SOURCES} PROPERTIES COMPILE_OPTIONS -fno-sanitize=pointer-overflow)
target_link_libraries(kiln_fuzz_serve_codec PUBLIC kiln_fuzz_core ZLIB::ZLIB)
add_executable(kiln_infer_request_fuzz ${CMAKE_CURRENT_LIST_DIR}/infer_request_fuzz.cc)
# Object libraries only give their own objects to what links them directly, so both are named.
target_link_libraries(kiln_infer_request_fuzz PRIVATE kiln_fuzz_serve_codec kiln_fuzz_core)
target_link_options(kiln_infer_request_fuzz PRIVATE ${KILN_FUZZ_SANITIZERS} -fsanitize=fuzzer)
