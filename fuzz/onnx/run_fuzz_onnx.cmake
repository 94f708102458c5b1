# Builds fuzz/onnx with clang and runs the ONNX loader fuzzer for SECONDS; fails on any crash.
# Seeds: the models under tests/data/onnx. A crashing input is saved as BUILD_DIR/crash-*.
foreach(var SOURCE_DIR BUILD_DIR SECONDS TANDEM_LIB)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz_onnx.cmake: -D${var}=... is required")
  endif()
endforeach()
find_program(CLANGXX NAMES clang++-14 clang++)
if(NOT CLANGXX)
  message(FATAL_ERROR "fuzz: clang++ not found; scripts/setup.sh installs clang and libclang-rt-14-dev")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/fuzz/onnx -B ${BUILD_DIR} -G Ninja
                        -DCMAKE_CXX_COMPILER=${CLANGXX} -DTANDEM_LIB=${TANDEM_LIB} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: configuring fuzz/onnx failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: building the ONNX harness failed")
endif()
file(MAKE_DIRECTORY ${BUILD_DIR}/corpus ${BUILD_DIR}/seeds)
file(GLOB seeds ${SOURCE_DIR}/tests/data/onnx/*.onnx ${SOURCE_DIR}/fuzz/onnx/corpus/*)
file(COPY ${seeds} DESTINATION ${BUILD_DIR}/seeds)
execute_process(COMMAND ${BUILD_DIR}/fuzz_onnx -max_total_time=${SECONDS} -rss_limit_mb=4096 -timeout=20
                        -artifact_prefix=${BUILD_DIR}/ ${BUILD_DIR}/corpus ${BUILD_DIR}/seeds
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: the ONNX loader fuzzer found a crash (rc ${rc}); see ${BUILD_DIR}/crash-*")
endif()
