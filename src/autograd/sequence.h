// Recording order of autograd nodes, for nodes made outside autograd::record (a checkpointed
// block's): the engine runs ready nodes latest-recorded first, so such a node takes its number
// from the same counter.
#pragma once
#include <cstdint>

namespace tandem::autograd {

uint64_t next_sequence_nr();

}  // namespace tandem::autograd
