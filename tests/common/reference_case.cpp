#include "reference_case.h"

#include <algorithm>
#include <filesystem>

namespace tandem::testing {

namespace {

std::string case_file(const std::string& set, const std::string& name, const std::string& file) {
  return set + "/" + name + "/" + file + ".npy";
}

bool case_has(const std::string& set, const std::string& name, const std::string& file) {
  return std::filesystem::exists(std::string(TANDEM_TEST_DATA_DIR) + "/" + case_file(set, name, file));
}

// One layout of one case.
void run_reference_case(const std::string& set, const std::string& name, const ReferenceFn& fn,
                        const CloseFn& close, bool strided) {
  SCOPED_TRACE(strided ? "non-contiguous inputs" : "contiguous inputs");
  auto has = [&](const std::string& f) { return case_has(set, name, f); };
  auto load = [&](const std::string& f) { return load_npy(case_file(set, name, f)); };
  Tensors inputs, wrt;
  std::vector<int> wrt_index;
  for (int i = 0; has("in_" + std::to_string(i)); ++i) {
    Tensor t = load("in_" + std::to_string(i));
    if (strided) t = strided_copy(t);
    if (has("grad_" + std::to_string(i))) {
      t.requires_grad_();
      wrt.push_back(t);
      wrt_index.push_back(i);
    }
    inputs.push_back(t);
  }
  ASSERT_FALSE(inputs.empty()) << "no in_0.npy for case " << set << "/" << name;

  const bool second_order = !wrt.empty() && has("v_" + std::to_string(wrt_index[0]));
  Tensors out, grads, grads2;
  try {
    out = fn(inputs);
    if (!wrt.empty()) {
      Tensor total;
      for (size_t k = 0; k < out.size(); ++k) {
        const std::string w = "w_" + std::to_string(k);
        if (!has(w)) continue;
        ASSERT_TRUE(out[k].requires_grad()) << "output " << k << " does not require grad";
        Tensor term = (out[k] * load(w)).sum();
        total = total.defined() ? total + term : term;
      }
      ASSERT_TRUE(total.defined()) << "no weighted output";
      grads = tandem::grad({total}, wrt, {}, second_order, second_order, /*allow_unused=*/true);
      if (second_order) {
        Tensor total2;
        for (size_t j = 0; j < wrt.size(); ++j) {
          if (!grads[j].defined() || !grads[j].requires_grad()) continue;
          Tensor term = (grads[j] * load("v_" + std::to_string(wrt_index[j]))).sum();
          total2 = total2.defined() ? total2 + term : term;
        }
        // No gradient with history: every second derivative is zero (checked below).
        if (total2.defined()) grads2 = tandem::grad({total2}, wrt, {}, false, false, true);
        else grads2.resize(wrt.size());
      }
    }
  } catch (const Error& e) {
    FAIL() << "threw: " << e.what();
  }

  int num_out = 0;
  while (has("out_" + std::to_string(num_out))) ++num_out;
  ASSERT_EQ(static_cast<int>(out.size()), num_out) << "number of outputs";
  for (int k = 0; k < num_out; ++k)
    EXPECT_TRUE(close(out[k], load("out_" + std::to_string(k)))) << "output " << k;
  for (size_t j = 0; j < wrt.size(); ++j) {
    Tensor expected = load("grad_" + std::to_string(wrt_index[j]));
    Tensor actual = grads[j].defined() ? grads[j] : zeros_like(expected);
    EXPECT_TRUE(close(actual, expected)) << "gradient of input " << wrt_index[j];
    if (!second_order) continue;
    expected = load("gg_" + std::to_string(wrt_index[j]));
    actual = grads2[j].defined() ? grads2[j] : zeros_like(expected);
    EXPECT_TRUE(close(actual, expected)) << "second derivative wrt input " << wrt_index[j];
  }
}

}  // namespace

Tensor strided_copy(const Tensor& t) {
  if (t.dim() == 0) return t;
  Shape big = t.shape();
  big.back() *= 2;
  Tensor view = zeros(big, {.dtype = t.dtype()}).slice(-1, 0, std::nullopt, 2);
  view.copy_(t);
  return view.detach();
}

::testing::AssertionResult close_by_dtype(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(actual.dtype()) << " vs expected "
                                         << dtype_name(expected.dtype());
  switch (expected.dtype()) {
    case DType::Float64: return all_close(actual, expected, 1e-10, 1e-8);
    case DType::Float32: return all_close(actual, expected, 1e-5, 1e-4);
    default: return all_close(actual, expected, 0.0, 0.0);
  }
}

void check_reference_case(const std::string& set, const std::string& name, const ReferenceFn& fn,
                          const CloseFn& close) {
  run_reference_case(set, name, fn, close, false);
  if (::testing::Test::HasFatalFailure()) return;
  run_reference_case(set, name, fn, close, true);
}

std::vector<std::string> reference_case_dirs(const std::string& set) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(std::string(TANDEM_TEST_DATA_DIR) + "/" + set))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace tandem::testing
