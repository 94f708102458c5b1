// Request bodies to tensors: TF Serving's predict (row and columnar formats) and the v2
// inference request with the binary tensor extension. Pure functions of the body and the
// model's input signature, so that the fuzzer (fuzz/targets/fuzz_serve.cpp) runs them without a server.
#include "requests.h"

#include <cstring>

#include <fmt/format.h>

#include "status.h"
#include "tensor_json.h"

namespace tandem::serve {
namespace {


bool is_b64(const JsonValue& v) { return v.IsObject() && v.MemberCount() == 1 && v.HasMember("b64"); }
bool is_named_object(const JsonValue& v) { return v.IsObject() && !is_b64(v); }

std::string input_what(const TensorSpec& s) { return fmt::format("input '{}'", s.name); }

const TensorSpec& spec_named_in(const Specs& s, const std::string& name) {
  for (const auto& in : s)
    if (in.name == name) return in;
  std::string names;
  for (const auto& in : s) names += (names.empty() ? "'" : ", '") + in.name + "'";
  invalid(fmt::format("input '{}' is not an input of the model (inputs: {})", name, names));
}

// Row format: a list of instances, each the value of the single input or an object of named inputs.
std::map<std::string, Tensor> row_inputs(const Specs& s, const JsonValue& instances) {
  if (!instances.IsArray()) invalid("'instances' must be a list of instances");
  std::map<std::string, Tensor> out;
  bool named = !instances.Empty() && is_named_object(instances[0]);
  if (!named) {
    if (s.size() != 1)
      invalid(fmt::format("the model has {} inputs: each instance must be an object of named inputs", s.size()));
    const auto& in = s[0];
    out[in.name] = json_to_tensor(instances, in.dtype, input_what(in));
    return out;
  }
  std::map<std::string, std::vector<const JsonValue*>> rows;
  for (const auto& inst : instances.GetArray()) {
    if (!is_named_object(inst)) invalid("instances mix objects of named inputs and plain values");
    if (inst.MemberCount() != instances[0].MemberCount())
      invalid("every instance must have the same named inputs");
    for (const auto& m : inst.GetObject()) rows[std::string(m.name.GetString(), m.name.GetStringLength())].push_back(&m.value);
  }
  for (const auto& [name, vals] : rows) {
    const auto& in = spec_named_in(s, name);
    if (vals.size() != instances.Size()) invalid(fmt::format("input '{}' is missing from some instances", name));
    out[name] = json_rows_to_tensor(vals, in.dtype, input_what(in));
  }
  return out;
}

// Columnar format: the single input's value, or an object of named inputs.
std::map<std::string, Tensor> column_inputs(const Specs& s, const JsonValue& inputs) {
  std::map<std::string, Tensor> out;
  if (is_named_object(inputs)) {
    for (const auto& m : inputs.GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      const auto& in = spec_named_in(s, name);
      out[name] = json_to_tensor(m.value, in.dtype, input_what(in));
    }
    return out;
  }
  if (s.size() != 1)
    invalid(fmt::format("the model has {} inputs: 'inputs' must be an object of named inputs", s.size()));
  const auto& in = s[0];
  out[in.name] = json_to_tensor(inputs, in.dtype, input_what(in));
  return out;
}

}  // namespace

void check_signature_name(const rapidjson::Document& doc, const std::string& allowed) {
  auto it = doc.FindMember("signature_name");
  if (it == doc.MemberEnd()) return;
  if (!it->value.IsString()) invalid("'signature_name' must be a string");
  std::string name(it->value.GetString(), it->value.GetStringLength());
  if (name.empty() || name == "serving_default" || name == allowed) return;
  invalid(fmt::format("Serving signature name: \"{}\" not found in signature def", name));
}


PredictRequest parse_predict(std::string_view body, const Specs& inputs) {
  rapidjson::Document doc;
  parse_json(doc, body);
  if (!doc.IsObject()) invalid("the request body must be a JSON object");
  check_signature_name(doc, "");
  auto inst = doc.FindMember("instances"), cols = doc.FindMember("inputs");
  bool has_rows = inst != doc.MemberEnd(), has_cols = cols != doc.MemberEnd();
  if (has_rows && has_cols) invalid("Not both of 'instances' and 'inputs' can be specified in the request");
  if (!has_rows && !has_cols) invalid("Missing 'inputs' or 'instances' key");
  PredictRequest p;
  p.rows = has_rows;
  p.inputs = has_rows ? row_inputs(inputs, inst->value) : column_inputs(inputs, cols->value);
  return p;
}

const TensorSpec& spec_named(const Specs& s, const std::string& name) { return spec_named_in(s, name); }

std::string v2_dtype(DType t) {
  switch (t) {
    case DType::Bool: return "BOOL";
    case DType::UInt8: return "UINT8";
    case DType::Int8: return "INT8";
    case DType::Int16: return "INT16";
    case DType::UInt16: return "UINT16";
    case DType::Int32: return "INT32";
    case DType::Int64: return "INT64";
    case DType::Float16: return "FP16";
    case DType::BFloat16: return "BF16";
    case DType::Float32: return "FP32";
    case DType::Float64: return "FP64";
  }
  return "?";
}

std::optional<int64_t> parse_version(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoll(s);
}

namespace {
std::optional<DType> dtype_from_v2(const std::string& s) {
  for (DType t : {kBool, kUInt8, kInt8, kInt16, kUInt16, kInt32, kInt64, kFloat16, kBFloat16,
                  kFloat32, kFloat64})
    if (v2_dtype(t) == s) return t;
  return std::nullopt;
}

std::string member_string(const JsonValue& obj, const char* name, const std::string& what) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) invalid(fmt::format("{}: \"{}\" (a string) is required", what, name));
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

const JsonValue* parameter(const JsonValue& obj, const char* name) {
  auto p = obj.FindMember("parameters");
  if (p == obj.MemberEnd() || !p->value.IsObject()) return nullptr;
  auto it = p->value.FindMember(name);
  return it == p->value.MemberEnd() ? nullptr : &it->value;
}

}  // namespace

