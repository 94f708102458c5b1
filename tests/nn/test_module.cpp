// nn::Module: registration and naming, state_dict round trip and load errors, to(dtype),
// train/eval, zero_grad, containers.
#include <gtest/gtest.h>

#include "tandem/nn.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

// A module with its own parameter, a buffer, a non-persistent buffer and two children.
struct Net : nn::Module {
  Tensor scale, steps, scratch;
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::Sequential> head;
  Net() : Module("Net") {
    scale = register_parameter("scale", ones({3}));
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 3));
    steps = register_buffer("steps", zeros({}, {.dtype = DType::Int64}));
    scratch = register_buffer("scratch", zeros({2}), /*persistent=*/false);
    head = register_module("head", std::make_shared<nn::Sequential>(
                                       std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(3, 2)));
  }
  Tensor forward(const Tensor& x) override { return (*head)((*fc1)(x) * scale); }
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> out;
  for (auto& [n, t] : v) out.push_back(n);
  return out;
}

}  // namespace

TEST(Module, NamedParametersAreDottedAndInRegistrationOrder) {
  auto net = std::make_shared<Net>();
  EXPECT_EQ(names_of(net->named_parameters()),
            (std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "head.1.weight", "head.1.bias"}));
  EXPECT_EQ(names_of(net->named_parameters(/*recurse=*/false)), (std::vector<std::string>{"scale"}));
  EXPECT_EQ(names_of(net->named_buffers()), (std::vector<std::string>{"steps", "scratch"}));
  EXPECT_EQ(net->parameters().size(), 5u);
  for (const Tensor& p : net->parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(Module, ChildrenAndNamedModules) {
  auto net = std::make_shared<Net>();
  auto ch = net->named_children();
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].first, "fc1");
  EXPECT_EQ(ch[1].first, "head");
  EXPECT_EQ(net->children()[0].get(), net->fc1.get());
  std::vector<std::string> names;
  for (auto& [n, m] : net->named_modules()) names.push_back(n + ":" + m->name());
  EXPECT_EQ(names, (std::vector<std::string>{":Net", "fc1:Linear", "head:Sequential", "head.0:ReLU",
                                             "head.1:Linear"}));
}

TEST(Module, RegisteringATakenOrDottedNameIsAnError) {
  struct Bad : nn::Module {
    void dup() {
      register_parameter("w", ones({1}));
      register_buffer("w", ones({1}));
    }
    void dotted() { register_parameter("a.b", ones({1})); }
  };
  Bad b;
  EXPECT_TRUE(throws_error([&] { b.dup(); }, {"\"w\"", "already registered"}));
  EXPECT_TRUE(throws_error([&] { b.dotted(); }, {"a.b", "'.'"}));
}

TEST(Module, SharedParametersAreListedOnce) {
  auto fc = std::make_shared<nn::Linear>(2, 2);
  nn::Sequential seq{fc, fc};
  EXPECT_EQ(names_of(seq.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias"}));
  EXPECT_EQ(seq.num_parameters(), 6);
  // state_dict keeps every name, as PyTorch's does.
  EXPECT_EQ(seq.state_dict().size(), 4u);
}

TEST(Module, StateDictHasParametersAndPersistentBuffersOnly) {
  auto net = std::make_shared<Net>();
  auto sd = net->state_dict();
  std::vector<std::string> keys;
  for (auto& [k, v] : sd) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"fc1.bias", "fc1.weight", "head.1.bias", "head.1.weight",
                                            "scale", "steps"}));
  EXPECT_FALSE(sd["fc1.weight"].requires_grad());
  EXPECT_TRUE(sd["fc1.weight"].shares_storage(net->fc1->weight));
}

TEST(Module, StateDictRoundTripRestoresOutputsInPlace) {
  manual_seed(1);
  auto a = std::make_shared<Net>();
  auto b = std::make_shared<Net>();
  Tensor x = randn({5, 4});
  std::map<std::string, Tensor> sd;
  for (auto& [k, v] : a->state_dict()) sd[k] = v.clone();
  Tensor w_handle = b->fc1->weight;  // held elsewhere (like an optimizer)
  EXPECT_FALSE(all_close((*b)(x), (*a)(x)));
  b->load_state_dict(sd);
  EXPECT_ALL_CLOSE((*b)(x), (*a)(x), 0.0, 0.0);
  EXPECT_ALL_CLOSE(w_handle, a->fc1->weight, 0.0, 0.0);
  EXPECT_TRUE(b->fc1->weight.requires_grad());
}

