# Included by tests/CMakeLists.txt: the CTest test that builds fuzz/ with clang and fuzzes the
# safetensors loader for TANDEM_FUZZ_SECONDS (label "fuzz"; `ctest -L fuzz` runs only it,
# `ctest -LE fuzz` skips it).
set(TANDEM_FUZZ_SECONDS 60 CACHE STRING "How long the Fuzz.Safetensors test fuzzes, in seconds")
add_test(NAME Fuzz.Safetensors
         COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DBUILD_DIR=${PROJECT_BINARY_DIR}/fuzz
                 -DSECONDS=${TANDEM_FUZZ_SECONDS} -P ${PROJECT_SOURCE_DIR}/fuzz/run_fuzz.cmake)
set_tests_properties(Fuzz.Safetensors PROPERTIES LABELS fuzz TIMEOUT 900)
