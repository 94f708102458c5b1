# Included by tests/CMakeLists.txt: builds fuzz/onnx with clang against this build's libtandem.a
# and fuzzes the ONNX loader for TANDEM_ONNX_FUZZ_SECONDS (label "fuzz").
set(TANDEM_ONNX_FUZZ_SECONDS 30 CACHE STRING "How long the Fuzz.OnnxLoader test fuzzes, in seconds")
add_test(NAME Fuzz.OnnxLoader
         COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DBUILD_DIR=${PROJECT_BINARY_DIR}/fuzz-onnx
                 -DTANDEM_LIB=$<TARGET_FILE:tandem> -DSECONDS=${TANDEM_ONNX_FUZZ_SECONDS}
                 -P ${PROJECT_SOURCE_DIR}/fuzz/onnx/run_fuzz_onnx.cmake)
set_tests_properties(Fuzz.OnnxLoader PROPERTIES LABELS fuzz TIMEOUT 900)
