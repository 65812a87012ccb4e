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

# kiln serve end to end: a Python client (requests) against `kiln serve` on ephemeral loopback ports,
# over model repositories built at test time with onnx.helper.
find_program(KILN_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(KILN_PYTHON3)
  add_test(NAME server.http
           COMMAND ${KILN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/serve_test.py --kiln $<TARGET_FILE:kiln_cli>)
  set_tests_properties(server.http PROPERTIES TIMEOUT 300)
  # Every curl example in docs/protocol.md, against the bundled example repository.
  add_test(NAME server.protocol_doc
           COMMAND ${KILN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/protocol_doc_test.py
                   --kiln $<TARGET_FILE:kiln_cli> --doc ${CMAKE_CURRENT_SOURCE_DIR}/docs/protocol.md
                   --repository ${CMAKE_CURRENT_SOURCE_DIR}/examples/model_repository)
  set_tests_properties(server.protocol_doc PROPERTIES TIMEOUT 120)
  # The gRPC frontend, with python3-grpcio and message classes generated from the project's .proto.
  add_test(NAME server.grpc
           COMMAND ${KILN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/grpc_test.py --kiln $<TARGET_FILE:kiln_cli>
                   --proto ${CMAKE_CURRENT_SOURCE_DIR}/src/serve/grpc/grpc_predict_v2.proto
                   --protoc $<TARGET_FILE:protobuf::protoc>)
  set_tests_properties(server.grpc PROPERTIES TIMEOUT 120)
endif()
