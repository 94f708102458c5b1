# tandem-lite (src/lite): the inference-only runtime and its C API (include/tandem_lite.h), its
# command line (tools/lite) and its self-test (tests/lite/selftest). The library depends on the
# C++ standard library alone (no fmt, oneDNN, protobuf or libtandem), so it builds standalone and
# cross-compiles; its kernels are plain loops and GCC vector extensions. Included by the full
# build and, with TANDEM_LITE_ONLY, alone (the lite-aarch64 preset: cross-compiled, its tests
# run under qemu-user; the lite-wasm preset: WebAssembly for the browser, cmake/wasm.cmake).
include(GNUInstallDirs)
set(TANDEM_LITE_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
add_library(tandem_lite STATIC ${TANDEM_LITE_ROOT}/src/lite/runtime.cpp ${TANDEM_LITE_ROOT}/src/lite/kernels.cpp
            ${TANDEM_LITE_ROOT}/src/lite/kernels_int8.cpp ${TANDEM_LITE_ROOT}/src/lite/runtime_int8.cpp
            ${TANDEM_LITE_ROOT}/src/lite/c_api.cpp ${TANDEM_LITE_ROOT}/src/lite/npy.cpp
            ${TANDEM_LITE_ROOT}/src/lite/pool.cpp)
target_include_directories(tandem_lite
  PUBLIC $<BUILD_INTERFACE:${TANDEM_LITE_ROOT}/include> $<INSTALL_INTERFACE:include>
  PRIVATE ${TANDEM_LITE_ROOT}/src/lite)
target_compile_options(tandem_lite PRIVATE -Wall -Wextra -Wno-psabi -O3 -fno-math-errno -ffunction-sections -fdata-sections)
set_target_properties(tandem_lite PROPERTIES POSITION_INDEPENDENT_CODE ON)
# Threads inside one run (src/lite/pool.cpp); the WebAssembly build has none.
if(NOT EMSCRIPTEN)
  find_package(Threads REQUIRED)
  target_link_libraries(tandem_lite PUBLIC Threads::Threads)
endif()
# The int8 requantization is bit-exact across targets only without fused multiply-adds.
set_source_files_properties(${TANDEM_LITE_ROOT}/src/lite/kernels_int8.cpp PROPERTIES COMPILE_OPTIONS -ffp-contract=off)

# The WebAssembly build (the lite-wasm preset, emscripten) stops here: the module and its tests
# are in cmake/wasm.cmake; the CLI and the self-test need a file system and a process.
if(EMSCRIPTEN)
  include(${CMAKE_CURRENT_LIST_DIR}/wasm.cmake)
  return()
endif()

# The command line: links tandem_lite alone. TANDEM_LITE_STATIC=ON links it fully static (one
# file to copy to a board).
option(TANDEM_LITE_STATIC "Link the tandem-lite CLI statically" OFF)
add_executable(tandem_lite_cli ${TANDEM_LITE_ROOT}/tools/lite/main.cpp)
set_target_properties(tandem_lite_cli PROPERTIES OUTPUT_NAME tandem-lite RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tools)
target_link_libraries(tandem_lite_cli PRIVATE tandem_lite)
target_include_directories(tandem_lite_cli PRIVATE ${TANDEM_LITE_ROOT}/src/lite)
target_compile_options(tandem_lite_cli PRIVATE -Wall -Wextra)
target_link_options(tandem_lite_cli PRIVATE -Wl,--gc-sections)
if(TANDEM_LITE_STATIC)
  target_link_options(tandem_lite_cli PRIVATE -static)
endif()
install(TARGETS tandem_lite_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The self-test links tandem_lite alone and reads only tests/lite/data (the full runtime's
# outputs for committed .tlite files); the CLI check runs `tandem-lite run` on one of them.
if(TANDEM_BUILD_TESTS)
  add_executable(lite_selftest ${TANDEM_LITE_ROOT}/tests/lite/selftest/lite_selftest.cpp)
  set_target_properties(lite_selftest PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(lite_selftest PRIVATE tandem_lite)
  target_include_directories(lite_selftest PRIVATE ${TANDEM_LITE_ROOT}/src/lite)
  add_test(NAME LiteSelftest COMMAND lite_selftest ${TANDEM_LITE_ROOT}/tests/lite/data)
  set_tests_properties(LiteSelftest PROPERTIES LABELS lite_selftest)
  set(_lite_data ${TANDEM_LITE_ROOT}/tests/lite/data)
  add_test(NAME LiteCli.run COMMAND tandem_lite_cli run ${_lite_data}/tiny_block.tlite
           --input ${_lite_data}/tiny_block.input_0.npy --output-dir ${CMAKE_BINARY_DIR})
  set_tests_properties(LiteCli.run PROPERTIES LABELS tandem_lite_cli
                       PASS_REGULAR_EXPRESSION "tokens: \\[2, 6, 16\\]\npooled: \\[2, 16\\]")
  add_test(NAME LiteCli.run_threads COMMAND tandem_lite_cli run ${_lite_data}/tiny_block.tlite
           --input ${_lite_data}/tiny_block.input_0.npy --output-dir ${CMAKE_BINARY_DIR} --threads 3)
  set_tests_properties(LiteCli.run_threads PROPERTIES LABELS tandem_lite_cli
                       PASS_REGULAR_EXPRESSION "tokens: \\[2, 6, 16\\]\npooled: \\[2, 16\\]")
  add_test(NAME LiteCli.bad_file COMMAND tandem_lite_cli info ${_lite_data}/tiny_block.input_0.npy)
  set_tests_properties(LiteCli.bad_file PROPERTIES LABELS tandem_lite_cli WILL_FAIL ON)
endif()
