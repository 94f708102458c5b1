// Reading the PyTorch reference cases of tests/reference/gen_nn_seq.py (tests/data/nn_seq/<case>/)
// for test_rnn.cpp, test_attention.cpp and test_transformer.cpp.
//
//   seqref::Case c("lstm_1l", DType::Float32);  // inputs and tolerances for float32
//   c.load_weights(*lstm);                      // every p.<key>.npy, strict load_state_dict
//   Tensor x = c.input("x");                    // requires grad when grad.x.npy exists
//   Tensor loss = c.loss_term("output", out);   // sum(out * w.output)
//   loss.backward(); c.expect_grads(*lstm, {x});
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tandem/nn.h"
#include "test_util.h"

namespace seqref {

// The references are float64; a float32 run is held to float32 rounding.
inline double atol_for(tandem::DType dt) { return dt == tandem::DType::Float64 ? 1e-9 : 5e-5; }
inline double rtol_for(tandem::DType dt) { return dt == tandem::DType::Float64 ? 1e-7 : 5e-4; }

// Both dtypes the reference tests run in.
inline const tandem::DType kDtypes[] = {tandem::DType::Float64, tandem::DType::Float32};

struct Case {
  std::string name;
  tandem::DType dtype = tandem::DType::Float64;  // of the inputs handed out and the module under test
  explicit Case(std::string n, tandem::DType dt = tandem::DType::Float64) : name(std::move(n)), dtype(dt) {}

  std::string path(const std::string& file) const { return "nn_seq/" + name + "/" + file + ".npy"; }
  bool has(const std::string& file) const {
    return std::filesystem::exists(std::string(TANDEM_TEST_DATA_DIR) + "/" + path(file));
  }
  tandem::Tensor load(const std::string& file) const { return tandem::testing::load_npy(path(file)); }

  // Loads every p.<key>.npy of the case through a strict load_state_dict, so a parameter
  // name or shape that differs from PyTorch's is an Error.
  void load_weights(tandem::nn::Module& m) const {
    std::map<std::string, tandem::Tensor> sd;
    for (const auto& e : std::filesystem::directory_iterator(std::string(TANDEM_TEST_DATA_DIR) + "/nn_seq/" + name)) {
      std::string f = e.path().filename().string();
      if (f.rfind("p.", 0) == 0) sd[f.substr(2, f.size() - 6)] = load(f.substr(0, f.size() - 4));
    }
    m.load_state_dict(sd, /*strict=*/true);
  }

  // in.<name>.npy (floating ones in `dtype`), or an undefined tensor when the case has none;
  // floating inputs with a reference gradient require grad.
  tandem::Tensor input(const std::string& n) const {
    if (!has("in." + n)) return tandem::Tensor();
    tandem::Tensor t = load("in." + n);
    if (t.is_floating_point()) t = t.to(dtype);
    if (has("grad." + n)) t.requires_grad_();
    return t;
  }

  // Checks out.<n> and returns sum(out * w.<n>) (the reference loss term).
  tandem::Tensor loss_term(const std::string& n, const tandem::Tensor& out) const {
    EXPECT_TRUE(out.defined()) << name << ": output " << n << " is undefined";
    if (!out.defined()) return tandem::zeros({}, {.dtype = tandem::DType::Float64});
    EXPECT_EQ(out.dtype(), dtype) << name << ": output " << n;
    EXPECT_TRUE(tandem::testing::all_close(out.to(tandem::DType::Float64), load("out." + n), atol_for(dtype),
                                           rtol_for(dtype)))
        << name << " (" << tandem::dtype_name(dtype) << "): output " << n;
    return (out * load("w." + n).to(dtype)).sum();
  }

  // Gradients of the inputs (named in `inputs`) and of every parameter.
  void expect_grads(tandem::nn::Module& m, const std::map<std::string, tandem::Tensor>& inputs) const {
    for (const auto& [n, t] : inputs) {
      if (!t.defined() || !has("grad." + n)) continue;
      ASSERT_TRUE(t.grad().defined()) << name << ": no gradient for input " << n;
      EXPECT_TRUE(tandem::testing::all_close(t.grad().to(tandem::DType::Float64), load("grad." + n),
                                             atol_for(dtype), rtol_for(dtype)))
          << name << " (" << tandem::dtype_name(dtype) << "): d/d " << n;
    }
    for (const auto& [k, p] : m.named_parameters()) {
      tandem::Tensor expected = load("g." + k);
      tandem::Tensor g = p.grad().defined() ? p.grad().to(tandem::DType::Float64) : tandem::zeros_like(expected);
      EXPECT_TRUE(tandem::testing::all_close(g, expected, atol_for(dtype), rtol_for(dtype)))
          << name << " (" << tandem::dtype_name(dtype) << "): d/d " << k;
    }
  }
};

}  // namespace seqref
