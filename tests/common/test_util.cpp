#include "test_util.h"

#include <cmath>
#include <cstring>
#include <fstream>

namespace tandem::testing {
namespace {

// Storage offsets of the elements of `t` in row-major order.
std::vector<int64_t> element_offsets(const Tensor& t) {
  std::vector<int64_t> offs;
  int64_t n = t.numel();
  std::vector<int64_t> idx(t.dim(), 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (int64_t d = 0; d < t.dim(); ++d) off += idx[d] * t.strides()[d];
    offs.push_back(off);
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
      if (++idx[d] < t.shape()[d]) break;
      idx[d] = 0;
    }
  }
  return offs;
}

// NOTE: grad mode stays on: a case may call tandem::grad inside (double backward).
double eval_scalar(const Fn& fn, const Tensors& inputs, const Tensor& v) {
  Tensor y = fn(inputs);
  return (y.to(DType::Float64) * v).sum().item<double>();
}

::testing::AssertionResult check_first_order(const Fn& fn, const Tensors& inputs, const GradcheckOptions& o) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad() && t.dtype() != DType::Float64)
      return ::testing::AssertionFailure() << "gradcheck needs float64 inputs, got " << dtype_name(t.dtype());
  Tensor y = fn(inputs);
  Generator g(1234);
  Tensor v = randn(y.shape(), kF64, &g);
  Tensors wrt;
  std::vector<size_t> wrt_index;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      wrt.push_back(inputs[i]);
      wrt_index.push_back(i);
    }
  if (wrt.empty()) return ::testing::AssertionFailure() << "gradcheck: no input requires grad";
  if (!y.requires_grad()) return ::testing::AssertionFailure() << "gradcheck: output has no grad_fn";
  Tensor s = (y.to(DType::Float64) * v).sum();
  Tensors analytic = tandem::grad({s}, wrt, {}, false, false, /*allow_unused=*/true);
  for (size_t k = 0; k < wrt.size(); ++k) {
    const Tensor& x = wrt[k];
    double* base = static_cast<double*>(x.storage()->data());
    std::vector<int64_t> offs = element_offsets(x);
    Tensor a = analytic[k].defined() ? analytic[k] : zeros(x.shape(), kF64);
    if (a.shape() != x.shape())
      return ::testing::AssertionFailure() << "input " << wrt_index[k] << ": gradient shape "
                                           << shape_str(a.shape()) << " vs input " << shape_str(x.shape());
    std::vector<double> av = a.to_vector<double>();
    for (size_t e = 0; e < offs.size(); ++e) {
      double* p = base + x.offset() + offs[e];
      double orig = *p;
      *p = orig + o.eps;
      double fp = eval_scalar(fn, inputs, v);
      *p = orig - o.eps;
      double fm = eval_scalar(fn, inputs, v);
      *p = orig;
      double numeric = (fp - fm) / (2 * o.eps);
      if (std::abs(numeric - av[e]) > o.atol + o.rtol * std::abs(numeric))
        return ::testing::AssertionFailure()
               << "input " << wrt_index[k] << " (shape " << shape_str(x.shape()) << "), element " << e
               << ": analytic " << av[e] << " vs numeric " << numeric;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

::testing::AssertionResult gradcheck(const Fn& fn, const Tensors& inputs, GradcheckOptions opts) {
  auto r = check_first_order(fn, inputs, opts);
  if (!r || !opts.second_order) return r;
  // Second order: check the gradient of w · d(sum(fn·v))/d(inputs).
  Fn grad_fn = [&fn](const Tensors& xs) {
    Tensor y = fn(xs);
    Generator g(99);
    Tensor v = randn(y.shape(), kF64, &g);
    Tensors wrt;
    for (const Tensor& x : xs)
      if (x.defined() && x.requires_grad()) wrt.push_back(x);
    Tensors gs = tandem::grad({(y.to(DType::Float64) * v).sum()}, wrt, {}, true, is_grad_enabled(), true);
    Tensor total = zeros({}, kF64);
    Generator g2(7);
    for (const Tensor& gi : gs)
      if (gi.defined()) total = total + (gi * randn(gi.shape(), kF64, &g2)).sum();
    return total;
  };
  // Finite differences of grad_fn need autograd inside, so evaluate with grad enabled.
  Tensor y = grad_fn(inputs);
  if (!y.requires_grad()) return ::testing::AssertionSuccess() << "(second derivative is zero)";
  Tensors wrt;
  for (const Tensor& x : inputs)
    if (x.defined() && x.requires_grad()) wrt.push_back(x);
  Tensors analytic = tandem::grad({y}, wrt, {}, false, false, true);
  for (size_t k = 0; k < wrt.size(); ++k) {
    const Tensor& x = wrt[k];
    double* base = static_cast<double*>(x.storage()->data());
    std::vector<int64_t> offs = element_offsets(x);
    std::vector<double> av = analytic[k].defined() ? analytic[k].to_vector<double>()
                                                   : std::vector<double>(offs.size(), 0.0);
    for (size_t e = 0; e < offs.size(); ++e) {
      double* p = base + x.offset() + offs[e];
      double orig = *p;
      *p = orig + opts.eps;
      double fp = grad_fn(inputs).item<double>();
      *p = orig - opts.eps;
      double fm = grad_fn(inputs).item<double>();
      *p = orig;
      double numeric = (fp - fm) / (2 * opts.eps);
      if (std::abs(numeric - av[e]) > opts.atol * 10 + opts.rtol * 10 * std::abs(numeric))
        return ::testing::AssertionFailure() << "second order, input " << k << ", element " << e
                                             << ": analytic " << av[e] << " vs numeric " << numeric;
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  if (!actual.defined() || !expected.defined())
    return ::testing::AssertionFailure() << "undefined tensor";
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.shape()) << " vs expected "
                                         << shape_str(expected.shape());
  std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(e[i]) && std::isnan(a[i])) continue;
    if (std::isinf(e[i]) && a[i] == e[i]) continue;
    if (!(std::abs(a[i] - e[i]) <= atol + rtol * std::abs(e[i])))
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs expected " << e[i]
                                           << " (atol " << atol << ", rtol " << rtol << ")";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult throws_error(const std::function<void()>& fn,
                                        const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const std::string& n : needles)
      if (msg.find(n) == std::string::npos)
        return ::testing::AssertionFailure() << "message \"" << msg << "\" lacks \"" << n << "\"";
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-tandem exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

Tensor load_npy(const std::string& relative_path) {
  std::string path = std::string(TANDEM_TEST_DATA_DIR) + "/" + relative_path;
  std::ifstream f(path, std::ios::binary);
  TANDEM_CHECK(f.good(), "load_npy: cannot open {}", path);
  char magic[6];
  f.read(magic, 6);
  TANDEM_CHECK(f && std::memcmp(magic, "\x93NUMPY", 6) == 0, "load_npy: {} is not a .npy file", path);
  uint8_t ver[2];
  f.read(reinterpret_cast<char*>(ver), 2);
  uint32_t hlen = 0;
  if (ver[0] == 1) {
    uint16_t h;
    f.read(reinterpret_cast<char*>(&h), 2);
    hlen = h;
  } else {
    f.read(reinterpret_cast<char*>(&hlen), 4);
  }
  std::string header(hlen, '\0');
  f.read(header.data(), hlen);
  auto field = [&](const std::string& key) {
    auto p = header.find("'" + key + "'");
    TANDEM_CHECK(p != std::string::npos, "load_npy: {} header lacks {}", path, key);
    return header.substr(header.find(':', p) + 1);
  };
  std::string descr = field("descr");
  descr = descr.substr(descr.find('\'') + 1);
  descr = descr.substr(0, descr.find('\''));
  TANDEM_CHECK(field("fortran_order").find("False") < 3, "load_npy: {} is Fortran-ordered", path);
  std::string shp = field("shape");
  shp = shp.substr(shp.find('(') + 1, shp.find(')') - shp.find('(') - 1);
  Shape shape;
  size_t pos = 0;
  while (pos < shp.size()) {
    size_t end = shp.find(',', pos);
    std::string tok = shp.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (tok.find_first_of("0123456789") != std::string::npos) shape.push_back(std::stoll(tok));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  DType dt;
  if (descr == "<f4") dt = DType::Float32;
  else if (descr == "<f8") dt = DType::Float64;
  else if (descr == "<i8") dt = DType::Int64;
  else if (descr == "<i4") dt = DType::Int32;
  else if (descr == "|u1") dt = DType::UInt8;
  else if (descr == "|i1") dt = DType::Int8;
  else if (descr == "<i2") dt = DType::Int16;
  else if (descr == "<u2") dt = DType::UInt16;
  else if (descr == "|b1") dt = DType::Bool;
  else if (descr == "<f2") dt = DType::Float16;
  else TANDEM_FAIL("load_npy: {} has unsupported dtype {}", path, descr);
  Tensor t = empty(shape, {.dtype = dt});
  f.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  TANDEM_CHECK(f.good() || t.nbytes() == 0, "load_npy: {} is truncated", path);
  return t;
}

}  // namespace tandem::testing
