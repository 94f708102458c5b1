// Server: the manager, the HTTP layer and the router between them; ServeContext::infer.
#include <tandem/serve/server.h>

#include <cstdio>

#include <fmt/format.h>
#include <tandem/onnx.h>

#include "api.h"
#include "batcher.h"
#include "metrics.h"
#include "tensor_json.h"

namespace tandem::serve {

HttpResponse error_response(Code code, const std::string& message) {
  return {.status = http_status(code), .body = "{ \"error\": " + json_quote(message) + " }"};
}

HttpResponse error_response(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const StatusError& s) {
    return error_response(s.code(), s.what());
  } catch (const onnx::Unsupported& u) {
    return error_response(Code::Unimplemented, u.what());
  } catch (const Error& err) {
    // Errors from the model's own input checks name the input and the problem.
    return error_response(Code::InvalidArgument, err.what());
  } catch (const std::bad_alloc&) {
    return error_response(Code::ResourceExhausted, "out of memory");
  } catch (const std::exception& x) {
    return error_response(Code::Internal, x.what());
  } catch (...) {
    return error_response(Code::Internal, "unknown error");
  }
}

void ServeContext::infer(const std::string& model, const Resolved& r, std::map<std::string, Tensor> inputs,
                         Clock::time_point deadline, const std::string& api, InferDone done) const {
  // Triton's per-version counters see every request that reached a version.
  auto start = Clock::now();
  int64_t rows = inputs.empty() || inputs.begin()->second.dim() == 0 ? 1 : inputs.begin()->second.size(0);
  done = [done = std::move(done), m = metrics, model, version = r.version, start, rows](std::vector<Tensor> ys,
                                                                                      std::exception_ptr err) {
    if (m) {
      double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      m->record_inference(model, version, !err, rows, us, 0, 0);
    }
    done(std::move(ys), err);
  };
  std::vector<Tensor> ys;
  std::exception_ptr err;
  try {
    check_inputs(*r.servable, inputs);
    if (batcher && r.servable->batchable()) {
      batcher->submit(model, r.version, r.servable, std::move(inputs), deadline, done);
      return;
    }
    if (Clock::now() > deadline)
      throw StatusError(Code::DeadlineExceeded, "the request's deadline passed before the model ran");
    auto t0 = Clock::now();
    ys = r.servable->run(inputs);
    if (metrics)
      metrics->record_execution(model, r.version, api, rows, std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  } catch (...) {
    err = std::current_exception();
  }
  done(std::move(ys), err);
}

namespace {
// The model and API of a request to a model endpoint ("predict", "infer", ...), for metrics.
std::pair<std::string, std::string> model_api(const std::string& path) {
  for (const char* prefix : {"/v1/models/", "/v2/models/"}) {
    std::string p(prefix);
    if (path.rfind(p, 0) != 0) continue;
    std::string rest = path.substr(p.size());
    std::string model = rest.substr(0, rest.find_first_of("/:"));
    for (const char* api : {":predict", ":classify", ":regress", "/infer"}) {
      std::string a(api);
      if (rest.size() > a.size() && rest.compare(rest.size() - a.size(), a.size(), a) == 0) return {model, a.substr(1)};
    }
  }
  return {};
}

std::string_view code_of_http(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: case 413: return "INVALID_ARGUMENT";
    case 404: return "NOT_FOUND";
    case 429: return "RESOURCE_EXHAUSTED";
    case 501: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return "INTERNAL";
  }
}
}  // namespace

struct Server::Impl {
  ServerOptions options;
  std::unique_ptr<ModelManager> manager;
  std::unique_ptr<HttpServer> http;
  ServeContext ctx;
  Metrics metrics;
  std::unique_ptr<Batcher> batcher;
  bool stopped = false;

  void handle(HttpRequest req, Responder respond) {
    if (auto [model, api] = model_api(req.path); !api.empty() && manager->has_model(model)) {
      // Init-captures: clang 14 cannot capture structured bindings.
      respond = [respond, t0 = Clock::now(), model = model, api = api, m = &metrics](HttpResponse r) {
        double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        m->record_request(model, api, std::string(code_of_http(r.status)), us);
        respond(std::move(r));
      };
    }
    if (options.access_log) {
      auto t0 = Clock::now();
      respond = [respond, t0, method = req.method, path = req.path, peer = req.peer,
                 size = req.body.size()](HttpResponse r) {
        double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        // One line per request: peer, method, path, status, bytes in/out, microseconds.
        std::string line = fmt::format("access peer={} method={} path={} status={} in={} out={} us={:.0f}\n", peer,
                                       method, json_quote(path), r.status, size, r.body.size(), us);
        std::fputs(line.c_str(), stderr);
        respond(std::move(r));
      };
    }
    try {
      bool handled = false;
      if (req.path.rfind("/v1/", 0) == 0)
        handled = handle_tfs(ctx, req, respond);
      else if (req.path == "/v2" || req.path.rfind("/v2/", 0) == 0)
        handled = handle_v2(ctx, req, respond);
      else if (req.method == "GET" && req.path == "/monitoring/prometheus/metrics")
        respond({.content_type = "text/plain; version=0.0.4", .body = metrics.prometheus_tfs()}), handled = true;
      else if (req.method == "GET" && req.path == "/metrics")
        respond({.content_type = "text/plain; version=0.0.4", .body = metrics.prometheus_triton()}), handled = true;
      if (!handled) respond(error_response(Code::NotFound, fmt::format("Malformed request: {} {}", req.method, req.path)));
    } catch (...) {
      respond(error_response(std::current_exception()));
    }
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  TANDEM_CHECK(!options.models.empty(), "serve: no models (--model_name and --model_base_path, or --model_config_file)");
  impl_->options = std::move(options);
  std::vector<int64_t> warm;
  if (impl_->options.enable_batching) warm = impl_->options.batching.allowed_batch_sizes;
  impl_->manager = std::make_unique<ModelManager>(impl_->options.models, impl_->options.poll_wait_seconds, warm);
  impl_->ctx.manager = impl_->manager.get();
  impl_->ctx.options = &impl_->options;
  impl_->ctx.metrics = &impl_->metrics;
  if (impl_->options.enable_batching) {
    impl_->batcher = std::make_unique<Batcher>(impl_->options.batching, &impl_->metrics);
    impl_->ctx.batcher = impl_->batcher.get();
  }
}

Server::~Server() { shutdown(0); }

void Server::start() {
  impl_->manager->start();
  const auto& h = impl_->options.http;
  impl_->http = make_http_server({.host = h.host, .port = h.port, .threads = h.threads, .max_body_bytes = h.max_body_bytes,
                                  .connection_timeout_s = h.connection_timeout_s});
  impl_->http->start([impl = impl_.get()](HttpRequest req, Responder respond) { impl->handle(std::move(req), std::move(respond)); });
}

int Server::port() const { return impl_->http ? impl_->http->port() : 0; }

void Server::shutdown(double grace_s) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->http) impl_->http->shutdown(grace_s);  // every received request is answered
  impl_->manager->stop();
  impl_->batcher.reset();
}

}  // namespace tandem::serve
