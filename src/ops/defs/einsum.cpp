// einsum as a composition of other ops (so its gradient, export and tracing come from them):
// parse the equation, give "..." dims labels of their own, take the diagonal of each label
// repeated in one operand, line every operand up on one label order (output labels first),
// multiply with broadcasting and sum the contracted labels.
#include <algorithm>
#include <map>
#include <set>

#include "tandem/einsum.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

// The dims "..." stands for get labels from here on ('A' + k: not a lowercase letter).
constexpr char kEinsumEllLabel = 'A';

std::vector<std::string> einsum_split(const std::string& lhs) {
  std::vector<std::string> terms;
  size_t start = 0;
  while (true) {
    size_t p = lhs.find(',', start);
    terms.push_back(lhs.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return terms;
    start = p + 1;
  }
}

// x's dims a and b (a < b, one size n) -> one dim, at the end, holding x[..., i, ..., i, ...].
Tensor einsum_diagonal(const Tensor& x, int64_t a, int64_t b) {
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != a && d != b) perm.push_back(d);
  perm.push_back(a);
  perm.push_back(b);
  const int64_t n = x.size(a);
  Shape s;
  for (size_t k = 0; k + 2 < perm.size(); ++k) s.push_back(x.size(perm[k]));
  s.push_back(n * n);
  Tensor flat = reshape(permute(x, perm), s);
  Tensor idx = arange(0.0, static_cast<double>(n * n), static_cast<double>(n + 1));
  return index_select(flat, static_cast<int64_t>(s.size()) - 1, idx);
}

}  // namespace

Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands) {
  std::string eq = equation;
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  std::string lhs = eq, rhs;
  const auto arrow = eq.find("->");
  const bool has_arrow = arrow != std::string::npos;
  if (has_arrow) {
    lhs = eq.substr(0, arrow);
    rhs = eq.substr(arrow + 2);
  }
  std::vector<std::string> terms = einsum_split(lhs);
  TANDEM_CHECK(terms.size() == operands.size(), "einsum: equation '{}' has {} operands, got {} tensors",
               equation, terms.size(), operands.size());
  auto check_labels = [&](const std::string& t, const char* what) {
    std::string rest = t;
    if (auto p = rest.find("..."); p != std::string::npos) rest.erase(p, 3);
    TANDEM_CHECK(rest.find('.') == std::string::npos,
                 "einsum: {} '{}' of '{}' has a '.' outside its one '...'", what, t, equation);
    for (char ch : rest)
      TANDEM_CHECK((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'),
                   "einsum: '{}' in {} '{}' of '{}' is not a letter (labels are letters, '...' "
                   "the unnamed dims)", ch, what, t, equation);
  };
  for (const auto& t : terms) check_labels(t, "operand");
  if (has_arrow) check_labels(rhs, "output");

  // Letters are remapped to 'a'.. so that the "..." labels cannot collide with them.
  std::map<char, char> relabel;
  auto letter = [&](char ch) {
    auto it = relabel.find(ch);
    if (it != relabel.end()) return it->second;
    char to = static_cast<char>('a' + relabel.size());
    TANDEM_CHECK(relabel.size() < 26, "einsum: '{}' uses more than 26 distinct labels", equation);
    return relabel[ch] = to;
  };
  // Ellipsis dims get labels aligned from the right (they broadcast as trailing dims do).
  int64_t ell = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const bool has_ell = terms[i].find("...") != std::string::npos;
    const int64_t named = static_cast<int64_t>(terms[i].size()) - (has_ell ? 3 : 0);
    const int64_t rank = operands[i].dim();
    TANDEM_CHECK(has_ell ? rank >= named : rank == named,
                 "einsum: operand {} has {} dims, its subscripts '{}' in '{}' name {}", i, rank,
                 terms[i], equation, named);
    if (has_ell) ell = std::max(ell, rank - named);
  }
  TANDEM_CHECK(ell <= 26, "einsum: '...' stands for {} dims, at most 26 are supported", ell);
  auto expand = [&](const std::string& t, int64_t n) {
    std::string out;
    for (size_t k = 0; k < t.size(); ++k) {
      if (t.compare(k, 3, "...") == 0) {
        for (int64_t e = ell - n; e < ell; ++e) out += static_cast<char>(kEinsumEllLabel + e);
        k += 2;
      } else {
        out += letter(t[k]);
      }
    }
    return out;
  };
  std::vector<Tensor> xs = operands;
  for (size_t i = 0; i < terms.size(); ++i) {
    const bool has_ell = terms[i].find("...") != std::string::npos;
    terms[i] = expand(terms[i], has_ell ? xs[i].dim() - static_cast<int64_t>(terms[i].size() - 3) : 0);
  }
  std::string all;
  for (const auto& t : terms)
    for (char ch : t)
      if (all.find(ch) == std::string::npos) all += ch;
  std::string out;
  if (has_arrow) {
    out = expand(rhs, ell);
    TANDEM_CHECK(std::set<char>(out.begin(), out.end()).size() == out.size(),
                 "einsum: output '{}' of '{}' repeats a label", rhs, equation);
    for (char ch : out)
      TANDEM_CHECK(all.find(ch) != std::string::npos,
                   "einsum: an output label of '{}' appears in no operand", equation);
  } else {
    // Implicit output: the "..." dims, then the labels that occur once (a label repeated
    // within one operand counts twice), in alphabetical order of the letters as written.
    std::map<char, char> back;
    for (auto [from, to] : relabel) back[to] = from;
    std::string e, l;
    for (char ch : all) {
      int count = 0;
      for (const auto& t : terms) count += static_cast<int>(std::count(t.begin(), t.end(), ch));
      if (ch < 'a') e += ch;
      else if (count == 1) l += ch;
    }
    std::sort(l.begin(), l.end(), [&](char x, char y) { return back[x] < back[y]; });
    std::sort(e.begin(), e.end());
    out = e + l;
  }
  for (size_t i = 0; i < terms.size(); ++i) {
    // A label repeated in one operand: the diagonal over its dims, as one dim at the end.
    for (size_t a = 0; a < terms[i].size();) {
      const size_t b = terms[i].find(terms[i][a], a + 1);
      if (b == std::string::npos) {
        ++a;
        continue;
      }
      const int64_t na = xs[i].size(static_cast<int64_t>(a)), nb = xs[i].size(static_cast<int64_t>(b));
      TANDEM_CHECK(na == nb, "einsum: a label repeats in operand {} of '{}' over dims of sizes {} and {} "
                   "(a diagonal needs equal sizes)", i, equation, na, nb);
      xs[i] = einsum_diagonal(xs[i], static_cast<int64_t>(a), static_cast<int64_t>(b));
      const char ch = terms[i][a];
      std::string t = terms[i];
      t.erase(b, 1);
      t.erase(a, 1);
      terms[i] = t + ch;
      a = 0;
    }
  }
  // Output labels first, then the contracted ones.
  std::string order = out;
  for (char ch : all)
    if (order.find(ch) == std::string::npos) order += ch;
  Tensor acc;
  for (size_t i = 0; i < terms.size(); ++i) {
    const std::string& t = terms[i];
    std::vector<int64_t> perm;
    Shape shape;
    for (char ch : order) {
      auto p = t.find(ch);
      if (p != std::string::npos) {
        perm.push_back(static_cast<int64_t>(p));
        shape.push_back(xs[i].size(static_cast<int64_t>(p)));
      } else {
        shape.push_back(1);
      }
    }
    Tensor x = reshape(permute(xs[i], perm), shape);
    acc = acc.defined() ? mul(acc, x) : x;
  }
  std::vector<int64_t> red;
  for (size_t d = out.size(); d < order.size(); ++d) red.push_back(static_cast<int64_t>(d));
  if (!red.empty()) {
    const DType dt = acc.dtype();
    acc = sum(acc, red, false);
    if (acc.dtype() != dt) acc = acc.to(dt);  // integer sums widen to int64; einsum keeps the type
  }
  return acc;
}

}  // namespace tandem
