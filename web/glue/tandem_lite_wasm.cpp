// The WebAssembly glue over tandem-lite's C API (include/tandem_lite.h): entry points whose
// arguments and results are plain numbers, so web/tandem_lite.js calls them without out-pointers.
// Shapes cross as int32 (a browser tensor never has a dimension above 2^31); a failing call
// returns 0 or a tl_status and leaves its message in tl_last_error().
#include <emscripten/emscripten.h>

#include <cstdint>

#include "tandem_lite.h"

namespace {

// The last tlw_io_* / tlw_output lookup: one at a time (the module is single-threaded).
const char* wasm_io_name = nullptr;
tl_dtype wasm_io_dtype = TL_FLOAT32;
const int64_t* wasm_io_shape = nullptr;
int wasm_io_rank = 0;

}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE const char* tlw_last_error(void) { return tl_last_error(); }

// The model from a buffer (copied), or 0.
EMSCRIPTEN_KEEPALIVE tl_model* tlw_model_load(const void* data, size_t size) {
  tl_model* m = nullptr;
  return tl_model_load_buffer(data, size, &m) == TL_OK ? m : nullptr;
}

EMSCRIPTEN_KEEPALIVE void tlw_model_destroy(tl_model* m) { tl_model_destroy(m); }

EMSCRIPTEN_KEEPALIVE int tlw_io_count(const tl_model* m, int output) {
  return output ? tl_model_num_outputs(m) : tl_model_num_inputs(m);
}

// Looks up input/output `index`; then tlw_io_name/dtype/rank/dim read it.
EMSCRIPTEN_KEEPALIVE int tlw_io_select(const tl_model* m, int output, int index) {
  return output ? tl_model_output_info(m, index, &wasm_io_name, &wasm_io_dtype, &wasm_io_shape, &wasm_io_rank)
                : tl_model_input_info(m, index, &wasm_io_name, &wasm_io_dtype, &wasm_io_shape, &wasm_io_rank);
}
EMSCRIPTEN_KEEPALIVE const char* tlw_io_name(void) { return wasm_io_name; }
EMSCRIPTEN_KEEPALIVE int tlw_io_dtype(void) { return int(wasm_io_dtype); }
EMSCRIPTEN_KEEPALIVE int tlw_io_rank(void) { return wasm_io_rank; }
// Dimension d of the selected value (-1: dynamic).
EMSCRIPTEN_KEEPALIVE int tlw_io_dim(int d) {
  return d >= 0 && d < wasm_io_rank ? int(wasm_io_shape[d]) : 0;
}

EMSCRIPTEN_KEEPALIVE tl_context* tlw_context_create(const tl_model* m) {
  tl_context* c = nullptr;
  return tl_context_create(m, &c) == TL_OK ? c : nullptr;
}
EMSCRIPTEN_KEEPALIVE void tlw_context_destroy(tl_context* c) { tl_context_destroy(c); }

EMSCRIPTEN_KEEPALIVE int tlw_set_input(tl_context* c, int index, const int32_t* shape, int rank, const float* data) {
  int64_t dims[8];
  if (rank < 0 || rank > 8) rank = -1;  // tl_set_input reports the rank
  for (int i = 0; i < rank; ++i) dims[i] = shape[i];
  return tl_set_input(c, index, dims, rank, data);
}

EMSCRIPTEN_KEEPALIVE int tlw_run(tl_context* c) { return tl_run(c); }

// Output `index` of the last run (0 on failure); its shape through tlw_io_rank/tlw_io_dim.
EMSCRIPTEN_KEEPALIVE const float* tlw_output(tl_context* c, int index) {
  const float* data = nullptr;
  if (tl_get_output(c, index, &data, &wasm_io_shape, &wasm_io_rank) != TL_OK) return nullptr;
  return data;
}

EMSCRIPTEN_KEEPALIVE double tlw_arena_bytes(const tl_context* c) { return double(tl_context_arena_bytes(c)); }

}  // extern "C"
