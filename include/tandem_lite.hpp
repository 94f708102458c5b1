// tandem-lite's C++ wrapper: RAII handles over the C API (tandem_lite.h); failures throw
// tl::Error with the runtime's message.
//
//   tl::Model model("mobilenet.tlite");
//   tl::Context ctx(model);
//   ctx.set_input(0, {1, 3, 224, 224}, pixels.data());
//   ctx.run();
//   tl::Output y = ctx.output(0);          // y.data, y.shape; valid until the next run
//
// A Model is shared read-only by any number of Contexts (one per thread); it must outlive them.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tandem_lite.h"

namespace tl {

struct Error : std::runtime_error {
  tl_status status;
  Error(tl_status s, const std::string& m) : std::runtime_error(m), status(s) {}
};

inline void check(tl_status s) {
  if (s != TL_OK) throw Error(s, tl_last_error());
}

struct IoInfo {
  std::string name;
  tl_dtype dtype;
  std::vector<int64_t> shape;  // -1: dynamic
};

class Model {
 public:
  explicit Model(const std::string& path) { check(tl_model_load_file(path.c_str(), &m_)); }
  static Model from_buffer(const void* data, size_t size) {
    tl_model* m = nullptr;
    check(tl_model_load_buffer(data, size, &m));
    return Model(m);
  }
  Model(Model&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  Model& operator=(Model&& o) noexcept {
    std::swap(m_, o.m_);
    return *this;
  }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model() { tl_model_destroy(m_); }

  int num_inputs() const { return tl_model_num_inputs(m_); }
  int num_outputs() const { return tl_model_num_outputs(m_); }
  IoInfo input(int i) const { return info(i, true); }
  IoInfo output(int i) const { return info(i, false); }
  int input_index(const std::string& name) const { return tl_model_input_index(m_, name.c_str()); }
  const tl_model* get() const { return m_; }

 private:
  explicit Model(tl_model* m) : m_(m) {}
  IoInfo info(int i, bool in) const {
    const char* name = nullptr;
    tl_dtype dt = TL_FLOAT32;
    const int64_t* shape = nullptr;
    int rank = 0;
    check(in ? tl_model_input_info(m_, i, &name, &dt, &shape, &rank)
             : tl_model_output_info(m_, i, &name, &dt, &shape, &rank));
    return {name, dt, std::vector<int64_t>(shape, shape + rank)};
  }
  tl_model* m_ = nullptr;
};

struct Output {
  const float* data = nullptr;
  std::vector<int64_t> shape;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

class Context {
 public:
  explicit Context(const Model& model) { check(tl_context_create(model.get(), &c_)); }
  Context(Context&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Context& operator=(Context&& o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context() { tl_context_destroy(c_); }

  void set_input(int index, const std::vector<int64_t>& shape, const float* data) {
    check(tl_set_input(c_, index, shape.data(), int(shape.size()), data));
  }
  void run() { check(tl_run(c_)); }
  Output output(int index) {
    const float* p = nullptr;
    const int64_t* s = nullptr;
    int r = 0;
    check(tl_get_output(c_, index, &p, &s, &r));
    return {p, std::vector<int64_t>(s, s + r)};
  }
  size_t arena_bytes() const { return tl_context_arena_bytes(c_); }
  void set_num_threads(int n) { check(tl_context_set_num_threads(c_, n)); }
  int num_threads() const { return tl_context_num_threads(c_); }

 private:
  tl_context* c_ = nullptr;
};

}  // namespace tl
