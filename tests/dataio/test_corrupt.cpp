// Corrupted inputs: random byte flips and truncations of valid .npy/.npz/IDX/CSV files must
// give tandem::Error (or load, when the damage is harmless), never a crash or another
// exception type. Deterministic seeds; run under ASan to catch out-of-bounds reads.
#include <random>

#include "tandem/data.h"
#include "tandem/io/npy.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace tandem;
using tandem::testing::read_bytes;
using tandem::testing::TempDir;
using tandem::testing::write_bytes;

namespace {

std::string ref(const std::string& name) { return std::string(TANDEM_TEST_DATA_DIR) + "/dataio/" + name; }

// Applies `load` to `cases` damaged copies of `good`; counts the outcomes. Each case gets a
// new file: truncating and rewriting one file makes ext4 flush it to disk every time (slow).
void fuzz(const std::string& good, const std::string& stem,
          const std::function<void(const std::string&)>& load, uint64_t seed, int cases = 150) {
  std::mt19937_64 rng(seed);
  int errors = 0;
  for (int c = 0; c < cases; ++c) {
    std::string bad = good;
    switch (rng() % 3) {
      case 0:  // truncate
        bad.resize(rng() % bad.size());
        break;
      case 1:  // flip a few bytes
        for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k)
          bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
        break;
      default:  // overwrite a 4-byte field with an extreme value
        if (bad.size() > 4) {
          size_t at = rng() % (bad.size() - 4);
          const uint32_t v = (rng() % 2) ? 0xffffffffu : 0x7fffffffu;
          std::memcpy(bad.data() + at, &v, 4);
        }
    }
    const std::string path = stem + std::to_string(c);
    write_bytes(path, bad);
    try {
      load(path);
    } catch (const Error&) {
      ++errors;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "case " << c << ": non-tandem exception " << e.what();
    }
  }
  EXPECT_GT(errors, cases / 4) << "most damage should be detected";
}

}  // namespace

TEST(Corrupt, NpyNpzIdxCsvNeverCrash) {
  TempDir dir;
  fuzz(read_bytes(ref("f32_2x3x4_fortran.npy")), dir / "x.npy", [](auto& p) { io::load_npy(p); }, 1);
  fuzz(read_bytes(ref("stored.npz")), dir / "s.npz", [](auto& p) { io::load_npz(p); }, 2);
  fuzz(read_bytes(ref("compressed.npz")), dir / "c.npz", [](auto& p) { io::load_npz(p); }, 3);
  Tensor img = (rand({4, 28, 28}) * 255.0).to(kUInt8);
  data::write_idx(dir / "good.gz", img, true);
  fuzz(read_bytes(dir / "good.gz"), dir / "i.gz", [](auto& p) { data::read_idx(p); }, 4);
  data::write_idx(dir / "good.idx", img, false);
  fuzz(read_bytes(dir / "good.idx"), dir / "i.idx", [](auto& p) { data::read_idx(p); }, 5);
  const std::string csv = "a,b,\"c\"\n1,2,x\n3,\"4\",y\n";
  fuzz(csv, dir / "t.csv",
       [](auto& p) { data::read_csv(p, {.target = "c", .categorical = {"c"}}); }, 6, 100);
}
