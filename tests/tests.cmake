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

# Fixture files (e.g. .npy written by numpy) that unit tests read.
target_compile_definitions(kiln_unit_tests PRIVATE KILN_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/tests/data")
