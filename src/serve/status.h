// Request errors with TensorFlow's canonical status codes, and their HTTP mapping.
//
//   throw StatusError(Code::NotFound, "Servable not found for request: Latest(m)");
//   // -> HTTP 404, body { "error": "Servable not found for request: Latest(m)" }
#pragma once
#include <string>
#include <string_view>

#include <tandem/error.h>

namespace tandem::serve {

enum class Code { Ok, Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists,
                  PermissionDenied, ResourceExhausted, FailedPrecondition, Aborted, OutOfRange,
                  Unimplemented, Internal, Unavailable, DataLoss, Unauthenticated };

// "OK", "INVALID_ARGUMENT", ... as TF Serving writes them in status.error_code.
std::string_view code_name(Code c);
// TF Serving's REST mapping of a status to an HTTP status code.
int http_status(Code c);

class StatusError : public Error {
 public:
  StatusError(Code code, const std::string& msg) : Error(msg), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

// A request the client got wrong (HTTP 400, gRPC INVALID_ARGUMENT).
[[noreturn]] inline void invalid(const std::string& msg) {
  throw StatusError(Code::InvalidArgument, msg);
}

}  // namespace tandem::serve
