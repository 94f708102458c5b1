// Training checkpoints: everything saved comes back, the file is plain safetensors, and
// files that are not checkpoints are refused with a clear message.
#include "io_test_util.h"
#include "test_util.h"

namespace tandem::testing {
namespace {

io::Checkpoint sample_checkpoint() {
  Generator g(21);
  io::Checkpoint ck;
  ck.model = {{"0.weight", randn({4, 3}, {}, &g)}, {"0.bias", randn({4}, {}, &g)},
              {"1.running_mean", zeros({4}, {.dtype = kFloat64})},
              {"1.num_batches_tracked", scalar_tensor(17, {.dtype = kInt64})}};
  ck.optimizer.tensors = {{"state.0.exp_avg", randn({4, 3}, {}, &g)},
                          {"state.0.step", scalar_tensor(5, {.dtype = kInt64})}};
  ck.optimizer.metadata = {{"param_groups", R"([{"lr": 0.001, "betas": [0.9, 0.999]}])"},
                           {"type", "Adam"}};
  ck.scheduler.metadata = {{"last_epoch", "3"}, {"type", "StepLR"}};
  ck.scheduler.tensors = {{"base_lrs", tensor({0.1, 0.01}, {.dtype = kFloat64})}};
  Generator rng(99);
  for (int i = 0; i < 7; ++i) rng.next_normal();  // leaves a cached spare value in the state
  ck.rng_state = rng.get_state();
  ck.epoch = 3;
  ck.step = 1234567890123;
  ck.extra = {{"note", "line1\nline2\t\"quoted\" \\ h\xc3\xa9"}, {"empty", ""}};
  return ck;
}

void expect_same_tensors(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(same_tensor(b.at(name), t)) << name;
  }
}

TEST(Checkpoint, RoundTripsEverySection) {
  ScratchDir dir;
  const io::Checkpoint ck = sample_checkpoint();
  io::save_checkpoint(dir.file("ck.safetensors"), ck);
  const io::Checkpoint r = io::load_checkpoint(dir.file("ck.safetensors"));
  expect_same_tensors(ck.model, r.model);
  expect_same_tensors(ck.optimizer.tensors, r.optimizer.tensors);
  expect_same_tensors(ck.scheduler.tensors, r.scheduler.tensors);
  EXPECT_EQ(r.optimizer.metadata, ck.optimizer.metadata);
  EXPECT_EQ(r.scheduler.metadata, ck.scheduler.metadata);
  EXPECT_EQ(r.extra, ck.extra);
  EXPECT_EQ(r.rng_state, ck.rng_state);
  EXPECT_EQ(r.epoch, 3);
  EXPECT_EQ(r.step, 1234567890123);
}

TEST(Checkpoint, RestoredRngStateContinuesTheSameStream) {
  ScratchDir dir;
  Generator g(7);
  for (int i = 0; i < 3; ++i) g.next_normal();  // odd count: a spare normal is cached
  io::Checkpoint ck;
  ck.rng_state = g.get_state();
  io::save_checkpoint(dir.file("rng.safetensors"), ck);
  std::vector<double> expected;
  for (int i = 0; i < 5; ++i) expected.push_back(g.next_normal());
  Generator h(0);
  h.set_state(io::load_checkpoint(dir.file("rng.safetensors")).rng_state);
  std::vector<double> got;
  for (int i = 0; i < 5; ++i) got.push_back(h.next_normal());
  EXPECT_EQ(got, expected);
}

TEST(Checkpoint, GeneratorStateIsPlainTextSafeInJson) {
  // Stored as a JSON string: it must survive as is; it is digits and spaces today.
  Generator g(123);
  g.next_normal();
  const std::string s = g.get_state();
  EXPECT_TRUE(std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == ' '; }));
}

