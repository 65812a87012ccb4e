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

# End-to-end tests of `kiln run` on good and bad models and inputs. The script builds its models with
# the onnx python package (python3-onnx, installed by the project setup); skipped where that is missing.
find_program(KILN_TEST_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(KILN_TEST_PYTHON)
  execute_process(COMMAND ${KILN_TEST_PYTHON} -c "import onnx, numpy"
                  RESULT_VARIABLE KILN_PY_ONNX_MISSING OUTPUT_QUIET ERROR_QUIET)
  if(KILN_PY_ONNX_MISSING EQUAL 0)
    add_test(NAME cli.run_and_bad_inputs
             COMMAND ${KILN_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/cli_test.py $<TARGET_FILE:kiln_cli>)
  else()
    message(STATUS "kiln: ${KILN_TEST_PYTHON} lacks onnx/numpy; skipping the cli tests")
  endif()
endif()

# The differential harness of the fast kernels (tests/ops): every fast kernel against its reference,
# and the same cases timed on real layer shapes by kiln_ops_perf (run by hand; it asserts nothing).
add_executable(kiln_ops_tests tests/ops/ops_test.cc)
target_include_directories(kiln_ops_tests PRIVATE src)
target_link_libraries(kiln_ops_tests PRIVATE kiln GTest::gtest_main)
# The cases use designated initializers that leave fields at their defaults on purpose.
target_compile_options(kiln_ops_tests PRIVATE ${KILN_WARNINGS} -Wno-missing-field-initializers)
gtest_discover_tests(kiln_ops_tests DISCOVERY_TIMEOUT 60)
add_executable(kiln_ops_perf tests/ops/ops_perf.cc)
target_include_directories(kiln_ops_perf PRIVATE src)
target_link_libraries(kiln_ops_perf PRIVATE kiln)
target_compile_options(kiln_ops_perf PRIVATE ${KILN_WARNINGS} -Wno-missing-field-initializers)
