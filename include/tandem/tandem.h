// The whole public API. See tensor.h for a first example.
#pragma once
#include "tandem/autograd.h"
#include "tandem/dtype.h"
#include "tandem/error.h"
#include "tandem/generator.h"
#include "tandem/ops.h"
#include "tandem/opdef.h"
#include "tandem/state_dict.h"
#include "tandem/tensor.h"
