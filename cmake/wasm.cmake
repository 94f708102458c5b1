# tandem-lite for the browser (the lite-wasm preset; included by cmake/lite.cmake under emscripten).
# tandem_lite_wasm links the library and the glue (web/glue) into an ES module factory
# (tandem_lite.mjs) and its tandem_lite.wasm; web/tandem_lite.js, the JavaScript API, loads them
# from web/dist, where the build copies them (and next to the demo page, which imports the API).
# Flags: wasm SIMD (the kernels' GCC vector extensions become v128 operations), C++ exceptions
# (the C API turns the runtime's errors into statuses), a growable heap, no Closure pass.
# The module runs in browsers and workers; under node the API hands it the .wasm bytes itself
# (emscripten 3.1.6's node code path is CommonJS, which an ES module cannot use).
set(TANDEM_WASM_FLAGS -msimd128 -fexceptions)
target_compile_options(tandem_lite PRIVATE ${TANDEM_WASM_FLAGS})

add_executable(tandem_lite_wasm ${TANDEM_LITE_ROOT}/web/glue/tandem_lite_wasm.cpp)
set_target_properties(tandem_lite_wasm PROPERTIES OUTPUT_NAME tandem_lite SUFFIX .mjs)
target_link_libraries(tandem_lite_wasm PRIVATE tandem_lite)
target_compile_options(tandem_lite_wasm PRIVATE -O3 -Wall -Wextra ${TANDEM_WASM_FLAGS})
target_link_options(tandem_lite_wasm PRIVATE -O3 ${TANDEM_WASM_FLAGS} --closure=0
  -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createTandemLite -sENVIRONMENT=web,worker
  -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=16MB -sFILESYSTEM=0
  -sEXPORTED_FUNCTIONS=_malloc,_free
  -sEXPORTED_RUNTIME_METHODS=UTF8ToString,HEAPF32,HEAP32,HEAPU8)
set(TANDEM_WEB_DIST ${TANDEM_LITE_ROOT}/web/dist)
add_custom_command(TARGET tandem_lite_wasm POST_BUILD
  COMMAND ${CMAKE_COMMAND} -E make_directory ${TANDEM_WEB_DIST}
  COMMAND ${CMAKE_COMMAND} -E copy ${CMAKE_BINARY_DIR}/tandem_lite.mjs ${CMAKE_BINARY_DIR}/tandem_lite.wasm
          ${TANDEM_WEB_DIST}
  VERBATIM)

# Tests (label wasm): the JavaScript API under node on the committed tests/lite/data cases; the
# demo page (web/demo) in headless Chromium against the native run's logits, with a screenshot
# in build/lite-wasm/artifacts.
if(TANDEM_BUILD_TESTS)
  find_program(TANDEM_NODE node REQUIRED)
  add_test(NAME Wasm.api COMMAND ${TANDEM_NODE} ${TANDEM_LITE_ROOT}/web/test/test_api.mjs
           ${TANDEM_LITE_ROOT}/tests/lite/data)
  set_tests_properties(Wasm.api PROPERTIES LABELS wasm)
  find_program(TANDEM_CHROMIUM chromium REQUIRED)
  add_test(NAME Wasm.page COMMAND /usr/bin/python3 ${TANDEM_LITE_ROOT}/web/test/test_page.py ${TANDEM_LITE_ROOT}/web
           ${CMAKE_BINARY_DIR}/artifacts)
  set_tests_properties(Wasm.page PROPERTIES LABELS wasm TIMEOUT 120)
endif()
