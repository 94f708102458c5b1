// Losses, PyTorch 1.13 semantics, as compositions of tandem ops (so gradients, double
// backward and graph capture come from the ops they use; no loss OpDef of its own):
//
//   nll_loss       -(w[t] * logp[n, t]) per sample via gather / index_select, ignored
//                  samples masked to 0; mean = sum / sum of the kept samples' weights
//   cross_entropy  class indices: nll_loss(log_softmax(x, 1)) (+ label smoothing: the
//                  mean of -logp over classes, weighted, mixed in); class
//                  probabilities: -(logp * target * w) summed over the class dim
//   mse / l1 / smooth_l1          elementwise, broadcasting target
//   binary_cross_entropy_with_logits  (1 - t) x + (1 + (pw - 1) t) softplus(-x), stable
//
// The class dim is 1 (0 for an unbatched [C] input). Target values are checked on the
// host before any op reads them.
#include <cmath>

#include "../../core/read_hook.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace defs {

void register_loss() {}  // compositions only

}  // namespace defs

namespace {

Tensor reduce(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::None: return loss;
    case Reduction::Sum: return loss.sum();
    case Reduction::Mean: return loss.mean();
  }
  return loss;
}

void expect_floating(const Tensor& t, const char* op, const char* what) {
  TANDEM_CHECK(is_floating(t.dtype()), "{}: expected a floating-point {}, got dtype {} (shape {})", op,
               what, t.dtype(), shape_str(t.shape()));
}

// The class-index form, checked: input [N, C, d...] (or [C]) and target [N, d...] (or []).
// Unbatched inputs come back with a batch dim of 1.
struct ClassTarget {
  Tensor input, target;
  bool unbatched = false;
  int64_t classes = 0;
};

ClassTarget check_class_target(const Tensor& input, const Tensor& target, const Tensor& weight,
                               int64_t ignore_index, const char* op) {
  expect_floating(input, op, "input");
  TANDEM_CHECK(input.dim() >= 1, "{}: expected an input with 1 or more dimensions, got shape {}", op,
               shape_str(input.shape()));
  TANDEM_CHECK(target.dtype() == DType::Int64,
               "{}: expected int64 class indices as target, got dtype {} (target shape {}, input "
               "shape {})", op, target.dtype(), shape_str(target.shape()), shape_str(input.shape()));
  Shape want = input.shape();
  want.erase(want.begin() + (input.dim() == 1 ? 0 : 1));
  TANDEM_CHECK(target.shape() == want,
               "{}: expected a target of shape {} for an input of shape {} (classes along dim {}), "
               "got target shape {}", op, shape_str(want), shape_str(input.shape()),
               input.dim() == 1 ? 0 : 1, shape_str(target.shape()));
  ClassTarget c;
  c.unbatched = input.dim() == 1;
  c.input = c.unbatched ? input.unsqueeze(0) : input;
  c.target = c.unbatched ? target.unsqueeze(0) : target;
  c.classes = c.input.shape()[1];
  TANDEM_CHECK(!weight.defined() || (weight.dim() == 1 && weight.numel() == c.classes),
               "{}: weight tensor should be defined either for all {} classes or no classes but "
               "got weight tensor of shape: {}", op, c.classes, shape_str(weight.shape()));
  Tensor t = target.contiguous();
  detail::ValidationRead validation_only;  // a check, not a value the result depends on
  const int64_t* p = static_cast<const int64_t*>(t.data_ptr());
  for (int64_t i = 0; i < t.numel(); ++i)
    TANDEM_CHECK(p[i] == ignore_index || (p[i] >= 0 && p[i] < c.classes),
                 "{}: target {} is out of bounds for {} classes (input shape {}, target shape {}, "
                 "ignore_index {})", op, p[i], c.classes, shape_str(input.shape()),
                 shape_str(target.shape()), ignore_index);
  return c;
}

// Per-sample NLL terms: loss = -w[t] * logp[n, t] and the sample weights w[t], both 0
// where the target is ignore_index. Shapes: the target's.
struct NllTerms {
  Tensor loss, weight, ignored;
};

NllTerms nll_terms(const ClassTarget& c, const Tensor& weight, int64_t ignore_index) {
  NllTerms r;
  r.ignored = c.target == wrap_scalar(ignore_index);
  Tensor safe = masked_fill(c.target, r.ignored, 0.0);
  Tensor picked = gather(c.input, 1, safe.unsqueeze(1)).squeeze(1);
  if (weight.defined()) {
    r.weight = masked_fill(index_select(weight, 0, safe.flatten()).reshape(safe.shape()), r.ignored, 0.0);
    r.loss = masked_fill(-picked * r.weight, r.ignored, 0.0);
  } else {
    r.weight = logical_not(r.ignored).to(picked.dtype());  // counts the kept samples
    r.loss = masked_fill(-picked, r.ignored, 0.0);
  }
  return r;
}

// mean = sum of the losses / sum of the kept samples' weights (NaN when none is kept).
Tensor nll_reduce(const NllTerms& t, Reduction r, bool unbatched) {
  switch (r) {
    case Reduction::None: return unbatched ? t.loss.squeeze(0) : t.loss;
    case Reduction::Sum: return t.loss.sum();
    case Reduction::Mean: return t.loss.sum() / t.weight.sum();
  }
  return t.loss;
}

// The weight as a tensor that broadcasts along the class dim of `input`.
Tensor class_weight(const Tensor& weight, const Tensor& input) {
  Shape s(input.dim(), 1);
  s[input.dim() == 1 ? 0 : 1] = weight.numel();
  return weight.reshape(s);
}

