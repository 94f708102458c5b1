// TensorProto <-> Tensor, dtype mapping and the converter context (Ctx) accessors.
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "importer.h"
#include <onnx/onnx-data_pb.h>  // SequenceProto, OptionalProto (after onnx_pb.h)
#include "tandem/opdef.h"

namespace tandem::onnx::detail {

DType dtype_from_onnx(int32_t t, const std::string& where) {
  switch (t) {
    case ::onnx::TensorProto::FLOAT: return DType::Float32;
    case ::onnx::TensorProto::UINT8: return DType::UInt8;
    case ::onnx::TensorProto::INT8: return DType::Int8;
    case ::onnx::TensorProto::INT16: return DType::Int16;
    case ::onnx::TensorProto::UINT16: return DType::UInt16;
    case ::onnx::TensorProto::INT32: return DType::Int32;
    case ::onnx::TensorProto::INT64: return DType::Int64;
    case ::onnx::TensorProto::BOOL: return DType::Bool;
    case ::onnx::TensorProto::FLOAT16: return DType::Float16;
    case ::onnx::TensorProto::DOUBLE: return DType::Float64;
    case ::onnx::TensorProto::BFLOAT16: return DType::BFloat16;
    default: break;
  }
  const char* name = ::onnx::TensorProto::DataType_IsValid(t)
                         ? ::onnx::TensorProto::DataType_Name(static_cast<::onnx::TensorProto::DataType>(t)).c_str()
                         : "invalid";
  throw Unsupported(fmt::format("{}: ONNX element type {} ({}) is not supported (tandem has "
                                "float32/64, float16, bfloat16, int8/16/32/64, uint8/16, bool)",
                                where, name, t));
}

int32_t dtype_to_onnx(DType d) {
  switch (d) {
    case DType::Float32: return ::onnx::TensorProto::FLOAT;
    case DType::UInt8: return ::onnx::TensorProto::UINT8;
    case DType::Int8: return ::onnx::TensorProto::INT8;
    case DType::Int16: return ::onnx::TensorProto::INT16;
    case DType::UInt16: return ::onnx::TensorProto::UINT16;
    case DType::Int32: return ::onnx::TensorProto::INT32;
    case DType::Int64: return ::onnx::TensorProto::INT64;
    case DType::Bool: return ::onnx::TensorProto::BOOL;
    case DType::Float16: return ::onnx::TensorProto::FLOAT16;
    case DType::Float64: return ::onnx::TensorProto::DOUBLE;
    case DType::BFloat16: return ::onnx::TensorProto::BFLOAT16;
  }
  return 0;
}

namespace {

std::string read_external(const ::onnx::TensorProto& t, const std::string& base_dir, size_t want) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      TANDEM_FAIL("tensor '{}': external data field '{}' is not a number: '{}'", t.name(), kv.key(), kv.value());
    }
  }
  TANDEM_CHECK(!location.empty(), "tensor '{}': external data without a location", t.name());
  TANDEM_CHECK(length >= -1, "tensor '{}': external data length {} is negative", t.name(), length);
  std::filesystem::path rel(location);
  TANDEM_CHECK(rel.is_relative() && location.find("..") == std::string::npos,
               "tensor '{}': external data location '{}' must be a path inside the model's folder",
               t.name(), location);
  std::string path = (std::filesystem::path(base_dir) / rel).string();
  std::ifstream f(path, std::ios::binary);
  TANDEM_CHECK(f.good(), "tensor '{}': cannot open external data file '{}'", t.name(), path);
  f.seekg(0, std::ios::end);
  int64_t size = f.tellg();
  // NOTE: offset and length come from the model file; compare without forming offset + length,
  // which could overflow.
  TANDEM_CHECK(offset >= 0 && offset <= size,
               "tensor '{}': external data offset {} is outside '{}' ({} bytes)", t.name(), offset, path, size);
  if (length < 0) length = size - offset;
  TANDEM_CHECK(length <= size - offset,
               "tensor '{}': external data range of {} bytes at {} is outside '{}' ({} bytes)", t.name(),
               length, offset, path, size);
  TANDEM_CHECK(static_cast<size_t>(length) == want,
               "tensor '{}': external data has {} bytes, the shape and dtype need {}", t.name(), length, want);
  std::string bytes(static_cast<size_t>(length), '\0');
  f.seekg(offset);
  f.read(bytes.data(), length);
  TANDEM_CHECK(f.good(), "tensor '{}': reading external data '{}' failed", t.name(), path);
  return bytes;
}

template <typename Src, typename Dst>
void copy_field(const google::protobuf::RepeatedField<Src>& src, Dst* dst, int64_t n, const std::string& name) {
  TANDEM_CHECK(src.size() == n, "tensor '{}': has {} values, its shape needs {}", name, src.size(), n);
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(src.Get(static_cast<int>(i)));
}

}  // namespace

