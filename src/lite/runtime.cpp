// tandem-lite's runtime: loading (mmap or a copied buffer), preparing each node's attributes
// once, planning shapes and the activation arena per input shape, and running the kernels.
#include "runtime.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace tlite {

namespace {

[[noreturn]] void lite_fail(Status s, const std::string& m) { throw LiteError(s, m); }
void lite_check(bool ok, Status s, const std::string& m) {
  if (!ok) lite_fail(s, m);
}

// A single value's element count beyond which a plan is refused (not allocated).
constexpr int64_t kMaxNumel = int64_t{1} << 32;

std::string lite_node_name(const PreparedNode& n, size_t index) {
  return "node " + std::to_string(index) + " (" + op_name(n.op) + ")";
}

const Attr* lite_attr(const NodeInfo& n, Key k, AttrType t, const std::string& where, const char* what) {
  const Attr* a = n.find(k);
  if (a && a->type != t) lite_fail(Status::InvalidModel, where + ": attribute " + what + " has the wrong type");
  return a;
}
int64_t lite_int(const NodeInfo& n, Key k, int64_t dflt, const std::string& w, const char* what, int64_t lo,
                 int64_t hi) {
  const Attr* a = lite_attr(n, k, AttrType::Int, w, what);
  int64_t v = a ? a->i : dflt;
  lite_check(v >= lo && v <= hi, Status::InvalidModel,
             w + ": attribute " + what + " = " + std::to_string(v) + " out of range [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "]");
  return v;
}
float lite_float(const NodeInfo& n, Key k, float dflt, const std::string& w, const char* what) {
  const Attr* a = lite_attr(n, k, AttrType::Float, w, what);
  return a ? float(a->f) : dflt;
}
std::vector<int64_t> lite_ints(const NodeInfo& n, Key k, const std::string& w, const char* what, size_t count,
                               int64_t lo, int64_t hi, bool required) {
  const Attr* a = lite_attr(n, k, AttrType::Ints, w, what);
  if (!a) {
    lite_check(!required, Status::InvalidModel, w + ": attribute " + what + " missing");
    return {};
  }
  lite_check(count == 0 || a->ints.size() == count, Status::InvalidModel,
             w + ": attribute " + what + " needs " + std::to_string(count) + " values");
  for (int64_t v : a->ints)
    lite_check(v >= lo && v <= hi, Status::InvalidModel, w + ": attribute " + what + " value out of range");
  return a->ints;
}

void lite_check_io(const NodeInfo& n, size_t min_in, size_t max_in, size_t outs, const std::string& w) {
  lite_check(n.inputs.size() >= min_in && n.inputs.size() <= max_in, Status::InvalidModel,
             w + ": wrong number of inputs (" + std::to_string(n.inputs.size()) + ")");
  lite_check(outs == 0 || n.outputs.size() == outs, Status::InvalidModel, w + ": wrong number of outputs");
  for (size_t i = 0; i < min_in; ++i)
    lite_check(n.inputs[i] != kNone, Status::InvalidModel, w + ": required input " + std::to_string(i) + " missing");
}

PreparedNode lite_prepare(const NodeInfo& n, size_t index) {
  PreparedNode p;
  p.op = n.op;
  p.inputs = n.inputs;
  p.outputs = n.outputs;
  const std::string w = "node " + std::to_string(index) + " (" + op_name(n.op) + ")";
  const int64_t big = kMaxDim;
  auto act = [&] {
    p.act.kind = Act(lite_int(n, Key::ActKind, 0, w, "act", 0, kMaxAct));
    p.act.p0 = lite_float(n, Key::ActP0, 0.f, w, "act_p0");
    p.act.p1 = lite_float(n, Key::ActP1, 0.f, w, "act_p1");
  };
  auto copy2 = [](int64_t* dst, const std::vector<int64_t>& v) {
    for (size_t i = 0; i < v.size(); ++i) dst[i] = v[i];
  };
  switch (n.op) {
    case Op::Conv2d:
    case Op::QConv2d: {
      lite_check_io(n, 2, 3, 1, w);
      auto s = lite_ints(n, Key::Stride, w, "stride", 2, 1, 1 << 16, false);
      auto pd = lite_ints(n, Key::Pad, w, "pad", 4, 0, 1 << 16, false);
      auto d = lite_ints(n, Key::Dilation, w, "dilation", 2, 1, 1 << 16, false);
      if (!s.empty()) copy2(p.stride, s);
      if (!pd.empty()) copy2(p.pad, pd);
      if (!d.empty()) copy2(p.dilation, d);
      p.groups = lite_int(n, Key::Groups, 1, w, "groups", 1, big);
      act();
      if (n.op == Op::QConv2d) p.rounding = lite_int(n, Key::Rounding, 0, w, "rounding", 0, 1);
      break;
    }
    case Op::Linear:
    case Op::QLinear:
      lite_check_io(n, 2, 3, 1, w);
      act();
      if (n.op == Op::QLinear) p.rounding = lite_int(n, Key::Rounding, 0, w, "rounding", 0, 1);
      break;
    case Op::Quantize:
    case Op::Dequantize:
      lite_check_io(n, 1, 1, 1, w);
      break;
    case Op::MatMul:
      lite_check_io(n, 2, 2, 1, w);
      break;
    case Op::MaxPool2d:
    case Op::AvgPool2d: {
      lite_check_io(n, 1, 1, 1, w);
      copy2(p.kernel, lite_ints(n, Key::Kernel, w, "kernel", 2, 1, 1 << 16, true));
      auto s = lite_ints(n, Key::Stride, w, "stride", 2, 1, 1 << 16, false);
      auto pd = lite_ints(n, Key::Pad, w, "pad", 4, 0, 1 << 16, false);
      if (!s.empty()) copy2(p.stride, s);
      if (!pd.empty()) copy2(p.pad, pd);
      if (n.op == Op::MaxPool2d) {
        auto d = lite_ints(n, Key::Dilation, w, "dilation", 2, 1, 1 << 16, false);
        if (!d.empty()) copy2(p.dilation, d);
      }
      p.ceil_mode = lite_int(n, Key::CeilMode, 0, w, "ceil_mode", 0, 1);
      p.count_include_pad = lite_int(n, Key::CountIncludePad, 1, w, "count_include_pad", 0, 1);
      break;
    }
    case Op::AdaptiveAvgPool2d:
      lite_check_io(n, 1, 1, 1, w);
      copy2(p.out_hw, lite_ints(n, Key::Output, w, "output", 2, 1, 1 << 20, true));
      break;
    case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Pow: case Op::Maximum: case Op::Minimum:
      lite_check_io(n, 2, 2, 1, w);
      break;
    case Op::Activation:
      lite_check_io(n, 1, 1, 1, w);
      act();
      break;
    case Op::Concat:
      lite_check_io(n, 1, 1024, 1, w);
      p.axis = lite_int(n, Key::Axis, 0, w, "axis", -kMaxRank, kMaxRank - 1);
      break;
    case Op::Slice:
      lite_check_io(n, 1, 1, 1, w);
      p.axis = lite_int(n, Key::Axis, 0, w, "axis", -kMaxRank, kMaxRank - 1);
      p.start = lite_int(n, Key::Start, 0, w, "start", -big, big);
      p.end = lite_int(n, Key::End, big, w, "end", -big, big);
      p.step = lite_int(n, Key::Step, 1, w, "step", 1, big);
      break;
    case Op::Reshape:
    case Op::Expand:
      lite_check_io(n, 1, 1, 1, w);
      p.ints = lite_ints(n, Key::Shape, w, "shape", 0, -1, big, true);
      lite_check(p.ints.size() <= size_t(kMaxRank), Status::InvalidModel, w + ": shape rank above 8");
      break;
    case Op::Transpose:
      lite_check_io(n, 1, 1, 1, w);
      p.ints = lite_ints(n, Key::Perm, w, "perm", 0, 0, kMaxRank - 1, true);
      break;
    case Op::Softmax:
      lite_check_io(n, 1, 1, 1, w);
      p.axis = lite_int(n, Key::Axis, -1, w, "axis", -kMaxRank, kMaxRank - 1);
      p.log = lite_int(n, Key::Log, 0, w, "log", 0, 1);
      break;
    case Op::LayerNorm:
      lite_check_io(n, 1, 3, 1, w);
      p.axis = lite_int(n, Key::Axis, -1, w, "axis", -kMaxRank, kMaxRank - 1);
      p.eps = lite_float(n, Key::Eps, 1e-5f, w, "eps");
      break;
    case Op::BatchNorm:
      lite_check_io(n, 3, 5, 1, w);
      p.eps = lite_float(n, Key::Eps, 1e-5f, w, "eps");
      break;
    case Op::Mean:
      lite_check_io(n, 1, 1, 1, w);
      p.ints = lite_ints(n, Key::Dims, w, "dims", 0, -kMaxRank, kMaxRank - 1, true);
      p.keepdim = lite_int(n, Key::KeepDim, 0, w, "keepdim", 0, 1);
      break;
    case Op::Split:
      lite_check_io(n, 1, 1, 0, w);
      p.axis = lite_int(n, Key::Axis, 0, w, "axis", -kMaxRank, kMaxRank - 1);
      p.ints = lite_ints(n, Key::Sizes, w, "sizes", n.outputs.size(), 0, big, true);
      break;
  }
  return p;
}

bool lite_is_q8(DType t) { return t == DType::I8 || t == DType::U8; }

// Per-tensor parameters of a quantized value, zero point within its dtype's range.
bool lite_q_ok(const ValueInfo& v, bool per_tensor_only) {
  if (!lite_is_q8(v.dtype) || !v.quant.present()) return false;
  if (per_tensor_only && v.quant.axis != -1) return false;
  for (int32_t z : v.quant.zero_points)
    if (v.dtype == DType::I8 ? (z < -128 || z > 127) : (z < 0 || z > 255)) return false;
  return true;
}

// The dtypes each op reads and writes (float32 everywhere but the int8 ops).
void lite_check_types(const File& f, const NodeInfo& n, size_t index) {
  const std::string w = "node " + std::to_string(index) + " (" + op_name(n.op) + ")";
  auto dt = [&](uint32_t id) { return f.values[id].dtype; };
  auto in_ok = [&](size_t i, bool ok, const char* what) {
    if (i < n.inputs.size() && n.inputs[i] != kNone && !ok)
      lite_fail(Status::InvalidModel, w + ": input " + std::to_string(i) + " must be " + what + ", got " +
                                          dtype_name(dt(n.inputs[i])));
  };
  auto out_ok = [&](bool ok, const char* what) {
    for (uint32_t id : n.outputs)
      lite_check(ok, Status::InvalidModel, w + ": output must be " + what + ", got " + dtype_name(dt(id)));
  };
  const uint32_t x = n.inputs.empty() ? kNone : n.inputs[0];
  switch (n.op) {
    case Op::Quantize:
      in_ok(0, x != kNone && dt(x) == DType::F32, "float32");
      out_ok(lite_q_ok(f.values[n.outputs[0]], true), "int8/uint8 with per-tensor quantization");
      return;
    case Op::Dequantize:
      in_ok(0, x != kNone && lite_q_ok(f.values[x], false), "int8/uint8 with quantization parameters");
      out_ok(dt(n.outputs[0]) == DType::F32, "float32");
      return;
    case Op::QConv2d:
    case Op::QLinear: {
      in_ok(0, x != kNone && lite_q_ok(f.values[x], true), "int8/uint8 with per-tensor quantization");
      const ValueInfo& wv = f.values[n.inputs[1]];
      in_ok(1, wv.kind == ValueKind::Constant && lite_q_ok(wv, false) && wv.quant.axis <= 0,
            "an int8/uint8 constant quantized per tensor or along axis 0");
      in_ok(2, n.inputs.size() > 2 && n.inputs[2] != kNone && dt(n.inputs[2]) == DType::F32 &&
                   f.values[n.inputs[2]].kind == ValueKind::Constant,
            "a float32 constant");
      out_ok(lite_q_ok(f.values[n.outputs[0]], true), "int8/uint8 with per-tensor quantization");
      return;
    }
    default:
      for (size_t i = 0; i < n.inputs.size(); ++i)
        if (n.inputs[i] != kNone) in_ok(i, dt(n.inputs[i]) == DType::F32, "float32");
      for (uint32_t id : n.outputs)
        lite_check(dt(id) == DType::F32, Status::InvalidModel, w + ": output must be float32");
      return;
  }
}

// Broadcast of two shapes (numpy rules), or an error naming the node.
Dims lite_broadcast(const Dims& a, const Dims& b, const std::string& w) {
  Dims o;
  o.rank = std::max(a.rank, b.rank);
  for (int i = 0; i < o.rank; ++i) {
    int ia = i - (o.rank - a.rank), ib = i - (o.rank - b.rank);
    int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
    lite_check(da == db || da == 1 || db == 1, Status::InvalidArgument,
               w + ": shapes " + a.str() + " and " + b.str() + " do not broadcast");
    o.d[i] = da == 1 ? db : da;
  }
  return o;
}

// Strides of `x` read as `o` (rank-aligned from the right; broadcast dims get stride 0).
void lite_bstrides(const Dims& x, const Dims& o, int64_t* s) {
  int64_t st = 1;
  for (int i = o.rank - 1; i >= 0; --i) {
    int ix = i - (o.rank - x.rank);
    if (ix < 0 || x.d[ix] == 1) {
      s[i] = 0;
    } else {
      s[i] = st;
    }
    if (ix >= 0) st *= x.d[ix];
  }
}

int lite_axis(int64_t axis, int rank, const std::string& w) {
  lite_check(axis >= -rank && axis < std::max(rank, 1), Status::InvalidArgument,
             w + ": axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return int(axis < 0 ? axis + rank : axis);
}

int64_t lite_pool_out(int64_t in, int64_t pad_sum, int64_t pad_begin, int64_t k, int64_t s, int64_t d, bool ceil,
                      const std::string& w) {
  int64_t span = in + pad_sum - d * (k - 1) - 1;
  lite_check(span >= 0, Status::InvalidArgument, w + ": input too small for the window");
  int64_t out = (ceil ? (span + s - 1) / s : span / s) + 1;
  // PyTorch: the last window must start inside the input or its left padding.
  if (ceil && (out - 1) * s >= in + pad_begin) --out;
  return out;
}

}  // namespace

std::string Dims::str() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// ---------------------------------------------------------------- Model

Model::~Model() {
  if (map_) munmap(map_, map_size_);
}

std::unique_ptr<Model> Model::load_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  lite_check(fd >= 0, Status::IoError, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    lite_fail(Status::IoError, "'" + path + "' is not a regular file");
  }
  std::unique_ptr<Model> m(new Model());
  m->map_size_ = size_t(st.st_size);
  if (m->map_size_ > 0) {
    void* p = mmap(nullptr, m->map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    lite_check(p != MAP_FAILED, Status::IoError, "cannot mmap '" + path + "': " + std::strerror(errno));
    m->map_ = p;
  } else {
    ::close(fd);
  }
  m->base_ = static_cast<const uint8_t*>(m->map_);
  m->size_ = m->map_size_;
  try {
    m->init();
  } catch (const LiteError& e) {
    throw LiteError(e.status, "'" + path + "': " + e.what());
  }
  return m;
}

std::unique_ptr<Model> Model::load_buffer(const void* data, size_t size) {
  lite_check(data != nullptr || size == 0, Status::InvalidArgument, "null buffer");
  std::unique_ptr<Model> m(new Model());
  // A copy whose start is 64-byte aligned, so the constants' offsets stay aligned.
  m->owned_.resize(size + kAlign);
  uintptr_t raw = reinterpret_cast<uintptr_t>(m->owned_.data());
  size_t shift = (kAlign - raw % kAlign) % kAlign;
  if (size) std::memcpy(m->owned_.data() + shift, data, size);
  m->base_ = m->owned_.data() + shift;
  m->size_ = size;
  m->init();
  return m;
}

void Model::init() {
  std::string err = parse(base_, size_, file_);
  lite_check(err.empty(), Status::InvalidModel, err);
  for (size_t i = 0; i < file_.nodes.size(); ++i) {
    const NodeInfo& n = file_.nodes[i];
    nodes_.push_back(lite_prepare(n, i));
    lite_check_types(file_, n, i);
    prepare_qlayer(i);
  }
  fuse_int8_tables();
  for (uint32_t id : file_.inputs) {
    const ValueInfo& v = file_.values[id];
    lite_check(v.dtype == DType::F32, Status::Unsupported, "graph input '" + v.name + "' is " + dtype_name(v.dtype) +
                                                               ": this runtime takes float32 inputs only");
    input_shapes_.push_back(v.dims);
  }
  for (uint32_t id : file_.outputs)
    lite_check(file_.values[id].dtype == DType::F32, Status::Unsupported, "graph outputs must be float32");
}

const float* Model::constant(uint32_t id) const {
  return reinterpret_cast<const float*>(base_ + file_.values[id].data_offset);
}

// ---------------------------------------------------------------- Context

Context::Context(const Model& model) : model_(model) {
  size_t n = model.file().values.size();
  dims_.resize(n);
  offset_.assign(n, -1);
  size_t ni = model.file().inputs.size();
  input_data_.resize(ni);
  input_dims_.resize(ni);
  input_set_.assign(ni, 0);
  for (size_t i = 0; i < n; ++i) {
    const ValueInfo& v = model.file().values[i];
    if (v.kind == ValueKind::Constant) {
      dims_[i].rank = int(v.dims.size());
      for (size_t k = 0; k < v.dims.size(); ++k) dims_[i].d[k] = v.dims[k];
    }
  }
}

void Context::set_input(int index, const int64_t* shape, int rank, const float* data) {
  const File& f = model_.file();
  lite_check(index >= 0 && size_t(index) < f.inputs.size(), Status::InvalidArgument,
             "input index " + std::to_string(index) + " out of range (the model has " + std::to_string(f.inputs.size()) +
                 " inputs)");
  const ValueInfo& v = f.values[f.inputs[size_t(index)]];
  lite_check(rank >= 0 && rank <= kMaxRank && (shape != nullptr || rank == 0), Status::InvalidArgument,
             "input '" + v.name + "': bad shape pointer or rank");
  Dims d;
  d.rank = rank;
  for (int i = 0; i < rank; ++i) d.d[i] = shape[i];
  bool ok = size_t(rank) == v.dims.size();
  for (int i = 0; ok && i < rank; ++i) ok = v.dims[size_t(i)] == kDynamic ? shape[i] >= 1 && shape[i] <= kMaxDim
                                                                            : shape[i] == v.dims[size_t(i)];
  if (!ok) {
    std::string want = "[";
    for (size_t i = 0; i < v.dims.size(); ++i)
      want += (i ? ", " : "") + (v.dims[i] == kDynamic ? std::string("?") : std::to_string(v.dims[i]));
    lite_fail(Status::InvalidArgument, "input '" + v.name + "': shape " + d.str() + " does not match the model's " +
                                           want + "]");
  }
  lite_check(d.numel() <= kMaxNumel, Status::InvalidArgument, "input '" + v.name + "' too large");
  lite_check(data != nullptr || d.numel() == 0, Status::InvalidArgument, "input '" + v.name + "': null data");
  std::vector<float>& buf = input_data_[size_t(index)];
  buf.resize(size_t(d.numel()));  // NOTE: no reallocation when the shape repeats
  if (d.numel()) std::memcpy(buf.data(), data, size_t(d.numel()) * sizeof(float));
  input_dims_[size_t(index)] = d;
  input_set_[size_t(index)] = 1;
}

void Context::infer(const PreparedNode& n, size_t index) {
  if (n.skip) return;  // folded into a later node's table (runtime_int8.cpp)
  const std::string w = lite_node_name(n, index);
  auto D = [&](size_t i) -> const Dims& { return dims_[n.inputs[i]]; };
  auto has = [&](size_t i) { return i < n.inputs.size() && n.inputs[i] != kNone; };
  Dims o;
  switch (n.op) {
    case Op::Conv2d:
    case Op::QConv2d: {
      const Dims &x = D(0), &wt = D(1);
      lite_check(x.rank == 4 && wt.rank == 4, Status::InvalidArgument,
                 w + ": needs input [N, C, H, W] and weight [O, C/groups, kh, kw], got " + x.str() + " and " + wt.str());
      lite_check(wt.d[0] % n.groups == 0 && x.d[1] == wt.d[1] * n.groups, Status::InvalidArgument,
                 w + ": input " + x.str() + " does not fit weight " + wt.str() + " with groups " + std::to_string(n.groups));
      if (has(2)) lite_check(D(2).numel() == wt.d[0], Status::InvalidArgument, w + ": bias size mismatch");
      o.rank = 4;
      o.d[0] = x.d[0];
      o.d[1] = wt.d[0];
      o.d[2] = lite_pool_out(x.d[2], n.pad[0] + n.pad[2], n.pad[0], wt.d[2], n.stride[0], n.dilation[0], false, w);
      o.d[3] = lite_pool_out(x.d[3], n.pad[1] + n.pad[3], n.pad[1], wt.d[3], n.stride[1], n.dilation[1], false, w);
      kernels::ConvGeom g{x.d[0], x.d[1], x.d[2], x.d[3], wt.d[0], wt.d[2], wt.d[3], n.stride[0], n.stride[1],
                          n.pad[0], n.pad[1], n.pad[2], n.pad[3], n.dilation[0], n.dilation[1], n.groups, o.d[2], o.d[3]};
      int64_t s = n.op == Op::Conv2d ? kernels::conv2d_scratch(g) : (kernels::qconv2d_scratch_bytes(g, *n.q) + 3) / 4;
      lite_check(s <= kMaxNumel, Status::InvalidArgument, w + ": too large");
      scratch_need_ = std::max(scratch_need_, s);
      break;
    }
    case Op::Linear: {
      const Dims &x = D(0), &wt = D(1);
      lite_check(x.rank >= 1 && wt.rank == 2 && x.d[x.rank - 1] == wt.d[0], Status::InvalidArgument,
                 w + ": input " + x.str() + " does not fit weight [K, N] " + wt.str());
      if (has(2)) lite_check(D(2).numel() == wt.d[1], Status::InvalidArgument, w + ": bias size mismatch");
      o = x;
      o.d[o.rank - 1] = wt.d[1];
      break;
    }
    case Op::QLinear: {
      const Dims &x = D(0), &wt = D(1);
      lite_check(x.rank >= 1 && wt.rank == 2 && x.d[x.rank - 1] == wt.d[1], Status::InvalidArgument,
                 w + ": input " + x.str() + " does not fit weight [N, K] " + wt.str());
      o = x;
      o.d[o.rank - 1] = wt.d[0];
      const int64_t M = x.numel() / std::max<int64_t>(wt.d[1], 1);
      scratch_need_ = std::max(scratch_need_, (kernels::qlinear_scratch_bytes(M, *n.q) + 3) / 4);
      break;
    }
    case Op::Quantize:
      o = D(0);
      if (n.lut.size() == 65536)  // a binary op folded into a table reads its two int8 inputs element by element
        lite_check(D(1) == o, Status::InvalidArgument,
                   w + ": the folded binary op's inputs " + o.str() + " and " + D(1).str() + " differ in shape");
      break;
    case Op::Dequantize:
      o = D(0);
      if (n.q_axis >= 0)
        lite_check(n.q_axis < o.rank && o.d[n.q_axis] == int64_t(n.q_scales.size()), Status::InvalidArgument,
                   w + ": " + std::to_string(n.q_scales.size()) + " quantization parameters do not fit axis " +
                       std::to_string(n.q_axis) + " of " + o.str());
      break;
    case Op::MatMul: {
      const Dims &a = D(0), &b = D(1);
      lite_check(a.rank >= 2 && b.rank >= 2 && a.d[a.rank - 1] == b.d[b.rank - 2], Status::InvalidArgument,
                 w + ": shapes " + a.str() + " and " + b.str() + " do not multiply");
      Dims ab = a, bb = b;
      ab.rank -= 2;
      bb.rank -= 2;
      o = lite_broadcast(ab, bb, w);
      o.d[o.rank] = a.d[a.rank - 2];
      o.d[o.rank + 1] = b.d[b.rank - 1];
      o.rank += 2;
      break;
    }
    case Op::MaxPool2d:
    case Op::AvgPool2d: {
      const Dims& x = D(0);
      lite_check(x.rank == 4, Status::InvalidArgument, w + ": needs [N, C, H, W], got " + x.str());
      o = x;
      o.d[2] = lite_pool_out(x.d[2], n.pad[0] + n.pad[2], n.pad[0], n.kernel[0], n.stride[0], n.dilation[0],
                             n.ceil_mode, w);
      o.d[3] = lite_pool_out(x.d[3], n.pad[1] + n.pad[3], n.pad[1], n.kernel[1], n.stride[1], n.dilation[1],
                             n.ceil_mode, w);
      break;
    }
    case Op::AdaptiveAvgPool2d: {
      const Dims& x = D(0);
      lite_check(x.rank == 4 && x.d[2] > 0 && x.d[3] > 0, Status::InvalidArgument,
                 w + ": needs [N, C, H, W], got " + x.str());
      o = x;
      o.d[2] = n.out_hw[0];
      o.d[3] = n.out_hw[1];
      break;
    }
    case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Pow: case Op::Maximum: case Op::Minimum:
      o = lite_broadcast(D(0), D(1), w);
      break;
    case Op::Activation:
      o = D(0);
      break;
    case Op::Concat: {
      o = D(0);
      int ax = lite_axis(n.axis, o.rank, w);
      lite_check(o.rank > 0, Status::InvalidArgument, w + ": scalar inputs");
      for (size_t i = 1; i < n.inputs.size(); ++i) {
        lite_check(has(i), Status::InvalidModel, w + ": missing input");
        const Dims& x = D(i);
        bool ok = x.rank == o.rank;
        for (int k = 0; ok && k < o.rank; ++k) ok = k == ax || x.d[k] == o.d[k];
        lite_check(ok, Status::InvalidArgument, w + ": input " + x.str() + " does not fit " + D(0).str());
        o.d[ax] += x.d[ax];
      }
      break;
    }
    case Op::Slice: {
      o = D(0);
      int ax = lite_axis(n.axis, o.rank, w);
      lite_check(o.rank > 0, Status::InvalidArgument, w + ": scalar input");
      int64_t dim = o.d[ax];
      int64_t s = n.start < 0 ? std::max<int64_t>(n.start + dim, 0) : std::min(n.start, dim);
      int64_t e = n.end < 0 ? std::max<int64_t>(n.end + dim, 0) : std::min(n.end, dim);
      o.d[ax] = e > s ? (e - s + n.step - 1) / n.step : 0;
      break;
    }
    case Op::Reshape: {
      const Dims& x = D(0);
      o.rank = int(n.ints.size());
      int infer_at = -1;
      int64_t known = 1;
      for (int i = 0; i < o.rank; ++i) {
        int64_t v = n.ints[size_t(i)];
        if (v == 0) {
          lite_check(i < x.rank, Status::InvalidArgument, w + ": 0 in the shape past the input's rank");
          v = x.d[i];
        }
        if (v == -1) {
          lite_check(infer_at < 0, Status::InvalidModel, w + ": two -1 in the shape");
          infer_at = i;
          continue;
        }
        o.d[i] = v;
        known *= v;
        lite_check(known <= kMaxNumel, Status::InvalidModel, w + ": shape too large");
      }
      if (infer_at >= 0) {
        lite_check(known > 0 && x.numel() % known == 0, Status::InvalidArgument,
                   w + ": cannot reshape " + x.str() + " (no size for the -1 dim)");
        o.d[infer_at] = x.numel() / known;
      }
      lite_check(o.numel() == x.numel(), Status::InvalidArgument,
                 w + ": cannot reshape " + x.str() + " to " + o.str());
      break;
    }
    case Op::Expand: {
      const Dims& x = D(0);
      lite_check(n.ints.size() >= size_t(x.rank), Status::InvalidModel, w + ": target rank below the input's");
      o.rank = int(n.ints.size());
      for (int i = 0; i < o.rank; ++i) {
        int ix = i - (o.rank - x.rank);
        int64_t v = n.ints[size_t(i)];
        int64_t xi = ix >= 0 ? x.d[ix] : 1;
        if (v <= 0) v = xi;
        lite_check(xi == v || xi == 1, Status::InvalidArgument, w + ": cannot expand " + x.str());
        o.d[i] = v;
      }
      break;
    }
    case Op::Transpose: {
      const Dims& x = D(0);
      lite_check(n.ints.size() == size_t(x.rank), Status::InvalidArgument, w + ": perm does not match rank");
      bool seen[kMaxRank] = {false};
      o.rank = x.rank;
      for (int i = 0; i < x.rank; ++i) {
        int64_t p = n.ints[size_t(i)];
        lite_check(p < x.rank && !seen[p], Status::InvalidModel, w + ": perm is not a permutation");
        seen[p] = true;
        o.d[i] = x.d[p];
      }
      break;
    }
    case Op::Softmax:
      o = D(0);
      lite_axis(n.axis, o.rank, w);
      break;
    case Op::LayerNorm: {
      o = D(0);
      int ax = lite_axis(n.axis, o.rank, w);
      int64_t inner = 1;
      for (int i = ax; i < o.rank; ++i) inner *= o.d[i];
      for (size_t i = 1; i < 3; ++i)
        if (has(i)) lite_check(D(i).numel() == inner, Status::InvalidArgument, w + ": weight/bias size mismatch");
      break;
    }
    case Op::BatchNorm: {
      o = D(0);
      lite_check(o.rank >= 2, Status::InvalidArgument, w + ": needs [N, C, ...]");
      for (size_t i = 1; i < 5; ++i)
        if (has(i)) lite_check(D(i).numel() == o.d[1], Status::InvalidArgument, w + ": parameter size mismatch");
      break;
    }
    case Op::Mean: {
      const Dims& x = D(0);
      bool red[kMaxRank] = {false};
      for (int64_t d : n.ints) red[lite_axis(d, x.rank, w)] = true;
      o.rank = 0;
      for (int i = 0; i < x.rank; ++i) {
        if (!red[i]) o.d[o.rank++] = x.d[i];
        else if (n.keepdim) o.d[o.rank++] = 1;
      }
      break;
    }
    case Op::Split: {
      const Dims& x = D(0);
      int ax = lite_axis(n.axis, x.rank, w);
      int64_t total = 0;
      for (int64_t s : n.ints) total += s;
      lite_check(total == x.d[ax], Status::InvalidArgument, w + ": split sizes do not add up to " + x.str());
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        Dims ok = x;
        ok.d[ax] = n.ints[k];
        dims_[n.outputs[k]] = ok;
      }
      return;
    }
  }
  lite_check(o.numel() <= kMaxNumel, Status::InvalidArgument, w + ": output " + o.str() + " too large");
  dims_[n.outputs[0]] = o;
  // Work estimate: output elements times the reduction length of each (saturating).
  int64_t per = 1;
  if (n.op == Op::Conv2d || n.op == Op::QConv2d) per = D(1).d[1] * D(1).d[2] * D(1).d[3];
  else if (n.op == Op::Linear) per = D(1).d[0];
  else if (n.op == Op::QLinear) per = D(1).d[1];
  else if (n.op == Op::MatMul) per = D(0).d[D(0).rank - 1];
  else if (n.op == Op::MaxPool2d || n.op == Op::AvgPool2d) per = n.kernel[0] * n.kernel[1];
  else if (n.op == Op::Mean || n.op == Op::AdaptiveAvgPool2d) per = std::max<int64_t>(1, D(0).numel() / std::max<int64_t>(1, o.numel())) * std::max(1, D(0).rank);
  int64_t add = per > 0 && o.numel() > INT64_MAX / 4 / per ? INT64_MAX / 4 : o.numel() * std::max<int64_t>(per, 1);
  work_ = work_ > INT64_MAX / 2 - add ? INT64_MAX / 2 : work_ + add;
}

