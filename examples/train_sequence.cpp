// A sequence classifier on the Trainer: token sequences through an embedding and an LSTM,
// the class read from the last hidden state. The task is synthetic: which of the tokens 1, 2
// and 3 occurs most often in a sequence of 16 tokens from a vocabulary of 10 (ties go to
// the smaller token), so the model has to count along the sequence.
//
//   ./build/release/examples/example_train_sequence [EPOCHS]
#include <tandem/data.h>
#include <tandem/nn.h>
#include <tandem/optim.h>
#include <tandem/tandem.h>
#include <tandem/train.h>

#include <iostream>
#include <tandem/omp_wait.h>

// Idle OpenMP threads sleep instead of spinning (tandem/omp_wait.h): robust on shared cores.
TANDEM_OMP_PASSIVE_WAIT();

using namespace tandem;

constexpr int64_t kVocab = 10, kLength = 16;

std::shared_ptr<data::TensorDataset> make_sequences(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<int64_t> tokens(static_cast<size_t>(n * kLength)), labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t count[4] = {0, 0, 0, 0};
    for (int64_t t = 0; t < kLength; ++t) {
      int64_t tok = static_cast<int64_t>(gen.next_u64() % kVocab);
      tokens[i * kLength + t] = tok;
      if (tok >= 1 && tok <= 3) ++count[tok];
    }
    int64_t best = 1;
    for (int64_t k = 2; k <= 3; ++k)
      if (count[k] > count[best]) best = k;
    labels[i] = best - 1;
  }
  return std::make_shared<data::TensorDataset>(tensor(tokens, Shape{n, kLength}), tensor(labels));
}

struct SequenceClassifier : nn::Module {
  std::shared_ptr<nn::Embedding> embed;
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> head;
  SequenceClassifier() : Module("SequenceClassifier") {
    embed = register_module("embed", std::make_shared<nn::Embedding>(kVocab, 16));
    lstm = register_module("lstm", std::make_shared<nn::LSTM>(16, 48, nn::RNNOptions{.batch_first = true}));
    head = register_module("head", std::make_shared<nn::Linear>(48, 3));
  }
  Tensor forward(const Tensor& tokens) override {
    Tensor h = lstm->forward((*embed)(tokens));    // [N, L, 48]
    return (*head)(h.select(1, h.size(1) - 1));    // the state after the last token
  }
};

int main(int argc, char** argv) try {
  int64_t epochs = argc > 1 ? std::stoll(argv[1]) : 12;
  manual_seed(0);
  train::TrainModule m;
  m.model = std::make_shared<SequenceClassifier>();
  m.loss = [](const Tensor& logits, const Tensor& y) { return cross_entropy(logits, y); };
  m.optimizer = [](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 1e-2});
  };
  m.metrics = {train::accuracy(), train::f1_score(3)};

  train::Trainer trainer({.max_epochs = epochs, .gradient_clip_norm = 1.0, .seed = 0,
                          .batch_size = 64, .log_dir = "runs/train_sequence", .progress_bar = false});
  trainer.add_callback(std::make_shared<train::ProgressCallback>(train::ProgressOptions{.show_bar = false}));
  train::TrainResult r = trainer.fit(m, make_sequences(2000, 1), make_sequences(500, 2));
  std::cout << "validation accuracy " << 100 * r.history.back().at("val_accuracy")
            << "% (chance: about 33%)\n";
  return 0;
} catch (const Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
