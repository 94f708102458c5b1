// lite_selftest: tandem-lite's own test program. It links tandem_lite alone (no gtest, no
// libtandem) and needs nothing but its data folder, so the same binary checks a cross-built
// runtime under qemu:
//
//   lite_selftest tests/lite/data
//
// Per case in DATA/cases.txt ("NAME INPUTS OUTPUTS [exact]"): loads NAME.tlite from the file (mmap)
// and from a buffer, runs NAME.input_<i>.npy and compares with NAME.output_<i>.npy (the full tandem
// runtime's outputs, tests/lite/gen_lite_data.py) within 1e-4 of the output's scale (an "exact"
// case, an int8 model: bit for bit), runs the
// first sample alone (dynamic batch) against the first rows, and checks the errors: a wrong
// shape, an index out of range, an output before a run, and every truncation and a set of byte
// flips of the file (each must fail to load or run cleanly). One line per case; exit 1 on any
// failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels.h"
#include "npy.h"
#include "tandem_lite.h"

namespace {

int failures = 0;

void report(bool ok, const std::string& name, const std::string& detail) {
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  if (!ok) ++failures;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// max |a - b| / max(max |b|, 1e-6) over the first n elements.
double rel_err(const float* a, const float* b, size_t n) {
  // NOTE: plain comparisons (a NaN difference counts as infinite); GCC 12's aarch64 vectorizer
  // fails with an internal error on an fmax reduction here.
  double scale = 1e-6, err = 0;
  for (size_t i = 0; i < n; ++i) {
    double v = std::fabs(double(b[i]));
    if (v > scale) scale = v;
    double d = std::fabs(double(a[i]) - double(b[i]));
    if (!(d <= err)) err = std::isnan(d) ? INFINITY : d;
  }
  return err / scale;
}

// Runs `m` on the inputs; compares every output with `expected` (rows: the first `rows` of
// dim 0, or all when rows < 0). Returns "" or what differs.
std::string run_and_compare(tl_model* m, const std::vector<tlite::npy::Array>& inputs,
                            const std::vector<tlite::npy::Array>& expected, int64_t rows, bool exact) {
  tl_context* c = nullptr;
  if (tl_context_create(m, &c) != TL_OK) return tl_last_error();
  std::string err;
  for (size_t i = 0; i < inputs.size() && err.empty(); ++i) {
    std::vector<int64_t> shape = inputs[i].shape;
    if (rows >= 0) shape[0] = rows;
    if (tl_set_input(c, int(i), shape.data(), int(shape.size()), inputs[i].data.data()) != TL_OK) err = tl_last_error();
  }
  // Twice: the second run reuses the plan and must give the same numbers.
  for (int rep = 0; rep < 2 && err.empty(); ++rep) {
    if (tl_run(c) != TL_OK) {
      err = tl_last_error();
      break;
    }
    for (size_t o = 0; o < expected.size() && err.empty(); ++o) {
      const float* y;
      const int64_t* s;
      int r;
      if (tl_get_output(c, int(o), &y, &s, &r) != TL_OK) {
        err = tl_last_error();
        break;
      }
      std::vector<int64_t> want = expected[o].shape;
      if (rows >= 0) want[0] = rows;
      if (std::vector<int64_t>(s, s + r) != want) {
        err = "output " + std::to_string(o) + " has the wrong shape";
        break;
      }
      size_t n = 1;
      for (int64_t d : want) n *= size_t(d);
      if (exact) {
        size_t differ = 0;
        for (size_t i = 0; i < n; ++i) differ += std::memcmp(&y[i], &expected[o].data[i], sizeof(float)) != 0;
        if (differ) err = "output " + std::to_string(o) + ": " + std::to_string(differ) + " values not bit-identical";
        continue;
      }
      double e = rel_err(y, expected[o].data.data(), n);
      if (!(e <= 1e-4)) err = "output " + std::to_string(o) + " differs by " + std::to_string(e) + " of its scale";
    }
  }
  tl_context_destroy(c);
  return err;
}

// Runs `m` on the inputs with 1 and with 3 threads inside the run; "" when every output is
// bit-identical, else what differs.
std::string threads_identical(tl_model* m, const std::vector<tlite::npy::Array>& inputs) {
  tl_context* c[2] = {nullptr, nullptr};
  std::string err;
  std::vector<std::vector<float>> outs[2];
  std::vector<std::vector<int64_t>> shapes[2];
  for (int t = 0; t < 2 && err.empty(); ++t) {
    if (tl_context_create(m, &c[t]) != TL_OK || tl_context_set_num_threads(c[t], t == 0 ? 1 : 3) != TL_OK) {
      err = tl_last_error();
      break;
    }
    for (size_t i = 0; i < inputs.size() && err.empty(); ++i)
      if (tl_set_input(c[t], int(i), inputs[i].shape.data(), int(inputs[i].shape.size()), inputs[i].data.data()) != TL_OK)
        err = tl_last_error();
    if (err.empty() && tl_run(c[t]) != TL_OK) err = tl_last_error();
    for (int o = 0; err.empty() && o < tl_model_num_outputs(m); ++o) {
      const float* y;
      const int64_t* s;
      int r;
      if (tl_get_output(c[t], o, &y, &s, &r) != TL_OK) {
        err = tl_last_error();
        break;
      }
      size_t n = 1;
      for (int k = 0; k < r; ++k) n *= size_t(s[k]);
      outs[t].emplace_back(y, y + n);
      shapes[t].emplace_back(s, s + r);
    }
  }
  if (err.empty() && tl_context_num_threads(c[1]) != 3) err = "tl_context_num_threads is not 3";
  for (size_t o = 0; err.empty() && o < outs[0].size(); ++o)
    if (shapes[0][o] != shapes[1][o] || outs[0][o].size() != outs[1][o].size() ||
        std::memcmp(outs[0][o].data(), outs[1][o].data(), outs[0][o].size() * sizeof(float)) != 0)
      err = "output " + std::to_string(o) + " differs between 1 and 3 threads";
  tl_context_destroy(c[0]);
  tl_context_destroy(c[1]);
  return err;
}

void check_case(const std::string& dir, const std::string& name, int nin, int nout, bool exact) {
  std::vector<tlite::npy::Array> inputs(static_cast<size_t>(nin)), expected(static_cast<size_t>(nout));
  for (int i = 0; i < nin; ++i) {
    std::string e = tlite::npy::read(dir + "/" + name + ".input_" + std::to_string(i) + ".npy", inputs[size_t(i)]);
    if (!e.empty()) return report(false, name, e);
  }
  for (int i = 0; i < nout; ++i) {
    std::string e = tlite::npy::read(dir + "/" + name + ".output_" + std::to_string(i) + ".npy", expected[size_t(i)]);
    if (!e.empty()) return report(false, name, e);
  }
  const std::string path = dir + "/" + name + ".tlite";
  tl_model* m = nullptr;
  if (tl_model_load_file(path.c_str(), &m) != TL_OK) return report(false, name + " load", tl_last_error());
  report(tl_model_num_inputs(m) == nin && tl_model_num_outputs(m) == nout, name + " io counts", "");
  std::string all = run_and_compare(m, inputs, expected, -1, exact);
  report(all.empty(), name + " matches the full runtime", all);
  std::string one = run_and_compare(m, inputs, expected, 1, exact);
  report(one.empty(), name + " batch 1 of the dynamic batch", one);
  std::string threads = threads_identical(m, inputs);
  report(threads.empty(), name + " bit-identical at 1 and 3 threads", threads);

  // Errors: a wrong shape, an index out of range, an output before any run.
  tl_context* c = nullptr;
  tl_context_create(m, &c);
  std::vector<int64_t> bad = inputs[0].shape;
  bad.back() += 1;
  tl_status s1 = tl_set_input(c, 0, bad.data(), int(bad.size()), inputs[0].data.data());
  std::string msg = tl_last_error();
  report(s1 == TL_INVALID_ARGUMENT && msg.find("does not match") != std::string::npos, name + " wrong shape refused", msg);
  tl_status s2 = tl_set_input(c, nin, inputs[0].shape.data(), int(inputs[0].shape.size()), inputs[0].data.data());
  report(s2 == TL_INVALID_ARGUMENT, name + " input index out of range refused", tl_last_error());
  tl_status s3 = tl_get_output(c, 0, nullptr, nullptr, nullptr);
  report(s3 == TL_NOT_READY, name + " output before a run refused", tl_last_error());
  tl_status s4 = tl_run(c);
  report(s4 == TL_NOT_READY, name + " run without inputs refused", tl_last_error());
  tl_status s5 = tl_context_set_num_threads(c, 0);
  report(s5 == TL_INVALID_ARGUMENT && tl_context_num_threads(c) == 1, name + " 0 threads refused", tl_last_error());
  tl_context_destroy(c);
  tl_model_destroy(m);

  // From a buffer, and corrupted copies: every truncation fails to load; byte flips load and
  // run, or fail, but never crash.
  std::string bytes = slurp(path);
  tl_model* mb = nullptr;
  bool ok = tl_model_load_buffer(bytes.data(), bytes.size(), &mb) == TL_OK;
  std::string from_buffer = ok ? run_and_compare(mb, inputs, expected, -1, exact) : std::string(tl_last_error());
  report(ok && from_buffer.empty(), name + " from a buffer", from_buffer);
  tl_model_destroy(mb);
  int loaded = 0, refused = 0;
  size_t step = bytes.size() > 4096 ? bytes.size() / 2048 : 1;
  for (size_t len = 0; len < bytes.size(); len += step) {
    tl_model* t = nullptr;
    if (tl_model_load_buffer(bytes.data(), len, &t) == TL_OK) {
      ++loaded;
      tl_model_destroy(t);
    } else {
      ++refused;
    }
  }
  report(loaded == 0, name + " truncated files refused", std::to_string(refused) + " refused, " +
                                                             std::to_string(loaded) + " loaded");
  uint32_t state = 12345;
  int flips_ok = 0;
  size_t meta_end = std::min<size_t>(bytes.size(), 4096);  // the header and metadata: where a flip matters
  for (int k = 0; k < 300; ++k) {
    std::string b = bytes;
    state = state * 1664525u + 1013904223u;
    b[state % meta_end] = char(b[state % meta_end] ^ (1 << (state >> 29)));
    tl_model* t = nullptr;
    if (tl_model_load_buffer(b.data(), b.size(), &t) == TL_OK) {
      tl_context* tc = nullptr;
      if (tl_context_create(t, &tc) == TL_OK) {
        for (int i = 0; i < nin; ++i)
          tl_set_input(tc, i, inputs[size_t(i)].shape.data(), int(inputs[size_t(i)].shape.size()),
                       inputs[size_t(i)].data.data());
        tl_run(tc);  // may fail with a message; must not crash
        tl_context_destroy(tc);
      }
      tl_model_destroy(t);
    }
    ++flips_ok;
  }
  report(flips_ok == 300, name + " 300 byte flips handled", "");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: lite_selftest DATA_DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  std::ifstream cases(dir + "/cases.txt");
  if (!cases) {
    std::fprintf(stderr, "lite_selftest: cannot read %s/cases.txt\n", dir.c_str());
    return 1;
  }
  std::string line;
  int n = 0;
  while (std::getline(cases, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string name;
    int nin = 0, nout = 0;
    std::string flag;
    ls >> name >> nin >> nout >> flag;
    if (name.empty() || nin < 1 || nout < 1 || !(flag.empty() || flag == "exact")) {
      report(false, "cases.txt", "bad line '" + line + "'");
      continue;
    }
    check_case(dir, name, nin, nout, flag == "exact");
    ++n;
  }
  // A file that is not a model, and a missing file.
  tl_model* m = nullptr;
  tl_status s1 = tl_model_load_buffer("not a model at all, just some text.....", 40, &m);
  report(s1 == TL_INVALID_MODEL, "text is not a model", tl_last_error());
  tl_status s2 = tl_model_load_file((dir + "/no-such-file.tlite").c_str(), &m);
  report(s2 == TL_IO_ERROR, "missing file", tl_last_error());
  report(n >= 1, "cases run", std::to_string(n));
  std::printf("int8 GEMM: %s\n", tlite::kernels::int8_path());
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
