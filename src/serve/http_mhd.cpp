// HttpServer over GNU libmicrohttpd: an epoll event loop per thread of a small pool, with
// connections suspended while their request waits for a model (the Responder resumes them).
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <tandem/error.h>

#include "http.h"

namespace tandem::serve {
namespace {

// One request on one connection. Shared by MHD's per-request pointer and the Responder,
// which may outlive the handler call.
struct Exchange {
  MHD_Connection* connection = nullptr;
  std::string body;
  bool too_large = false;
  bool dispatched = false;
  std::mutex mu;
  bool ready = false;      // the Responder was called
  bool suspended = false;  // the connection waits for the Responder
  HttpResponse response;
};

class MhdServer final : public HttpServer {
 public:
  explicit MhdServer(HttpOptions options) : options_(std::move(options)) {}
  ~MhdServer() override { shutdown(0); }

  void start(HttpHandler handler) override {
    handler_ = std::move(handler);
    sockaddr_in addr4{};
    sockaddr_in6 addr6{};
    const sockaddr* addr = nullptr;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, options_.host.c_str(), &addr4.sin_addr) == 1) {
      addr4.sin_family = AF_INET;
      addr4.sin_port = htons(static_cast<uint16_t>(options_.port));
      addr = reinterpret_cast<const sockaddr*>(&addr4);
    } else if (inet_pton(AF_INET6, options_.host.c_str(), &addr6.sin6_addr) == 1) {
      addr6.sin6_family = AF_INET6;
      addr6.sin6_port = htons(static_cast<uint16_t>(options_.port));
      addr = reinterpret_cast<const sockaddr*>(&addr6);
      flags |= MHD_USE_IPv6;
    } else {
      TANDEM_FAIL("serve: --host '{}' is not an IPv4 or IPv6 address", options_.host);
    }
    daemon_ = MHD_start_daemon(
        flags, static_cast<uint16_t>(options_.port), nullptr, nullptr, &MhdServer::on_request, this,
        MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned>(std::max(1, options_.threads)),
        MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(options_.connection_timeout_s),
        MHD_OPTION_CONNECTION_LIMIT, options_.max_connections, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, &MhdServer::on_completed, this, MHD_OPTION_END);
    TANDEM_CHECK(daemon_ != nullptr, "serve: cannot listen on {}:{} (port in use?)", options_.host, options_.port);
    const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port_ = info ? info->port : options_.port;
  }

  int port() const override { return port_; }

