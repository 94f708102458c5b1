// int8 vs float32 on the same model (bench/quant_run.sh writes the files):
//
//   tandem_bench_quant accuracy FP.onnx Q.onnx IMAGES.npy LABELS.npy   # test accuracy of both
//   tandem_bench_quant speed FP.onnx Q.onnx BATCH THREADS              # ms per run, cosine
//   tandem_bench_quant cosine FP.onnx Q.onnx                           # cosine alone
//
// Both models run through onnx::Model (compiled graphs; the first call of each shape traces
// and is not timed or counted). speed: median of >= 10 timed runs on one random input, and
// the cosine similarity of int8 vs float32 outputs per sample over 200 random inputs.
// Prints one JSON object.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include "tandem/io/npy.h"
#include "tandem/onnx.h"
#include "tandem/tandem.h"

using namespace tandem;

namespace {

Tensor run(const onnx::Model& m, const Tensor& x) {
  return m.run({{m.info().inputs[0].name, x}})[0].contiguous();
}

int64_t correct(const Tensor& logits, const Tensor& labels) {
  Tensor pred = argmax(logits, 1).to(DType::Int64);
  return static_cast<int64_t>(sum(eq(pred, labels.to(DType::Int64)).to(DType::Int64)).item<double>());
}

double median_ms(const onnx::Model& m, const Tensor& x) {
  run(m, x);
  run(m, x);
  std::vector<double> ms;
  auto start = std::chrono::steady_clock::now();
  while (ms.size() < 10 || (ms.size() < 200 && std::chrono::steady_clock::now() - start < std::chrono::seconds(2))) {
    auto t0 = std::chrono::steady_clock::now();
    run(m, x);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Cosine similarity of int8 vs float32 outputs per sample over 200 random inputs (batches of
// 8): {mean, min}.
std::pair<double, double> cosine_200(const onnx::Model& fp, const onnx::Model& q, Shape s8) {
  s8[0] = 8;
  double cmin = 1, csum = 0;
  int count = 0;
  for (int b = 0; b < 25; ++b) {
    Tensor xb = randn(s8);
    Tensor f = run(fp, xb).reshape({8, -1}).to(DType::Float64), g = run(q, xb).reshape({8, -1}).to(DType::Float64);
    Tensor c = sum(f * g, {1}) / (sqrt(sum(f * f, {1})) * sqrt(sum(g * g, {1})));
    for (double v : c.to_vector<double>()) cmin = std::min(cmin, v), csum += v, ++count;
  }
  return {csum / count, cmin};
}

Shape input_shape(const onnx::Model& m, int64_t batch) {
  Shape shape;
  for (const auto& d : m.info().inputs[0].shape) shape.push_back(d.is_static() ? d.value : batch);
  shape[0] = batch;
  return shape;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 5 && a[0] == "accuracy") {
      auto fp = onnx::Model::load(a[1]), q = onnx::Model::load(a[2]);
      Tensor x = io::load_npy(a[3]), y = io::load_npy(a[4]);
      const int64_t B = 100, n = x.size(0) / B * B;
      int64_t cf = 0, cq = 0;
      run(fp, x.slice(0, 0, B).contiguous());  // trace once; later batches run the graph
      run(q, x.slice(0, 0, B).contiguous());
      for (int64_t s = 0; s < n; s += B) {
        Tensor xb = x.slice(0, s, s + B).contiguous(), yb = y.slice(0, s, s + B);
        cf += correct(run(fp, xb), yb);
        cq += correct(run(q, xb), yb);
      }
      std::cout << fmt::format("{{\"samples\": {}, \"fp32_accuracy\": {:.4f}, \"int8_accuracy\": {:.4f}, \"int8_compiled\": {}}}\n",
                               n, double(cf) / n, double(cq) / n, q.runs_compiled());
      return 0;
    }
    if (a.size() == 5 && a[0] == "speed") {
      auto fp = onnx::Model::load(a[1]), q = onnx::Model::load(a[2]);
      const int64_t B = std::stoll(a[3]);
      set_num_threads(std::stoi(a[4]));
      Shape shape = input_shape(fp, B);
      manual_seed(1);
      Tensor x = randn(shape);
      double ms_fp = median_ms(fp, x), ms_q = median_ms(q, x);
      auto [cmean, cmin] = cosine_200(fp, q, shape);
      std::cout << fmt::format("{{\"batch\": {}, \"threads\": {}, \"fp32_ms\": {:.3f}, \"int8_ms\": {:.3f}, \"speedup\": {:.2f}, "
                               "\"cosine_mean\": {:.5f}, \"cosine_min\": {:.5f}, \"int8_compiled\": {}}}\n",
                               B, a[4], ms_fp, ms_q, ms_fp / ms_q, cmean, cmin, q.runs_compiled());
      return 0;
    }
    if (a.size() == 3 && a[0] == "cosine") {
      auto fp = onnx::Model::load(a[1]), q = onnx::Model::load(a[2]);
      manual_seed(1);
      auto [cmean, cmin] = cosine_200(fp, q, input_shape(fp, 8));
      std::cout << fmt::format("{{\"cosine_mean\": {:.5f}, \"cosine_min\": {:.5f}, \"int8_compiled\": {}}}\n", cmean, cmin,
                               q.runs_compiled());
      return 0;
    }
    std::cerr << "usage: tandem_bench_quant accuracy FP.onnx Q.onnx IMAGES.npy LABELS.npy\n"
                 "       tandem_bench_quant speed FP.onnx Q.onnx BATCH THREADS\n"
                 "       tandem_bench_quant cosine FP.onnx Q.onnx\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
