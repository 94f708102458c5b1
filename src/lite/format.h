// The .tlite flat model file: what `tandem convert` writes and tandem-lite loads (the spec,
// with a worked layout, is docs/tlite-format.md). Only the C++ standard library: the converter
// (full tandem) and the runtime (tandem_lite) both include this header.
//
//   tlite::Writer w;                                   // converter side
//   uint32_t x = w.add_value({.name = "input", .dtype = tlite::DType::F32,
//                             .kind = tlite::ValueKind::Input, .dims = {-1, 3, 224, 224}});
//   ...
//   std::string bytes = w.finish();                    // the whole file
//
//   tlite::File f;                                     // runtime side
//   std::string err = tlite::parse(data, size, f);     // "" or what is wrong; never throws
//
// Layout: a 40-byte header, the metadata block (string table, values, nodes, graph inputs and
// outputs, read by a bounds-checked cursor), then the data block: each constant's bytes at an
// offset that is a multiple of 64 from the file's start, so a mmap'ed file is used in place.
// Everything little-endian. parse() validates every count, offset, size, id, rank and dim
// against the bytes it has: a bad file gives a message, never a crash or a huge allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace tlite {

inline constexpr char kMagic[4] = {'T', 'L', 'I', 'T'};
inline constexpr uint32_t kVersion = 1;
inline constexpr uint64_t kAlign = 64;
inline constexpr uint32_t kHeaderSize = 40;
inline constexpr uint32_t kNone = 0xFFFFFFFFu;  // absent value id / string
inline constexpr int kMaxRank = 8;
inline constexpr int64_t kDynamic = -1;          // a dim known only at run time (batch)

enum class DType : uint8_t { F32 = 0, I8 = 1, U8 = 2, I32 = 3, I64 = 4 };
inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::I8: case DType::U8: return 1;
    case DType::I64: return 8;
  }
  return 0;
}
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::I8: return "int8";
    case DType::U8: return "uint8";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "?";
}

enum class ValueKind : uint8_t { Activation = 0, Constant = 1, Input = 2 };

// Quantization parameters of a value (int8/uint8 tensors): real = scale * (q - zero_point),
// one pair for the tensor (axis = -1) or one per index along `axis`.
struct Quant {
  int32_t axis = -1;
  std::vector<float> scales;
  std::vector<int32_t> zero_points;
  bool present() const { return !scales.empty(); }
};

struct ValueInfo {
  std::string name;                 // graph inputs/outputs and constants; may be empty
  DType dtype = DType::F32;
  ValueKind kind = ValueKind::Activation;
  std::vector<int64_t> dims;        // kDynamic allowed (inputs' batch dim); activations: shape at convert time
  uint64_t data_offset = 0;         // Constant: from the file's start, a multiple of kAlign
  uint64_t data_size = 0;           // Constant: numel * dtype_size
  Quant quant;
};

// Lite op codes. Numbers are part of the format: append, never renumber.
enum class Op : uint16_t {
  Conv2d = 1,        // x, w [O, C/g, kh, kw], bias? ; stride, pad(t,l,b,r), dilation, groups, act
  Linear = 2,        // x [..., K], w [K, N] (pre-transposed), bias? [N]; act
  MatMul = 3,        // a [..., M, K], b [..., K, N], batch dims broadcast
  MaxPool2d = 4,     // kernel, stride, pad(t,l,b,r), dilation, ceil_mode
  AvgPool2d = 5,     // kernel, stride, pad(t,l,b,r), ceil_mode, count_include_pad
  AdaptiveAvgPool2d = 6,  // output (h, w)
  Add = 7, Sub = 8, Mul = 9, Div = 10,  // broadcast binary
  Activation = 11,   // act, act_p0, act_p1
  Concat = 12,       // axis; n inputs
  Slice = 13,        // axis, start, end, step (end clamped)
  Reshape = 14,      // shape (0 = copy the input's dim, -1 = inferred)
  Transpose = 15,    // perm
  Softmax = 16,      // axis, log (0/1)
  LayerNorm = 17,    // x, w?, b? ; axis (first normalized dim), eps
  BatchNorm = 18,    // x, mean, var, w?, b? ; eps (channels = dim 1)
  Mean = 19,         // dims, keepdim
  Split = 20,        // axis, sizes; n outputs
  Expand = 21,       // shape (-1 / 0 = keep the input's dim)
  Pow = 22,          // broadcast binary
  Maximum = 23, Minimum = 24,
  // int8: each quantized value carries its scale and zero point (ValueInfo::quant).
  Quantize = 25,     // x float32 -> y int8/uint8 (y per-tensor): saturate(round_half_even(x / scale) + zp)
  Dequantize = 26,   // x int8/uint8 (per tensor, or per axis) -> float32: (x - zp) * scale
  QConv2d = 27,      // x q8, w q8 [O, C/g, kh, kw] constant (per tensor or axis 0), bias? f32 [O] ->
                     // y q8; conv2d's attrs, act (none/relu), rounding; int32 accumulation
  QLinear = 28,      // x q8 [..., K], w q8 [N, K] constant (per tensor or axis 0), bias? f32 [N] -> y q8; act, rounding
};
inline constexpr uint16_t kMaxOp = 28;
const char* op_name(Op op);

