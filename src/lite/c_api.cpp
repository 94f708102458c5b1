// The C API (include/tandem_lite.h) over tlite::Model and tlite::Context: every entry point
// catches what the runtime throws and turns it into a status and the thread's last error.
#include <cstring>
#include <new>
#include <string>

#include "runtime.h"
#include "tandem_lite.h"

struct tl_model {
  std::unique_ptr<tlite::Model> model;
};
struct tl_context {
  std::unique_ptr<tlite::Context> ctx;
  std::vector<tlite::Dims> dims_out;  // the last tl_get_output's shape per output
};

namespace {

thread_local std::string lite_last_error;

tl_status lite_set_error(tl_status s, const std::string& m) {
  lite_last_error = m;
  return s;
}

template <typename F>
tl_status lite_guard(F&& f) {
  try {
    f();
    return TL_OK;
  } catch (const tlite::LiteError& e) {
    return lite_set_error(static_cast<tl_status>(e.status), e.what());
  } catch (const std::bad_alloc&) {
    return lite_set_error(TL_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return lite_set_error(TL_INTERNAL, e.what());
  }
}

tl_status lite_null(const char* what) { return lite_set_error(TL_INVALID_ARGUMENT, std::string("null ") + what); }

tl_status lite_io_info(const tl_model* m, int index, bool input, const char** name, tl_dtype* dtype,
                       const int64_t** shape, int* rank) {
  if (!m) return lite_null("model");
  const tlite::File& f = m->model->file();
  const auto& list = input ? f.inputs : f.outputs;
  if (index < 0 || size_t(index) >= list.size())
    return lite_set_error(TL_INVALID_ARGUMENT, std::string(input ? "input" : "output") + " index " +
                                                   std::to_string(index) + " out of range");
  const tlite::ValueInfo& v = f.values[list[size_t(index)]];
  if (name) *name = v.name.c_str();
  if (dtype) *dtype = static_cast<tl_dtype>(v.dtype);
  if (shape) *shape = v.dims.data();
  if (rank) *rank = int(v.dims.size());
  return TL_OK;
}

int lite_index(const tl_model* m, const char* name, bool input) {
  if (!m || !name) return -1;
  const tlite::File& f = m->model->file();
  const auto& list = input ? f.inputs : f.outputs;
  for (size_t i = 0; i < list.size(); ++i)
    if (f.values[list[i]].name == name) return int(i);
  return -1;
}

}  // namespace

extern "C" {

const char* tl_last_error(void) { return lite_last_error.c_str(); }
const char* tl_version(void) { return "tandem-lite 0.1 (.tlite version 1)"; }

tl_status tl_model_load_file(const char* path, tl_model** out) {
  if (!path) return lite_null("path");
  if (!out) return lite_null("output pointer");
  *out = nullptr;
  return lite_guard([&] {
    auto m = std::make_unique<tl_model>();
    m->model = tlite::Model::load_file(path);
    *out = m.release();
  });
}

tl_status tl_model_load_buffer(const void* data, size_t size, tl_model** out) {
  if (!out) return lite_null("output pointer");
  *out = nullptr;
  return lite_guard([&] {
    auto m = std::make_unique<tl_model>();
    m->model = tlite::Model::load_buffer(data, size);
    *out = m.release();
  });
}

void tl_model_destroy(tl_model* model) { delete model; }

int tl_model_num_inputs(const tl_model* m) { return m ? int(m->model->file().inputs.size()) : 0; }
int tl_model_num_outputs(const tl_model* m) { return m ? int(m->model->file().outputs.size()) : 0; }
tl_status tl_model_input_info(const tl_model* m, int i, const char** name, tl_dtype* dtype, const int64_t** shape,
                              int* rank) {
  return lite_io_info(m, i, true, name, dtype, shape, rank);
}
tl_status tl_model_output_info(const tl_model* m, int i, const char** name, tl_dtype* dtype, const int64_t** shape,
                               int* rank) {
  return lite_io_info(m, i, false, name, dtype, shape, rank);
}
int tl_model_input_index(const tl_model* m, const char* name) { return lite_index(m, name, true); }
int tl_model_output_index(const tl_model* m, const char* name) { return lite_index(m, name, false); }
int tl_model_num_nodes(const tl_model* m) { return m ? int(m->model->nodes().size()) : 0; }
const char* tl_model_node_op(const tl_model* m, int i) {
  if (!m || i < 0 || size_t(i) >= m->model->nodes().size()) return nullptr;
  return tlite::op_name(m->model->nodes()[size_t(i)].op);
}

tl_status tl_context_create(const tl_model* model, tl_context** out) {
  if (!model) return lite_null("model");
  if (!out) return lite_null("output pointer");
  *out = nullptr;
  return lite_guard([&] {
    auto c = std::make_unique<tl_context>();
    c->ctx = std::make_unique<tlite::Context>(*model->model);
    c->dims_out.resize(model->model->file().outputs.size());
    *out = c.release();
  });
}

void tl_context_destroy(tl_context* ctx) { delete ctx; }

tl_status tl_set_input(tl_context* ctx, int index, const int64_t* shape, int rank, const float* data) {
  if (!ctx) return lite_null("context");
  return lite_guard([&] { ctx->ctx->set_input(index, shape, rank, data); });
}

tl_status tl_run(tl_context* ctx) {
  if (!ctx) return lite_null("context");
  return lite_guard([&] { ctx->ctx->run(); });
}

tl_status tl_get_output(tl_context* ctx, int index, const float** data, const int64_t** shape, int* rank) {
  if (!ctx) return lite_null("context");
  return lite_guard([&] {
    tlite::Dims d;
    const float* p = ctx->ctx->output(index, d);
    ctx->dims_out[size_t(index)] = d;
    if (data) *data = p;
    if (shape) *shape = ctx->dims_out[size_t(index)].d;
    if (rank) *rank = d.rank;
  });
}

tl_status tl_context_set_num_threads(tl_context* ctx, int num_threads) {
  if (!ctx) return lite_null("context");
  return lite_guard([&] { ctx->ctx->set_num_threads(num_threads); });
}

int tl_context_num_threads(const tl_context* ctx) { return ctx ? ctx->ctx->num_threads() : 0; }

size_t tl_context_arena_bytes(const tl_context* ctx) { return ctx ? ctx->ctx->arena_bytes() : 0; }

}  // extern "C"
