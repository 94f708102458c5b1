// The event file decoded independently: tests/reference/check_events.py parses the framing
// with its own CRC32C, the records with Python protobuf modules generated from proto/*.proto,
// and the PNGs with zlib, and compares with what this test logged.
#include <nlohmann/json.hpp>

#include "summary_test_util.h"
#include "tandem/summary.h"
#include "test_util.h"

namespace tandem::summary {
namespace {

TEST(PythonReader, DecodesEveryValueAsLogged) {
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 missing";
  testing::ScratchDir dir;
  nlohmann::json want = nlohmann::json::array();
  std::string path;
  {
    Writer w(dir.str());
    path = w.path();
    for (int64_t s = 0; s < 6; ++s) {
      double v = std::exp(-0.3 * s) + 0.01 * s;
      w.add_scalar("train/loss", v, s, 1.7e9 + s);
      want.push_back({{"kind", "scalar"}, {"tag", "train/loss"}, {"step", s},
                      {"value", static_cast<double>(static_cast<float>(v))},
                      {"wall_time", 1.7e9 + s}});
    }
    std::vector<double> vals = {-2.5, -0.1, 0.0, 0.3, 0.3, 7.0};
    w.add_histogram("fc.weight", tensor(vals), 6);
    double sum = 0;
    for (double v : vals) sum += v;
    want.push_back({{"kind", "histogram"}, {"tag", "fc.weight"}, {"step", 6}, {"num", 6.0},
                    {"sum", sum}, {"min", -2.5}, {"max", 7.0}});
    Tensor img = arange(2 * 3 * 4).reshape({2, 3, 4}).to(DType::UInt8);  // HWC, 4 channels
    w.add_image("sample", img, 7, "HWC");
    std::vector<int> px;
    for (int i = 0; i < 24; ++i) px.push_back(i);
    want.push_back({{"kind", "image"}, {"tag", "sample"}, {"step", 7}, {"width", 3},
                    {"height", 2}, {"channels", 4}, {"pixels", px}});
    w.add_text("config", "model: mlp\nlr: 0.1", 0);
    want.push_back({{"kind", "text"}, {"tag", "config"}, {"step", 0}, {"text", "model: mlp\nlr: 0.1"}});
    w.add_hparams({{"lr", 0.05}, {"optimizer", std::string("sgd")}, {"nesterov", false}},
                  {{"hparam/test_accuracy", 0.8125}}, 6);
    want.push_back({{"kind", "hparams"}, {"tag", "_hparams_/experiment"},
                    {"metrics", {"hparam/test_accuracy"}},
                    {"hparam_names", {"lr", "nesterov", "optimizer"}}});
    want.push_back({{"kind", "hparams"}, {"tag", "_hparams_/session_start_info"},
                    {"hparams", {{"lr", 0.05}, {"optimizer", "sgd"}, {"nesterov", false}}}});
    want.push_back({{"kind", "hparams"}, {"tag", "_hparams_/session_end_info"}, {"status", 1}});
    want.push_back({{"kind", "scalar"}, {"tag", "hparam/test_accuracy"}, {"step", 6},
                    {"value", 0.8125}});
  }
  testing::write_bytes(dir / "expect.json", nlohmann::json({{"records", want}}).dump());
  testing::PythonCheck r = testing::run_check_events(path, dir / "expect.json");
  if (r.rc == 77) GTEST_SKIP() << "python3-protobuf or protoc missing: " << r.output;
  EXPECT_EQ(r.rc, 0) << r.output;
  const std::string& out = r.output;
  EXPECT_NE(out.find("OK"), std::string::npos) << out;
}

}  // namespace
}  // namespace tandem::summary
