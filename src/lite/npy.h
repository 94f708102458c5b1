// A small .npy reader and writer for tandem-lite's CLI and self-test (float32 arrays in C
// order; float64 and int64 files are read as float32). Standard library only.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tlite::npy {

struct Array {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Reads `path`; returns "" or what is wrong with the file.
std::string read(const std::string& path, Array& out);
// Parses the bytes of a .npy file.
std::string parse(const std::string& bytes, Array& out);
// Writes a float32 .npy file; returns "" or the error.
std::string write(const std::string& path, const float* data, const std::vector<int64_t>& shape);

}  // namespace tlite::npy
