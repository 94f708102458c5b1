// What a resumed run keeps of metrics.jsonl: lines of epochs up to the checkpoint's, and no
// exception for a line it cannot use (a hand-edited epoch used to throw a json type_error
// out of the resume; found by fuzz/targets/fuzz_metrics_jsonl.cpp).
#include <gtest/gtest.h>

#include "../../src/train/metrics_file.h"

using tandem::train::metrics_lines_to_keep;

TEST(MetricsFile, KeepsTheEpochsUpToTheCheckpoint) {
  const std::string text =
      "{\"epoch\":0,\"train_loss\":1.5}\n{\"epoch\":1,\"train_loss\":0.9}\n{\"epoch\":2}\n";
  EXPECT_EQ(metrics_lines_to_keep(text, 1),
            (std::vector<std::string>{"{\"epoch\":0,\"train_loss\":1.5}", "{\"epoch\":1,\"train_loss\":0.9}"}));
  EXPECT_TRUE(metrics_lines_to_keep(text, -1).empty());
  EXPECT_EQ(metrics_lines_to_keep(text, 5).size(), 3u);
}

TEST(MetricsFile, DropsLinesWithoutAnIntegerEpochInsteadOfThrowing) {
  const std::string text =
      "\n{\"epoch\":\"1\"}\n[1,2]\n{\"epoch\":1.5}\n{\"epoch\":{}}\n{\"step\":3}\n"
      "{\"epoch\":-3}\n{\"epoch\":0}\n{\"epo";
  EXPECT_EQ(metrics_lines_to_keep(text, 0), (std::vector<std::string>{"{\"epoch\":-3}", "{\"epoch\":0}"}));
}