TEST(Module, LoadStateDictNamesMissingUnexpectedAndMisshapedKeys) {
  auto net = std::make_shared<Net>();
  auto sd = net->state_dict();
  auto missing = sd;
  missing.erase("fc1.bias");
  EXPECT_TRUE(throws_error([&] { net->load_state_dict(missing); }, {"missing keys: fc1.bias"}));
  auto unexpected = sd;
  unexpected["fc2.weight"] = zeros({1});
  EXPECT_TRUE(throws_error([&] { net->load_state_dict(unexpected); }, {"unexpected keys: fc2.weight"}));
  auto misshaped = sd;
  misshaped["fc1.weight"] = zeros({4, 3});
  EXPECT_TRUE(throws_error([&] { net->load_state_dict(misshaped); },
                           {"mis-shaped keys: fc1.weight", "[4, 3]", "[3, 4]"}));
}

TEST(Module, FailedLoadChangesNothing) {
  auto net = std::make_shared<Net>();
  Tensor before = net->fc1->weight.clone();
  std::map<std::string, Tensor> sd;
  for (auto& [k, v] : net->state_dict()) sd[k] = zeros_like(v);
  sd["head.1.weight"] = zeros({1, 1});
  EXPECT_THROW(net->load_state_dict(sd), Error);
  EXPECT_ALL_CLOSE(net->fc1->weight, before, 0.0, 0.0);
}

TEST(Module, NonStrictLoadSkipsMissingAndUnexpectedButNotMisshaped) {
  auto net = std::make_shared<Net>();
  std::map<std::string, Tensor> sd{{"fc1.bias", full({3}, 7.0)}, {"other", zeros({1})}};
  net->load_state_dict(sd, /*strict=*/false);
  EXPECT_ALL_CLOSE(net->fc1->bias, full({3}, 7.0), 0.0, 0.0);
  sd["fc1.weight"] = zeros({1});
  EXPECT_TRUE(throws_error([&] { net->load_state_dict(sd, false); }, {"mis-shaped keys: fc1.weight"}));
}

TEST(Module, ToDtypeConvertsInPlaceAndKeepsHandles) {
  auto net = std::make_shared<Net>();
  Tensor w = net->fc1->weight;  // a copy of the handle
  Tensor before = w.clone();
  (*net)(randn({2, 4})).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  net->to(DType::Float64);
  EXPECT_EQ(w.dtype(), DType::Float64);
  EXPECT_EQ(net->fc1->weight.dtype(), DType::Float64);
  EXPECT_EQ(w.grad().dtype(), DType::Float64);
  EXPECT_EQ(net->steps.dtype(), DType::Int64);  // integer buffers stay
  EXPECT_TRUE(w.requires_grad());
  EXPECT_ALL_CLOSE(w, before.to(DType::Float64), 0.0, 0.0);
  Tensor y = (*net)(randn({2, 4}, kF64));
  EXPECT_EQ(y.dtype(), DType::Float64);
  y.sum().backward();
  EXPECT_EQ(w.grad().dtype(), DType::Float64);
  EXPECT_TRUE(throws_error([&] { net->to(DType::Int32); }, {"floating-point"}));
}

TEST(Module, LoadingItsOwnStateDictIsANoOp) {
  auto net = std::make_shared<Net>();
  Tensor before = net->fc1->weight.clone();
  net->load_state_dict(net->state_dict());
  EXPECT_ALL_CLOSE(net->fc1->weight, before, 0.0, 0.0);
}

TEST(Module, LoadStateDictConvertsDtype) {
  auto fc = std::make_shared<nn::Linear>(3, 2);
  fc->to(DType::Float64);
  std::map<std::string, Tensor> sd{{"weight", full({2, 3}, 0.25)}, {"bias", full({2}, -1.5)}};  // float32
  fc->load_state_dict(sd);
  EXPECT_EQ(fc->weight.dtype(), DType::Float64);
  EXPECT_ALL_CLOSE(fc->weight, full({2, 3}, 0.25, kF64), 0.0, 0.0);
  EXPECT_ALL_CLOSE(fc->bias, full({2}, -1.5, kF64), 0.0, 0.0);
}

TEST(Module, TrainEvalRecursesIntoChildren) {
  auto net = std::make_shared<Net>();
  EXPECT_TRUE(net->is_training());
  net->eval();
  for (auto& [n, m] : net->named_modules()) EXPECT_FALSE(m->is_training()) << n;
  net->train();
  for (auto& [n, m] : net->named_modules()) EXPECT_TRUE(m->is_training()) << n;
}