void Context::plan() {
  const File& f = model_.file();
  for (size_t i = 0; i < f.inputs.size(); ++i) dims_[f.inputs[i]] = input_dims_[i];
  scratch_need_ = 0;
  work_ = 0;
  const auto& nodes = model_.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) infer(nodes[i], i);
  lite_check(work_ <= work_limit_, Status::InvalidArgument,
             "the model's work at these input shapes (" + std::to_string(work_) + " operations) is above the limit");
  // Lifetimes [def, last use] of the activations, then first-fit placement in one arena: a
  // value may share bytes with any value whose lifetime does not overlap its own.
  const size_t nv = f.values.size();
  std::vector<int64_t> def(nv, -1), last(nv, -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (uint32_t id : nodes[i].inputs)
      if (id != kNone) last[id] = int64_t(i);
    for (uint32_t id : nodes[i].outputs) def[id] = int64_t(i);
  }
  for (uint32_t id : f.outputs) last[id] = int64_t(nodes.size());
  struct Placed {
    int64_t off, size, def, last;
  };
  std::vector<Placed> placed;
  int64_t total = 0;
  std::fill(offset_.begin(), offset_.end(), -1);
  for (size_t i = 0; i < nodes.size(); ++i)
    for (uint32_t id : nodes[i].skip ? std::vector<uint32_t>{} : nodes[i].outputs) {
      // Sizes in floats: an int8/uint8 value takes a quarter of its element count.
      const int64_t elems = dims_[id].numel();
      const int64_t floats = f.values[id].dtype == DType::F32 ? elems : (elems + 3) / 4;
      int64_t size = (floats + 15) / 16 * 16;
      int64_t l = std::max(last[id], def[id]);
      std::vector<std::pair<int64_t, int64_t>> busy;
      for (const Placed& p : placed)
        if (p.def <= l && def[id] <= p.last) busy.emplace_back(p.off, p.off + p.size);
      std::sort(busy.begin(), busy.end());
      int64_t off = 0;
      for (auto& [b, e] : busy) {
        if (off + size <= b) break;
        off = std::max(off, e);
      }
      offset_[id] = off;
      placed.push_back({off, size, def[id], l});
      total = std::max(total, off + size);
    }
  lite_check(total <= 4 * kMaxNumel && (uint64_t(total) + uint64_t(scratch_need_)) * sizeof(float) <= arena_limit_,
             Status::InvalidArgument, "activation arena too large (" + std::to_string(total * 4) + " bytes)");
  try {
    if (size_t(total) > arena_.size()) arena_.resize(size_t(total));
    if (size_t(scratch_need_) > scratch_.size()) scratch_.resize(size_t(scratch_need_));
  } catch (const std::bad_alloc&) {
    lite_fail(Status::InvalidArgument, "out of memory for the activation arena (" +
                                           std::to_string(total * 4) + " bytes)");
  }
  planned_for_ = input_dims_;
  planned_ = true;
}

