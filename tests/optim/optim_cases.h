// Shared by the optim tests: the PyTorch reference cases written by
// tests/reference/gen_optim.py (tests/data/optim/cases.json + .npy trajectories).
#pragma once
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tandem/optim.h"
#include "test_util.h"

namespace tandem::testing::optim_cases {

inline const nlohmann::json& cases() {
  static const nlohmann::json j = [] {
    std::ifstream f(std::string(TANDEM_TEST_DATA_DIR) + "/optim/cases.json");
    EXPECT_TRUE(f.good()) << "tests/data/optim/cases.json is missing; run tests/reference/gen_optim.py";
    return nlohmann::json::parse(f);
  }();
  return j;
}

inline std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (const auto& sh : cases()["shapes"]) s.push_back(sh.get<Shape>());
  return s;
}

// Splits a flat [N] float64 tensor into the reference parameter shapes (copies).
inline std::vector<Tensor> split_flat(const Tensor& flat, DType dtype = kFloat64) {
  std::vector<Tensor> out;
  int64_t off = 0;
  for (const Shape& s : shapes()) {
    int64_t n = shape_numel(s);
    out.push_back(flat.narrow(0, off, n).reshape(s).to(dtype).clone());
    off += n;
  }
  return out;
}

inline Tensor flatten_all(const std::vector<Tensor>& ts) {
  std::vector<Tensor> flat;
  for (const auto& t : ts) flat.push_back(t.to(kFloat64).contiguous().reshape({-1}));
  return cat(flat, 0);
}

// Parameters with the reference initial values. non_contiguous: each one is a strided view
// (every other element of a wider leaf), which sends the optimizers down their generic path.
inline std::vector<Tensor> make_params(DType dtype = kFloat64, bool non_contiguous = false) {
  std::vector<Tensor> init = split_flat(load_npy("optim/init.npy"), dtype);
  std::vector<Tensor> params;
  for (Tensor& v : init) {
    Tensor p;
    if (non_contiguous) {
      Shape wide = v.shape();
      wide.back() *= 2;
      p = zeros(wide, {.dtype = dtype}).slice(-1, 0, wide.back(), 2);
      p.copy_(v);
    } else {
      p = v;
    }
    p.requires_grad_();
    params.push_back(p);
  }
  return params;
}

// Sets the reference gradient of `step` on every parameter, or none where the case skips it.
inline void set_grads(const std::vector<Tensor>& params, int step, const nlohmann::json& skip = {}) {
  static const Tensor grads = load_npy("optim/grads.npy");
  std::vector<Tensor> g = split_flat(grads.select(0, step), params[0].dtype());
  for (size_t i = 0; i < params.size(); ++i) {
    bool skipped = false;
    for (const auto& s : skip)
      if (s[0].get<int>() == step && s[1].get<size_t>() == i) skipped = true;
    params[i].set_grad(skipped ? Tensor() : g[i]);
  }
}

// The optimizer a case describes, over `params`.
inline std::unique_ptr<optim::Optimizer> make_optimizer(const nlohmann::json& c,
                                                        const std::vector<Tensor>& params) {
  std::vector<optim::ParamGroup> groups;
  for (const auto& g : c["groups"]) {
    optim::ParamGroup pg;
    for (const auto& i : g["params"]) pg.params.push_back(params[i.get<size_t>()]);
    for (const auto& [k, v] : g["options"].items()) pg.options[k] = v.get<double>();
    groups.push_back(std::move(pg));
  }
  const std::string name = c["optimizer"];
  if (name == "SGD") return std::make_unique<optim::SGD>(groups, optim::SGDOptions{});
  if (name == "Adam") return std::make_unique<optim::Adam>(groups);
  if (name == "AdamW") return std::make_unique<optim::AdamW>(groups);
  if (name == "RMSprop") return std::make_unique<optim::RMSprop>(groups);
  if (name == "Adagrad") return std::make_unique<optim::Adagrad>(groups);
  ADD_FAILURE() << "unknown optimizer " << name;
  return nullptr;
}

}  // namespace tandem::testing::optim_cases
