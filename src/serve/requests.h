// Request bodies to tensors, as pure functions of the body and the model's input signature:
// TF Serving's predict (row "instances" / columnar "inputs") and the v2 inference request
// (JSON tensors, or the binary tensor extension). StatusError(InvalidArgument) with a message
// that names the input for anything malformed. fuzz/targets/fuzz_serve.cpp runs both on arbitrary bytes.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <tandem/tensor.h>

#include "servable.h"

namespace tandem::serve {

using Specs = std::vector<TensorSpec>;

struct PredictRequest {
  bool rows = true;  // "instances" (answer "predictions") or "inputs" (answer "outputs")
  std::map<std::string, Tensor> inputs;
};
PredictRequest parse_predict(std::string_view body, const Specs& inputs);

struct V2Request {
  std::string id;
  std::map<std::string, Tensor> inputs;
  bool outputs_given = false;
  std::vector<std::pair<std::string, bool>> outputs;  // requested outputs: name, as binary
  bool binary_default = false;                         // parameters.binary_data_output
};
// `header_length`: the Inference-Header-Content-Length header ("" when absent).
V2Request parse_v2_infer(std::string_view body, const std::string& header_length);

std::string v2_dtype(DType t);
// "3" -> 3; nullopt for anything but a non-negative decimal integer (versions, lengths).
std::optional<int64_t> parse_version(const std::string& s);  // "FP32", "INT64", ...
// The signature entry of input `name`; InvalidArgument listing the inputs when there is none.
const TensorSpec& spec_named(const Specs& s, const std::string& name);
// "signature_name" must be absent, "", "serving_default" or `allowed`.
void check_signature_name(const rapidjson::Document& doc, const std::string& allowed);

}  // namespace tandem::serve
