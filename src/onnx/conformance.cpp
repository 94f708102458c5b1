// The ONNX backend-test runner: <case>/model.onnx + test_data_set_*/{input,output}_N.pb.
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <fstream>

#include "importer.h"

namespace fs = std::filesystem;

namespace tandem::onnx {

namespace {

std::vector<std::string> sorted_files(const fs::path& dir, const std::string& prefix) {
  std::vector<std::pair<int, std::string>> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size() + 3 && name.substr(name.size() - 3) == ".pb") {
      try {
        files.emplace_back(std::stoi(name.substr(prefix.size(), name.size() - 3 - prefix.size())), e.path().string());
      } catch (const std::exception&) {
      }
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (auto& f : files) out.push_back(f.second);
  return out;
}

// Max |a-b| and whether every element is within atol + rtol*|b| (NaN == NaN).
bool compare(const Tensor& got, const Tensor& want, const ConformanceOptions& o, double& max_err, std::string& why) {
  if (got.shape() != want.shape()) {
    why = fmt::format("shape {} != expected {}", shape_str(got.shape()), shape_str(want.shape()));
    return false;
  }
  bool exact = !is_floating(want.dtype());
  if (got.dtype() != want.dtype()) {
    why = fmt::format("dtype {} != expected {}", got.dtype(), want.dtype());
    return false;
  }
  auto g = got.to(DType::Float64).contiguous().to_vector<double>();
  auto w = want.to(DType::Float64).contiguous().to_vector<double>();
  bool ok = true;
  for (size_t i = 0; i < g.size(); ++i) {
    double a = g[i], b = w[i];
    if (std::isnan(a) && std::isnan(b)) continue;
    if (std::isinf(a) || std::isinf(b)) {
      if (a != b) {
        ok = false;
        max_err = INFINITY;
      }
      continue;
    }
    double e = std::abs(a - b);
    max_err = std::max(max_err, std::isnan(e) ? INFINITY : e);
    // NOTE: bfloat16 outputs agree to one unit in the last place (2^-7 relative): ONNX's
    // Cast test data truncates float32 to bfloat16, tandem rounds to nearest even.
    const double rtol = want.dtype() == DType::BFloat16 ? std::max(o.rtol, 0x1p-7) : o.rtol;
    if (exact ? e != 0 : !(e <= o.atol + rtol * std::abs(b))) ok = false;
  }
  if (!ok) why = fmt::format("max abs error {:.3g}", max_err);
  return ok;
}

// NOTE: ONNX's test data stores bfloat16 tensors as UINT16 TensorProtos holding the bits
// (numpy has no bfloat16); a uint16 file for a bfloat16 graph value is read as those bits.
void conf_bf16_from_bits(onnx::Value& v, const ValueInfo& vi) {
  if (!v.is_tensor() || !vi.type.empty() || vi.dtype != DType::BFloat16 || v.tensor.dtype() != DType::UInt16) return;
  Tensor bits = v.tensor.contiguous();
  Tensor out = empty(bits.shape(), {.dtype = DType::BFloat16});
  if (bits.nbytes()) std::memcpy(out.data_ptr(), bits.data_ptr(), bits.nbytes());
  v.tensor = out;
}

// A case whose input file contradicts the static shape its own model declares cannot run as
// given (ONNX 1.12's CastLike-to/from-bfloat16 cases store 'like' as [1] for a [3, 4] input).
void conf_check_declared_shape(const onnx::Value& v, const ValueInfo& vi) {
  if (!v.is_tensor() || !vi.type.empty() || !vi.has_shape) return;
  const Tensor& t = v.tensor;
  bool same = t.dim() == static_cast<int64_t>(vi.shape.size());
  for (size_t d = 0; same && d < vi.shape.size(); ++d)
    same = !vi.shape[d].is_static() || vi.shape[d].value == t.size(static_cast<int64_t>(d));
  if (!same)
    throw Unsupported(fmt::format("the test data gives input '{}' shape {}, its model declares {} "
                                  "(inconsistent case)", vi.name, shape_str(t.shape()),
                                  graph::shape_str(vi.shape)));
}

// How a test data file of this graph value is stored.
std::string conf_kind(const ValueInfo& vi) {
  if (vi.type.rfind("seq(", 0) == 0) return "sequence";
  if (vi.type.rfind("optional(", 0) == 0) return "optional";
  return "tensor";
}

bool compare_values(const onnx::Value& got, const onnx::Value& want, const ConformanceOptions& o, double& max_err,
                    std::string& why) {
  auto kind = [](const onnx::Value& v) { return v.is_tensor() ? "a tensor" : v.is_sequence() ? "a sequence" : "empty"; };
  if (got.kind != want.kind) {
    why = fmt::format("got {}, expected {}", kind(got), kind(want));
    return false;
  }
  if (got.is_tensor()) return compare(got.tensor, want.tensor, o, max_err, why);
  if (got.is_none()) return true;
  if (got.sequence.size() != want.sequence.size()) {
    why = fmt::format("sequence of {} tensors, expected {}", got.sequence.size(), want.sequence.size());
    return false;
  }
  for (size_t k = 0; k < got.sequence.size(); ++k) {
    if (!compare(got.sequence[k], want.sequence[k], o, max_err, why)) {
      why = fmt::format("sequence element {}: {}", k, why);
      return false;
    }
  }
  return true;
}

}  // namespace

CaseResult run_case(const std::string& case_dir, const ConformanceOptions& options) {
  CaseResult r;
  fs::path dir(case_dir);
  r.dir = case_dir;
  r.name = dir.filename().string();
  r.op = "(model)";
  try {
    {
      // The case's op: its single node (node tests), read before import so that even an
      // unsupported case is counted under its op.
      std::ifstream f(dir / "model.onnx", std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      ::onnx::ModelProto m;
      if (m.ParseFromString(bytes)) {
        if (m.graph().node_size() == 1) r.op = m.graph().node(0).op_type();
        std::set<std::string> ops;
        for (const auto& n : m.graph().node()) ops.insert(n.op_type());
        r.ops.assign(ops.begin(), ops.end());
      }
    }
    Model model = Model::load((dir / "model.onnx").string());
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    TANDEM_CHECK(!sets.empty(), "{}: no test_data_set_* folders", case_dir);
    for (const auto& set : sets) {
      auto in_files = sorted_files(set, "input_");
      auto out_files = sorted_files(set, "output_");
      std::map<std::string, onnx::Value> inputs;
      const auto& infos = model.info().inputs;
      // Inputs are given in the order of the graph inputs that are not initializers; a
      // sequence or optional input is a SequenceProto / OptionalProto file.
      for (size_t i = 0; i < in_files.size(); ++i) {
        TANDEM_CHECK(i < infos.size(), "{}: more test inputs than model inputs", set.string());
        std::string kind = conf_kind(infos[i]);
        onnx::Value v = load_value_proto(in_files[i], kind);
        std::string name = infos[i].name;
        if (kind == "tensor") {  // a tensor file names its input (older cases list them out of order)
          ::onnx::TensorProto t;
          std::ifstream f(in_files[i], std::ios::binary);
          std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
          if (t.ParseFromString(bytes))
            for (const auto& vi : infos)
              if (vi.name == t.name() && vi.type.empty()) name = t.name();
        }
        for (const auto& vi : infos) {
          if (vi.name != name) continue;
          conf_bf16_from_bits(v, vi);
          conf_check_declared_shape(v, vi);
        }
        inputs[name] = v;
      }
      std::vector<onnx::Value> outs = model.run_values(inputs);
      TANDEM_CHECK(outs.size() >= out_files.size(), "model gave {} outputs, test has {}", outs.size(), out_files.size());
      for (size_t i = 0; i < out_files.size(); ++i) {
        onnx::Value want = load_value_proto(out_files[i], conf_kind(model.info().outputs.at(i)));
        conf_bf16_from_bits(want, model.info().outputs.at(i));
        double err = 0;
        std::string why;
        if (!compare_values(outs[i], want, options, err, why)) {
          r.status = CaseResult::Status::Failed;
          r.max_abs_error = err;
          r.message = fmt::format("{} output {}: {}", set.filename().string(), i, why);
          return r;
        }
        r.max_abs_error = std::max(r.max_abs_error, err);
      }
    }
    r.status = CaseResult::Status::Passed;
  } catch (const Unsupported& e) {
    r.status = CaseResult::Status::Unsupported;
    r.message = e.what();
  } catch (const std::exception& e) {
    r.status = CaseResult::Status::Failed;
    r.message = std::string("error: ") + e.what();
  }
  return r;
}

ConformanceReport run_conformance(const std::vector<std::string>& dirs, const ConformanceOptions& options) {
  ConformanceReport rep;
  for (const auto& d : dirs) {
    if (fs::exists(fs::path(d) / "model.onnx")) {
      rep.cases.push_back(run_case(d, options));
      continue;
    }
    TANDEM_CHECK(fs::is_directory(d), "'{}' is neither an ONNX test case nor a folder of cases", d);
    std::vector<std::string> cases;
    for (const auto& e : fs::directory_iterator(d))
      if (fs::exists(e.path() / "model.onnx")) cases.push_back(e.path().string());
    std::sort(cases.begin(), cases.end());
    for (const auto& c : cases) rep.cases.push_back(run_case(c, options));
  }
  return rep;
}

int ConformanceReport::passed() const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [](auto& c) { return c.status == CaseResult::Status::Passed; }));
}
int ConformanceReport::failed() const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [](auto& c) { return c.status == CaseResult::Status::Failed; }));
}
int ConformanceReport::unsupported() const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [](auto& c) { return c.status == CaseResult::Status::Unsupported; }));
}