// Activations fused into Conv2d/Linear or run by Activation (attribute "act").
enum class Act : int64_t {
  None = 0, Relu = 1, Clamp = 2 /* p0 min, p1 max (relu6 = 0, 6) */, Sigmoid = 3, Tanh = 4, Silu = 5,
  Hardswish = 6, Hardsigmoid = 7 /* p0 alpha, p1 beta */, Gelu = 8, GeluTanh = 9, LeakyRelu = 10 /* p0 slope */,
  Exp = 11, Neg = 12, Sqrt = 13, Abs = 14, Erf = 15, Log = 16, Rsqrt = 17,
};
inline constexpr int64_t kMaxAct = 17;

// Attribute keys (numbers are part of the format).
enum class Key : uint16_t {
  Stride = 1, Pad = 2, Dilation = 3, Groups = 4, ActKind = 5, ActP0 = 6, ActP1 = 7, Kernel = 8,
  CeilMode = 9, CountIncludePad = 10, Output = 11, Axis = 12, Start = 13, End = 14, Step = 15,
  Shape = 16, Perm = 17, Eps = 18, Dims = 19, KeepDim = 20, Sizes = 21, Log = 22,
  Rounding = 23,  // QConv2d/QLinear requantization, with m = x_scale * w_scale[o] / y_scale (float32):
                  // 0: round(acc * m + bias / y_scale) + y_zp; 1: round((acc + bias / y_scale / m) * m + y_zp)
};
enum class AttrType : uint8_t { Int = 0, Float = 1, Ints = 2 };

struct Attr {
  Key key{};
  AttrType type = AttrType::Int;
  int64_t i = 0;
  double f = 0;
  std::vector<int64_t> ints;
};

struct NodeInfo {
  Op op{};
  std::vector<uint32_t> inputs;     // value ids; kNone for an omitted optional input
  std::vector<uint32_t> outputs;
  std::vector<Attr> attrs;
  const Attr* find(Key k) const {
    for (const Attr& a : attrs)
      if (a.key == k) return &a;
    return nullptr;
  }
};

struct File {
  std::vector<ValueInfo> values;
  std::vector<NodeInfo> nodes;
  std::vector<uint32_t> inputs, outputs;  // graph inputs / outputs (value ids)
};

// ---- limits a valid file stays within (a file beyond them is refused, not allocated) ----
inline constexpr uint64_t kMaxCount = 1u << 24;       // values, nodes, attrs, strings
inline constexpr int64_t kMaxDim = int64_t{1} << 40;  // one dim, and a constant's numel

// ---- writing ----

class Writer {
 public:
  uint32_t add_value(ValueInfo v) {
    values_.push_back(std::move(v));
    data_.emplace_back();
    return static_cast<uint32_t>(values_.size() - 1);
  }
  // A constant's bytes (dims and dtype already in `v`).
  uint32_t add_constant(ValueInfo v, const void* bytes, size_t n) {
    v.kind = ValueKind::Constant;
    uint32_t id = add_value(std::move(v));
    data_.back().assign(static_cast<const char*>(bytes), static_cast<const char*>(bytes) + n);
    return id;
  }
  void add_node(NodeInfo n) { nodes_.push_back(std::move(n)); }
  void set_name(uint32_t id, std::string name) { values_.at(id).name = std::move(name); }
  const ValueInfo& value(uint32_t id) const { return values_.at(id); }
  void set_io(std::vector<uint32_t> in, std::vector<uint32_t> out) {
    inputs_ = std::move(in);
    outputs_ = std::move(out);
  }
  std::string finish();