Tensor cross_entropy_probs(const Tensor& input, const Tensor& target, const Tensor& weight,
                           Reduction reduction, double label_smoothing) {
  expect_floating(target, "cross_entropy", "target (class probabilities have the input's shape)");
  const int64_t cdim = input.dim() == 1 ? 0 : 1, classes = input.shape()[cdim];
  TANDEM_CHECK(!weight.defined() || (weight.dim() == 1 && weight.numel() == classes),
               "cross_entropy: weight tensor should be defined either for all {} classes or no "
               "classes but got weight tensor of shape: {}", classes, shape_str(weight.shape()));
  Tensor logp = log_softmax(input, cdim);
  Tensor t = label_smoothing > 0 ? target * (1.0 - label_smoothing) + label_smoothing / classes : target;
  Tensor terms = weight.defined() ? logp * t * class_weight(weight, input) : logp * t;
  switch (reduction) {
    case Reduction::None: return -terms.sum({cdim});
    case Reduction::Sum: return -terms.sum();
    case Reduction::Mean:
      // Divided by the number of samples (the weights do not normalize here, as PyTorch).
      return -terms.sum() / static_cast<double>(classes == 0 ? 0 : input.numel() / classes);
  }
  return terms;
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                int64_t ignore_index, Reduction reduction) {
  ClassTarget c = check_class_target(log_probs, target, weight, ignore_index, "nll_loss");
  return nll_reduce(nll_terms(c, weight, ignore_index), reduction, c.unbatched);
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                     int64_t ignore_index, Reduction reduction, double label_smoothing) {
  expect_floating(input, "cross_entropy", "input");
  TANDEM_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
               "cross_entropy: label_smoothing must be between 0.0 and 1.0, got {}", label_smoothing);
  TANDEM_CHECK(input.dim() >= 1, "cross_entropy: expected an input with 1 or more dimensions, got shape {}",
               shape_str(input.shape()));
  if (target.shape() == input.shape()) {
    TANDEM_CHECK(is_floating(target.dtype()),
                 "cross_entropy: a target of the input's shape {} holds class probabilities and must be "
                 "floating point, got dtype {}", shape_str(input.shape()), target.dtype());
    TANDEM_CHECK(ignore_index == -100, "cross_entropy: ignore_index is not supported for class-probability "
                 "targets (got ignore_index {})", ignore_index);
    return cross_entropy_probs(input, target, weight, reduction, label_smoothing);
  }
  ClassTarget c = check_class_target(input, target, weight, ignore_index, "cross_entropy");
  Tensor logp = log_softmax(c.input, 1);
  ClassTarget lc = c;
  lc.input = logp;
  NllTerms t = nll_terms(lc, weight, ignore_index);
  Tensor nll = nll_reduce(t, reduction, c.unbatched);
  if (label_smoothing == 0.0) return nll;
  // Label smoothing mixes in the (weighted) mean of -logp over the classes, normalized
  // like the NLL part for the mean.
  Tensor smooth = weight.defined() ? -(logp * class_weight(weight, logp)).sum({1}) : -logp.sum({1});
  smooth = masked_fill(smooth, t.ignored, 0.0);
  Tensor s;
  switch (reduction) {
    case Reduction::None: s = c.unbatched ? smooth.squeeze(0) : smooth; break;
    case Reduction::Sum: s = smooth.sum(); break;
    case Reduction::Mean: s = smooth.sum() / t.weight.sum(); break;
  }
  return (1.0 - label_smoothing) * nll + s * (label_smoothing / static_cast<double>(c.classes));
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  expect_floating(input, "mse_loss", "input");
  Tensor d = input - target;
  return reduce(d * d, reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  expect_floating(input, "l1_loss", "input");
  return reduce(abs(input - target), reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  expect_floating(input, "smooth_l1_loss", "input");
  TANDEM_CHECK(beta >= 0.0, "smooth_l1_loss: beta must be non-negative, got {}", beta);
  if (beta == 0.0) return l1_loss(input, target, reduction);
  Tensor z = abs(input - target);
  Tensor quad = z * z * (0.5 / beta);
  return reduce(where(z < wrap_scalar(beta), quad, z - 0.5 * beta), reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight, const Tensor& pos_weight,
                                        Reduction reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  expect_floating(input, op, "input");
  expect_floating(target, op, "target");
  TANDEM_CHECK(target.shape() == input.shape(), "{}: target size {} must be the same as input size {}", op,
               shape_str(target.shape()), shape_str(input.shape()));
  // NOTE: softplus(-x) = -log sigmoid(x) without overflow for large |x|, with the right
  // derivative (-sigmoid(-x)) everywhere, including x = 0.
  Tensor sp = softplus(-input);
  Tensor loss = (1.0 - target) * input;
  auto check_broadcast = [&](const Tensor& w, const char* what) {
    const Shape& in = input.shape();
    bool ok = w.dim() <= input.dim();
    for (int64_t i = 1; ok && i <= w.dim(); ++i) {
      const int64_t a = w.shape()[w.dim() - i];
      ok = a == 1 || a == in[in.size() - i];
    }
    TANDEM_CHECK(ok,
                 "{}: {} of shape {} must broadcast to the input's shape {}", op, what,
                 shape_str(w.shape()), shape_str(input.shape()));
  };
  if (pos_weight.defined()) {
    check_broadcast(pos_weight, "pos_weight");
    loss = loss + ((pos_weight - 1.0) * target + 1.0) * sp;
  } else {
    loss = loss + sp;
  }
  if (weight.defined()) {
    check_broadcast(weight, "weight");
    loss = loss * weight;
  }
  return reduce(loss, reduction);
}

}  // namespace tandem
