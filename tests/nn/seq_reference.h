// Reading the PyTorch reference cases of tests/reference/gen_nn_seq.py (tests/data/nn_seq/<case>/)
// for test_rnn.cpp, test_attention.cpp and test_transformer.cpp.
//
//   seqref::Case c("lstm_1l");
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

inline constexpr double kAtol = 1e-9, kRtol = 1e-7;  // float64 on both sides

struct Case {
  std::string name;
  explicit Case(std::string n) : name(std::move(n)) {}

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

  // in.<name>.npy, or an undefined tensor when the case has none; floating inputs with a
  // reference gradient require grad.
  tandem::Tensor input(const std::string& n) const {
    if (!has("in." + n)) return tandem::Tensor();
    tandem::Tensor t = load("in." + n);
    if (has("grad." + n)) t.requires_grad_();
    return t;
  }

  // Checks out.<n> and returns sum(out * w.<n>) (the reference loss term).
  tandem::Tensor loss_term(const std::string& n, const tandem::Tensor& out) const {
    EXPECT_TRUE(out.defined()) << name << ": output " << n << " is undefined";
    if (!out.defined()) return tandem::zeros({}, {.dtype = tandem::DType::Float64});
    EXPECT_TRUE(tandem::testing::all_close(out, load("out." + n), kAtol, kRtol)) << name << ": output " << n;
    return (out * load("w." + n)).sum();
  }

  // Gradients of the inputs (named in `inputs`) and of every parameter.
  void expect_grads(tandem::nn::Module& m, const std::map<std::string, tandem::Tensor>& inputs) const {
    for (const auto& [n, t] : inputs) {
      if (!t.defined() || !has("grad." + n)) continue;
      ASSERT_TRUE(t.grad().defined()) << name << ": no gradient for input " << n;
      EXPECT_TRUE(tandem::testing::all_close(t.grad(), load("grad." + n), kAtol, kRtol)) << name << ": d/d " << n;
    }
    for (const auto& [k, p] : m.named_parameters()) {
      tandem::Tensor expected = load("g." + k);
      tandem::Tensor g = p.grad().defined() ? p.grad() : tandem::zeros_like(expected);
      EXPECT_TRUE(tandem::testing::all_close(g, expected, kAtol, kRtol)) << name << ": d/d " << k;
    }
  }
};

}  // namespace seqref
