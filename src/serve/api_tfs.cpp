// TensorFlow Serving's REST API: model status, metadata, predict, classify and regress.
//
//   GET  /v1/models/{m}[/versions/{v}|/labels/{l}]            model_version_status
//   GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata   signature_def
//   POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict    instances -> predictions, inputs -> outputs
//   POST ...:regress / ...:classify                           examples -> results
// Bodies follow TF Serving's documentation byte for byte where it shows them: status and
// metadata as its protobuf JSON printer indents them (one space), predict answers as
// "{\n    \"predictions\": [...]\n}".
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <fmt/format.h>

#include "api.h"
#include "requests.h"
#include "tensor_json.h"

namespace tandem::serve {
namespace {

std::string tf_dtype(DType t) {
  switch (t) {
    case DType::Bool: return "DT_BOOL";
    case DType::UInt8: return "DT_UINT8";
    case DType::Int8: return "DT_INT8";
    case DType::Int16: return "DT_INT16";
    case DType::UInt16: return "DT_UINT16";
    case DType::Int32: return "DT_INT32";
    case DType::Int64: return "DT_INT64";
    case DType::Float16: return "DT_HALF";
    case DType::BFloat16: return "DT_BFLOAT16";
    case DType::Float32: return "DT_FLOAT";
    case DType::Float64: return "DT_DOUBLE";
  }
  return "DT_INVALID";
}

using Pretty = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

std::string pretty_done(rapidjson::StringBuffer& sb) { return std::string(sb.GetString(), sb.GetSize()); }

void key(Pretty& w, const std::string& k) { w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size())); }
void str(Pretty& w, const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); }

struct Target {
  std::string model;
  std::optional<int64_t> version;
  std::optional<std::string> label;
  std::string rest;  // "", "/metadata", ":predict", ...
};

