// tandem serve: a model server speaking TensorFlow Serving's REST API and the Open Inference
// Protocol (v2) on one port.
//
//   tandem serve --model_name mlp --model_base_path /models/mlp       # /models/mlp/1/model.onnx
//   curl -d '{"instances": [[...784 values...]]}' localhost:8501/v1/models/mlp:predict
//
// SIGTERM or SIGINT: stop accepting, answer what was received, print the peak memory (the
// process's peak RSS and the tensors' peak, as `tandem train` does), exit 0.
#include <malloc.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <tandem/error.h>
#include <tandem/memory.h>
#include <tandem/serve/server.h>

#include "commands.h"

namespace tandem::cli {

Run add_serve(CLI::App& app) {
  struct Args {
    std::string model_name, model_base_path, model_config_file, batching_file, host = "0.0.0.0";
    int rest_api_port = 8501, port = -1, threads = 2, timeout_ms = 0, connection_timeout_s = 30;
    double poll_s = 1;
    int64_t max_body_mb = 64;
    bool batching = false, access_log = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("serve", "Serve models over TF Serving's REST API and the v2 inference protocol");
  cmd->add_option("--model_name", a->model_name, "Name of the model (with --model_base_path)");
  cmd->add_option("--model_base_path", a->model_base_path, "Folder of version folders: DIR/<version>/model.onnx");
  cmd->add_option("--model_config_file", a->model_config_file, "TF Serving's ModelServerConfig (text format), several models")
      ->check(CLI::ExistingFile);
  cmd->add_option("--rest_api_port", a->rest_api_port, "HTTP port (0: any free port, printed)")
      ->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--port", a->port, "Alias of --rest_api_port (there is no gRPC endpoint)")->check(CLI::Range(0, 65535));
  cmd->add_option("--host", a->host, "Address to listen on (127.0.0.1: loopback only)")->capture_default_str();
  cmd->add_option("--rest_api_num_threads", a->threads, "HTTP event-loop threads")->capture_default_str()->check(positive());
  cmd->add_option("--rest_api_timeout_in_ms", a->timeout_ms, "Per-request deadline (0: none); late requests get 504")
      ->capture_default_str()->check(number_check(true, true));
  cmd->add_option("--file_system_poll_wait_seconds", a->poll_s, "Poll the base paths for new versions (0: load once)")
      ->capture_default_str()->check(number_check(false, true));
  cmd->add_flag("--enable_batching", a->batching, "Concatenate concurrent requests into batches");
  cmd->add_option("--batching_parameters_file", a->batching_file, "TF Serving's BatchingParameters (text format)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--max_body_mb", a->max_body_mb, "Largest request body (MiB); larger gets 413")->capture_default_str()->check(positive());
  cmd->add_option("--connection_timeout_seconds", a->connection_timeout_s, "Close idle or slow connections after this")
      ->capture_default_str()->check(positive());
  cmd->add_flag("--access_log", a->access_log, "One line per request on stderr");
  return [a] {
    serve::ServerOptions o;
    if (!a->model_config_file.empty()) {
      TANDEM_CHECK(a->model_name.empty() && a->model_base_path.empty(),
                   "serve: give --model_config_file or --model_name/--model_base_path, not both");
      o.models = serve::parse_model_config_file(a->model_config_file);
    } else {
      TANDEM_CHECK(!a->model_name.empty() && !a->model_base_path.empty(),
                   "serve: give --model_name and --model_base_path (or --model_config_file)");
      serve::ModelConfig m;
      m.name = a->model_name;
      m.base_path = a->model_base_path;
      o.models.push_back(m);
    }
    o.http.host = a->host;
    o.http.port = a->port >= 0 ? a->port : a->rest_api_port;
    o.http.threads = a->threads;
    o.http.max_body_bytes = static_cast<size_t>(a->max_body_mb) << 20;
    o.http.connection_timeout_s = a->connection_timeout_s;
    o.request_timeout_s = a->timeout_ms / 1000.0;
    o.poll_wait_seconds = a->poll_s;
    o.access_log = a->access_log;
    o.enable_batching = a->batching || !a->batching_file.empty();
    if (!a->batching_file.empty()) o.batching = serve::parse_batching_parameters_file(a->batching_file);

    // Signals are taken by sigwait below, so every thread the server starts must block them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    // NOTE: glibc raises its mmap threshold each time a large block is freed, after which a
    // reloaded version's weights come from the heap and stay mapped when it is unloaded. A fixed
    // threshold keeps every block over 4 MiB in its own mapping, returned to the system on free.
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    serve::Server server(o);
    server.start();
    std::cout << fmt::format("tandem serve: listening on {}:{}", a->host, server.port()) << std::endl;
    int sig = 0;
    sigwait(&sigs, &sig);
    std::cout << fmt::format("tandem serve: {}, finishing in-flight requests", sig == SIGTERM ? "SIGTERM" : "SIGINT")
              << std::endl;
    server.shutdown(30);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    double tensors = memory_stats().peak_allocated_bytes / 1024.0;  // KiB; small models stay under 1 MB
    std::cout << fmt::format("tandem serve: memory: peak RSS {:.1f} MB, tensors at most {:.1f} {}",
                             ru.ru_maxrss / 1024.0,  // Linux reports KiB
                             tensors >= 1024 ? tensors / 1024 : tensors, tensors >= 1024 ? "MB" : "KB")
              << std::endl;
    return 0;
  };
}

}  // namespace tandem::cli