const float* Context::in(uint32_t id) const {
  if (id == kNone) return nullptr;
  const File& f = model_.file();
  const ValueInfo& v = f.values[id];
  if (v.kind == ValueKind::Constant) return model_.constant(id);
  if (v.kind == ValueKind::Input) {
    for (size_t i = 0; i < f.inputs.size(); ++i)
      if (f.inputs[i] == id) return input_data_[i].data();
  }
  return arena_.data() + offset_[id];
}

float* Context::out(uint32_t id) { return arena_.data() + offset_[id]; }

void Context::exec(const PreparedNode& n) {
  if (n.skip) return;
  auto D = [&](size_t i) -> const Dims& { return dims_[n.inputs[i]]; };
  auto opt = [&](size_t i) { return i < n.inputs.size() ? in(n.inputs[i]) : nullptr; };
  const Dims& od = dims_[n.outputs[0]];
  float* y = out(n.outputs[0]);
  switch (n.op) {
    case Op::Conv2d: {
      const Dims &x = D(0), &wt = D(1);
      kernels::ConvGeom g{x.d[0], x.d[1], x.d[2], x.d[3], wt.d[0], wt.d[2], wt.d[3], n.stride[0], n.stride[1],
                          n.pad[0], n.pad[1], n.pad[2], n.pad[3], n.dilation[0], n.dilation[1], n.groups, od.d[2], od.d[3]};
      kernels::conv2d(g, in(n.inputs[0]), in(n.inputs[1]), opt(2), y, scratch_.data(), n.act);
      return;
    }
    case Op::QConv2d: {
      const Dims &x = D(0), &wt = D(1);
      kernels::ConvGeom g{x.d[0], x.d[1], x.d[2], x.d[3], wt.d[0], wt.d[2], wt.d[3], n.stride[0], n.stride[1],
                          n.pad[0], n.pad[1], n.pad[2], n.pad[3], n.dilation[0], n.dilation[1], n.groups, od.d[2], od.d[3]};
      kernels::qconv2d(g, *n.q, in(n.inputs[0]), y, reinterpret_cast<uint8_t*>(scratch_.data()));
      return;
    }
    case Op::QLinear: {
      const int64_t K = D(1).d[1];
      kernels::qlinear(K ? D(0).numel() / K : 0, *n.q, in(n.inputs[0]), y, reinterpret_cast<uint8_t*>(scratch_.data()));
      return;
    }
    case Op::Quantize:
      if (n.lut.size() == 256) {  // dequantize -> float activations -> quantize, as a table of the 256 inputs
        const uint8_t* xb = reinterpret_cast<const uint8_t*>(in(n.inputs[0]));
        uint8_t* yb = reinterpret_cast<uint8_t*>(y);
        const uint8_t* lut = n.lut.data();
        lite_parallel_for(od.numel(), 64, 16384, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) yb[i] = lut[xb[i]];
        });
        return;
      }
      if (n.lut.size() == 65536) {  // the same with a binary op of two dequantized inputs
        const uint8_t* ab = reinterpret_cast<const uint8_t*>(in(n.inputs[0]));
        const uint8_t* bb = reinterpret_cast<const uint8_t*>(in(n.inputs[1]));
        uint8_t* yb = reinterpret_cast<uint8_t*>(y);
        const uint8_t* lut = n.lut.data();
        lite_parallel_for(od.numel(), 64, 16384, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) yb[i] = lut[size_t(ab[i]) << 8 | bb[i]];
        });
        return;
      }
      kernels::quantize(in(n.inputs[0]), od.numel(), n.q_scales[0], n.q_zps[0], n.q_signed, y);
      return;
    case Op::Dequantize: {
      int64_t outer = 1, inner = 1, C = 1;
      if (n.q_axis >= 0) {
        C = od.d[n.q_axis];
        for (int i = 0; i < n.q_axis; ++i) outer *= od.d[i];
        for (int i = int(n.q_axis) + 1; i < od.rank; ++i) inner *= od.d[i];
      } else {
        inner = od.numel();
      }
      kernels::dequantize(in(n.inputs[0]), n.q_signed, outer, C, inner, n.q_scales.data(), n.q_zps.data(), y);
      return;
    }
    case Op::Linear: {
      const Dims& wt = D(1);
      int64_t K = wt.d[0], N = wt.d[1], M = K ? D(0).numel() / K : od.numel() / std::max<int64_t>(N, 1);
      kernels::gemm(M, N, K, in(n.inputs[0]), K, in(n.inputs[1]), N, y, N, false);
      if (const float* b = opt(2))
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) y[i * N + j] += b[j];
      kernels::apply_act(y, M * N, n.act);
      return;
    }
    case Op::MatMul: {
      const Dims &a = D(0), &b = D(1);
      int64_t M = a.d[a.rank - 2], K = a.d[a.rank - 1], N = b.d[b.rank - 1];
      Dims ab = a, bb = b, ob = od;
      ab.rank -= 2;
      bb.rank -= 2;
      ob.rank -= 2;
      int64_t as[kMaxRank], bs[kMaxRank];
      lite_bstrides(ab, ob, as);
      lite_bstrides(bb, ob, bs);
      int64_t batches = ob.numel();
      int64_t idx[kMaxRank] = {0};
      const float *A = in(n.inputs[0]), *B = in(n.inputs[1]);
      for (int64_t t = 0; t < batches; ++t) {
        int64_t ao = 0, bo = 0;
        for (int d = 0; d < ob.rank; ++d) {
          ao += idx[d] * as[d];
          bo += idx[d] * bs[d];
        }
        kernels::gemm(M, N, K, A + ao * M * K, K, B + bo * K * N, N, y + t * M * N, N, false);
        for (int d = ob.rank - 1; d >= 0; --d) {
          if (++idx[d] < ob.d[d]) break;
          idx[d] = 0;
        }
      }
      return;
    }
    case Op::MaxPool2d:
    case Op::AvgPool2d: {
      const Dims& x = D(0);
      kernels::PoolGeom g{x.d[0] * x.d[1], x.d[2], x.d[3], n.kernel[0], n.kernel[1], n.stride[0], n.stride[1],
                          n.pad[0], n.pad[1], n.dilation[0], n.dilation[1], od.d[2], od.d[3]};
      if (n.op == Op::MaxPool2d) kernels::max_pool2d(g, in(n.inputs[0]), y);
      else kernels::avg_pool2d(g, n.count_include_pad != 0, in(n.inputs[0]), y);
      return;
    }
    case Op::AdaptiveAvgPool2d: {
      const Dims& x = D(0);
      kernels::adaptive_avg_pool2d(x.d[0] * x.d[1], x.d[2], x.d[3], od.d[2], od.d[3], in(n.inputs[0]), y);
      return;
    }
    case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Pow: case Op::Maximum: case Op::Minimum: {
      int64_t as[kMaxRank], bs[kMaxRank];
      lite_bstrides(D(0), od, as);
      lite_bstrides(D(1), od, bs);
      kernels::Binary b = n.op == Op::Add   ? kernels::Binary::Add
                          : n.op == Op::Sub ? kernels::Binary::Sub
                          : n.op == Op::Mul ? kernels::Binary::Mul
                          : n.op == Op::Div ? kernels::Binary::Div
                          : n.op == Op::Pow ? kernels::Binary::Pow
                          : n.op == Op::Maximum ? kernels::Binary::Max
                                                : kernels::Binary::Min;
      kernels::binary(b, od.rank, od.d, in(n.inputs[0]), as, in(n.inputs[1]), bs, y);
      return;
    }
    case Op::Activation:
      kernels::unary(in(n.inputs[0]), y, od.numel(), n.act);
      return;
    case Op::Concat: {
      int ax = n.axis < 0 ? int(n.axis) + od.rank : int(n.axis);
      int64_t outer = 1, inner = 1;
      for (int i = 0; i < ax; ++i) outer *= od.d[i];
      for (int i = ax + 1; i < od.rank; ++i) inner *= od.d[i];
      int64_t pos = 0;
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        int64_t chunk = D(k).d[ax] * inner;
        const float* x = in(n.inputs[k]);
        for (int64_t o = 0; o < outer; ++o)
          std::memcpy(y + o * od.d[ax] * inner + pos, x + o * chunk, size_t(chunk) * sizeof(float));
        pos += chunk;
      }
      return;
    }
    case Op::Slice: {
      const Dims& x = D(0);
      int ax = n.axis < 0 ? int(n.axis) + x.rank : int(n.axis);
      int64_t dim = x.d[ax];
      int64_t s = n.start < 0 ? std::max<int64_t>(n.start + dim, 0) : std::min(n.start, dim);
      int64_t xs[kMaxRank];
      int64_t st = 1;
      for (int i = x.rank - 1; i >= 0; --i) {
        xs[i] = st * (i == ax ? n.step : 1);
        st *= x.d[i];
      }
      int64_t base = s;
      for (int i = ax + 1; i < x.rank; ++i) base *= x.d[i];
      if (od.numel()) kernels::strided_copy(od.rank, od.d, in(n.inputs[0]) + base, xs, y);
      return;
    }
    case Op::Reshape:
      if (od.numel()) std::memcpy(y, in(n.inputs[0]), size_t(od.numel()) * sizeof(float));  // empty: no arena at all
      return;
    case Op::Expand: {
      int64_t xs[kMaxRank];
      lite_bstrides(D(0), od, xs);
      kernels::strided_copy(od.rank, od.d, in(n.inputs[0]), xs, y);
      return;
    }
    case Op::Transpose: {
      const Dims& x = D(0);
      int64_t st[kMaxRank], xs[kMaxRank];
      int64_t s = 1;
      for (int i = x.rank - 1; i >= 0; --i) {
        st[i] = s;
        s *= x.d[i];
      }
      for (int i = 0; i < x.rank; ++i) xs[i] = st[n.ints[size_t(i)]];
      kernels::strided_copy(od.rank, od.d, in(n.inputs[0]), xs, y);
      return;
    }
    case Op::Softmax: {
      int ax = n.axis < 0 ? int(n.axis) + od.rank : int(n.axis);
      int64_t outer = 1, inner = 1;
      for (int i = 0; i < ax; ++i) outer *= od.d[i];
      for (int i = ax + 1; i < od.rank; ++i) inner *= od.d[i];
      kernels::softmax(in(n.inputs[0]), y, outer, od.rank ? od.d[ax] : 1, inner, n.log != 0);
      return;
    }
    case Op::LayerNorm: {
      int ax = n.axis < 0 ? int(n.axis) + od.rank : int(n.axis);
      int64_t inner = 1;
      for (int i = ax; i < od.rank; ++i) inner *= od.d[i];
      kernels::layer_norm(in(n.inputs[0]), opt(1), opt(2), y, inner ? od.numel() / inner : 0, inner, n.eps);
      return;
    }
    case Op::BatchNorm: {
      int64_t inner = 1;
      for (int i = 2; i < od.rank; ++i) inner *= od.d[i];
      kernels::batch_norm(in(n.inputs[0]), in(n.inputs[1]), in(n.inputs[2]), opt(3), opt(4), y, od.d[0], od.d[1],
                          inner, n.eps);
      return;
    }
    case Op::Mean: {
      const Dims& x = D(0);
      bool red[kMaxRank] = {false};
      for (int64_t d : n.ints) red[d < 0 ? d + x.rank : d] = true;
      // Output strides over the input's dims (0 on reduced dims); sum then scale.
      int64_t os[kMaxRank], s = 1;
      for (int i = x.rank - 1; i >= 0; --i) {
        os[i] = red[i] ? 0 : s;
        if (!red[i]) s *= x.d[i];
      }
      int64_t on = od.numel(), count = on ? x.numel() / on : 0;
      std::fill(y, y + on, 0.f);
      const float* xp = in(n.inputs[0]);
      int64_t idx[kMaxRank] = {0};
      int64_t total = x.numel();
      for (int64_t e = 0; e < total; ++e) {
        int64_t o = 0;
        for (int d = 0; d < x.rank; ++d) o += idx[d] * os[d];
        y[o] += xp[e];
        for (int d = x.rank - 1; d >= 0; --d) {
          if (++idx[d] < x.d[d]) break;
          idx[d] = 0;
        }
      }
      if (count > 0)
        for (int64_t i = 0; i < on; ++i) y[i] /= float(count);
      return;
    }
    case Op::Split: {
      const Dims& x = D(0);
      int ax = n.axis < 0 ? int(n.axis) + x.rank : int(n.axis);
      int64_t outer = 1, inner = 1;
      for (int i = 0; i < ax; ++i) outer *= x.d[i];
      for (int i = ax + 1; i < x.rank; ++i) inner *= x.d[i];
      const float* xp = in(n.inputs[0]);
      int64_t pos = 0;
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        int64_t chunk = n.ints[k] * inner;
        float* yk = out(n.outputs[k]);
        for (int64_t o = 0; o < outer; ++o)
          std::memcpy(yk + o * chunk, xp + o * x.d[ax] * inner + pos, size_t(chunk) * sizeof(float));
        pos += chunk;
      }
      return;
    }
  }
}

