// One loaded model version: the ONNX model imported into a compiled, frozen Plan, its
// signature (input and output names, dtypes, shapes) and a run() that callers share.
//
// Ownership: the manager and every in-flight request hold a shared_ptr<const Servable>;
// the model's memory is returned when the last of them lets go (an unloaded version drains).
// NOTE: runs of one servable are serialized by a mutex: a Plan executes in one planned arena,
// and the model's kernels already use every core (OpenMP), so concurrency comes from
// batching, not from overlapping runs.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <tandem/onnx.h>
#include <tandem/tensor.h>

namespace tandem::serve {

struct TensorSpec {
  std::string name;
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;  // -1: any size (a symbolic dim)
  bool has_shape = true;
};

class Servable {
 public:
  // Loads DIR/model.onnx (or, where there is none, DIR/model.safetensors written by `tandem
  // train`: its metadata names the zoo model, exported with a dynamic batch), then warms it up (one run at batch 1, one at batch 2 to learn
  // whether dim 0 is a batch dim that outputs follow, then one at each of `warm_batches`, so
  // that the batching queue's sizes are compiled before traffic). tandem::Error when any fails.
  static std::shared_ptr<Servable> load(const std::string& dir, const std::vector<int64_t>& warm_batches = {});

  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  const std::vector<TensorSpec>& outputs() const { return outputs_; }
  // Every input and output has dim 0 as a batch dim: requests may be concatenated.
  bool batchable() const { return batchable_; }
  // Runs on named inputs; tandem::Error for wrong inputs (names the input and the problem).
  std::vector<Tensor> run(const std::map<std::string, Tensor>& inputs) const;
  const std::string& path() const { return path_; }

 private:
  explicit Servable(onnx::Model model) : model_(std::move(model)) {}
  onnx::Model model_;
  std::string path_;
  std::vector<TensorSpec> inputs_, outputs_;
  bool batchable_ = false;
  mutable std::mutex mu_;
};

// Checks that `inputs` match the signature (names, dtypes, static dims) before a run or an
// enqueue; StatusError(InvalidArgument) naming the input otherwise.
void check_inputs(const Servable& s, const std::map<std::string, Tensor>& inputs);

}  // namespace tandem::serve
