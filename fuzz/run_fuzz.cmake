# Builds fuzz/ with clang and runs the safetensors fuzzer for SECONDS; fails on any crash.
#   cmake -DSOURCE_DIR=<repo> -DBUILD_DIR=<dir> -DSECONDS=60 -P fuzz/run_fuzz.cmake
# The working corpus (BUILD_DIR/corpus) is kept between runs so coverage accumulates;
# fuzz/corpus/ holds the committed seeds (written by tests/reference/gen_safetensors.py).
# A crashing input is saved as BUILD_DIR/crash-*; reproduce with BUILD_DIR/fuzz_safetensors FILE.
foreach(var SOURCE_DIR BUILD_DIR SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz.cmake: -D${var}=... is required")
  endif()
endforeach()

find_program(CLANGXX NAMES clang++-14 clang++)
if(NOT CLANGXX)
  message(FATAL_ERROR "fuzz: clang++ not found; scripts/setup.sh installs clang and libclang-rt-14-dev")
endif()
set(launcher "")
find_program(CCACHE ccache)
if(CCACHE)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE})
endif()

execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/fuzz -B ${BUILD_DIR} -G Ninja
                        -DCMAKE_CXX_COMPILER=${CLANGXX} -DCMAKE_BUILD_TYPE=RelWithDebInfo ${launcher}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: configuring fuzz/ with ${CLANGXX} failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: building the harness failed (is libclang-rt-14-dev installed?)")
endif()

file(MAKE_DIRECTORY ${BUILD_DIR}/corpus)
execute_process(
  COMMAND ${BUILD_DIR}/fuzz_safetensors -max_total_time=${SECONDS} -max_len=4096 -timeout=10
          -rss_limit_mb=2048 -print_final_stats=1 -dict=${SOURCE_DIR}/fuzz/safetensors.dict
          -artifact_prefix=${BUILD_DIR}/ ${BUILD_DIR}/corpus ${SOURCE_DIR}/fuzz/corpus
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: the fuzzer found a crash (exit ${rc}); the input is in ${BUILD_DIR}/crash-* "
                      "(reproduce: ${BUILD_DIR}/fuzz_safetensors <file>)")
endif()
