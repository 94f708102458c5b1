// The whole public API. See tensor.h for a first example, nn.h / optim.h / data.h for
// training, compile.h for graph mode, io.h for checkpoints and arrays.
#pragma once
#include "tandem/autograd.h"
#include "tandem/compile.h"
#include "tandem/data.h"
#include "tandem/dtype.h"
#include "tandem/einsum.h"
#include "tandem/error.h"
#include "tandem/generator.h"
#include "tandem/io.h"
#include "tandem/memory.h"
#include "tandem/models.h"
#include "tandem/nn.h"
#include "tandem/opdef.h"
#include "tandem/operators.h"
#include "tandem/ops.h"
#include "tandem/optim.h"
#include "tandem/sampling.h"
#include "tandem/state_dict.h"
#include "tandem/summary.h"
#include "tandem/tensor.h"
#include "tandem/train.h"
#include "tandem/vision_ops.h"
#if __has_include("tandem/onnx.h")
#include "tandem/onnx.h"
#endif