std::string ConformanceReport::summary() const {
  int n = static_cast<int>(cases.size());
  return fmt::format("{} cases: {} passed ({:.1f}%), {} failed, {} unsupported", n, passed(),
                     n ? 100.0 * passed() / n : 0.0, failed(), unsupported());
}

namespace {
// The core op list: what real classification, sequence and transformer exports use.
bool listed(const std::string& op) {
  static const std::set<std::string> ops = {
      "Add", "Sub", "Mul", "Div", "Pow", "Neg", "Abs", "Sqrt", "Exp", "Log", "Relu", "LeakyRelu", "Elu", "Selu",
      "Gelu", "Sigmoid", "Tanh", "Softplus", "Softmax", "LogSoftmax", "Erf", "Clip", "Min", "Max", "Sum", "Mean",
      "Where", "Equal", "Less", "Greater", "Not", "And", "Or", "Cast", "MatMul", "Gemm", "Conv", "ConvTranspose",
      "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "LayerNormalization",
      "InstanceNormalization", "Dropout", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat",
      "Split", "Slice", "Gather", "GatherElements", "ScatterElements", "Expand", "Tile", "Pad", "Shape", "Size",
      "ConstantOfShape", "Constant", "Identity", "Range", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
      "ReduceProd", "ArgMax", "ArgMin", "TopK", "CumSum", "LSTM", "GRU", "Einsum"};
  return ops.count(op) != 0;
}
}  // namespace

