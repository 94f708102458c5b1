// What the protocol handlers share: the manager, the options, and infer(), which runs a
// request on a model version directly or through its batching queue.
//
// The handlers (api_tfs.cpp: TensorFlow Serving REST; api_v2.cpp: Open Inference Protocol v2)
// know nothing about files or versions beyond ModelManager::resolve, and answer through the
// Responder exactly once; errors are StatusError (see status.h), mapped to HTTP by reply_error.
#pragma once
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <tandem/serve/server.h>

#include "http.h"
#include "repository.h"
#include "requests.h"
#include "status.h"

namespace tandem::serve {

class Batcher;
class Metrics;

using Clock = std::chrono::steady_clock;
// Outputs of a run, or the error that stopped it.
using InferDone = std::function<void(std::vector<Tensor> outputs, std::exception_ptr error)>;

struct ServeContext {
  ModelManager* manager = nullptr;
  const ServerOptions* options = nullptr;
  Batcher* batcher = nullptr;  // null unless --enable_batching
  Metrics* metrics = nullptr;
  // Runs `inputs` (checked against the signature) on r's version; `done` is called exactly
  // once, possibly on another thread. `api` names the endpoint for the metrics.
  void infer(const std::string& model, const Resolved& r, std::map<std::string, Tensor> inputs,
             Clock::time_point deadline, const std::string& api, InferDone done) const;
};

// {"error": "..."} with the status's HTTP code (TF Serving's format, used by both protocols).
HttpResponse error_response(Code code, const std::string& message);
// The response for an exception thrown while handling a request.
HttpResponse error_response(std::exception_ptr e);

// /v1/models/... (TF Serving). False when the path is not one of its endpoints.
bool handle_tfs(const ServeContext& ctx, const HttpRequest& req, const Responder& respond);
// /v2/... (Open Inference Protocol).
bool handle_v2(const ServeContext& ctx, const HttpRequest& req, const Responder& respond);


}  // namespace tandem::serve
