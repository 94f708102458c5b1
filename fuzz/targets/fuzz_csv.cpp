// CSV text -> data::parse_csv, with the options chosen by the first input byte (header or
// not, a target column, a categorical column, float64 features) so each path is reached.
#include "../fuzz_util.h"
#include "tandem/data/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  tandem::data::CsvOptions o;
  o.header = (mode & 1) != 0;
  if (mode & 2) o.target = o.header ? "y" : "0";
  if (mode & 4) o.categorical = {o.header ? "c" : "1"};
  if (mode & 8) o.dtype = tandem::DType::Float64;
  if (mode & 16) o.delimiter = ';';
  if (mode & 32) o.drop = {o.header ? "d" : "2"};
  tandem::fuzz::expect_parse_or_error([&] {
    tandem::data::CsvTable t = tandem::data::parse_csv(tandem::fuzz::as_string(data + 1, size - 1), o);
    if (t.features.numel() > 0) (void)t.features.sum().item<double>();
  });
  return 0;
}
