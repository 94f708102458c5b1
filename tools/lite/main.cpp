// tandem-lite: run a .tlite model (written by `tandem convert`) on .npy inputs, or describe it.
// Links tandem_lite alone (no libtandem), so it can be built static and for other machines.
//
//   tandem-lite info model.tlite
//   tandem-lite run model.tlite --input input=x.npy [--output-dir out/] [--repeat N] [--threads N]
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "npy.h"
#include "tandem_lite.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: tandem-lite info MODEL.tlite\n"
               "       tandem-lite run MODEL.tlite --input NAME=FILE.npy ... [--output-dir DIR] [--repeat N]\n"
               "                      [--threads N]  (threads inside each run; default 1)\n"
               "  (a single-input model also takes --input FILE.npy)\n");
  return 2;
}

std::string shape_str(const int64_t* s, int rank) {
  std::string r = "[";
  for (int i = 0; i < rank; ++i) r += (i ? ", " : "") + (s[i] < 0 ? std::string("?") : std::to_string(s[i]));
  return r + "]";
}

const char* dtype_str(tl_dtype t) {
  switch (t) {
    case TL_FLOAT32: return "float32";
    case TL_INT8: return "int8";
    case TL_UINT8: return "uint8";
    case TL_INT32: return "int32";
    case TL_INT64: return "int64";
  }
  return "?";
}

int fail(const char* what) {
  std::fprintf(stderr, "error: %s%s\n", what, tl_last_error());
  return 1;
}

int info(const char* path) {
  tl_model* m = nullptr;
  if (tl_model_load_file(path, &m) != TL_OK) return fail("");
  std::printf("%s\ninputs:\n", tl_version());
  for (int i = 0; i < tl_model_num_inputs(m); ++i) {
    const char* name;
    tl_dtype dt;
    const int64_t* s;
    int r;
    tl_model_input_info(m, i, &name, &dt, &s, &r);
    std::printf("  %s: %s %s\n", name, dtype_str(dt), shape_str(s, r).c_str());
  }
  std::printf("outputs:\n");
  for (int i = 0; i < tl_model_num_outputs(m); ++i) {
    const char* name;
    tl_dtype dt;
    const int64_t* s;
    int r;
    tl_model_output_info(m, i, &name, &dt, &s, &r);
    std::printf("  %s: %s %s (at conversion)\n", name, dtype_str(dt), shape_str(s, r).c_str());
  }
  std::vector<std::pair<std::string, int>> ops;
  for (int i = 0; i < tl_model_num_nodes(m); ++i) {
    std::string op = tl_model_node_op(m, i);
    bool found = false;
    for (auto& [k, n] : ops)
      if (k == op) found = ++n;
    if (!found) ops.emplace_back(op, 1);
  }
  std::printf("nodes: %d\n", tl_model_num_nodes(m));
  for (auto& [k, n] : ops) std::printf("  %-20s %d\n", k.c_str(), n);
  tl_model_destroy(m);
  return 0;
}

int run(int argc, char** argv) {
  const char* path = argv[2];
  std::vector<std::pair<std::string, std::string>> inputs;
  std::string out_dir;
  int repeat = 1, threads = 1;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--input" || a == "-i") && i + 1 < argc) {
      std::string v = argv[++i];
      size_t eq = v.find('=');
      if (eq == std::string::npos) inputs.emplace_back("", v);
      else inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--output-dir" && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
      if (repeat < 1) return usage();
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
      if (threads < 1) return usage();
    } else {
      std::fprintf(stderr, "error: unknown argument '%s'\n", a.c_str());
      return usage();
    }
  }
  tl_model* m = nullptr;
  if (tl_model_load_file(path, &m) != TL_OK) return fail("");
  tl_context* c = nullptr;
  if (tl_context_create(m, &c) != TL_OK) return fail("");
  if (tl_context_set_num_threads(c, threads) != TL_OK) return fail("");
  int rc = 0;
  std::vector<tlite::npy::Array> arrays(inputs.size());
  for (size_t k = 0; k < inputs.size() && rc == 0; ++k) {
    auto& [name, file] = inputs[k];
    int index = name.empty() && tl_model_num_inputs(m) == 1 ? 0 : tl_model_input_index(m, name.c_str());
    if (index < 0) {
      std::string names;
      for (int i = 0; i < tl_model_num_inputs(m); ++i) {
        const char* n;
        tl_model_input_info(m, i, &n, nullptr, nullptr, nullptr);
        names += std::string(i ? ", " : "") + n;
      }
      std::fprintf(stderr, "error: the model has no input '%s' (inputs: %s)\n", name.c_str(), names.c_str());
      rc = 1;
      break;
    }
    std::string err = tlite::npy::read(file, arrays[k]);
    if (!err.empty()) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      rc = 1;
      break;
    }
    if (tl_set_input(c, index, arrays[k].shape.data(), int(arrays[k].shape.size()), arrays[k].data.data()) != TL_OK)
      rc = fail("");
  }
  double best_ms = 0;
  const std::clock_t cpu0 = std::clock();  // the process's CPU time, every thread's
  for (int r = 0; r < repeat && rc == 0; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    if (tl_run(c) != TL_OK) rc = fail("");
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (r == 0 || ms < best_ms) best_ms = ms;
  }
  const double cpu_ms = 1000.0 * double(std::clock() - cpu0) / CLOCKS_PER_SEC / repeat;
  for (int i = 0; rc == 0 && i < tl_model_num_outputs(m); ++i) {
    const char* name;
    tl_model_output_info(m, i, &name, nullptr, nullptr, nullptr);
    const float* y;
    const int64_t* s;
    int r;
    if (tl_get_output(c, i, &y, &s, &r) != TL_OK) {
      rc = fail("");
      break;
    }
    std::printf("%s: %s\n", name, shape_str(s, r).c_str());
    if (!out_dir.empty()) {
      std::string fname = name;
      for (char& ch : fname)
        if (ch == '/' || ch == '\\' || ch == ':') ch = '_';
      std::string err = tlite::npy::write(out_dir + "/" + fname + ".npy", y, std::vector<int64_t>(s, s + r));
      if (!err.empty()) {
        std::fprintf(stderr, "error: %s\n", err.c_str());
        rc = 1;
      }
    }
  }
  if (rc == 0 && repeat > 1)
    std::printf("best of %d runs: %.3f ms (CPU %.3f ms per run, all threads)\n", repeat, best_ms, cpu_ms);
  tl_context_destroy(c);
  tl_model_destroy(m);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  if (std::strcmp(argv[1], "info") == 0 && argc == 3) return info(argv[2]);
  if (std::strcmp(argv[1], "run") == 0) return run(argc, argv);
  return usage();
}