TEST(Module, ZeroGradDropsOrZeroes) {
  auto net = std::make_shared<Net>();
  (*net)(randn({2, 4})).sum().backward();
  net->zero_grad(/*set_to_none=*/false);
  for (const Tensor& p : net->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().abs().sum().item(), 0.0);
  }
  net->zero_grad();
  for (const Tensor& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, ApplyVisitsChildrenFirst) {
  auto net = std::make_shared<Net>();
  std::vector<std::string> order;
  net->apply([&](nn::Module& m) {
    order.push_back(m.name());
    if (auto* fc = dynamic_cast<nn::Linear*>(&m)) nn::init::zeros_(fc->weight);
  });
  EXPECT_EQ(order, (std::vector<std::string>{"Linear", "ReLU", "Linear", "Sequential", "Net"}));
  EXPECT_EQ(net->fc1->weight.abs().sum().item(), 0.0);
  EXPECT_EQ(net->head->at<nn::Linear>(1)->weight.abs().sum().item(), 0.0);
}

TEST(Module, NumParameters) {
  auto net = std::make_shared<Net>();
  EXPECT_EQ(net->num_parameters(), 3 + 4 * 3 + 3 + 3 * 2 + 2);
  net->fc1->weight.requires_grad_(false);
  EXPECT_EQ(net->num_parameters(/*trainable_only=*/true), 3 + 3 + 3 * 2 + 2);
}

TEST(Module, ForwardOfABaseModuleIsAnError) {
  nn::ModuleList list{std::make_shared<nn::ReLU>()};
  EXPECT_TRUE(throws_error([&] { list.forward(ones({1})); }, {"ModuleList", "forward"}));
}

TEST(Module, ForwardHooksSeeInputAndOutput) {
  auto fc = std::make_shared<nn::Linear>(3, 2);
  Shape seen;
  int64_t id = fc->register_forward_hook([&](nn::Module& m, const Tensor& in, const Tensor& out) {
    EXPECT_EQ(&m, fc.get());
    EXPECT_EQ(in.shape(), (Shape{4, 3}));
    seen = out.shape();
  });
  (*fc)(ones({4, 3}));
  EXPECT_EQ(seen, (Shape{4, 2}));
  fc->remove_forward_hook(id);
  seen.clear();
  (*fc)(ones({4, 3}));
  EXPECT_TRUE(seen.empty());
}

TEST(Containers, SequentialChainsAndIndexes) {
  manual_seed(3);
  auto l1 = std::make_shared<nn::Linear>(3, 4);
  auto l2 = std::make_shared<nn::Linear>(4, 2);
  auto seq = std::make_shared<nn::Sequential>(l1, std::make_shared<nn::Tanh>(), l2);
  Tensor x = randn({5, 3});
  EXPECT_ALL_CLOSE((*seq)(x), l2->forward(tanh(l1->forward(x))), 0.0, 0.0);
  EXPECT_EQ(seq->size(), 3u);
  EXPECT_EQ((*seq)[-1].get(), l2.get());
  EXPECT_EQ(seq->at<nn::Linear>(0).get(), l1.get());
  EXPECT_TRUE(throws_error([&] { seq->at<nn::Linear>(1); }, {"Tanh"}));
  EXPECT_TRUE(throws_error([&] { (*seq)[3]; }, {"index 3", "out of range"}));
  nn::Sequential named({{"enc", l1}, {"act", std::make_shared<nn::ReLU>()}});
  EXPECT_EQ(names_of(named.named_parameters()), (std::vector<std::string>{"enc.weight", "enc.bias"}));
}

TEST(Containers, ModuleListAndModuleDict) {
  nn::ModuleList list;
  list.push_back(std::make_shared<nn::Linear>(2, 2));
  list.extend({std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(2, 1, false)});
  EXPECT_EQ(names_of(list.named_parameters()),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight"}));
  int n = 0;
  for (auto& m : list) n += m != nullptr;
  EXPECT_EQ(n, 3);

  nn::ModuleDict dict({{"a", std::make_shared<nn::Linear>(2, 3)}, {"b", std::make_shared<nn::ReLU>()}});
  EXPECT_TRUE(dict.contains("a"));
  EXPECT_FALSE(dict.contains("c"));
  EXPECT_EQ(dict.keys(), (std::vector<std::string>{"a", "b"}));
  dict.insert("a", std::make_shared<nn::Linear>(2, 5));  // replaces, keeps the order
  EXPECT_EQ(dict.at<nn::Linear>("a")->out_features, 5);
  EXPECT_EQ(dict.size(), 2u);
  EXPECT_TRUE(throws_error([&] { dict["zz"]; }, {"zz"}));
}

TEST(Module, ReprNestsChildren) {
  nn::Sequential seq{std::make_shared<nn::Linear>(2, 3), std::make_shared<nn::ReLU>()};
  EXPECT_EQ(seq.repr(),
            "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)");
}