// /v1/models/NAME[/versions/V|/labels/L][/metadata|:verb]
std::optional<Target> parse_target(const std::string& path) {
  static const std::string prefix = "/v1/models/";
  if (path.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string s = path.substr(prefix.size());
  Target t;
  size_t colon = s.rfind(':');
  if (colon != std::string::npos && s.find('/', colon) == std::string::npos) {
    t.rest = s.substr(colon);
    s = s.substr(0, colon);
  }
  if (s.size() > 9 && s.compare(s.size() - 9, 9, "/metadata") == 0) {
    if (!t.rest.empty()) return std::nullopt;
    t.rest = "/metadata";
    s = s.substr(0, s.size() - 9);
  }
  size_t slash = s.find('/');
  t.model = s.substr(0, slash);
  if (t.model.empty()) return std::nullopt;
  if (slash != std::string::npos) {
    std::string tail = s.substr(slash + 1);
    if (tail.rfind("versions/", 0) == 0) {
      t.version = parse_version(tail.substr(9));
      if (!t.version) return std::nullopt;
    } else if (tail.rfind("labels/", 0) == 0 && tail.size() > 7 && tail.find('/', 7) == std::string::npos) {
      t.label = tail.substr(7);
    } else {
      return std::nullopt;
    }
  }
  return t;
}

HttpResponse model_status(const ServeContext& ctx, const Target& t) {
  auto versions = ctx.manager->status(t.model, t.version, t.label);
  rapidjson::StringBuffer sb;
  Pretty w(sb);
  w.SetIndent(' ', 1);
  w.StartObject();
  key(w, "model_version_status");
  w.StartArray();
  for (const auto& v : versions) {
    w.StartObject();
    key(w, "version");
    str(w, std::to_string(v.version));
    key(w, "state");
    str(w, std::string(state_name(v.state)));
    key(w, "status");
    w.StartObject();
    key(w, "error_code");
    str(w, v.error_code);
    key(w, "error_message");
    str(w, v.error_message);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {.body = pretty_done(sb)};
}

void write_specs(Pretty& w, const std::vector<TensorSpec>& specs) {
  w.StartObject();
  for (const auto& s : specs) {
    key(w, s.name);
    w.StartObject();
    key(w, "dtype");
    str(w, tf_dtype(s.dtype));
    key(w, "tensor_shape");
    w.StartObject();
    key(w, "dim");
    w.StartArray();
    for (int64_t d : s.shape) {
      w.StartObject();
      key(w, "size");
      str(w, std::to_string(d));
      key(w, "name");
      str(w, "");
      w.EndObject();
    }
    w.EndArray();
    key(w, "unknown_rank");
    w.Bool(!s.has_shape);
    w.EndObject();
    key(w, "name");
    str(w, s.name);
    w.EndObject();
  }
  w.EndObject();
}

HttpResponse model_metadata(const ServeContext& ctx, const Target& t) {
  Resolved r = ctx.manager->resolve(t.model, t.version, t.label);
  rapidjson::StringBuffer sb;
  Pretty w(sb);
  w.SetIndent(' ', 1);
  w.StartObject();
  key(w, "model_spec");
  w.StartObject();
  key(w, "name");
  str(w, t.model);
  key(w, "signature_name");
  str(w, "");
  key(w, "version");
  str(w, std::to_string(r.version));
  w.EndObject();
  key(w, "metadata");
  w.StartObject();
  key(w, "signature_def");
  w.StartObject();
  key(w, "signature_def");
  w.StartObject();
  key(w, "serving_default");
  w.StartObject();
  key(w, "inputs");
  write_specs(w, r.servable->inputs());
  key(w, "outputs");
  write_specs(w, r.servable->outputs());
  key(w, "method_name");
  str(w, "tensorflow/serving/predict");
  w.EndObject();
  w.EndObject();
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return {.body = pretty_done(sb)};
}


void append_output(std::string& out, const TensorSpec& spec, const Tensor& t) {
  bool bytes = spec.name.size() > 6 && spec.name.compare(spec.name.size() - 6, 6, "_bytes") == 0 && t.dtype() == kUInt8;
  if (bytes)
    append_tensor_b64_rows(out, t, ", ");
  else
    append_tensor(out, t, ", ");
}

std::string predict_body(const Servable& s, bool rows, const std::vector<Tensor>& ys) {
  const auto& specs = s.outputs();
  std::string out = rows ? "{\n    \"predictions\": " : "{\n    \"outputs\": ";
  if (ys.size() == 1) {
    append_output(out, specs[0], ys[0]);
  } else if (!rows) {
    out += "{\n";
    for (size_t i = 0; i < ys.size(); ++i) {
      out += i ? ",\n        " : "        ";
      append_json_string(out, specs[i].name);
      out += ": ";
      append_output(out, specs[i], ys[i]);
    }
    out += "\n    }";
  } else {
    int64_t n = ys[0].dim() ? ys[0].size(0) : 0;
    for (const auto& y : ys)
      if (y.dim() == 0 || y.size(0) != n)
        throw StatusError(Code::InvalidArgument,
                          "the model's outputs do not share dim 0: ask in the columnar format ('inputs') instead");
    out += '[';
    for (int64_t r = 0; r < n; ++r) {
      out += r ? ", {" : "{";
      for (size_t i = 0; i < ys.size(); ++i) {
        if (i) out += ", ";
        append_json_string(out, specs[i].name);
        out += ": ";
        append_output(out, specs[i], ys[i].select(0, r));
      }
      out += '}';
    }
    out += ']';
  }
  out += "\n}";
  return out;
}

void predict(const ServeContext& ctx, const Target& t, const HttpRequest& req, Clock::time_point deadline,
             const Responder& respond) {
  Resolved r = ctx.manager->resolve(t.model, t.version, t.label);
  PredictRequest p = parse_predict(req.body, r.servable->inputs());
  bool has_rows = p.rows;
  auto inputs = std::move(p.inputs);
  auto servable = r.servable;
  ctx.infer(t.model, r, std::move(inputs), deadline, "predict",
            [servable, has_rows, respond](std::vector<Tensor> ys, std::exception_ptr err) {
              if (err) return respond(error_response(err));
              try {
                respond({.body = predict_body(*servable, has_rows, ys)});
              } catch (...) {
                respond(error_response(std::current_exception()));
              }
            });
}

// classify / regress: tf.Example-like feature objects mapped onto the model's inputs by name
// (a single input also takes a feature under any name). Regress needs one output of one value
// per example; classify one output of scores per class (labels are the class indices).
void examples_api(const ServeContext& ctx, const Target& t, const HttpRequest& req, bool classify,
                  Clock::time_point deadline, const Responder& respond) {
  rapidjson::Document doc;
  parse_json(doc, req.body);
  if (!doc.IsObject()) invalid("the request body must be a JSON object");
  check_signature_name(doc, classify ? "tensorflow/serving/classify" : "tensorflow/serving/regress");
  auto ex = doc.FindMember("examples");
  if (ex == doc.MemberEnd() || !ex->value.IsArray() || ex->value.Empty()) invalid("'examples' must be a non-empty list of objects");
  auto ctxm = doc.FindMember("context");
  Resolved r = ctx.manager->resolve(t.model, t.version, t.label);
  const Servable& s = *r.servable;
  if (s.outputs().size() != 1)
    invalid(fmt::format("{} needs a model with one output; this one has {}", classify ? "classify" : "regress", s.outputs().size()));
  std::map<std::string, std::vector<const JsonValue*>> rows;
  for (const auto& e : ex->value.GetArray()) {
    if (!e.IsObject()) invalid("each example must be an object of features");
    for (const auto& in : s.inputs()) {
      const JsonValue* v = nullptr;
      if (e.HasMember(in.name.c_str())) v = &e[in.name.c_str()];
      else if (ctxm != doc.MemberEnd() && ctxm->value.IsObject() && ctxm->value.HasMember(in.name.c_str())) v = &ctxm->value[in.name.c_str()];
      else if (s.inputs().size() == 1 && e.MemberCount() == 1) v = &e.MemberBegin()->value;
      if (!v) invalid(fmt::format("example has no feature '{}' (the model's input)", in.name));
      rows[in.name].push_back(v);
    }
  }
  std::map<std::string, Tensor> inputs;
  for (const auto& in : s.inputs()) {
    Tensor x = json_rows_to_tensor(rows[in.name], in.dtype, fmt::format("input '{}'", in.name));
    // A scalar feature per example feeds an input of shape [N, 1] as well as [N].
    if (x.dim() == 1 && in.shape.size() == 2 && in.shape[1] == 1) x = x.reshape({x.size(0), 1});
    inputs[in.name] = x;
  }
  int64_t n = ex->value.Size();
  ctx.infer(t.model, r, std::move(inputs), deadline, classify ? "classify" : "regress",
            [n, classify, respond](std::vector<Tensor> ys, std::exception_ptr err) {
              if (err) return respond(error_response(err));
              try {
                Tensor y = ys[0].to(kFloat32).contiguous();
                if (y.dim() == 0 || y.size(0) != n) invalid("the model's output does not have one row per example");
                int64_t per = y.numel() / n;
                if (!classify && per != 1) invalid(fmt::format("regress needs one value per example; the model gives {}", per));
                std::string out = "{\n    \"results\": [";
                const float* p = y.data<float>();
                for (int64_t i = 0; i < n; ++i) {
                  if (i) out += ", ";
                  if (!classify) {
                    append_tensor(out, y.reshape({n}).select(0, i), ", ");
                    continue;
                  }
                  out += '[';
                  for (int64_t c = 0; c < per; ++c) {
                    out += fmt::format("{}[\"{}\", ", c ? ", " : "", c);
                    append_tensor(out, tensor(std::vector<float>{p[i * per + c]}).reshape({}), ", ");
                    out += ']';
                  }
                  out += ']';
                }
                out += "]\n}";
                respond({.body = std::move(out)});
              } catch (...) {
                respond(error_response(std::current_exception()));
              }
            });
}

}  // namespace

bool handle_tfs(const ServeContext& ctx, const HttpRequest& req, const Responder& respond) {
  auto t = parse_target(req.path);
  if (!t) return false;
  auto deadline = ctx.options->request_timeout_s > 0
                      ? Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(ctx.options->request_timeout_s))
                      : Clock::time_point::max();
  if (req.method == "GET" && t->rest.empty()) {
    respond(model_status(ctx, *t));
  } else if (req.method == "GET" && t->rest == "/metadata") {
    respond(model_metadata(ctx, *t));
  } else if (req.method == "POST" && t->rest == ":predict") {
    predict(ctx, *t, req, deadline, respond);
  } else if (req.method == "POST" && (t->rest == ":classify" || t->rest == ":regress")) {
    examples_api(ctx, *t, req, t->rest == ":classify", deadline, respond);
  } else {
    return false;
  }
  return true;
}

}  // namespace tandem::serve