TEST(Checkpoint, IsAPlainSafetensorsFileWithPrefixedNames) {
  ScratchDir dir;
  io::save_checkpoint(dir.file("ck.safetensors"), sample_checkpoint());
  io::SafetensorsFile f = io::load_safetensors(dir.file("ck.safetensors"));
  EXPECT_TRUE(f.tensors.count("model.0.weight"));
  EXPECT_TRUE(f.tensors.count("optimizer.state.0.exp_avg"));
  EXPECT_TRUE(f.tensors.count("scheduler.base_lrs"));
  EXPECT_EQ(f.metadata.at("format"), "tandem.checkpoint.v1");
  EXPECT_EQ(f.metadata.at("epoch"), "3");
  EXPECT_EQ(f.metadata.at("step"), "1234567890123");
  EXPECT_EQ(f.metadata.at("optimizer.type"), "Adam");
  EXPECT_EQ(f.metadata.at("scheduler.last_epoch"), "3");
  EXPECT_EQ(f.metadata.at("extra.empty"), "");
}

TEST(Checkpoint, EmptyCheckpointRoundTrips) {
  ScratchDir dir;
  io::save_checkpoint(dir.file("e.safetensors"), io::Checkpoint{});
  io::Checkpoint r = io::load_checkpoint(dir.file("e.safetensors"));
  EXPECT_TRUE(r.model.empty() && r.optimizer.tensors.empty() && r.extra.empty());
  EXPECT_EQ(r.epoch, 0);
  EXPECT_EQ(r.step, 0);
}

TEST(Checkpoint, PlainWeightsFileIsNotACheckpoint) {
  ScratchDir dir;
  io::save_safetensors(dir.file("w.safetensors"), {{"weight", ones({2})}});
  EXPECT_TRUE(throws_error([&] { io::load_checkpoint(dir.file("w.safetensors")); },
                           {"w.safetensors", "not a tandem checkpoint", "load_safetensors"}));
  io::save_safetensors(dir.file("v2.safetensors"), {}, {{"format", "tandem.checkpoint.v2"}});
  EXPECT_TRUE(throws_error([&] { io::load_checkpoint(dir.file("v2.safetensors")); },
                           {"format 'tandem.checkpoint.v2'", "tandem.checkpoint.v1"}));
}

TEST(Checkpoint, RefusesMalformedCheckpointMetadataAndNames) {
  ScratchDir dir;
  const std::string p = dir.file("bad.safetensors");
  std::map<std::string, std::string> meta = {
      {"format", "tandem.checkpoint.v1"}, {"epoch", "1"}, {"step", "2"}, {"rng_state", ""}};
  auto with = [&](const std::string& k, const std::string& v) {
    auto m = meta;
    m[k] = v;
    return m;
  };
  io::save_safetensors(p, {}, with("epoch", "1x"));
  EXPECT_TRUE(throws_error([&] { io::load_checkpoint(p); }, {"'epoch' = '1x' is not an integer"}));
  io::save_safetensors(p, {}, with("step", ""));
  EXPECT_TRUE(throws_error([&] { io::load_checkpoint(p); }, {"'step' = '' is not an integer"}));
  auto no_rng = meta;
  no_rng.erase("rng_state");
  io::save_safetensors(p, {}, no_rng);
  EXPECT_TRUE(throws_error([&] { io::load_checkpoint(p); }, {"no 'rng_state'"}));
  io::save_safetensors(p, {}, with("other", "x"));
  EXPECT_TRUE(throws_error([&] { io::load_checkpoint(p); }, {"metadata 'other' belongs to no section"}));
  io::save_safetensors(p, {{"weights.w", ones({1})}}, meta);
  EXPECT_TRUE(throws_error([&] { io::load_checkpoint(p); }, {"tensor 'weights.w' belongs to no section"}));
  io::save_safetensors(p, {{"model.w", ones({1})}}, meta);
  EXPECT_EQ(io::load_checkpoint(p).model.count("w"), 1u);
}

TEST(Checkpoint, CorruptFileGivesTheLoadersError) {
  ScratchDir dir;
  io::save_checkpoint(dir.file("ck.safetensors"), sample_checkpoint());
  std::string bytes = read_bytes(dir.file("ck.safetensors"));
  write_bytes(dir.file("ck.safetensors"), bytes.substr(0, bytes.size() - 3));
  EXPECT_TRUE(throws_error([&] { io::load_checkpoint(dir.file("ck.safetensors")); },
                           {"ck.safetensors", "not a valid safetensors file"}));
}

}  // namespace
}  // namespace tandem::testing