std::string ConformanceReport::listed_summary() const {
  int n = 0, p = 0, f = 0, u = 0;
  for (const auto& c : cases) {
    if (c.ops.empty() || !std::all_of(c.ops.begin(), c.ops.end(), listed)) continue;
    ++n;
    p += c.status == CaseResult::Status::Passed;
    f += c.status == CaseResult::Status::Failed;
    u += c.status == CaseResult::Status::Unsupported;
  }
  return fmt::format("{} cases with only listed ops: {} passed ({:.1f}%), {} failed, {} unsupported", n, p,
                     n ? 100.0 * p / n : 0.0, f, u);
}

std::string ConformanceReport::op_table() const {
  std::map<std::string, std::array<int, 3>> per_op;
  for (const auto& c : cases) per_op[c.op][static_cast<int>(c.status)]++;
  std::string s = summary() + "\n" + listed_summary() + "\n\n" + fmt::format("{:<28} {:>7} {:>7} {:>12}\n", "op", "passed", "failed", "unsupported");
  for (const auto& [op, n] : per_op) s += fmt::format("{:<28} {:>7} {:>7} {:>12}\n", op, n[0], n[1], n[2]);
  s += "\nnot passed:\n";
  for (const auto& c : cases) {
    if (c.status == CaseResult::Status::Passed) continue;
    s += fmt::format("  {} [{}] {}: {}\n", c.status == CaseResult::Status::Failed ? "FAILED     " : "UNSUPPORTED", c.op,
                     c.name, c.message);
  }
  return s;
}

}  // namespace tandem::onnx