Tensor tensor_from_proto(const ::onnx::TensorProto& t, const std::string& base_dir) {
  std::string where = fmt::format("tensor '{}'", t.name());
  DType dtype = dtype_from_onnx(t.data_type(), where);
  Shape shape;
  int64_t numel = 1;
  for (int64_t d : t.dims()) {
    TANDEM_CHECK(d >= 0, "{}: negative dimension {}", where, d);
    TANDEM_CHECK(d == 0 || numel <= (int64_t(1) << 40) / d, "{}: too many elements", where);
    numel *= d;
    shape.push_back(d);
  }
  // NOTE: the dims come from the file: check that the data is there before allocating the
  // tensor they describe (a few bytes of dims must not allocate gigabytes).
  size_t bytes = static_cast<size_t>(numel) * itemsize(dtype);
  if (t.data_location() == ::onnx::TensorProto::EXTERNAL) {
    std::string data = read_external(t, base_dir, bytes);
    Tensor out = empty(shape, {.dtype = dtype});
    if (bytes) std::memcpy(out.data_ptr(), data.data(), bytes);
    return out;
  }
  if (t.has_raw_data()) {
    TANDEM_CHECK(t.raw_data().size() == bytes, "{}: raw data has {} bytes, shape {} of {} needs {}", where,
                 t.raw_data().size(), shape_str(shape), dtype, bytes);
    Tensor out = empty(shape, {.dtype = dtype});
    if (bytes) std::memcpy(out.data_ptr(), t.raw_data().data(), bytes);
    return out;
  }
  const int64_t values = dtype == DType::Float32   ? t.float_data_size()
                         : dtype == DType::Float64 ? t.double_data_size()
                         : dtype == DType::Int64   ? t.int64_data_size()
                                                   : t.int32_data_size();
  TANDEM_CHECK(values == numel, "{}: has {} values, its shape {} needs {}", where, values, shape_str(shape), numel);
  Tensor out = empty(shape, {.dtype = dtype});
  switch (dtype) {
    case DType::Float32: copy_field(t.float_data(), out.data<float>(), numel, t.name()); break;
    case DType::Float64: copy_field(t.double_data(), out.data<double>(), numel, t.name()); break;
    case DType::Int64: copy_field(t.int64_data(), out.data<int64_t>(), numel, t.name()); break;
    case DType::Int32: copy_field(t.int32_data(), out.data<int32_t>(), numel, t.name()); break;
    case DType::Int8: copy_field(t.int32_data(), static_cast<int8_t*>(out.data_ptr()), numel, t.name()); break;
    case DType::UInt8: copy_field(t.int32_data(), static_cast<uint8_t*>(out.data_ptr()), numel, t.name()); break;
    case DType::Int16: copy_field(t.int32_data(), static_cast<int16_t*>(out.data_ptr()), numel, t.name()); break;
    case DType::UInt16: copy_field(t.int32_data(), static_cast<uint16_t*>(out.data_ptr()), numel, t.name()); break;
    case DType::Bool: copy_field(t.int32_data(), static_cast<uint8_t*>(out.data_ptr()), numel, t.name()); break;
    case DType::Float16:
    case DType::BFloat16: copy_field(t.int32_data(), static_cast<uint16_t*>(out.data_ptr()), numel, t.name()); break;
  }
  if (dtype == DType::Bool) {  // normalise to 0/1
    auto* p = static_cast<uint8_t*>(out.data_ptr());
    for (int64_t i = 0; i < numel; ++i) p[i] = p[i] != 0;
  }
  return out;
}

std::vector<int64_t> to_int64s(const Tensor& t) {
  // ONNX gives shapes, axes, starts/ends/steps, pads and counts as int32/int64 tensors; a
  // float tensor there is a malformed model, not something to round.
  TANDEM_CHECK(!is_floating(t.dtype()) && t.dtype() != DType::Bool,
               "expected an integer tensor (int32 or int64) of shape values, axes or counts, got {}",
               t.dtype());
  return t.to_vector<int64_t>();  // exact: integers never pass through double
}

int64_t norm_axis(int64_t axis, int64_t rank, const Ctx& c) {
  if (axis < -rank || axis >= rank)
    c.fail(fmt::format("axis {} is out of range for rank {}", axis, rank));
  return axis < 0 ? axis + rank : axis;
}

Tensor as_dtype(const Tensor& x, DType dtype) { return x.dtype() == dtype ? x : x.to(dtype); }

Tensor onnx_unary(const Tensor& x, const char* fn) {
  static const OpDef& def = op("onnx_unary");
  return dispatch1(def, {x}, {{"fn", std::string(fn)}});
}

// Integer Div and Mod in the integer type itself: a round trip through double rounds int64
// values above 2^53 (PyTorch's floor division exports as Div + Mod).
Tensor int_div(const Tensor& a, const Tensor& b, const char* fn) {
  static const OpDef& def = op("onnx_int_div");
  DType dt = result_type({TensorMeta::of(a), TensorMeta::of(b)});
  Shape s = broadcast_shapes(a.shape(), b.shape(), "onnx_int_div");
  return dispatch1(def, {expand(as_dtype(a, dt), s).contiguous(), expand(as_dtype(b, dt), s).contiguous()},
                   {{"fn", std::string(fn)}});
}

Tensor flip(const Tensor& x, int64_t dim) {
  int64_t n = x.size(dim);
  if (n <= 1) return x;
  return index_select(x, dim, arange(n - 1, -1, -1));
}

