// libFuzzer harness for the server's request parsers: TF Serving predict bodies (row and
// columnar formats, NaN/Infinity, b64) and v2 inference requests (JSON tensors and the binary
// tensor extension with its Inference-Header-Content-Length split). Any outcome but a parsed
// request or a tandem::Error (StatusError included) is a crash; parsed tensors must agree with
// the signature's dtypes. The first byte picks the parser and the signature.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "serve/requests.h"
#include "serve/status.h"

using namespace tandem;
using namespace tandem::serve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const Specs one{{.name = "x", .dtype = kFloat32, .shape = {-1, 2}}};
  static const Specs many{{.name = "a", .dtype = kFloat32, .shape = {-1, 2}},
                          {.name = "b", .dtype = kInt64, .shape = {-1}},
                          {.name = "c", .dtype = kUInt8, .shape = {-1, 4}},
                          {.name = "d", .dtype = kBool, .shape = {-1}}};
  uint8_t mode = data[0] % 3;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if (mode < 2) {
      const Specs& specs = mode == 0 ? one : many;
      PredictRequest p = parse_predict(body, specs);
      for (const auto& [name, t] : p.inputs)
        if (t.dtype() != spec_named(specs, name).dtype) std::abort();
    } else {
      // The header length: the first line of the body, the rest is the request.
      size_t nl = body.find('\n');
      std::string hlen = nl == std::string_view::npos ? "" : std::string(body.substr(0, nl));
      V2Request r = parse_v2_infer(nl == std::string_view::npos ? body : body.substr(nl + 1), hlen);
      for (const auto& [name, t] : r.inputs)
        if (!t.defined()) std::abort();
    }
  } catch (const Error&) {
  }
  return 0;
}
