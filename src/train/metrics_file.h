// metrics.jsonl, one JSON object per finished epoch (internal to fit.cpp; fuzzed by
// fuzz/targets/fuzz_metrics_jsonl.cpp). A resumed run keeps the lines of the epochs it does
// not redo.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tandem::train {

// The lines of `text` to keep when a run resumes after epoch `last_kept_epoch`: objects with
// an integer "epoch" <= last_kept_epoch. Anything else (blank lines, lines that are not JSON,
// a non-integer or missing epoch, a line cut short by a killed write) is dropped, never an
// error: the file is rewritten from the checkpoint's point of view.
std::vector<std::string> metrics_lines_to_keep(const std::string& text, int64_t last_kept_epoch);

}  // namespace tandem::train
