// tandem-lite's runtime: a loaded model (read-only, shared by contexts) and a context (the
// run state of one thread). The C API (c_api.cpp) wraps these; errors are thrown as
// tlite::LiteError inside the library and become status codes at the C boundary.
#pragma once
#include <cstdint>
#include <cstddef>
#include <climits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "format.h"
#include "kernels.h"
#include "pool.h"

namespace tlite {

// Status codes: the values of the C API's tl_status.
enum class Status { Ok = 0, InvalidArgument = 1, InvalidModel = 2, IoError = 3, Unsupported = 4, NotReady = 5, Internal = 6 };

struct LiteError : std::runtime_error {
  Status status;
  LiteError(Status s, const std::string& m) : std::runtime_error(m), status(s) {}
};

struct Dims {
  int rank = 0;
  int64_t d[kMaxRank] = {0};
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= d[i];
    return n;
  }
  bool operator==(const Dims& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i)
      if (d[i] != o.d[i]) return false;
    return true;
  }
  std::string str() const;
};

// One node with its attributes read and checked once, at load.
struct PreparedNode {
  Op op{};
  std::vector<uint32_t> inputs, outputs;
  // conv / pool
  int64_t stride[2] = {1, 1}, pad[4] = {0, 0, 0, 0}, dilation[2] = {1, 1}, kernel[2] = {1, 1};
  int64_t groups = 1, ceil_mode = 0, count_include_pad = 1, out_hw[2] = {1, 1};
  kernels::ActParams act;
  // axis-style ops
  int64_t axis = 0, start = 0, end = 0, step = 1, keepdim = 0, log = 0;
  std::vector<int64_t> ints;  // shape (reshape/expand), perm, dims (mean), sizes (split)
  float eps = 1e-5f;
  // int8: quantize's output / dequantize's input parameters (per tensor: one each; per axis:
  // one per index along q_axis); QConv2d / QLinear: the layer prepared at load
  std::vector<float> q_scales;
  std::vector<int32_t> q_zps;
  int64_t q_axis = -1, rounding = 0;
  bool q_signed = false;
  std::shared_ptr<const kernels::QLayer> q;
  // Quantize: a table of the 256 input bytes (the node then reads the int8 input of a folded
  // dequantize -> activations chain); skip: a node folded into such a table.
  std::vector<uint8_t> lut;
  bool skip = false;
};

class Model {
 public:
  // Takes a parsed buffer: `base` (the whole file) must outlive the model; `keep` owns it.
  static std::unique_ptr<Model> load_file(const std::string& path);
  static std::unique_ptr<Model> load_buffer(const void* data, size_t size);
  ~Model();

  const File& file() const { return file_; }
  const std::vector<PreparedNode>& nodes() const { return nodes_; }
  const float* constant(uint32_t id) const;  // float32 constant data
  const std::vector<std::vector<int64_t>>& input_shapes() const { return input_shapes_; }

 private:
  Model() = default;
  void init();  // parse + prepare (throws LiteError)
  void prepare_qlayer(size_t index);  // QConv2d / QLinear: weights and requantization constants
  void fuse_int8_tables();            // dequantize -> activations -> quantize chains as tables
  File file_;
  std::vector<PreparedNode> nodes_;
  std::vector<std::vector<int64_t>> input_shapes_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  std::vector<uint8_t> owned_;  // load_buffer: the copy (64-byte aligned start inside)
  void* map_ = nullptr;         // load_file: the mmap
  size_t map_size_ = 0;
};

class Context {
 public:
  explicit Context(const Model& model);
  void set_input(int index, const int64_t* shape, int rank, const float* data);
  void run();
  // Output `index` of the last run.
  const float* output(int index, Dims& dims) const;
  size_t arena_bytes() const { return arena_.size() * sizeof(float); }
  // A plan needing more activation bytes than this is refused (InvalidArgument); the fuzzer
  // sets it low. Default: no limit beyond the per-value one.
  void set_arena_limit(size_t bytes) { arena_limit_ = bytes; }
  // A plan whose estimated work (multiply-adds, and elements read by the other ops) exceeds
  // this is refused the same way. Default: no limit.
  void set_work_limit(int64_t ops) { work_limit_ = ops; }
  // Threads inside one run (>= 1; default 1): the kernels split their work over a pool of
  // threads - 1 workers this context owns. Outputs are bit-identical for any count. The
  // WebAssembly build runs on one thread whatever the count.
  void set_num_threads(int threads);
  int num_threads() const { return pool_ ? pool_->threads() : 1; }

 private:
  void plan();                   // shapes of every value, arena offsets, scratch (input shapes changed)
  void infer(const PreparedNode& n, size_t index);
  const float* in(uint32_t id) const;
  float* out(uint32_t id);
  void exec(const PreparedNode& n);

  const Model& model_;
  std::vector<Dims> dims_;                       // per value, for the current plan
  std::vector<int64_t> offset_;                  // per activation value: float offset in arena_ (-1: none)
  std::vector<std::vector<float>> input_data_;   // per graph input
  std::vector<Dims> input_dims_;
  std::vector<char> input_set_;
  std::vector<Dims> planned_for_;                // input shapes of the current plan
  bool planned_ = false, ran_ = false;
  std::vector<float> arena_, scratch_;
  size_t arena_limit_ = SIZE_MAX;
  int64_t scratch_need_ = 0;
  int64_t work_limit_ = INT64_MAX, work_ = 0;
  std::unique_ptr<ThreadPool> pool_;  // null: one thread
};

}  // namespace tlite
