// einsum (torch.einsum): products of operands summed over the labels the output leaves out.
//
//   Tensor c = einsum("ij,jk->ik", {a, b});        // matmul
//   Tensor d = einsum("ii->i", {m});               // diagonal of a square matrix
//   Tensor t = einsum("...ii->...", {batch});      // traces over the last two dims
//
// Labels are letters; "..." stands for the dims no label names, broadcast across operands and
// kept (first, in the implicit form) in the output. A label repeated in one operand takes the
// diagonal over those dims (they must have one size). Without "->" the output is "..." and the
// labels that occur once, sorted. A composition of permute, reshape, index_select, mul and sum,
// so it is differentiable (to any order) and traced like any of those ops.
#pragma once
#include <string>
#include <vector>

#include "tandem/tensor.h"

namespace tandem {

Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands);

}  // namespace tandem
