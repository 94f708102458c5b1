// The HTTP layer behind a small interface, so that the library under it can be replaced.
//
//   auto http = serve::make_http_server({.port = 0});
//   http->start([](HttpRequest req, Responder respond) {
//     respond({.status = 200, .body = "{}"});          // now, or later from any thread
//   });
//   fmt::print("{}\n", http->port());
//   http->shutdown();                                  // stop accepting, finish in-flight
//
// A handler gets the whole request (headers, body already read) and answers exactly once
// through the Responder, which may be called after the handler returned and from another
// thread: a request waiting in the batching queue holds no HTTP thread. The implementation
// (http_mhd.cpp) is GNU libmicrohttpd with an epoll thread pool; bench/README.md has the
// measurement that chose it.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tandem::serve {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string, not percent-decoded
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string peer;    // client address, for the access log
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

using Responder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest, Responder)>;

struct HttpOptions {
  std::string host = "0.0.0.0";
  int port = 8501;                       // 0: the kernel picks a free port (see port())
  int threads = 2;                       // event-loop threads
  size_t max_body_bytes = 64u << 20;     // larger bodies get 413 without being read
  int connection_timeout_s = 30;         // idle or slow clients are closed after this
  unsigned max_connections = 4096;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds and starts serving; tandem::Error when the port cannot be bound.
  virtual void start(HttpHandler handler) = 0;
  virtual int port() const = 0;
  // Stops accepting new connections, waits until every request that started has been
  // answered (at most `grace_s` seconds), then closes everything.
  virtual void shutdown(double grace_s = 30) = 0;
};

std::unique_ptr<HttpServer> make_http_server(const HttpOptions& options);

}  // namespace tandem::serve
