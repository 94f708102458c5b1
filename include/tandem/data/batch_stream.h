// BatchStream: the optional fast path of an IterableDataset — whole batches, no tensor per
// example. The DataLoader reads a stream that also derives from BatchStream with next_batch
// when there is no transform and no custom collate (SqlDataset does); the batches are the ones
// next() and default_collate would give.
//
//   class Rows : public data::IterableDataset, public data::BatchStream { ... };
#pragma once
#include <cstdint>

#include "tandem/data/dataset.h"

namespace tandem::data {

class BatchStream {
 public:
  virtual ~BatchStream() = default;
  // The next examples (at most `max`; fewer only at the end of the stream; none: an undefined
  // data tensor), stacked as default_collate stacks them.
  virtual Batch next_batch(int64_t max) = 0;
};

}  // namespace tandem::data
