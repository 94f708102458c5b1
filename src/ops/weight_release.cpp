#include "weight_release.h"

namespace tandem::ops {

WeightReleaseHooks& weight_release_hooks() {
  static WeightReleaseHooks hooks;
  return hooks;
}

}  // namespace tandem::ops