// ---- Ctx
std::string Ctx::where() const {
  return fmt::format("node '{}' ({})", node.name(), node.op_type());
}
const Tensor& Ctx::in(size_t i) const {
  if (!has_input(i)) fail(fmt::format("input {} is required", i));
  return inputs[i];
}
const ::onnx::AttributeProto* Ctx::attr(const std::string& name) const {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t Ctx::i(const std::string& name, int64_t fallback) const {
  auto* a = attr(name);
  return a ? a->i() : fallback;
}
double Ctx::f(const std::string& name, double fallback) const {
  auto* a = attr(name);
  return a ? a->f() : fallback;
}
std::string Ctx::s(const std::string& name, const std::string& fallback) const {
  auto* a = attr(name);
  return a ? a->s() : fallback;
}
std::vector<int64_t> Ctx::ints(const std::string& name, std::vector<int64_t> fallback) const {
  auto* a = attr(name);
  if (!a) return fallback;
  return {a->ints().begin(), a->ints().end()};
}
std::vector<double> Ctx::floats(const std::string& name, std::vector<double> fallback) const {
  auto* a = attr(name);
  if (!a) return fallback;
  return {a->floats().begin(), a->floats().end()};
}
std::optional<Tensor> Ctx::t(const std::string& name) const {
  auto* a = attr(name);
  if (!a || !a->has_t()) return std::nullopt;
  return tensor_from_proto(a->t(), base_dir);
}
std::optional<std::vector<int64_t>> Ctx::ints_attr_or_input(const std::string& name, size_t input) const {
  if (has_input(input)) return to_int64s(inputs[input]);
  if (has_attr(name)) return ints(name);
  return std::nullopt;
}
void Ctx::unsupported(const std::string& what) const {
  throw Unsupported(fmt::format("{}: {} is not supported", where(), what));
}
void Ctx::fail(const std::string& what) const { TANDEM_FAIL("{}: {}", where(), what); }

std::map<std::string, Converter>& converters() {
  static std::map<std::string, Converter> table;
  return table;
}
void register_all_converters() {
  static bool done = [] {
    auto& t = converters();
    register_elementwise(t);
    register_nn(t);
    register_shape(t);
    register_reduce(t);
    register_rnn(t);
    register_extra(t);
    register_resize(t);
    register_quant(t);
    register_sequence(value_converters());
    register_flow(value_converters());
    register_detection(t);
    return true;
  }();
  (void)done;
}

}  // namespace tandem::onnx::detail

namespace tandem::onnx {

Tensor load_tensor_proto(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TANDEM_CHECK(f.good(), "cannot open TensorProto file '{}'", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ::onnx::TensorProto t;
  TANDEM_CHECK(t.ParseFromString(bytes), "'{}' is not a valid TensorProto (truncated or corrupt)", path);
  if (!t.has_data_type() || t.data_type() == 0)
    throw Unsupported(fmt::format("'{}' holds no tensor (a sequence, map or optional value?)", path));
  return detail::tensor_from_proto(t, std::filesystem::path(path).parent_path().string());
}

}  // namespace tandem::onnx

namespace tandem::onnx {

namespace {

onnx::Value value_from_sequence_proto(const ::onnx::SequenceProto& s, const std::string& dir, const std::string& path) {
  if (s.elem_type() != ::onnx::SequenceProto::TENSOR && s.tensor_values_size() == 0 && s.elem_type() != 0)
    throw Unsupported(fmt::format("'{}': a sequence of non-tensors (elem_type {}) is not supported", path, s.elem_type()));
  std::vector<Tensor> ts;
  for (const auto& t : s.tensor_values()) ts.push_back(detail::tensor_from_proto(t, dir));
  return onnx::Value::of_sequence(std::move(ts));
}

}  // namespace

onnx::Value load_value_proto(const std::string& path, const std::string& kind) {
  if (kind == "tensor") return onnx::Value(load_tensor_proto(path));
  std::ifstream f(path, std::ios::binary);
  TANDEM_CHECK(f.good(), "cannot open '{}'", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (kind == "sequence") {
    ::onnx::SequenceProto s;
    TANDEM_CHECK(s.ParseFromString(bytes), "'{}' is not a valid SequenceProto", path);
    return value_from_sequence_proto(s, dir, path);
  }
  TANDEM_CHECK(kind == "optional", "load_value_proto: kind must be tensor, sequence or optional, got '{}'", kind);
  ::onnx::OptionalProto o;
  TANDEM_CHECK(o.ParseFromString(bytes), "'{}' is not a valid OptionalProto", path);
  switch (o.elem_type()) {
    case ::onnx::OptionalProto::UNDEFINED: return onnx::Value::none();
    case ::onnx::OptionalProto::TENSOR: return onnx::Value(detail::tensor_from_proto(o.tensor_value(), dir));
    case ::onnx::OptionalProto::SEQUENCE: return value_from_sequence_proto(o.sequence_value(), dir, path);
    default: throw Unsupported(fmt::format("'{}': an optional of elem_type {} is not supported", path, o.elem_type()));
  }
}

}  // namespace tandem::onnx
