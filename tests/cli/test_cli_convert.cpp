// `tandem convert` as a user runs it: a zoo model with saved weights becomes a .tlite file that
// tandem-lite runs with the model's own outputs (within 1e-4 of their scale); an ONNX file too;
// missing arguments end with a message and a non-zero status.
#include <filesystem>

#include "cli_test_util.h"
#include "tandem/generator.h"
#include "tandem/io/safetensors.h"
#include "tandem/models.h"
#include "tandem/ops.h"
#include "tandem_lite.hpp"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing::cli;
namespace fs = std::filesystem;

namespace {

TEST(CliConvert, ZooModelWithWeightsRunsInTandemLite) {
  std::string root = tandem::testing::fresh_temp_dir("cli_convert");
  manual_seed(11);
  auto model = models::create("cnn");
  model->eval();
  io::save_safetensors(root + "/model.safetensors", model->state_dict());
  CliResult r = run_tandem(root, "convert --model cnn --weights " + quote(root + "/model.safetensors") + " " +
                                     quote(root + "/cnn.tlite"));
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_NE(r.out.find("lite ops: "), std::string::npos) << r.out;
  Tensor x = randn({3, 1, 28, 28});
  Tensor want = (*model)(x).contiguous();
  tl::Model lite(root + "/cnn.tlite");
  tl::Context ctx(lite);
  ctx.set_input(0, {3, 1, 28, 28}, x.data<float>());
  ctx.run();
  tl::Output y = ctx.output(0);
  ASSERT_EQ(y.shape, (std::vector<int64_t>{3, 10}));
  const float* w = want.data<float>();
  double scale = 0, err = 0;
  for (int i = 0; i < 30; ++i) scale = std::max(scale, double(std::fabs(w[i])));
  for (int i = 0; i < 30; ++i) err = std::max(err, double(std::fabs(y.data[i] - w[i])));
  EXPECT_LE(err / scale, 1e-4);
}

TEST(CliConvert, ListsOpsAndRefusesBadArguments) {
  std::string root = tandem::testing::fresh_temp_dir("cli_convert_bad");
  CliResult r = run_tandem(root, "convert --list-ops");
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_NE(r.out.find("conv2d_act"), std::string::npos);
  EXPECT_TRUE(fails_with(run_tandem(root, "convert only_one.onnx"), "give the model and the output file"));
  EXPECT_TRUE(fails_with(run_tandem(root, "convert --model cnn out.tlite"), "--weights"));
  EXPECT_TRUE(fails_with(run_tandem(root, "convert " + quote(root + "/missing.onnx") + " out.tlite"), "missing.onnx"));
  EXPECT_FALSE(fs::exists(root + "/out.tlite"));
}

}  // namespace
