# Builds fuzz/serve with clang and runs the request-parser fuzzer for SECONDS; fails on a crash.
# Seeds: fuzz/corpus/serve. A crashing input is saved as BUILD_DIR/crash-*.
foreach(var SOURCE_DIR BUILD_DIR SECONDS TANDEM_LIB)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz_serve.cmake: -D${var}=... is required")
  endif()
endforeach()
find_program(CLANGXX NAMES clang++-14 clang++)
if(NOT CLANGXX)
  message(FATAL_ERROR "fuzz: clang++ not found; scripts/setup.sh installs clang and libclang-rt-14-dev")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/fuzz/serve -B ${BUILD_DIR} -G Ninja
                        -DCMAKE_CXX_COMPILER=${CLANGXX} -DTANDEM_LIB=${TANDEM_LIB} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: configuring fuzz/serve failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: building the request-parser harness failed")
endif()
file(MAKE_DIRECTORY ${BUILD_DIR}/corpus)
execute_process(COMMAND ${BUILD_DIR}/fuzz_serve -max_total_time=${SECONDS} -rss_limit_mb=2048 -timeout=10 -max_len=4096
                        -artifact_prefix=${BUILD_DIR}/ ${BUILD_DIR}/corpus ${SOURCE_DIR}/fuzz/corpus/serve
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: the request-parser fuzzer found a crash (rc ${rc}); see ${BUILD_DIR}/crash-*")
endif()
