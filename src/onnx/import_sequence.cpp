// ONNX sequence and optional ops on importer-level Values (a sequence is a list of tensors; an
// optional is empty or its element): SequenceEmpty SequenceConstruct SequenceInsert SequenceAt
// SequenceErase SequenceLength ConcatFromSequence SplitToSequence SequenceMap Optional
// OptionalHasElement OptionalGetElement.
#include <fmt/format.h>

#include "importer.h"

namespace tandem::onnx::detail {
namespace {

using Vs = std::vector<onnx::Value>;

// A position input (scalar int32/int64) checked against [-n, n - 1] (or [-n, n] to insert).
int64_t seq_position(const ValueCtx& c, size_t input, int64_t n, bool insert) {
  const Tensor& p = c.tensor(input);
  if (p.numel() != 1) c.attrs.fail("the position must be a scalar");
  int64_t pos = to_int64s(p).at(0);
  const int64_t hi = insert ? n : n - 1;
  if (pos < -n || pos > hi)
    c.attrs.fail(fmt::format("position {} is out of range for a sequence of {} tensors", pos, n));
  return pos < 0 ? pos + n : pos;
}

Vs seq_empty_(ValueCtx& c) {
  (void)c;
  return {onnx::Value::of_sequence({})};
}

Vs seq_construct_(ValueCtx& c) {
  std::vector<Tensor> ts;
  for (size_t i = 0; i < c.inputs.size(); ++i) ts.push_back(c.tensor(i));
  if (ts.empty()) c.attrs.fail("needs at least one input");
  for (const auto& t : ts)
    if (t.dtype() != ts[0].dtype()) c.attrs.fail(fmt::format("mixed dtypes {} and {}", ts[0].dtype(), t.dtype()));
  return {onnx::Value::of_sequence(std::move(ts))};
}

Vs seq_insert_(ValueCtx& c) {
  std::vector<Tensor> ts = c.sequence(0);
  const Tensor& x = c.tensor(1);
  if (!ts.empty() && ts[0].dtype() != x.dtype())
    c.attrs.fail(fmt::format("cannot insert a {} tensor into a sequence of {}", x.dtype(), ts[0].dtype()));
  int64_t n = static_cast<int64_t>(ts.size());
  int64_t pos = c.has_input(2) ? seq_position(c, 2, n, true) : n;
  ts.insert(ts.begin() + pos, x);
  return {onnx::Value::of_sequence(std::move(ts))};
}

Vs seq_at_(ValueCtx& c) {
  const auto& ts = c.sequence(0);
  return {onnx::Value(ts.at(seq_position(c, 1, static_cast<int64_t>(ts.size()), false)))};
}

Vs seq_erase_(ValueCtx& c) {
  std::vector<Tensor> ts = c.sequence(0);
  int64_t n = static_cast<int64_t>(ts.size());
  if (n == 0) c.attrs.fail("cannot erase from an empty sequence");
  int64_t pos = c.has_input(1) ? seq_position(c, 1, n, false) : n - 1;
  ts.erase(ts.begin() + pos);
  return {onnx::Value::of_sequence(std::move(ts))};
}

Vs seq_length_(ValueCtx& c) {
  return {onnx::Value(full({}, static_cast<double>(c.sequence(0).size()), {.dtype = DType::Int64}))};
}

Vs concat_from_seq_(ValueCtx& c) {
  const auto& ts = c.sequence(0);
  if (ts.empty()) c.attrs.fail("cannot concatenate an empty sequence");
  const bool new_axis = c.attrs.i("new_axis", 0) != 0;
  const int64_t rank = ts[0].dim() + (new_axis ? 1 : 0);
  int64_t axis = norm_axis(c.attrs.i("axis", 0), rank, c.attrs);
  return {onnx::Value(new_axis ? stack(ts, axis).contiguous() : cat(ts, axis))};
}

Vs split_to_seq_(ValueCtx& c) {
  const Tensor& x = c.tensor(0);
  int64_t axis = norm_axis(c.attrs.i("axis", 0), x.dim(), c.attrs);
  const int64_t len = x.size(axis);
  std::vector<int64_t> sizes;
  bool squeeze_axis = false;
  if (!c.has_input(1)) {
    sizes.assign(static_cast<size_t>(len), 1);
    squeeze_axis = c.attrs.i("keepdims", 1) == 0;
  } else {
    const Tensor& s = c.tensor(1);
    auto v = to_int64s(s);
    if (s.dim() == 0) {
      if (v.at(0) <= 0) c.attrs.fail(fmt::format("split size {} must be positive", v.at(0)));
      for (int64_t start = 0; start < len; start += v[0]) sizes.push_back(std::min(v[0], len - start));
    } else {
      int64_t total = 0;
      for (int64_t k : v) {
        if (k < 0) c.attrs.fail(fmt::format("split size {} is negative", k));
        total += k;
      }
      if (total != len) c.attrs.fail(fmt::format("split sizes sum to {}, the axis has {}", total, len));
      sizes = v;
    }
  }
  std::vector<Tensor> ts;
  int64_t start = 0;
  for (int64_t s : sizes) {
    Tensor part = x.slice(axis, start, start + s).contiguous();
    ts.push_back(squeeze_axis ? squeeze(part, axis) : part);
    start += s;
  }
  return {onnx::Value::of_sequence(std::move(ts))};
}

// Runs the body once per position of the sequence inputs; tensor inputs are passed whole.
Vs seq_map_(ValueCtx& c) {
  const auto* a = c.attrs.attr("body");
  if (!a || !a->has_g()) c.attrs.fail("graph attribute 'body' is missing");
  const auto& body = a->g();
  const auto& first = c.sequence(0);
  const size_t n = first.size();
  for (size_t k = 1; k < c.inputs.size(); ++k)
    if (c.inputs[k].is_sequence() && c.inputs[k].sequence.size() != n)
      c.attrs.fail(fmt::format("sequence input {} has {} tensors, input 0 has {}", k, c.inputs[k].sequence.size(), n));
  std::vector<std::vector<Tensor>> outs(static_cast<size_t>(body.output_size()));
  for (size_t i = 0; i < n; ++i) {
    Vs ins;
    for (const auto& v : c.inputs) ins.push_back(v.is_sequence() ? onnx::Value(v.sequence[i]) : v);
    Vs r = run_subgraph(body, ins, c.scope, c.attrs.opset, c.attrs.base_dir);
    for (size_t k = 0; k < outs.size(); ++k) {
      if (!r[k].is_tensor()) c.attrs.fail(fmt::format("body output {} is not a tensor", k));
      outs[k].push_back(r[k].tensor);
    }
  }
  Vs result;
  for (auto& o : outs) result.push_back(onnx::Value::of_sequence(std::move(o)));
  return result;
}

Vs optional_(ValueCtx& c) {
  if (!c.inputs.empty() && !c.inputs[0].is_none()) return {c.inputs[0]};
  return {onnx::Value::none()};
}

Vs optional_has_(ValueCtx& c) {
  return {onnx::Value(full({}, c.has_input(0) ? 1.0 : 0.0, {.dtype = DType::Bool}))};
}

Vs optional_get_(ValueCtx& c) {
  if (!c.has_input(0)) c.attrs.fail("the optional is empty");
  return {c.inputs[0]};
}

}  // namespace

void register_sequence(std::map<std::string, ValueConverter>& t) {
  t["SequenceEmpty"] = seq_empty_;
  t["SequenceConstruct"] = seq_construct_;
  t["SequenceInsert"] = seq_insert_;
  t["SequenceAt"] = seq_at_;
  t["SequenceErase"] = seq_erase_;
  t["SequenceLength"] = seq_length_;
  t["ConcatFromSequence"] = concat_from_seq_;
  t["SplitToSequence"] = split_to_seq_;
  t["SequenceMap"] = seq_map_;
  t["Optional"] = optional_;
  t["OptionalHasElement"] = optional_has_;
  t["OptionalGetElement"] = optional_get_;
}

}  // namespace tandem::onnx::detail
