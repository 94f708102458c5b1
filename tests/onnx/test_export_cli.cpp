// `tandem export`: trained weights in, an ONNX file out that the importer runs like the model.
#include <gtest/gtest.h>

#include <filesystem>

#include "tandem/generator.h"
#include "tandem/io/safetensors.h"
#include "tandem/models.h"
#include "test_export_util.h"

namespace tandem::onnx {
namespace {

// The tandem executable next to this test binary (build/<preset>/tools/tandem).
std::string cli_path() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" / "tandem").string();
}

TEST(OnnxExportCli, ExportsTrainedWeightsWithDynamicBatch) {
  std::string cli = cli_path();
  if (!std::filesystem::exists(cli)) GTEST_SKIP() << cli << " is not built (cmake --build --target tandem_cli)";
  std::string dir = exptest::fresh_dir("cli");
  manual_seed(5);
  auto m = models::create("mlp");  // fresh random weights: differ from what export would create
  io::save_safetensors(dir + "/w.safetensors", m->state_dict());
  std::string cmd = fmt::format("{} export --model mlp --weights {}/w.safetensors --out {}/mlp.onnx "
                                "--dynamic-batch --opset 15 > {}/out.txt 2>&1", cli, dir, dir, dir);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << exptest::read_file(dir + "/out.txt");
  EXPECT_NE(exptest::read_file(dir + "/out.txt").find("opset 15"), std::string::npos);
  Model im = Model::load(dir + "/mlp.onnx");
  EXPECT_EQ(im.info().opset, 15);
  Tensor x = randn({5, 1, 28, 28});
  Tensor want;
  {
    NoGradGuard ng;
    m->eval();
    want = m->forward(x);
  }
  EXPECT_ALL_CLOSE(im.run({{"input", x}}).at(0), want, 1e-5, 1e-4);

  // Bad arguments: a message, a non-zero exit, no file.
  cmd = fmt::format("{} export --model mlp --out {}/none.onnx > {}/err.txt 2>&1", cli, dir, dir);
  EXPECT_NE(std::system(cmd.c_str()), 0);
  EXPECT_NE(exptest::read_file(dir + "/err.txt").find("--weights"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/none.onnx"));
}

}  // namespace
}  // namespace tandem::onnx
