// JSON <-> Tensor for the request and response bodies of both protocols.
//
//   rapidjson::Document doc;
//   parse_json(doc, R"({"instances": [[1.0, NaN], [Infinity, -Infinity]]})");
//   Tensor x = json_to_tensor(doc["instances"], kFloat32, "input 'x'");   // shape [2, 2]
//   std::string out;
//   append_tensor(out, x, ", ");       // [[1.0, NaN], [Infinity, -Infinity]]
//
// RapidJSON parses with kParseNanAndInfFlag: TF Serving's format carries NaN, Infinity and
// -Infinity as bare tokens, which strict JSON parsers (nlohmann_json among them) reject.
// Numbers are written as the shortest text that reads back to the same value (a float32
// as a float32), whole floats with ".0" as TF Serving writes them; {"b64": "..."} values
// are the bytes of a uint8 row. Every malformed value is a StatusError(InvalidArgument)
// naming the input and what was expected.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <tandem/tensor.h>

namespace tandem::serve {

using JsonValue = rapidjson::Value;

// Parses a whole body (NaN/Infinity allowed); InvalidArgument with RapidJSON's message and the
// byte offset when it does not parse.
void parse_json(rapidjson::Document& doc, std::string_view body);

// A scalar or (nested) list as a tensor of `dtype`; ragged lists, wrong element types and
// out-of-range integers are InvalidArgument naming `what`.
Tensor json_to_tensor(const JsonValue& v, DType dtype, const std::string& what);
// Rows stacked along a new dim 0 (TF Serving's row format with several named inputs).
Tensor json_rows_to_tensor(const std::vector<const JsonValue*>& rows, DType dtype, const std::string& what);
// A flat or nested list of exactly shape_numel(shape) elements, reshaped (v2 "data").
Tensor json_to_tensor_shaped(const JsonValue& v, DType dtype, const Shape& shape, const std::string& what);

// Writers (append to `out`). `sep` separates list elements: ", " (TF Serving) or "," (v2).
void append_tensor(std::string& out, const Tensor& t, std::string_view sep);
void append_tensor_row(std::string& out, const Tensor& t, int64_t row, std::string_view sep);  // t[row]
void append_tensor_flat(std::string& out, const Tensor& t, std::string_view sep);               // row-major
void append_tensor_b64_rows(std::string& out, const Tensor& t, std::string_view sep);  // uint8 [N, L] -> [{"b64":..}, ...]
void append_json_string(std::string& out, std::string_view s);
std::string json_quote(std::string_view s);

std::string base64_encode(std::string_view bytes);
// False when `text` is not valid base64 (standard alphabet, padding optional).
bool base64_decode(std::string_view text, std::string& out);

}  // namespace tandem::serve
