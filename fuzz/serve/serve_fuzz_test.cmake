# Included by tests/CMakeLists.txt: builds fuzz/serve with clang against this build's libtandem.a
# and fuzzes the server's request parsers for TANDEM_SERVE_FUZZ_SECONDS (label "fuzz").
set(TANDEM_SERVE_FUZZ_SECONDS 30 CACHE STRING "How long the Fuzz.ServeRequests test fuzzes, in seconds")
add_test(NAME Fuzz.ServeRequests
         COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DBUILD_DIR=${PROJECT_BINARY_DIR}/fuzz-serve
                 -DTANDEM_LIB=$<TARGET_FILE:tandem> -DSECONDS=${TANDEM_SERVE_FUZZ_SECONDS}
                 -P ${PROJECT_SOURCE_DIR}/fuzz/serve/run_fuzz_serve.cmake)
set_tests_properties(Fuzz.ServeRequests PROPERTIES LABELS fuzz TIMEOUT 900)