void Context::run() {
  const File& f = model_.file();
  for (size_t i = 0; i < f.inputs.size(); ++i)
    lite_check(input_set_[i], Status::NotReady, "input '" + f.values[f.inputs[i]].name + "' is not set");
  if (!planned_ || planned_for_ != input_dims_) plan();
  const auto& nodes = model_.nodes();
  LitePoolScope scope(pool_.get());
  for (const PreparedNode& n : nodes) exec(n);
  ran_ = true;
}

void Context::set_num_threads(int threads) {
  lite_check(threads >= 1 && threads <= 256, Status::InvalidArgument,
             "num_threads must be in [1, 256], got " + std::to_string(threads));
  if (threads == num_threads()) return;
  pool_.reset();
  if (threads > 1) pool_ = std::make_unique<ThreadPool>(threads);
}

const float* Context::output(int index, Dims& dims) const {
  const File& f = model_.file();
  lite_check(index >= 0 && size_t(index) < f.outputs.size(), Status::InvalidArgument,
             "output index " + std::to_string(index) + " out of range (the model has " +
                 std::to_string(f.outputs.size()) + " outputs)");
  lite_check(ran_, Status::NotReady, "no run yet: call tl_run first");
  uint32_t id = f.outputs[size_t(index)];
  dims = dims_[id];
  return in(id);
}

}  // namespace tlite