  void shutdown(double grace_s) override {
    if (!daemon_) return;
    MHD_socket listener = MHD_quiesce_daemon(daemon_);  // no new connections from here on
    auto drained = [&](double seconds) {
      std::unique_lock lock(flight_mu_);
      return flight_cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return in_flight_ == 0; });
    };
    if (!drained(grace_s)) {
      // NOTE: libmicrohttpd must not stop with suspended connections: past the grace period,
      // requests still waiting for a model are answered 503 here (a late answer is dropped).
      std::set<std::shared_ptr<Exchange>> waiting;
      {
        std::lock_guard s(susp_mu_);
        waiting.swap(suspended_);
      }
      for (const auto& ex : waiting) {
        std::lock_guard lock(ex->mu);
        if (ex->ready || !ex->suspended) continue;
        ex->response = {.status = 503, .body = "{ \"error\": \"the server is shutting down\" }"};
        ex->ready = true;
        ex->suspended = false;
        MHD_resume_connection(ex->connection);
      }
      drained(2);
    }
    MHD_stop_daemon(daemon_);
    if (listener != MHD_INVALID_SOCKET) close(listener);
    daemon_ = nullptr;
  }

 private:
  static void queue(MHD_Connection* c, HttpResponse&& r) {
    auto* body = new std::string(std::move(r.body));
    MHD_Response* resp = MHD_create_response_from_buffer_with_free_callback_cls(
        body->size(), body->data(), [](void* p) { delete static_cast<std::string*>(p); }, body);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    for (const auto& [k, v] : r.headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
    MHD_queue_response(c, static_cast<unsigned>(r.status), resp);
    MHD_destroy_response(resp);
  }

  static MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                               const char* /*version*/, const char* upload, size_t* upload_size, void** ctx) {
    auto* self = static_cast<MhdServer*>(cls);
    if (*ctx == nullptr) {  // headers are in; the body (if any) follows in later calls
      auto* ex = new std::shared_ptr<Exchange>(std::make_shared<Exchange>());
      (*ex)->connection = c;
      *ctx = ex;
      const char* len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      if (len && std::strtoull(len, nullptr, 10) > self->options_.max_body_bytes) (*ex)->too_large = true;
      return MHD_YES;
    }
    auto ex = *static_cast<std::shared_ptr<Exchange>*>(*ctx);
    if (*upload_size != 0) {
      if (!ex->too_large) {
        if (ex->body.size() + *upload_size > self->options_.max_body_bytes) {
          ex->too_large = true;
          std::string().swap(ex->body);
        } else {
          ex->body.append(upload, *upload_size);
        }
      }
      *upload_size = 0;  // consumed (an oversized body is read and dropped)
      return MHD_YES;
    }
    if (ex->dispatched) {  // resumed: the Responder has the answer
      std::lock_guard lock(ex->mu);
      queue(c, std::move(ex->response));
      return MHD_YES;
    }
    ex->dispatched = true;
    {
      std::lock_guard lock(self->flight_mu_);
      ++self->in_flight_;
    }
    if (ex->too_large) {
      queue(c, {.status = 413, .body = fmt::format("{{ \"error\": \"request body larger than {} bytes\" }}",
                                                   self->options_.max_body_bytes)});
      return MHD_YES;
    }
    HttpRequest req;
    req.method = method;
    req.path = url;
    req.body = std::move(ex->body);
    MHD_get_connection_values(
        c, MHD_HEADER_KIND,
        [](void* out, MHD_ValueKind, const char* k, const char* v) -> MHD_Result {
          std::string key(k);
          std::transform(key.begin(), key.end(), key.begin(), [](unsigned char ch) { return std::tolower(ch); });
          (*static_cast<std::map<std::string, std::string>*>(out))[key] = v ? v : "";
          return MHD_YES;
        },
        &req.headers);
    if (const MHD_ConnectionInfo* ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS)) {
      char buf[INET6_ADDRSTRLEN] = "";
      const sockaddr* sa = ci->client_addr;
      if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
      else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
      req.peer = buf;
    }
    Responder respond = [ex, self](HttpResponse r) {
      std::lock_guard lock(ex->mu);
      if (ex->ready) return;  // shutdown() answered it already
      ex->response = std::move(r);
      ex->ready = true;
      if (ex->suspended) {
        ex->suspended = false;
        {
          std::lock_guard s(self->susp_mu_);
          self->suspended_.erase(ex);
        }
        MHD_resume_connection(ex->connection);
      }
    };
    try {
      self->handler_(std::move(req), respond);
    } catch (const std::exception& e) {
      // NOTE: a handler that throws has not answered (handlers catch their own errors).
      std::lock_guard lock(ex->mu);
      if (!ex->ready) {
        ex->ready = true;
        ex->response = {.status = 500, .body = fmt::format("{{ \"error\": \"internal error: {}\" }}", e.what())};
      }
    }
    std::unique_lock lock(ex->mu);
    if (ex->ready) {
      queue(c, std::move(ex->response));
    } else {
      ex->suspended = true;
      {
        std::lock_guard s(self->susp_mu_);
        self->suspended_.insert(ex);
      }
      MHD_suspend_connection(c);
    }
    return MHD_YES;
  }

  static void on_completed(void* cls, MHD_Connection*, void** ctx, MHD_RequestTerminationCode) {
    auto* self = static_cast<MhdServer*>(cls);
    auto* ex = static_cast<std::shared_ptr<Exchange>*>(*ctx);
    if (!ex) return;
    if ((*ex)->dispatched) {
      std::lock_guard lock(self->flight_mu_);
      if (--self->in_flight_ == 0) self->flight_cv_.notify_all();
    }
    delete ex;
    *ctx = nullptr;
  }

  HttpOptions options_;
  HttpHandler handler_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  std::mutex flight_mu_;
  std::condition_variable flight_cv_;
  int64_t in_flight_ = 0;
  std::mutex susp_mu_;
  std::set<std::shared_ptr<Exchange>> suspended_;  // connections waiting for their Responder
};

}  // namespace

std::unique_ptr<HttpServer> make_http_server(const HttpOptions& options) {
  return std::make_unique<MhdServer>(options);
}

}  // namespace tandem::serve
