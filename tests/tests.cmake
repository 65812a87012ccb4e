# Cross-cutting test suites that drive the built `kiln` tool.

# The ONNX backend test suite shipped by Debian's libonnx-testdata, with the checked-in list of
# expected failures: a new failure fails, and so does a listed case that now passes.
set(KILN_ONNX_TESTDATA /usr/share/libonnx-testdata/data)
if(EXISTS ${KILN_ONNX_TESTDATA})
  foreach(suite node simple pytorch-converted pytorch-operator)
    add_test(NAME conformance.${suite}
             COMMAND kiln_cli test --quiet
                     --expected-failures ${CMAKE_CURRENT_SOURCE_DIR}/tests/conformance/expected_failures.txt
                     ${KILN_ONNX_TESTDATA}/${suite})
  endforeach()
endif()

# The bundled example: kiln's logits against the ones torch computed when it exported the model.
add_test(NAME example.digits COMMAND kiln_cli test ${CMAKE_CURRENT_SOURCE_DIR}/examples/digits)
# Fixture files (e.g. .npy written by numpy) that unit tests read.
target_compile_definitions(kiln_unit_tests PRIVATE KILN_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/tests/data")

# End-to-end suites in Python, with Debian's interpreter and its python3-onnx, python3-numpy,
# python3-requests and python3-grpcio (all installed by scripts/install-deps.sh --test).
find_program(KILN_TEST_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)

# `kiln run` on good and bad models and inputs; the script builds its models with onnx.helper.
add_test(NAME cli.run_and_bad_inputs
         COMMAND ${KILN_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/cli_test.py $<TARGET_FILE:kiln_cli>)

# kiln serve end to end: Python clients against `kiln serve` on ephemeral loopback ports, over model
# repositories built at test time with onnx.helper.
add_test(NAME server.http
         COMMAND ${KILN_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/serve_test.py --kiln $<TARGET_FILE:kiln_cli>)
set_tests_properties(server.http PROPERTIES TIMEOUT 300)
# Every curl example in docs/protocol.md, against the bundled example repository.
add_test(NAME server.protocol_doc
         COMMAND ${KILN_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/protocol_doc_test.py
                 --kiln $<TARGET_FILE:kiln_cli> --doc ${CMAKE_CURRENT_SOURCE_DIR}/docs/protocol.md
                 --repository ${CMAKE_CURRENT_SOURCE_DIR}/examples/model_repository)
set_tests_properties(server.protocol_doc PROPERTIES TIMEOUT 120)
# The gRPC frontend, with python3-grpcio and message classes generated from the project's .proto.
# A server test that also speaks gRPC: the script gets the binary, the .proto and protoc (it generates
# its stubs from the project's own .proto).
function(kiln_add_grpc_server_test name script timeout)
  add_test(NAME server.${name}
           COMMAND ${KILN_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/${script} --kiln $<TARGET_FILE:kiln_cli>
                   --proto ${CMAKE_CURRENT_SOURCE_DIR}/src/serve/grpc/grpc_predict_v2.proto
                   --protoc $<TARGET_FILE:protobuf::protoc>)
  set_tests_properties(server.${name} PROPERTIES TIMEOUT ${timeout})
endfunction()
kiln_add_grpc_server_test(grpc grpc_test.py 120)
# ModelStreamInfer: many requests per stream, answered in order by id; errors mid-stream; half-close;
# cancel; concurrent streams.
kiln_add_grpc_server_test(grpc_stream grpc_stream_test.py 120)
# Existing clients unchanged: tritonclient (Python and C++ HTTP, gRPC), perf_analyzer and the KServe SDK,
# their requests replayed as their public source builds them (compression, shared memory, trace, ...).
kiln_add_grpc_server_test(client_compat client_compat_test.py 120)
# Request deadlines and client cancellation stop a running model (an endless Loop), over HTTP and gRPC.
kiln_add_grpc_server_test(deadlines deadline_test.py 180)
# A merged batch stops once none of its clients waits (HTTP and gRPC); a request whose client left is
# not merged.
kiln_add_grpc_server_test(batch_cancel batch_cancel_test.py 180)
# Triton's system shared memory extension: regions the test creates in /dev/shm, registered and used for
# inputs and outputs over HTTP and gRPC, compared with the body path; every bad case a 400 naming the tensor.
kiln_add_grpc_server_test(shared_memory shared_memory_test.py 120)

# The differential harness of the fast kernels (tests/ops): every fast kernel against its reference,
# and the same cases timed on real layer shapes by kiln_ops_perf (run by hand; it asserts nothing).
add_executable(kiln_ops_tests tests/ops/ops_test.cc)
target_include_directories(kiln_ops_tests PRIVATE src)
target_link_libraries(kiln_ops_tests PRIVATE kiln GTest::gtest_main OpenMP::OpenMP_CXX)
# The cases use designated initializers that leave fields at their defaults on purpose.
target_compile_options(kiln_ops_tests PRIVATE ${KILN_WARNINGS} -Wno-missing-field-initializers)
# A hang (a barrier some threads never reach) fails the test rather than the whole run's time limit.
gtest_discover_tests(kiln_ops_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
# The same cases with the vec loops capped at narrower instruction sets (kernels/vec/cpu_isa.h), so the
# AVX2 (W = 8) and SSE2 (W = 4) compilations are checked on a machine whose widest is AVX-512.
foreach(isa avx2 sse2)
  add_test(NAME ops.vec_isa_${isa} COMMAND kiln_ops_tests)
  set_tests_properties(ops.vec_isa_${isa} PROPERTIES ENVIRONMENT KILN_VEC_ISA=${isa} TIMEOUT 600)
endforeach()
# The blocked layout in 8-channel blocks (AVX2's nChw8c; kernels/dnnl/channel_block.h) on a machine
# whose oneDNN picks 16: the blocked cases run in both blocks anyway, but here the kernels pack their
# weights for 8 first, and the passes and the example CNN run in 8.
set(KILN_BLOCKED_OPS_FILTER "*Blocked*:*Released*:*FusedBlocks*:*Winograd*:FastKernels.Conv:FastKernels.Pooling")
add_test(NAME ops.channel_block_8 COMMAND kiln_ops_tests --gtest_filter=${KILN_BLOCKED_OPS_FILTER})
add_test(NAME opt.channel_block_8
         COMMAND kiln_unit_tests --gtest_filter=OptimizeModel.*:*Blocked*:BlockedLayout.*:ChannelBlock.*)
add_test(NAME example.digits_channel_block_8 COMMAND kiln_cli test ${CMAKE_CURRENT_SOURCE_DIR}/examples/digits)
set_tests_properties(ops.channel_block_8 opt.channel_block_8 example.digits_channel_block_8
                     PROPERTIES ENVIRONMENT KILN_CHANNEL_BLOCK=8)
# And as on a CPU without AVX-512: oneDNN capped at AVX2 (so the block is 8 and the Winograd kernels,
# AVX-512 only, are absent) and the vec loops too.
add_test(NAME ops.onednn_avx2 COMMAND kiln_ops_tests --gtest_filter=${KILN_BLOCKED_OPS_FILTER})
add_test(NAME example.digits_onednn_avx2 COMMAND kiln_cli test ${CMAKE_CURRENT_SOURCE_DIR}/examples/digits)
set_tests_properties(ops.onednn_avx2 example.digits_onednn_avx2
                     PROPERTIES ENVIRONMENT "ONEDNN_MAX_CPU_ISA=AVX2;KILN_VEC_ISA=avx2")
add_executable(kiln_ops_perf tests/ops/ops_perf.cc)
target_include_directories(kiln_ops_perf PRIVATE src)
target_link_libraries(kiln_ops_perf PRIVATE kiln)
target_compile_options(kiln_ops_perf PRIVATE ${KILN_WARNINGS} -Wno-missing-field-initializers)

# The server load benchmark (bench/serve/run.py) in its smoke mode: a second per run on tiny models,
# so the scripts and kiln_grpc_load cannot rot. Its HTTP part needs wrk and nginx, which only
# scripts/install-deps.sh --bench installs; without them it runs the gRPC part alone and says so.
if(KILN_BUILD_BENCH)
  add_test(NAME bench.serve_smoke
           COMMAND ${KILN_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/bench/serve/run.py --smoke
                   --kiln $<TARGET_FILE:kiln_cli> --grpc-load $<TARGET_FILE:kiln_grpc_load>)
  # RUN_SERIAL: it saturates both cores on purpose, which would starve the timing-sensitive server
  # tests (idle timeouts, the connection cap) that ctest -j would run beside it.
  set_tests_properties(bench.serve_smoke PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()
