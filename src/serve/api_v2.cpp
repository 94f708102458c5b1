// The Open Inference Protocol (KServe v2 / Triton) over HTTP, with the binary tensor extension.
//
//   GET  /v2                                  server metadata
//   GET  /v2/health/live | /v2/health/ready   200 when live / when every model has a version
//   GET  /v2/models/{m}[/versions/{v}]        model metadata (inputs, outputs, datatypes)
//   GET  /v2/models/{m}[/versions/{v}]/ready
//   POST /v2/models/{m}[/versions/{v}]/infer  JSON tensors, or a JSON header of
//        Inference-Header-Content-Length bytes followed by raw tensors (binary_data_size)
#include <cstring>

#include <fmt/format.h>

#include "api.h"
#include "requests.h"
#include "tensor_json.h"

namespace tandem::serve {
// Named: the REST API (api_tfs.cpp) has helpers of the same names.
namespace v2_detail {


struct Target {
  std::string model;
  std::optional<int64_t> version;
  std::string rest;  // "", "/ready", "/infer"
};

std::optional<Target> parse_target(const std::string& path) {
  static const std::string prefix = "/v2/models/";
  if (path.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string s = path.substr(prefix.size());
  Target t;
  for (const char* suffix : {"/ready", "/infer"}) {
    size_t n = std::strlen(suffix);
    if (s.size() > n && s.compare(s.size() - n, n, suffix) == 0) {
      t.rest = suffix;
      s = s.substr(0, s.size() - n);
      break;
    }
  }
  size_t slash = s.find('/');
  t.model = s.substr(0, slash);
  if (t.model.empty()) return std::nullopt;
  if (slash != std::string::npos) {
    std::string tail = s.substr(slash + 1);
    if (tail.rfind("versions/", 0) != 0) return std::nullopt;
    t.version = parse_version(tail.substr(9));
    if (!t.version) return std::nullopt;
  }
  return t;
}

std::string shape_json(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

void append_specs(std::string& out, const std::vector<TensorSpec>& specs) {
  out += '[';
  for (size_t i = 0; i < specs.size(); ++i) {
    if (i) out += ',';
    out += "{\"name\":" + json_quote(specs[i].name) + ",\"datatype\":\"" + v2_dtype(specs[i].dtype) +
           "\",\"shape\":" + shape_json(specs[i].shape) + "}";
  }
  out += ']';
}

HttpResponse model_metadata(const ServeContext& ctx, const Target& t) {
  Resolved r = ctx.manager->resolve(t.model, t.version, std::nullopt);
  std::string out = "{\"name\":" + json_quote(t.model) + ",\"versions\":[";
  auto versions = ctx.manager->available_versions(t.model);
  for (size_t i = 0; i < versions.size(); ++i) out += fmt::format("{}\"{}\"", i ? "," : "", versions[i]);
  out += "],\"platform\":\"onnx_onnxv1\",\"inputs\":";
  append_specs(out, r.servable->inputs());
  out += ",\"outputs\":";
  append_specs(out, r.servable->outputs());
  out += '}';
  return {.body = std::move(out)};
}

void infer(const ServeContext& ctx, const Target& t, const HttpRequest& req, Clock::time_point deadline,
           const Responder& respond) {
  Resolved r = ctx.manager->resolve(t.model, t.version, std::nullopt);
  const Servable& s = *r.servable;
  V2Request parsed = parse_v2_infer(req.body, req.header("inference-header-content-length"));
  std::vector<std::pair<size_t, bool>> wanted;  // output index, binary
  if (parsed.outputs_given) {
    for (const auto& [name, binary] : parsed.outputs) {
      size_t idx = s.outputs().size();
      for (size_t i = 0; i < s.outputs().size(); ++i)
        if (s.outputs()[i].name == name) idx = i;
      if (idx == s.outputs().size()) invalid(fmt::format("requested output '{}' is not an output of the model", name));
      wanted.emplace_back(idx, binary);
    }
  } else {
    for (size_t i = 0; i < s.outputs().size(); ++i) wanted.emplace_back(i, parsed.binary_default);
  }
  std::string id = parsed.id;
  auto inputs = std::move(parsed.inputs);
  auto servable = r.servable;
  std::string model = t.model;
  int64_t version = r.version;
  ctx.infer(t.model, r, std::move(inputs), deadline, "infer",
            [=](std::vector<Tensor> ys, std::exception_ptr err) {
              if (err) return respond(error_response(err));
              try {
                std::string head = "{\"model_name\":" + json_quote(model) + fmt::format(",\"model_version\":\"{}\"", version);
                if (!id.empty()) head += ",\"id\":" + json_quote(id);
                head += ",\"outputs\":[";
                std::string tail;
                for (size_t k = 0; k < wanted.size(); ++k) {
                  auto [i, bin] = wanted[k];
                  Tensor y = ys[i].contiguous();
                  head += (k ? ",{\"name\":" : "{\"name\":") + json_quote(servable->outputs()[i].name) + ",\"datatype\":\"" +
                          v2_dtype(y.dtype()) + "\",\"shape\":" + shape_json(y.shape());
                  if (bin) {
                    head += fmt::format(",\"parameters\":{{\"binary_data_size\":{}}}}}", y.nbytes());
                    tail.append(static_cast<const char*>(y.data_ptr()), y.nbytes());
                  } else {
                    head += ",\"data\":";
                    append_tensor_flat(head, y, ",");
                    head += '}';
                  }
                }
                head += "]}";
                HttpResponse resp;
                if (tail.empty()) {
                  resp.body = std::move(head);
                } else {
                  resp.content_type = "application/octet-stream";
                  resp.headers.emplace_back("Inference-Header-Content-Length", std::to_string(head.size()));
                  resp.body = std::move(head) + tail;
                }
                respond(std::move(resp));
              } catch (...) {
                respond(error_response(std::current_exception()));
              }
            });
}

}  // namespace v2_detail

bool handle_v2(const ServeContext& ctx, const HttpRequest& req, const Responder& respond) {
  const std::string& p = req.path;
  if (req.method == "GET" && (p == "/v2" || p == "/v2/")) {
    respond({.body = "{\"name\":\"tandem\",\"version\":\"0.1.0\",\"extensions\":[\"binary_tensor_data\"]}"});
    return true;
  }
  if (req.method == "GET" && p == "/v2/health/live") {
    respond({.body = "{\"live\":true}"});
    return true;
  }
  if (req.method == "GET" && p == "/v2/health/ready") {
    bool ready = ctx.manager->all_ready();
    respond({.status = ready ? 200 : 400, .body = fmt::format("{{\"ready\":{}}}", ready)});
    return true;
  }
  auto t = v2_detail::parse_target(p);
  if (!t) return false;
  auto deadline = ctx.options->request_timeout_s > 0
                      ? Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(ctx.options->request_timeout_s))
                      : Clock::time_point::max();
  if (req.method == "GET" && t->rest.empty()) {
    respond(v2_detail::model_metadata(ctx, *t));
  } else if (req.method == "GET" && t->rest == "/ready") {
    if (!ctx.manager->has_model(t->model))
      throw StatusError(Code::NotFound, fmt::format("Servable not found for request: Latest({})", t->model));
    bool ready = true;
    try {
      ctx.manager->resolve(t->model, t->version, std::nullopt);
    } catch (const StatusError&) {
      ready = false;
    }
    respond({.status = ready ? 200 : 400, .body = "{\"name\":" + json_quote(t->model) + fmt::format(",\"ready\":{}}}", ready)});
  } else if (req.method == "POST" && t->rest == "/infer") {
    v2_detail::infer(ctx, *t, req, deadline, respond);
  } else {
    return false;
  }
  return true;
}

}  // namespace tandem::serve
