// tandem train: train a zoo model (tandem::train::fit) and write its run directory.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include <tandem/data/sql.h>
#include <tandem/io.h>
#include <tandem/models.h>
#include <tandem/train.h>
#if TANDEM_HAVE_MPI
#include <tandem/distributed/mpi.h>
#endif

#include "commands.h"

namespace tandem::cli {
namespace {

std::string as_text(const std::string& v) { return v; }
std::string as_text(int64_t v) { return std::to_string(v); }
std::string as_text(uint64_t v) { return std::to_string(v); }
void parse_text(const std::string& s, std::string& v) { v = s; }
void parse_text(const std::string& s, int64_t& v) { v = std::stoll(s); }
void parse_text(const std::string& s, uint64_t& v) { v = std::stoull(s); }

// --resume: the checkpoint records the recipe that must not change (model, optimizer,
// batch size, seed, schedule, augmentation, data, ...). Flags left out take the checkpoint's
// values; a flag given explicitly must agree with it.
void resume_with_recipe(const CLI::App& cmd, train::TrainOptions& o) {
  io::Checkpoint ck = io::load_checkpoint(o.resume);
  auto field = [&](const char* key, const char* flag, auto& value) {
    auto it = ck.extra.find(key);
    if (it == ck.extra.end()) return;
    if (cmd.count(flag) > 0) {
      // A database URL is recorded without its password.
      std::string given = as_text(value);
      if (std::string(key) == "data") given = data::redact_url(given);
      TANDEM_CHECK(given == it->second,
                   "train: {} {} contradicts the checkpoint {}, made with {} {}; leave {} out "
                   "to continue with the checkpoint's value (a different one would not "
                   "continue the same run)",
                   flag, given, o.resume, flag, it->second, flag);
      return;
    }
    try {
      parse_text(it->second, value);
    } catch (const std::exception&) {
      TANDEM_FAIL("train: checkpoint {} has an unreadable {} ('{}')", o.resume, key, it->second);
    }
  };
  field("model", "--model", o.model);
  field("data", "--data", o.data);
  field("table", "--table", o.table);
  field("test_table", "--test-table", o.test_table);
  field("optimizer", "--optimizer", o.optimizer);
  field("batch_size", "--batch-size", o.batch_size);
  field("seed", "--seed", o.seed);
  field("schedule", "--schedule", o.schedule);
  field("augment", "--augment", o.augment);
  field("train_limit", "--train-limit", o.train_limit);
  field("epochs", "--epochs", o.epochs);  // recorded when a schedule spans the epochs
  field("precision", "--precision", o.precision);  // recorded for bf16 runs
  // The optimizer state in the checkpoint holds these; a flag would be silently overridden.
  for (const char* flag : {"--lr", "--momentum", "--weight-decay"}) {
    TANDEM_CHECK(cmd.count(flag) == 0,
                 "train: {} has no effect with --resume: the checkpoint's optimizer state "
                 "sets it (and the schedule continues from there); leave {} out",
                 flag, flag);
  }
}

// Flags that would do nothing in this combination are errors, not silently ignored.
void check_flag_combinations(const CLI::App& cmd, const train::TrainOptions& o) {
  TANDEM_CHECK(cmd.count("--momentum") == 0 || o.optimizer == "sgd",
               "train: --momentum applies to --optimizer sgd only (this run uses {})",
               o.optimizer);
  TANDEM_CHECK(cmd.count("--histogram-every") == 0 || o.tensorboard,
               "train: --histogram-every writes TensorBoard histograms; it has no effect with "
               "--no-tensorboard");
}

}  // namespace

Run add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a model; writes RUN_DIR/{model,checkpoint}.safetensors and metrics.jsonl");
  auto o = std::make_shared<train::TrainOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--model,-m", o->model, "Model to train")
      ->check(CLI::IsMember(models::names()))
      ->capture_default_str();
  cmd->add_option("--data", o->data, "fashion-mnist, a directory of IDX files ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]), or a database URL (sqlite:///fmnist.db, postgresql://user@host/db) with tables written by `tandem data import`")
      ->capture_default_str();
  cmd->add_option("--table", o->table, "With a database URL: the training table (image, label)")
      ->capture_default_str();
  cmd->add_option("--test-table", o->test_table, "With a database URL: the test table")
      ->capture_default_str();
  cmd->add_option("--epochs,-e", o->epochs, "Epochs (the schedule spans them all)")
      ->check(positive())->capture_default_str();
  cmd->add_option("--batch-size,-b", o->batch_size, "Batch size")
      ->check(positive())->capture_default_str();
  cmd->add_option("--optimizer", o->optimizer, "Optimizer")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))->capture_default_str();
  cmd->add_option("--lr", o->lr, "Learning rate (peak lr for onecycle; default: sgd 0.01, adam/adamw 1e-3)")
      ->check(number_check(false, false));
  cmd->add_option("--momentum", o->momentum, "SGD momentum")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "Weight decay (default: 0; adamw 0.01)")
      ->check(number_check(false, true));
  cmd->add_option("--schedule", o->schedule, "Learning-rate schedule, stepped every batch")
      ->check(CLI::IsMember({"none", "cosine", "onecycle"}))->capture_default_str();
  cmd->add_option("--augment", o->augment, "Augmentation: random crop (padding 2), horizontal flip")
      ->check(CLI::IsMember({"none", "crop", "crop+flip"}))->capture_default_str();
  cmd->add_option("--threads,-t", o->threads, "Kernel threads (default: all cores)")
      ->check(positive());
  cmd->add_option("--workers", o->workers, "Data loader threads (default: 1 when augmenting, else 0)")
      ->check(number_check(true, true));
  cmd->add_option("--seed,-s", o->seed, "Random seed (init, data order, augmentation)")
      ->capture_default_str();
  cmd->add_option("--out,-o", o->out_dir, "Run directory (default: runs/<model>-<time>, linked from runs/latest; with --resume: the checkpoint's)");
  cmd->add_option("--resume", o->resume, "Continue from a checkpoint.safetensors with its recorded settings (flags given must agree; --epochs may grow with --schedule none)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--train-limit", o->train_limit, "Use only the first N training images")
      ->check(positive());
  cmd->add_option("--test-limit", o->test_limit, "Use only the first N test images")
      ->check(positive());
  cmd->add_option("--stop-after", o->stop_after_epoch, "Stop after this epoch as if interrupted (the schedule still spans --epochs)")
      ->check(positive());
  cmd->add_option("--checkpoint-every", o->checkpoint_every,
                  "Write RUN_DIR/checkpoint.safetensors every N optimizer steps instead of at each epoch's end (a mid-epoch checkpoint resumes exactly)")
      ->check(positive());
  cmd->add_flag("--no-progress", [o](int64_t) { o->progress = false; },
                "No progress bar (neither the redrawn bar on a terminal nor the quarter lines elsewhere)");
  cmd->add_flag("--no-tensorboard", [o](int64_t) { o->tensorboard = false; },
                "Do not write TensorBoard event files (RUN_DIR/events.out.tfevents.*)");
  cmd->add_option("--histogram-every", o->histogram_every,
                  "Steps between weight/gradient histograms (default: once per epoch)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--profile-steps", o->profile_steps,
                  "Profile the first N steps: RUN_DIR/trace.json (Perfetto) and a table of op times")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--compile", o->compile, "Run the training step in graph mode (tandem::compile)");
  cmd->add_option("--precision", o->precision,
                  "fp32, or bf16: mixed precision (matmul and convolution in bfloat16 with float32 "
                  "accumulation, float32 master weights; torch.autocast)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_flag("--json", *json, "Print one JSON object with the results as the last line");
  auto dist = std::make_shared<bool>(false);
  auto comm_timeout = std::make_shared<double>(300.0);
  cmd->add_flag("--distributed", *dist,
                "Data-parallel over the ranks of an MPI job (mpirun -np R tandem train ...): each "
                "rank takes 1/R of every --batch-size batch; rank 0 prints and writes the run");
  cmd->add_flag("--zero", o->zero, "With --distributed: ZeRO-1, optimizer state sharded over the ranks");
  cmd->add_option("--bucket-mb", o->bucket_cap_mb,
                  "With --distributed: gradient bucket size in MB (the first bucket: 1 MB)")
      ->capture_default_str()->check(number_check(false, false));
  cmd->add_option("--comm-timeout", *comm_timeout,
                  "With --distributed: seconds a collective may wait for the other ranks before "
                  "the run fails naming the missing rank")->capture_default_str();
  return [cmd, o, json, dist, comm_timeout] {
    if (!o->resume.empty()) resume_with_recipe(*cmd, *o);
    check_flag_combinations(*cmd, *o);
    TANDEM_CHECK(!o->zero || *dist, "train: --zero shards the optimizer over the ranks of a "
                 "--distributed run; add --distributed (under mpirun)");
    TANDEM_CHECK(*comm_timeout > 0, "train: --comm-timeout must be positive, got {}", *comm_timeout);
    if (*dist) {
#if TANDEM_HAVE_MPI
      o->process_group = distributed::init_mpi_process_group(
          {.timeout = std::chrono::milliseconds(static_cast<int64_t>(*comm_timeout * 1000))});
#else
      TANDEM_FAIL("train: --distributed needs MPI, and this tandem was built without it "
                  "(install libopenmpi-dev and openmpi-bin, then reconfigure)");
#endif
    }
    train::FitResult r;
    try {
      r = train::fit(*o);
    } catch (const std::exception& e) {
      if (!o->process_group || o->process_group->size() == 1) throw;
      // Say which process failed (the ranks share one terminal), then end the whole job: the
      // other ranks may be waiting in a collective this rank will never join.
      std::cerr << fmt::format("error: rank {} of {}: {}", o->process_group->rank(),
                               o->process_group->size(), e.what())
                << std::endl;
      o->process_group->abort(1);
    }
    if (*json && (!o->process_group || o->process_group->rank() == 0))
      std::cout << train::to_json(r, o->model) << std::endl;
    return 0;
  };
}

}  // namespace tandem::cli
