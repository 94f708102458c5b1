// TF Serving's configuration files (--model_config_file, --batching_parameters_file) as
// tandem serve reads them (src/serve/config.cpp).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <tandem/error.h>
#include <tandem/serve/server.h>

using namespace tandem::serve;

namespace {
std::string write_temp(const std::string& text) {
  static int n = 0;
  auto path = std::filesystem::temp_directory_path() / ("tandem_serve_cfg_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
  std::ofstream(path) << text;
  return path.string();
}
}  // namespace

TEST(ServeConfig, ModelConfigListWithPoliciesAndLabels) {
  // The shape of TF Serving's documented example, plus fields tandem does not use.
  auto path = write_temp(R"(
model_config_list {
  config {
    name: 'my_first_model'
    base_path: '/tmp/my_first_model/'
    model_platform: 'tensorflow'
    model_version_policy { specific { versions: 42 versions: 43 } }
    version_labels { key: 'stable' value: 42 }
    version_labels { key: 'canary' value: 43 }
  }
  config {
    name: "second"
    base_path: "/tmp/second"
    model_version_policy { all: {} }
  }
  config { name: "third" base_path: "/tmp/third" model_version_policy { latest { num_versions: 2 } } }
  config { name: "fourth" base_path: "/tmp/fourth" }
}
)");
  auto models = parse_model_config_file(path);
  std::remove(path.c_str());
  ASSERT_EQ(models.size(), 4u);
  EXPECT_EQ(models[0].name, "my_first_model");
  EXPECT_EQ(models[0].base_path, "/tmp/my_first_model/");
  EXPECT_EQ(models[0].policy.kind, VersionPolicy::Kind::Specific);
  EXPECT_EQ(models[0].policy.versions, (std::vector<int64_t>{42, 43}));
  EXPECT_EQ(models[0].labels.at("stable"), 42);
  EXPECT_EQ(models[0].labels.at("canary"), 43);
  EXPECT_EQ(models[1].policy.kind, VersionPolicy::Kind::All);
  EXPECT_EQ(models[2].policy.kind, VersionPolicy::Kind::Latest);
  EXPECT_EQ(models[2].policy.latest, 2);
  EXPECT_EQ(models[3].policy.kind, VersionPolicy::Kind::Latest);
  EXPECT_EQ(models[3].policy.latest, 1);
}

TEST(ServeConfig, BadConfigsNameTheProblem) {
  auto expect_error = [](const std::string& text, const std::string& words) {
    auto path = write_temp(text);
    try {
      parse_model_config_file(path);
      ADD_FAILURE() << "parsed: " << text;
    } catch (const tandem::Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
    std::remove(path.c_str());
  };
  expect_error("model_config_list { config { name: 'a' base_path: ", "line 1");
  expect_error("model_config_list { }", "no model_config_list");
  expect_error("model_config_list { config { name: 'a' } }", "base_path");
  expect_error("model_config_list { config { name: 'a' base_path: '/x' model_version_policy { specific { } } } }",
               "lists no versions");
  EXPECT_THROW(parse_model_config_file("/nonexistent/models.config"), tandem::Error);
}

TEST(ServeConfig, BatchingParameters) {
  auto path = write_temp(R"(
max_batch_size { value: 32 }
batch_timeout_micros { value: 500 }
num_batch_threads { value: 2 }
max_enqueued_batches { value: 100 }
allowed_batch_sizes: 8
allowed_batch_sizes: 32
pad_variable_length_inputs { value: true }
)");
  BatchingOptions o = parse_batching_parameters_file(path);
  std::remove(path.c_str());
  EXPECT_EQ(o.max_batch_size, 32);
  EXPECT_EQ(o.batch_timeout_micros, 500);
  EXPECT_EQ(o.num_batch_threads, 2);
  EXPECT_EQ(o.max_enqueued_batches, 100);
  EXPECT_EQ(o.allowed_batch_sizes, (std::vector<int64_t>{8, 32}));
  auto bad = write_temp("max_batch_size { value: 32 }\nallowed_batch_sizes: 8\nallowed_batch_sizes: 16\n");
  EXPECT_THROW(parse_batching_parameters_file(bad), tandem::Error);
  std::remove(bad.c_str());
}