V2Request parse_v2_infer(std::string_view body_all, const std::string& header_length) {
  // Binary extension: the JSON header is the first Inference-Header-Content-Length bytes.
  std::string_view json = body_all, binary;
  const std::string& hlen = header_length;
  if (!hlen.empty()) {
    auto n = parse_version(hlen);
    if (!n) invalid(fmt::format("Inference-Header-Content-Length '{}' is not a non-negative integer", hlen));
    if (static_cast<size_t>(*n) > body_all.size())
      invalid(fmt::format("Inference-Header-Content-Length {} is larger than the body ({} bytes)", *n, body_all.size()));
    json = body_all.substr(0, *n);
    binary = body_all.substr(*n);
  }
  rapidjson::Document doc;
  parse_json(doc, json);
  if (!doc.IsObject()) invalid("the inference request must be a JSON object");
  auto ins = doc.FindMember("inputs");
  if (ins == doc.MemberEnd() || !ins->value.IsArray()) invalid("\"inputs\" (a list of tensors) is required");
  V2Request out;
  auto& inputs = out.inputs;
  size_t offset = 0;
  for (const auto& in : ins->value.GetArray()) {
    if (!in.IsObject()) invalid("each input must be an object with name, shape, datatype and data");
    std::string name = member_string(in, "name", "input");
    std::string what = fmt::format("input '{}'", name);
    std::string dt = member_string(in, "datatype", what);
    auto dtype = dtype_from_v2(dt);
    if (!dtype) invalid(fmt::format("{}: datatype '{}' is not supported (BOOL, UINT8, INT8, INT32, INT64, FP16, BF16, FP32, FP64)", what, dt));
    auto sh = in.FindMember("shape");
    if (sh == in.MemberEnd() || !sh->value.IsArray()) invalid(fmt::format("{}: \"shape\" (a list of sizes) is required", what));
    Shape shape;
    // NOTE: the element count is bounded by the body's size below; cap it here so that the
    // product of the dims cannot overflow on the way.
    uint64_t numel = 1;
    for (const auto& d : sh->value.GetArray()) {
      if (!d.IsInt64() || d.GetInt64() < 0) invalid(fmt::format("{}: \"shape\" must hold non-negative integers", what));
      shape.push_back(d.GetInt64());
      if (numel != 0) numel = d.GetInt64() == 0 ? 0 : (d.GetUint64() > (uint64_t{1} << 40) / numel ? (uint64_t{1} << 41) : numel * d.GetUint64());
    }
    if (numel > body_all.size())
      invalid(fmt::format("{}: shape {} holds more elements than the request has bytes", what, shape_str(shape)));
    if (inputs.count(name)) invalid(fmt::format("{} is given twice", what));
    const JsonValue* bsize = parameter(in, "binary_data_size");
    Tensor x;
    if (bsize) {
      if (!bsize->IsUint64()) invalid(fmt::format("{}: binary_data_size must be a non-negative integer", what));
      uint64_t n = bsize->GetUint64();
      size_t want = static_cast<size_t>(shape_numel(shape)) * itemsize(*dtype);
      if (n != want)
        invalid(fmt::format("{}: binary_data_size is {} but shape {} of {} takes {} bytes", what, n, shape_str(shape), dt, want));
      if (n > binary.size() - offset)
        invalid(fmt::format("{}: the binary data is truncated ({} bytes wanted, {} left)", what, n, binary.size() - offset));
      x = empty(shape, {.dtype = *dtype});
      std::memcpy(x.data_ptr(), binary.data() + offset, n);
      offset += n;
    } else {
      auto data = in.FindMember("data");
      if (data == in.MemberEnd()) invalid(fmt::format("{}: \"data\" is required (or parameters.binary_data_size)", what));
      x = json_to_tensor_shaped(data->value, *dtype, shape, what);
    }
    inputs[name] = std::move(x);
  }
  if (offset != binary.size())
    invalid(fmt::format("{} bytes of binary data follow the inputs that use binary_data_size", binary.size() - offset));
  // Which outputs, and which of them as binary.
  const JsonValue* all_binary = parameter(doc, "binary_data_output");
  out.binary_default = all_binary && all_binary->IsBool() && all_binary->GetBool();
  auto outs = doc.FindMember("outputs");
  if (outs != doc.MemberEnd()) {
    if (!outs->value.IsArray()) invalid("\"outputs\" must be a list of requested outputs");
    out.outputs_given = true;
    for (const auto& o : outs->value.GetArray()) {
      if (!o.IsObject()) invalid("each requested output must be an object with a name");
      std::string name = member_string(o, "name", "requested output");
      const JsonValue* b = parameter(o, "binary_data");
      out.outputs.emplace_back(name, b ? b->IsBool() && b->GetBool() : out.binary_default);
    }
  }
  if (auto it = doc.FindMember("id"); it != doc.MemberEnd() && it->value.IsString())
    out.id = std::string(it->value.GetString(), it->value.GetStringLength());
  return out;
}

}  // namespace tandem::serve
