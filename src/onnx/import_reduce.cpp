// ONNX reductions and ordering ops: Reduce{Sum,Mean,Max,Min,Prod,L1,L2,LogSumExp,SumSquare,
// LogSum}, ArgMax ArgMin TopK CumSum, and Einsum (tandem::einsum).
#include <algorithm>

#include "importer.h"
#include "tandem/einsum.h"

namespace tandem::onnx::detail {
namespace {

using Ts = std::vector<Tensor>;

// Axes of a Reduce* node: input 1 for ReduceSum from opset 13 (all Reduce* from 18), else the
// attribute; none = every dim (or no reduction with noop_with_empty_axes).
std::optional<std::vector<int64_t>> reduce_axes(const Ctx& c, const Tensor& x) {
  std::vector<int64_t> axes;
  bool from_input = c.node.op_type() == "ReduceSum" ? c.opset >= 13 : c.opset >= 18;
  if (from_input) {
    if (c.has_input(1)) axes = to_int64s(c.in(1));
  } else {
    axes = c.ints("axes");
  }
  if (axes.empty()) {
    if (c.i("noop_with_empty_axes", 0) != 0) return std::nullopt;
    for (int64_t d = 0; d < x.dim(); ++d) axes.push_back(d);
  }
  for (auto& a : axes) a = norm_axis(a, x.dim(), c);
  std::sort(axes.begin(), axes.end());
  return axes;
}

template <int Kind>
Ts reduce_(Ctx& c) {
  const Tensor& x = c.in(0);
  bool keep = c.i("keepdims", 1) != 0;
  auto axes = reduce_axes(c, x);
  if (!axes) return {x};
  if (x.numel() == 0 && (Kind == 2 || Kind == 3)) c.unsupported("ReduceMax/ReduceMin of an empty tensor");
  switch (Kind) {
    case 0: return {sum(x, *axes, keep).to(x.dtype())};
    case 1: return {mean(x, *axes, keep)};
    case 2: return {amax(x, *axes, keep)};
    case 3: return {amin(x, *axes, keep)};
    case 4: return {prod(x, *axes, keep).to(x.dtype())};
    case 5: return {sum(abs(x), *axes, keep).to(x.dtype())};
    case 6: {
      if (!is_floating(x.dtype())) return {sqrt(sum(x * x, *axes, keep).to(DType::Float64)).to(x.dtype())};
      return {sqrt(sum(x * x, *axes, keep))};
    }
    case 7: return {logsumexp(x, *axes, keep)};
    case 8: return {sum(x * x, *axes, keep).to(x.dtype())};
    case 9: return {log(sum(x, *axes, keep))};
  }
  return {};
}

template <bool IsMax>
Ts arg_(Ctx& c) {
  Tensor x = c.in(0);
  int64_t axis = norm_axis(c.i("axis", 0), x.dim(), c);
  bool keep = c.i("keepdims", 1) != 0;
  bool last = c.i("select_last_index", 0) != 0;
  if (last) x = flip(x, axis);
  Tensor idx = IsMax ? argmax(x, axis, keep) : argmin(x, axis, keep);
  if (last) idx = (static_cast<double>(x.size(axis) - 1) - idx).to(DType::Int64);
  return {idx};
}

Ts topk_(Ctx& c) {
  const Tensor& x = c.in(0);
  int64_t k = c.opset < 10 ? c.i("k", 1) : to_int64s(c.in(1)).at(0);
  int64_t axis = norm_axis(c.i("axis", -1), x.dim(), c);
  bool largest = c.i("largest", 1) != 0, sorted = c.i("sorted", 1) != 0;
  if (k < 0 || k > x.size(axis)) c.fail(fmt::format("k={} out of range for axis of size {}", k, x.size(axis)));
  auto [v, i] = topk(x, k, axis, largest, true);
  (void)sorted;
  return {v, i.to(DType::Int64)};
}

Ts cumsum_(Ctx& c) {
  Tensor x = c.in(0);
  int64_t axis = norm_axis(to_int64s(c.in(1)).at(0), x.dim(), c);
  bool exclusive = c.i("exclusive", 0) != 0, reverse = c.i("reverse", 0) != 0;
  if (reverse) x = flip(x, axis);
  Tensor y = cumsum(x, axis).to(x.dtype());
  if (exclusive) y = y - x;
  if (reverse) y = flip(y, axis);
  return {y.contiguous()};
}

// Einsum: tandem::einsum (diagonals, "..." anywhere, the implicit form).
Ts einsum_(Ctx& c) {
  std::vector<Tensor> xs;
  for (size_t i = 0; i < c.num_inputs(); ++i) xs.push_back(c.in(i));
  return {einsum(c.s("equation", ""), xs).contiguous()};
}

}  // namespace

void register_reduce(std::map<std::string, Converter>& t) {
  t["ReduceSum"] = reduce_<0>;
  t["ReduceMean"] = reduce_<1>;
  t["ReduceMax"] = reduce_<2>;
  t["ReduceMin"] = reduce_<3>;
  t["ReduceProd"] = reduce_<4>;
  t["ReduceL1"] = reduce_<5>;
  t["ReduceL2"] = reduce_<6>;
  t["ReduceLogSumExp"] = reduce_<7>;
  t["ReduceSumSquare"] = reduce_<8>;
  t["ReduceLogSum"] = reduce_<9>;
  t["ArgMax"] = arg_<true>;
  t["ArgMin"] = arg_<false>;
  t["TopK"] = topk_;
  t["CumSum"] = cumsum_;
  t["Einsum"] = einsum_;
}

}  // namespace tandem::onnx::detail
