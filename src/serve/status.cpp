#include "status.h"

namespace tandem::serve {

std::string_view code_name(Code c) {
  switch (c) {
    case Code::Ok: return "OK";
    case Code::Cancelled: return "CANCELLED";
    case Code::Unknown: return "UNKNOWN";
    case Code::InvalidArgument: return "INVALID_ARGUMENT";
    case Code::DeadlineExceeded: return "DEADLINE_EXCEEDED";
    case Code::NotFound: return "NOT_FOUND";
    case Code::AlreadyExists: return "ALREADY_EXISTS";
    case Code::PermissionDenied: return "PERMISSION_DENIED";
    case Code::ResourceExhausted: return "RESOURCE_EXHAUSTED";
    case Code::FailedPrecondition: return "FAILED_PRECONDITION";
    case Code::Aborted: return "ABORTED";
    case Code::OutOfRange: return "OUT_OF_RANGE";
    case Code::Unimplemented: return "UNIMPLEMENTED";
    case Code::Internal: return "INTERNAL";
    case Code::Unavailable: return "UNAVAILABLE";
    case Code::DataLoss: return "DATA_LOSS";
    case Code::Unauthenticated: return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

int http_status(Code c) {
  switch (c) {
    case Code::Ok: return 200;
    case Code::Cancelled: return 499;
    case Code::InvalidArgument:
    case Code::FailedPrecondition:
    case Code::OutOfRange: return 400;
    case Code::DeadlineExceeded: return 504;
    case Code::NotFound: return 404;
    case Code::AlreadyExists:
    case Code::Aborted: return 409;
    case Code::PermissionDenied: return 403;
    case Code::Unauthenticated: return 401;
    case Code::ResourceExhausted: return 429;
    case Code::Unimplemented: return 501;
    case Code::Unavailable: return 503;
    case Code::Unknown:
    case Code::Internal:
    case Code::DataLoss: return 500;
  }
  return 500;
}

}  // namespace tandem::serve