 private:
  std::vector<ValueInfo> values_;
  std::vector<std::string> data_;
  std::vector<NodeInfo> nodes_;
  std::vector<uint32_t> inputs_, outputs_;
};

// ---- reading ----

// Parses and validates `size` bytes (the whole file). Returns "" and fills `out`, or a message.
// Structural checks only (ids, offsets, sizes, topological order, attribute types); each op's
// attribute values and shapes are checked by the runtime when it prepares the node.
std::string parse(const uint8_t* data, size_t size, File& out);

// ================= implementation (header-only, so both sides share one copy) =================

namespace detail {

inline void put_u8(std::string& s, uint8_t v) { s.push_back(static_cast<char>(v)); }
inline void put_u16(std::string& s, uint16_t v) { for (int i = 0; i < 2; ++i) put_u8(s, uint8_t(v >> (8 * i))); }
inline void put_u32(std::string& s, uint32_t v) { for (int i = 0; i < 4; ++i) put_u8(s, uint8_t(v >> (8 * i))); }
inline void put_u64(std::string& s, uint64_t v) { for (int i = 0; i < 8; ++i) put_u8(s, uint8_t(v >> (8 * i))); }
inline void put_i64(std::string& s, int64_t v) { put_u64(s, static_cast<uint64_t>(v)); }
inline void put_f64(std::string& s, double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  put_u64(s, u);
}
inline void put_f32(std::string& s, float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  put_u32(s, u);
}

// A bounds-checked little-endian cursor; after the first failure every read returns 0.
struct Cursor {
  const uint8_t* p;
  size_t n, pos = 0;
  bool ok = true;
  bool need(size_t k) {
    if (!ok || k > n - pos) ok = false;
    return ok;
  }
  uint64_t uint(int bytes) {
    if (!need(size_t(bytes))) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(p[pos + size_t(i)]) << (8 * i);
    pos += size_t(bytes);
    return v;
  }
  uint8_t u8() { return uint8_t(uint(1)); }
  uint16_t u16() { return uint16_t(uint(2)); }
  uint32_t u32() { return uint32_t(uint(4)); }
  uint64_t u64() { return uint(8); }
  int64_t i64() { return int64_t(uint(8)); }
  double f64() {
    uint64_t u = uint(8);
    double d;
    std::memcpy(&d, &u, 8);
    return d;
  }
  float f32() {
    uint32_t u = uint32_t(uint(4));
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  // A count of records each at least `min_bytes` long: never more than the bytes left allow.
  bool count(uint64_t c, size_t min_bytes) { return ok && c <= kMaxCount && c * min_bytes <= n - pos; }
};

}  // namespace detail

inline const char* op_name(Op op) {
  switch (op) {
    case Op::Conv2d: return "conv2d";
    case Op::Linear: return "linear";
    case Op::MatMul: return "matmul";
    case Op::MaxPool2d: return "max_pool2d";
    case Op::AvgPool2d: return "avg_pool2d";
    case Op::AdaptiveAvgPool2d: return "adaptive_avg_pool2d";
    case Op::Add: return "add";
    case Op::Sub: return "sub";
    case Op::Mul: return "mul";
    case Op::Div: return "div";
    case Op::Activation: return "activation";
    case Op::Concat: return "concat";
    case Op::Slice: return "slice";
    case Op::Reshape: return "reshape";
    case Op::Transpose: return "transpose";
    case Op::Softmax: return "softmax";
    case Op::LayerNorm: return "layer_norm";
    case Op::BatchNorm: return "batch_norm";
    case Op::Mean: return "mean";
    case Op::Split: return "split";
    case Op::Expand: return "expand";
    case Op::Pow: return "pow";
    case Op::Maximum: return "maximum";
    case Op::Minimum: return "minimum";
    case Op::Quantize: return "quantize";
    case Op::Dequantize: return "dequantize";
    case Op::QConv2d: return "qconv2d";
    case Op::QLinear: return "qlinear";
  }
  return "?";
}

inline std::string Writer::finish() {
  using namespace detail;
  // Strings: value names, in value order (index = position in the table).
  std::string meta;
  uint32_t num_strings = 0;
  std::vector<uint32_t> name_id(values_.size(), kNone);
  std::string strings;
  for (size_t i = 0; i < values_.size(); ++i) {
    if (values_[i].name.empty()) continue;
    name_id[i] = num_strings++;
    put_u32(strings, uint32_t(values_[i].name.size()));
    strings += values_[i].name;
  }
  put_u32(meta, num_strings);
  meta += strings;
  // Data offsets are assigned after the metadata's size is known: lay the metadata out once
  // with placeholder offsets (fixed width), then patch.
  put_u32(meta, uint32_t(values_.size()));
  std::vector<size_t> offset_slot(values_.size(), 0);
  for (size_t i = 0; i < values_.size(); ++i) {
    const ValueInfo& v = values_[i];
    put_u32(meta, name_id[i]);
    put_u8(meta, uint8_t(v.dtype));
    put_u8(meta, uint8_t(v.kind));
    put_u8(meta, uint8_t(v.dims.size()));
    put_u8(meta, v.quant.present() ? 1 : 0);
    for (int64_t d : v.dims) put_i64(meta, d);
    if (v.kind == ValueKind::Constant) {
      offset_slot[i] = meta.size();
      put_u64(meta, 0);
      put_u64(meta, data_[i].size());
    }
    if (v.quant.present()) {
      put_u32(meta, uint32_t(int32_t(v.quant.axis)));
      put_u32(meta, uint32_t(v.quant.scales.size()));
      for (size_t k = 0; k < v.quant.scales.size(); ++k) {
        put_f32(meta, v.quant.scales[k]);
        put_u32(meta, uint32_t(k < v.quant.zero_points.size() ? v.quant.zero_points[k] : 0));
      }
    }
  }
  put_u32(meta, uint32_t(nodes_.size()));
  for (const NodeInfo& n : nodes_) {
    put_u16(meta, uint16_t(n.op));
    put_u16(meta, uint16_t(n.inputs.size()));
    put_u16(meta, uint16_t(n.outputs.size()));
    put_u16(meta, uint16_t(n.attrs.size()));
    for (uint32_t id : n.inputs) put_u32(meta, id);
    for (uint32_t id : n.outputs) put_u32(meta, id);
    for (const Attr& a : n.attrs) {
      put_u16(meta, uint16_t(a.key));
      put_u8(meta, uint8_t(a.type));
      if (a.type == AttrType::Int) put_i64(meta, a.i);
      if (a.type == AttrType::Float) put_f64(meta, a.f);
      if (a.type == AttrType::Ints) {
        put_u32(meta, uint32_t(a.ints.size()));
        for (int64_t x : a.ints) put_i64(meta, x);
      }
    }
  }
  put_u32(meta, uint32_t(inputs_.size()));
  for (uint32_t id : inputs_) put_u32(meta, id);
  put_u32(meta, uint32_t(outputs_.size()));
  for (uint32_t id : outputs_) put_u32(meta, id);

  auto align = [](uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; };
  uint64_t pos = align(kHeaderSize + meta.size());
  const uint64_t data_start = pos;
  std::vector<uint64_t> offsets(values_.size(), 0);
  for (size_t i = 0; i < values_.size(); ++i) {
    if (values_[i].kind != ValueKind::Constant) continue;
    offsets[i] = pos;
    pos = align(pos + data_[i].size());
  }
  for (size_t i = 0; i < values_.size(); ++i) {
    if (values_[i].kind != ValueKind::Constant) continue;
    std::string o;
    put_u64(o, offsets[i]);
    meta.replace(offset_slot[i], 8, o);
  }
  std::string file;
  file.append(kMagic, 4);
  put_u32(file, kVersion);
  put_u64(file, kHeaderSize);   // metadata offset
  put_u64(file, meta.size());   // metadata size
  put_u64(file, data_start);    // data block offset
  const size_t size_slot = file.size();
  put_u64(file, 0);             // file size (patched below)
  file += meta;
  file.resize(data_start, '\0');
  for (size_t i = 0; i < values_.size(); ++i) {
    if (values_[i].kind != ValueKind::Constant) continue;
    file.resize(offsets[i], '\0');
    file += data_[i];
  }
  file.resize(align(file.size()), '\0');
  std::string sz;
  put_u64(sz, file.size());
  file.replace(size_slot, 8, sz);
  return file;
}

inline std::string parse(const uint8_t* data, size_t size, File& out) {
  using namespace detail;
  out = File{};
  if (size < kHeaderSize) return "file too short for a .tlite header (" + std::to_string(size) + " bytes)";
  if (std::memcmp(data, kMagic, 4) != 0) return "not a .tlite file (bad magic)";
  Cursor h{data, size};
  h.pos = 4;
  uint32_t version = h.u32();
  if (version != kVersion)
    return "unsupported .tlite version " + std::to_string(version) + " (this runtime reads " +
           std::to_string(kVersion) + ")";
  uint64_t meta_off = h.u64(), meta_size = h.u64(), data_off = h.u64(), file_size = h.u64();
  if (file_size != size)
    return "file size " + std::to_string(size) + " does not match the header's " + std::to_string(file_size) +
           " (truncated or padded file?)";
  if (meta_off != kHeaderSize || meta_size > size - kHeaderSize || data_off > size ||
      data_off < meta_off + meta_size || data_off % kAlign != 0)
    return "corrupt header: metadata/data offsets out of the file";
  Cursor c{data + meta_off, size_t(meta_size)};

  uint32_t num_strings = c.u32();
  if (!c.count(num_strings, 4)) return "corrupt string table count";
  std::vector<std::string> strings;
  strings.reserve(num_strings);
  for (uint32_t i = 0; i < num_strings; ++i) {
    uint32_t len = c.u32();
    if (!c.need(len)) return "string " + std::to_string(i) + " runs past the metadata";
    strings.emplace_back(reinterpret_cast<const char*>(c.p + c.pos), len);
    c.pos += len;
  }

  uint32_t num_values = c.u32();
  if (!c.count(num_values, 8)) return "corrupt value count";
  out.values.resize(num_values);
  for (uint32_t i = 0; i < num_values; ++i) {
    ValueInfo& v = out.values[i];
    std::string where = "value " + std::to_string(i);
    uint32_t name = c.u32();
    uint8_t dtype = c.u8(), kind = c.u8(), rank = c.u8(), has_quant = c.u8();
    if (!c.ok) return where + ": truncated";
    if (name != kNone) {
      if (name >= strings.size()) return where + ": name index out of the string table";
      v.name = strings[name];
    }
    if (dtype > uint8_t(DType::I64)) return where + ": unknown dtype " + std::to_string(dtype);
    if (kind > uint8_t(ValueKind::Input)) return where + ": unknown kind " + std::to_string(kind);
    if (rank > kMaxRank) return where + ": rank " + std::to_string(rank) + " above " + std::to_string(kMaxRank);
    if (has_quant > 1) return where + ": bad quantization flag";
    v.dtype = DType(dtype);
    v.kind = ValueKind(kind);
    int64_t numel = 1;
    for (int d = 0; d < rank; ++d) {
      int64_t x = c.i64();
      if (!c.ok) return where + ": truncated";
      if (x < kDynamic || x > kMaxDim) return where + ": dim " + std::to_string(x) + " out of range";
      if (x == kDynamic && v.kind != ValueKind::Input) return where + ": only graph inputs may have a dynamic dim";
      v.dims.push_back(x);
      if (x >= 0) {
        if (x != 0 && numel > kMaxDim / x) return where + ": element count overflows";
        numel *= x;
      }
    }
    if (v.kind == ValueKind::Constant) {
      v.data_offset = c.u64();
      v.data_size = c.u64();
      if (!c.ok) return where + ": truncated";
      if (v.data_offset % kAlign != 0) return where + ": data offset not 64-byte aligned";
      if (v.data_offset < data_off || v.data_offset > size || v.data_size > size - v.data_offset)
        return where + ": data lies outside the file";
      if (v.data_size != uint64_t(numel) * dtype_size(v.dtype))
        return where + ": data size " + std::to_string(v.data_size) + " does not match its shape and dtype";
    }
    if (has_quant) {
      int32_t axis = int32_t(c.u32());
      uint32_t n = c.u32();
      if (!c.count(n, 8)) return where + ": corrupt quantization parameters";
      if (v.dtype != DType::I8 && v.dtype != DType::U8 && v.dtype != DType::I32)
        return where + ": quantization parameters on a " + dtype_name(v.dtype) + " value";
      if (axis < -1 || axis >= int32_t(rank)) return where + ": quantization axis out of range";
      if (axis == -1 ? n != 1 : (v.dims[size_t(axis)] < 0 || int64_t(n) != v.dims[size_t(axis)]))
        return where + ": quantization parameter count does not match its axis";
      v.quant.axis = axis;
      for (uint32_t k = 0; k < n; ++k) {
        float s = c.f32();
        int32_t z = int32_t(c.u32());
        if (!(s > 0) || s > 3.4e38f) return where + ": quantization scale must be positive and finite";
        v.quant.scales.push_back(s);
        v.quant.zero_points.push_back(z);
      }
    }
  }

  std::vector<int> produced(num_values, 0);  // 1: defined (input/constant/earlier node output)
  for (uint32_t i = 0; i < num_values; ++i)
    if (out.values[i].kind != ValueKind::Activation) produced[i] = 1;

  uint32_t num_nodes = c.u32();
  if (!c.count(num_nodes, 8)) return "corrupt node count";
  out.nodes.resize(num_nodes);
  for (uint32_t i = 0; i < num_nodes; ++i) {
    NodeInfo& n = out.nodes[i];
    std::string where = "node " + std::to_string(i);
    uint16_t op = c.u16(), nin = c.u16(), nout = c.u16(), nattr = c.u16();
    if (!c.ok) return where + ": truncated";
    if (op == 0 || op > kMaxOp) return where + ": unknown op code " + std::to_string(op);
    n.op = Op(op);
    where += " (" + std::string(op_name(n.op)) + ")";
    if (!c.count(uint64_t(nin) + nout, 4) || nout == 0) return where + ": corrupt input/output count";
    for (uint16_t k = 0; k < nin; ++k) {
      uint32_t id = c.u32();
      if (id != kNone && (id >= num_values || !produced[id]))
        return where + ": input " + std::to_string(k) + " is not defined before the node";
      n.inputs.push_back(id);
    }
    for (uint16_t k = 0; k < nout; ++k) {
      uint32_t id = c.u32();
      if (id >= num_values || produced[id] || out.values[id].kind != ValueKind::Activation)
        return where + ": output " + std::to_string(k) + " is not a fresh activation value";
      if (out.values[id].dtype != DType::F32 && out.values[id].dtype != DType::I8 &&
          out.values[id].dtype != DType::U8)
        return where + ": output dtype " + dtype_name(out.values[id].dtype) + " not supported";
      produced[id] = 1;
      n.outputs.push_back(id);
    }
    if (!c.count(nattr, 3)) return where + ": corrupt attribute count";
    for (uint16_t k = 0; k < nattr; ++k) {
      Attr a;
      a.key = Key(c.u16());
      uint8_t type = c.u8();
      if (type > uint8_t(AttrType::Ints)) return where + ": unknown attribute type";
      a.type = AttrType(type);
      if (a.type == AttrType::Int) a.i = c.i64();
      if (a.type == AttrType::Float) a.f = c.f64();
      if (a.type == AttrType::Ints) {
        uint32_t len = c.u32();
        if (!c.count(len, 8) || len > 64) return where + ": corrupt attribute list";
        for (uint32_t j = 0; j < len; ++j) a.ints.push_back(c.i64());
      }
      if (!c.ok) return where + ": truncated attributes";
      n.attrs.push_back(std::move(a));
    }
  }
  for (uint32_t i = 0; i < num_values; ++i)
    if (!produced[i]) return "value " + std::to_string(i) + " is never produced";

  for (std::vector<uint32_t>* list : {&out.inputs, &out.outputs}) {
    bool in = list == &out.inputs;
    uint32_t n = c.u32();
    if (!c.count(n, 4)) return in ? "corrupt graph input count" : "corrupt graph output count";
    for (uint32_t k = 0; k < n; ++k) {
      uint32_t id = c.u32();
      if (!c.ok || id >= num_values) return std::string(in ? "graph input " : "graph output ") + std::to_string(k) + ": bad value id";
      if (in && out.values[id].kind != ValueKind::Input) return "graph input " + std::to_string(k) + " is not an input value";
      list->push_back(id);
    }
  }
  for (uint32_t i = 0; i < num_values; ++i) {
    if (out.values[i].kind != ValueKind::Input) continue;
    bool listed = false;
    for (uint32_t id : out.inputs) listed |= id == i;
    if (!listed) return "value " + std::to_string(i) + " is an input but not a graph input";
  }
  if (out.outputs.empty()) return "the graph has no outputs";
  if (!c.ok) return "metadata truncated";
  return "";
}

}  // namespace tlite
