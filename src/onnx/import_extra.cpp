// ONNX ops beyond the core list (conformance.cpp) that the backend tests use and that decompose cheaply into
// tandem ops: NegativeLogLikelihoodLoss SoftmaxCrossEntropyLoss Trilu Mod Hardmax OneHot
// DepthToSpace SpaceToDepth EyeLike Shrink GatherND ScatterND GridSample BitShift NonZero.
#include <cmath>

#include "importer.h"
#include "tandem/sampling.h"

namespace tandem::onnx::detail {
namespace {

using Ts = std::vector<Tensor>;

// loss = -weight[t] * input[n, t, ...]; ignore_index positions count neither in the sum nor
// in the mean's denominator.
Tensor nll(const Ctx& c, const Tensor& input, const Tensor& target, const Tensor& weight) {
  Tensor t = as_dtype(target, DType::Int64);
  Tensor mask = ones(t.shape(), {.dtype = DType::Bool});
  if (c.has_attr("ignore_index")) mask = ne(t, full_like(t, static_cast<double>(c.i("ignore_index", 0))));
  Tensor tc = where(mask, t, zeros_like(t));
  Tensor g = gather(input, 1, tc.unsqueeze(1)).squeeze(1);
  Tensor w = weight.defined() ? reshape(index_select(weight, 0, tc.reshape({-1})), t.shape()) : ones(t.shape(), {.dtype = input.dtype()});
  w = where(mask, w, zeros_like(w));
  Tensor loss = neg(g * w);
  std::string red = c.s("reduction", "mean");
  if (red == "none") return loss;
  if (red == "sum") return sum(loss);
  if (red == "mean") return sum(loss) / sum(w);
  c.fail(fmt::format("unknown reduction '{}'", red));
}

Ts nll_loss_(Ctx& c) { return {nll(c, c.in(0), c.in(1), c.has_input(2) ? c.in(2) : Tensor())}; }

Ts sce_loss_(Ctx& c) {
  Tensor lp = log_softmax(c.in(0), 1);
  Ts out{nll(c, lp, c.in(1), c.has_input(2) ? c.in(2) : Tensor())};
  if (c.num_outputs > 1) out.push_back(lp);
  return out;
}

Ts trilu_(Ctx& c) {
  const Tensor& x = c.in(0);
  int64_t k = c.has_input(1) ? to_int64s(c.in(1)).at(0) : 0;
  bool upper = c.i("upper", 1) != 0;
  int64_t n = x.size(-2), m = x.size(-1);
  Tensor rows = arange(static_cast<double>(n)).reshape({n, 1});
  Tensor cols = arange(static_cast<double>(m)).reshape({1, m});
  Tensor diff = cols - rows;  // j - i
  Tensor keep = upper ? ge(diff, full_like(diff, static_cast<double>(k))) : le(diff, full_like(diff, static_cast<double>(k)));
  return {where(keep, x, zeros_like(x))};
}

Ts mod_(Ctx& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  bool fmod = c.i("fmod", 0) != 0;
  if (!is_floating(a.dtype()) && !is_floating(b.dtype()) && a.dtype() != DType::Bool && b.dtype() != DType::Bool)
    return {int_div(a, b, fmod ? "fmod" : "mod")};  // exact, x mod 0 -> 0
  Tensor A = a.to(DType::Float64), B = b.to(DType::Float64);
  Tensor q = A / B;
  Tensor qi = fmod ? sign(q) * onnx_unary(abs(q), "floor") : onnx_unary(q, "floor");
  Tensor r = A - B * qi;
  DType dt = result_type({TensorMeta::of(a), TensorMeta::of(b)});
  if (!is_floating(dt)) r = where(B == zeros_like(B), zeros_like(r), r);  // x mod 0 -> 0 for ints
  return {r.to(dt)};
}

Tensor move_last_to(const Tensor& x, int64_t axis) {  // [..., n] -> n at `axis`
  int64_t r = x.dim();
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < r - 1; ++d) {
    if (d == axis) perm.push_back(r - 1);
    perm.push_back(d);
  }
  if (axis == r - 1) perm.push_back(r - 1);
  return permute(x, perm).contiguous();
}

Ts hardmax_(Ctx& c) {
  const Tensor& x = c.in(0);
  if (c.opset < 13) {
    int64_t axis = norm_axis(c.i("axis", 1), x.dim(), c);
    int64_t a = 1, b = 1;
    for (int64_t d = 0; d < x.dim(); ++d) (d < axis ? a : b) *= x.size(d);
    Tensor idx = argmax(reshape(x, {a, b}), 1);
    return {reshape(one_hot(idx, b).to(x.dtype()), x.shape())};
  }
  int64_t axis = norm_axis(c.i("axis", -1), x.dim(), c);
  Tensor idx = argmax(x, axis, false);
  return {move_last_to(one_hot(idx, x.size(axis)).to(x.dtype()), axis)};
}

Ts one_hot_(Ctx& c) {
  const Tensor &indices = c.in(0), &values = c.in(2);
  int64_t depth = static_cast<int64_t>(c.in(1).to(DType::Float64).reshape({-1}).to_vector<double>().at(0));
  Tensor idx = as_dtype(indices, DType::Int64);
  idx = where(lt(idx, zeros_like(idx)), idx + wrap_scalar(depth), idx);
  Tensor valid = logical_and(ge(idx, zeros_like(idx)), lt(idx, full_like(idx, static_cast<double>(depth))));
  Tensor oh = one_hot(where(valid, idx, zeros_like(idx)), depth);
  Tensor hot = logical_and(ne(oh, zeros_like(oh)), valid.unsqueeze(-1));
  int64_t axis = norm_axis(c.i("axis", -1), indices.dim() + 1, c);
  hot = move_last_to(hot, axis);
  Tensor off = values.reshape({-1}).select(0, 0), on = values.reshape({-1}).select(0, 1);
  return {where(hot, on, off).contiguous()};
}

Ts depth_to_space_(Ctx& c) {
  const Tensor& x = c.in(0);
  int64_t b = c.i("blocksize", 1), N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  if (C % (b * b) != 0) c.fail("channels not divisible by blocksize^2");
  if (c.s("mode", "DCR") == "CRD") return {pixel_shuffle(x, b)};
  Tensor y = permute(reshape(x, {N, b, b, C / (b * b), H, W}), {0, 3, 4, 1, 5, 2});
  return {reshape(y.contiguous(), {N, C / (b * b), H * b, W * b})};
}

Ts space_to_depth_(Ctx& c) {
  const Tensor& x = c.in(0);
  int64_t b = c.i("blocksize", 1), N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  if (H % b != 0 || W % b != 0) c.fail("spatial dims not divisible by blocksize");
  Tensor y = permute(reshape(x, {N, C, H / b, b, W / b, b}), {0, 3, 5, 1, 2, 4});
  return {reshape(y.contiguous(), {N, C * b * b, H / b, W / b})};
}

// GridSample (opset 16; opset 20 renamed bilinear/bicubic to linear/cubic).
Ts grid_sample_(Ctx& c) {
  std::string mode = c.s("mode", "bilinear");
  if (mode == "linear") mode = "bilinear";
  if (mode == "cubic") mode = "bicubic";
  return {grid_sample(c.in(0), c.in(1), mode, c.s("padding_mode", "zeros"), c.i("align_corners", 0) != 0)};
}

// BitShift on unsigned integers (uint8 and uint16: the unsigned types tandem has): x * 2^s
// modulo 2^bits, or x / 2^s rounded down; shifts of `bits` or more give 0.
Ts bit_shift_(Ctx& c) {
  const Tensor &x = c.in(0), &s = c.in(1);
  const bool is_unsigned = x.dtype() == DType::UInt8 || x.dtype() == DType::UInt16;
  if (!is_unsigned || s.dtype() != x.dtype())
    c.fail(fmt::format("BitShift supports uint8 and uint16 (the unsigned types tandem has) with "
                       "both inputs of one type, got {} and {}",
                       dtype_name(x.dtype()), dtype_name(s.dtype())));
  const std::string dir = c.s("direction", "");
  if (dir != "LEFT" && dir != "RIGHT") c.fail(fmt::format("direction must be LEFT or RIGHT, got '{}'", dir));
  const double bits = 8.0 * static_cast<double>(itemsize(x.dtype()));
  Tensor sf = clamp(s.to(DType::Float64), 0.0, bits);
  Tensor p = pow(full_like(sf, 2.0), sf).to(DType::Int64);
  Tensor xi = x.to(DType::Int64);
  Tensor y = dir == "LEFT" ? int_div(xi * p, full_like(p, std::exp2(bits)), "mod") : int_div(xi, p, "div");
  return {y.to(x.dtype())};
}

Ts eye_like_(Ctx& c) {
  const Tensor& x = c.in(0);
  if (x.dim() != 2) c.fail("input must be 2-D");
  DType dt = c.has_attr("dtype") ? dtype_from_onnx(static_cast<int32_t>(c.i("dtype", 1)), c.where()) : x.dtype();
  int64_t k = c.i("k", 0), n = x.size(0), m = x.size(1);
  Tensor diff = arange(static_cast<double>(m)).reshape({1, m}) - arange(static_cast<double>(n)).reshape({n, 1});
  return {eq(diff, full_like(diff, static_cast<double>(k))).to(dt)};
}

Ts shrink_(Ctx& c) {
  const Tensor& x = c.in(0);
  double bias = c.f("bias", 0.0), lambd = c.f("lambd", 0.5);
  Tensor xf = x.to(DType::Float64);
  Tensor y = where(lt(xf, full_like(xf, -lambd)), xf + bias, where(gt(xf, full_like(xf, lambd)), xf - bias, zeros_like(xf)));
  return {y.to(x.dtype())};
}

// The index tuples of GatherND / ScatterND as flat positions into `data` reshaped to
// [batch * rows, rest...]: indices [b..., n..., k] -> int64 [batch * n] (batch-major), each
// coordinate wrapped (negative counts from the end). Tensor ops only, so a traced plan keeps
// it; index_select / scatter check the positions.
Tensor nd_linear(Ctx& c, const Tensor& data, const Tensor& indices, int64_t b, int64_t& rows) {
  const int64_t k = indices.size(-1), r = data.dim();
  if (b < 0 || b >= std::min<int64_t>(indices.dim(), r)) c.fail(fmt::format("batch_dims {} out of range", b));
  for (int64_t d = 0; d < b; ++d)
    if (indices.size(d) != data.size(d)) c.fail("the batch dims of data and indices differ");
  if (k < 1 || b + k > r)
    c.fail(fmt::format("index tuples of length {} do not fit data of rank {} after {} batch dims", k, r, b));
  Tensor idx = as_dtype(indices, DType::Int64);
  int64_t batch = 1;
  for (int64_t d = 0; d < b; ++d) batch *= data.size(d);
  rows = 1;
  Tensor lin = zeros(Shape(idx.shape().begin(), idx.shape().end() - 1), {.dtype = DType::Int64});
  for (int64_t j = 0; j < k; ++j) {
    lin = lin * wrap_scalar(data.size(b + j)) + fix_negative(idx.select(-1, j), data.size(b + j));
    rows *= data.size(b + j);
  }
  lin = lin.reshape({batch, -1});
  if (b > 0) lin = lin + arange(static_cast<double>(batch)).reshape({batch, 1}) * wrap_scalar(rows);
  return lin.reshape({-1});
}

Ts gather_nd_(Ctx& c) {
  const Tensor &data = c.in(0), &indices = c.in(1);
  const int64_t b = c.i("batch_dims", 0);
  int64_t rows = 0;
  Tensor lin = nd_linear(c, data, indices, b, rows);
  const int64_t k = indices.size(-1);
  Shape rest(data.shape().begin() + b + k, data.shape().end());
  Shape flat{-1};
  flat.insert(flat.end(), rest.begin(), rest.end());
  Tensor picked = index_select(reshape(data, flat), 0, lin);
  Shape out(indices.shape().begin(), indices.shape().end() - 1);
  out.insert(out.end(), rest.begin(), rest.end());
  return {reshape(picked, out)};
}

// ScatterND (reduction none/add/mul, and max/min from opset 18): data with the slices named by
// the index tuples replaced by (or reduced with) updates, as one scatter along the flattened
// indexed dims.
Ts scatter_nd_(Ctx& c) {
  const Tensor &data = c.in(0), &indices = c.in(1), &updates = c.in(2);
  int64_t rows = 0;
  Tensor lin = nd_linear(c, data, indices, 0, rows);
  const int64_t k = indices.size(-1), n = lin.numel();
  Shape rest(data.shape().begin() + k, data.shape().end());
  Shape want(indices.shape().begin(), indices.shape().end() - 1);
  want.insert(want.end(), rest.begin(), rest.end());
  if (updates.shape() != want)
    c.fail(fmt::format("updates of shape {} do not match the expected {}", shape_str(updates.shape()), shape_str(want)));
  Shape flat{rows}, uflat{n}, one{n};
  flat.insert(flat.end(), rest.begin(), rest.end());
  uflat.insert(uflat.end(), rest.begin(), rest.end());
  one.insert(one.end(), rest.size(), 1);
  Tensor where_to = lin.reshape(one).expand(uflat).contiguous();
  Tensor x = reshape(data, flat), u = reshape(updates, uflat);
  const std::string red = c.s("reduction", "none");
  Tensor y;
  if (red == "none") y = scatter(x, 0, where_to, u);
  else if (red == "add") y = scatter_reduce(x, 0, where_to, u, "sum");
  else if (red == "mul") y = scatter_reduce(x, 0, where_to, u, "prod");
  else if (red == "max") y = scatter_reduce(x, 0, where_to, u, "amax");
  else if (red == "min") y = scatter_reduce(x, 0, where_to, u, "amin");
  else c.unsupported(fmt::format("reduction '{}'", red));
  return {reshape(y, data.shape())};
}

// NonZero: the indices of the nonzero elements (NaN counts), [rank, count] int64 in row-major
// order; a 0-d input counts as 1-D, as NumPy's nonzero does. Its length depends on the data:
// the converter reads the values on the host, so a model holding it runs node by node
// (Model::run falls back from the traced plan when a converter reads a run-time value), as
// detection models' score filtering does.
Ts non_zero_(Ctx& c) {
  const Tensor& in = c.in(0);
  const Tensor x = (in.dtype() == DType::Bool ? in.to(DType::UInt8) : in).to(DType::Float64).contiguous();
  const double* p = static_cast<const double*>(x.data_ptr());
  const Shape shape = in.dim() == 0 ? Shape{1} : in.shape();
  const int64_t rank = static_cast<int64_t>(shape.size()), n = x.numel();
  std::vector<int64_t> flat;
  for (int64_t i = 0; i < n; ++i)
    if (p[i] != 0.0) flat.push_back(i);  // NaN != 0
  const int64_t count = static_cast<int64_t>(flat.size());
  std::vector<int64_t> idx(static_cast<size_t>(rank * count));
  for (int64_t j = 0; j < count; ++j) {
    int64_t r = flat[j];
    for (int64_t d = rank - 1; d >= 0; --d) {
      idx[d * count + j] = r % shape[d];
      r /= shape[d];
    }
  }
  return {tensor(idx, Shape{rank, count}, {.dtype = DType::Int64})};
}

}  // namespace

void register_extra(std::map<std::string, Converter>& t) {
  t["NonZero"] = non_zero_;
  t["NegativeLogLikelihoodLoss"] = nll_loss_;
  t["SoftmaxCrossEntropyLoss"] = sce_loss_;
  t["Trilu"] = trilu_;
  t["Mod"] = mod_;
  t["Hardmax"] = hardmax_;
  t["OneHot"] = one_hot_;
  t["DepthToSpace"] = depth_to_space_;
  t["SpaceToDepth"] = space_to_depth_;
  t["EyeLike"] = eye_like_;
  t["Shrink"] = shrink_;
  t["GatherND"] = gather_nd_;
  t["ScatterND"] = scatter_nd_;
  t["GridSample"] = grid_sample_;
  t["BitShift"] = bit_shift_;
}

}  // namespace tandem::onnx::detail
