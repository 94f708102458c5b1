#include "index_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>

#include "loops.h"

namespace tandem::cpu {
namespace {

// Copy-only kernels work on the element's bytes: one instantiation per width.
template <typename F>
void by_width(size_t width, const char* op, F&& f) {
  switch (width) {
    case 1: return f(static_cast<uint8_t*>(nullptr));
    case 2: return f(static_cast<uint16_t*>(nullptr));
    case 4: return f(static_cast<uint32_t*>(nullptr));
    case 8: return f(static_cast<uint64_t*>(nullptr));
    default: TANDEM_FAIL("{}: unsupported element size {}", op, width);
  }
}

// Arithmetic kernels: the dtypes dispatch leaves to them (16-bit floats arrive as float32).
// Bool is handled as uint8 where the result is the same (ordering), as `or` in sums.
template <typename F>
void by_type(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f(static_cast<float*>(nullptr));
    case DType::Float64: return f(static_cast<double*>(nullptr));
    case DType::Int64: return f(static_cast<int64_t*>(nullptr));
    case DType::Int32: return f(static_cast<int32_t*>(nullptr));
    case DType::Int8: return f(static_cast<int8_t*>(nullptr));
    case DType::UInt8: return f(static_cast<uint8_t*>(nullptr));
    case DType::Bool: return f(static_cast<bool*>(nullptr));
    default: TANDEM_FAIL("{}: dtype {} is not supported", op, t);
  }
}
template <typename P> using elem_t = std::remove_pointer_t<P>;

// 0-dim tensors count as shape [1].
Shape sizes1(const Tensor& t) { return t.dim() ? t.shape() : Shape{1}; }
Shape strides1(const Tensor& t) { return t.dim() ? t.strides() : Shape{1}; }

int64_t prod(const Shape& s, size_t b, size_t e) {
  int64_t n = 1;
  for (size_t i = b; i < e; ++i) n *= s[i];
  return n;
}

// Element offsets of slice s along `dim` (the other dims in row-major order) for each of
// a few tensors of the same shape.
template <size_t N>
struct SliceWalker {
  Shape sizes;                      // the other dims
  std::array<Shape, N> strides;     // per tensor, the other dims
  SliceWalker(const Shape& shape, int64_t dim, std::array<Shape, N> st) {
    for (size_t d = 0; d < shape.size(); ++d) {
      if (static_cast<int64_t>(d) == dim) continue;
      sizes.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) strides[k].push_back(st[k][d]);
    }
  }
  std::array<int64_t, N> offsets(int64_t s) const {
    std::array<int64_t, N> off{};
    for (size_t d = sizes.size(); d-- > 0;) {
      int64_t i = s % sizes[d];
      s /= sizes[d];
      for (size_t k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
    return off;
  }
};

template <typename T> inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

}  // namespace

// ---- gather / scatter_add

void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out, BadIndex& bad) {
  if (index.numel() == 0) return;
  Shape xs = strides1(x);
  const int64_t n = sizes1(x)[dim], xsd = xs[dim];
  xs[dim] = 0;  // the index supplies the coordinate along dim
  StridedLoop<3> loop(sizes1(index), {strides1(out), strides1(index), xs});
  const int64_t* ip = static_cast<const int64_t*>(index.data_ptr());
  by_width(x.itemsize(), "gather", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    loop.run([&](std::array<int64_t, 3> off, int64_t m, std::array<int64_t, 3> st) {
      T* o = op + off[0];
      const int64_t* i = ip + off[1];
      const T* xb = xp + off[2];
      for (int64_t e = 0; e < m; ++e) {
        const int64_t v = i[e * st[1]];
        if (static_cast<uint64_t>(v) >= static_cast<uint64_t>(n)) [[unlikely]] {
          bad.report(v);
          continue;
        }
        o[e * st[0]] = xb[e * st[2] + v * xsd];
      }
    });
  });
}

void scatter_add(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& out,
                 BadIndex& bad) {
  if (index.numel() == 0) return;
  // NOTE: dim goes innermost so that all index entries that can hit the same output
  // element (same coordinates apart from dim) fall in one run: runs go to different
  // threads without conflicts. The out stride along dim is 0 in the loop, so dim never
  // merges with another dim.
  const Shape is = sizes1(index), ist = strides1(index), ost = strides1(out), sst = strides1(src);
  Shape shape, os, xs, ss;
  for (size_t d = 0; d <= is.size(); ++d) {
    size_t k = d < is.size() ? d : static_cast<size_t>(dim);
    if (d < is.size() && static_cast<int64_t>(d) == dim) continue;
    shape.push_back(is[k]);
    os.push_back(static_cast<int64_t>(k) == dim ? 0 : ost[k]);
    xs.push_back(ist[k]);
    ss.push_back(sst[k]);
  }
  const int64_t n = sizes1(out)[dim], osd = ost[dim];
  StridedLoop<3> loop(shape, {os, xs, ss});
  const int64_t* ip = static_cast<const int64_t*>(index.data_ptr());
  by_type(out.dtype(), "scatter_add", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    const T* sp = static_cast<const T*>(src.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    loop.run([&](std::array<int64_t, 3> off, int64_t m, std::array<int64_t, 3> st) {
      T* o = op + off[0];
      const int64_t* i = ip + off[1];
      const T* s = sp + off[2];
      for (int64_t e = 0; e < m; ++e) {
        const int64_t v = i[e * st[1]];
        if (static_cast<uint64_t>(v) >= static_cast<uint64_t>(n)) [[unlikely]] {
          bad.report(v);
          continue;
        }
        T& dst = o[e * st[0] + v * osd];
        if constexpr (std::is_same_v<T, bool>) dst = dst || s[e * st[2]];
        else dst = static_cast<T>(dst + s[e * st[2]]);
      }
    });
  });
}

// ---- index_select and its adjoint

void index_select(const Tensor& x, int64_t dim, const int64_t* idx, int64_t k, const Tensor& out) {
  const Shape s = sizes1(x);
  const int64_t outer = prod(s, 0, dim), n = s[dim], inner = prod(s, dim + 1, s.size());
  const int64_t rows = outer * k;
  if (rows == 0 || inner == 0) return;
  const int64_t grain = std::max<int64_t>(1, 32768 / inner);
  by_width(x.itemsize(), "index_select", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    parallel_for(rows, grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t o = r / k, j = r - o * k;
        const T* src = xp + (o * n + idx[j]) * inner;
        T* dst = op + r * inner;
        if (inner >= 16) std::memcpy(dst, src, inner * sizeof(T));
        else
          for (int64_t t = 0; t < inner; ++t) dst[t] = src[t];
      }
    });
  });
}

void index_add_rows(const Tensor& g, int64_t dim, const int64_t* idx, int64_t k, const Tensor& out) {
  std::memset(out.data_ptr(), 0, out.nbytes());
  const Shape s = sizes1(out);
  const int64_t outer = prod(s, 0, dim), n = s[dim], inner = prod(s, dim + 1, s.size());
  if (outer * k == 0 || inner == 0) return;
  // Tasks = (outer row, column chunk): each owns its output columns, so tasks never
  // write the same element however the indices repeat.
  const int64_t chunk = std::max<int64_t>(256, inner / 16);
  const int64_t chunks = (inner + chunk - 1) / chunk, tasks = outer * chunks;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, k * std::min(chunk, inner)));
  by_type(out.dtype(), "index_select_backward", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    if constexpr (std::is_floating_point_v<T>) {
      const T* gp = static_cast<const T*>(g.data_ptr());
      T* op = static_cast<T*>(out.data_ptr());
      parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t o = t / chunks, c0 = (t - o * chunks) * chunk;
          const int64_t c1 = std::min(inner, c0 + chunk);
          for (int64_t j = 0; j < k; ++j) {
            T* dst = op + (o * n + idx[j]) * inner;
            const T* src = gp + (o * k + j) * inner;
            for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
          }
        }
      });
    } else {
      TANDEM_FAIL("index_select_backward: expected a floating-point gradient, got {}", out.dtype());
    }
  });
}

// ---- masked_fill

void masked_fill(const Tensor& x, const Tensor& mask, const void* value, const Tensor& out) {
  if (out.numel() == 0) return;
  StridedLoop<3> loop(out.shape(), {out.strides(), broadcast_strides(x, out.shape()),
                                    broadcast_strides(mask, out.shape())});
  const uint8_t* mp = static_cast<const uint8_t*>(mask.data_ptr());
  by_width(out.itemsize(), "masked_fill", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    T v;
    std::memcpy(&v, value, sizeof(T));
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    loop.run([&](std::array<int64_t, 3> off, int64_t m, std::array<int64_t, 3> st) {
      T* o = op + off[0];
      const T* xs = xp + off[1];
      const uint8_t* ms = mp + off[2];
      if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
        for (int64_t e = 0; e < m; ++e) o[e] = ms[e] ? v : xs[e];  // vectorizes
        return;
      }
      for (int64_t e = 0; e < m; ++e) o[e * st[0]] = ms[e * st[2]] ? v : xs[e * st[1]];
    });
  });
}

// ---- padding

void pad_gather(const Tensor& x, const PadPlan& p, const void* fill, const Tensor& out) {
  if (out.numel() == 0) return;
  const size_t nd = p.out.size();
  const int64_t W = p.out[nd - 1], rows = out.numel() / W;
  const Shape xs = contiguous_strides(p.in);
  const auto& lm = p.maps.back();
  const int64_t L = p.left.back(), c0 = p.center0.back(), c1 = p.center1.back();
  const size_t first = static_cast<size_t>(p.first);
  by_width(x.itemsize(), "pad", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    T fv;
    std::memcpy(&fv, fill, sizeof(T));
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    auto edge = [&](T* dst, const T* src, int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) dst[o] = lm[o] < 0 ? fv : src[lm[o]];
    };
    parallel_for(rows, std::max<int64_t>(1, 32768 / W), [&](int64_t b, int64_t e) {
      // Output coordinates of row b in the dims before the last (an odometer from there).
      std::vector<int64_t> c(nd - 1);
      for (size_t d = nd - 1, r = b; d-- > 0;) {
        c[d] = static_cast<int64_t>(r) % p.out[d];
        r /= p.out[d];
      }
      for (int64_t r = b; r < e; ++r) {
        T* dst = op + r * W;
        int64_t src = 0;
        bool filled = false;
        for (size_t d = 0; d + 1 < nd; ++d) {
          const int64_t v = d < first ? c[d] : p.maps[d - first][c[d]];
          filled |= v < 0;
          src += v * xs[d];
        }
        if (filled) {
          std::fill(dst, dst + W, fv);
        } else {
          const T* s = xp + src;
          edge(dst, s, 0, c0);
          if (c1 > c0) std::memcpy(dst + c0, s + (c0 - L), (c1 - c0) * sizeof(T));
          edge(dst, s, std::max(c0, c1), W);
        }
        for (size_t d = nd - 1; d-- > 0;) {
          if (++c[d] < p.out[d]) break;
          c[d] = 0;
        }
      }
    });
  });
}

void pad_scatter_add(const Tensor& g, const PadPlan& p, const Tensor& out) {
  std::memset(out.data_ptr(), 0, out.nbytes());
  if (g.numel() == 0 || out.numel() == 0) return;
  const size_t nd = p.out.size(), first = static_cast<size_t>(p.first);
  const int64_t W = p.out[nd - 1];
  // NOTE: the leading unpadded dims split the work: each block of them owns its part of
  // the output, whatever the maps send where inside the block.
  const int64_t blocks = prod(p.out, 0, first);
  const int64_t block_rows = prod(p.out, first, nd - 1), in_block = prod(p.in, first, nd);
  const Shape xs = contiguous_strides(p.in);
  const auto& lm = p.maps.back();
  by_type(out.dtype(), "pad_backward", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    if constexpr (std::is_floating_point_v<T>) {
      const T* gp = static_cast<const T*>(g.data_ptr());
      T* op = static_cast<T*>(out.data_ptr());
      const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, block_rows * W));
      parallel_for(blocks, grain, [&](int64_t b, int64_t e) {
        std::vector<int64_t> c(nd - 1 - first);
        for (int64_t q = b; q < e; ++q) {
          const T* gq = gp + q * block_rows * W;
          T* oq = op + q * in_block;
          std::fill(c.begin(), c.end(), 0);
          for (int64_t r = 0; r < block_rows; ++r) {
            int64_t dst = 0;
            bool skip = false;
            for (size_t d = 0; d < c.size(); ++d) {
              const int64_t v = p.maps[d][c[d]];
              skip |= v < 0;
              dst += v * xs[first + d];
            }
            if (!skip) {
              const T* grow = gq + r * W;
              T* orow = oq + dst;
              for (int64_t o = 0; o < W; ++o)
                if (lm[o] >= 0) orow[lm[o]] += grow[o];
            }
            for (size_t d = c.size(); d-- > 0;) {
              if (++c[d] < p.out[first + d]) break;
              c[d] = 0;
            }
          }
        }
      });
    } else {
      TANDEM_FAIL("pad_backward: expected a floating-point gradient, got {}", out.dtype());
    }
  });
}

// ---- sort and top-k

namespace {

// Ascending with NaN above everything; ties broken by index, so std::sort gives the
// stable order and partial sorts agree with full ones.
template <typename T>
struct Ascending {
  bool operator()(const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b) const {
    const bool an = is_nan(a.first), bn = is_nan(b.first);
    if (an || bn) return an == bn ? a.second < b.second : bn;
    if (a.first != b.first) return a.first < b.first;
    return a.second < b.second;
  }
};
template <typename T>
struct Descending {
  bool operator()(const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b) const {
    const bool an = is_nan(a.first), bn = is_nan(b.first);
    if (an || bn) return an == bn ? a.second < b.second : an;
    if (a.first != b.first) return a.first > b.first;
    return a.second < b.second;
  }
};

// Runs fn(buffer, n) on every slice along dim, then writes the first `keep` entries of the
// buffer to values/indices.
template <typename T, typename F>
void for_slices(const Tensor& x, int64_t dim, int64_t keep, const Tensor& values,
                const Tensor& indices, F&& fn) {
  const Shape xs = sizes1(x);
  const int64_t n = xs[dim];
  if (n == 0 || keep == 0 || values.numel() == 0) return;
  const int64_t slices = x.numel() / n;
  const Shape vst = values.dim() ? values.strides() : Shape{1};
  SliceWalker<2> walk(xs, dim, {strides1(x), vst});
  const int64_t xsd = strides1(x)[dim], vsd = vst[dim];
  const T* xp = static_cast<const T*>(x.data_ptr());
  T* vp = static_cast<T*>(values.data_ptr());
  int64_t* ip = static_cast<int64_t*>(indices.data_ptr());
  const int64_t grain = std::max<int64_t>(1, 4096 / n);
  parallel_for(slices, grain, [&](int64_t b, int64_t e) {
    std::vector<std::pair<T, int64_t>> buf(n);
    for (int64_t s = b; s < e; ++s) {
      auto off = walk.offsets(s);
      const T* src = xp + off[0];
      for (int64_t j = 0; j < n; ++j) buf[j] = {src[j * xsd], j};
      fn(buf, n);
      for (int64_t j = 0; j < keep; ++j) {
        vp[off[1] + j * vsd] = buf[j].first;
        ip[off[1] + j * vsd] = buf[j].second;
      }
    }
  });
}

// Bool sorts like its 0/1 bytes.
template <typename F>
void by_sort_type(DType t, const char* op, F&& f) {
  if (t == DType::Bool) return f(static_cast<uint8_t*>(nullptr));
  by_type(t, op, f);
}

}  // namespace

void sort(const Tensor& x, int64_t dim, bool descending, const Tensor& values,
          const Tensor& indices) {
  const int64_t n = sizes1(x)[dim];
  by_sort_type(x.dtype(), "sort", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    for_slices<T>(x, dim, n, values, indices, [&](auto& buf, int64_t) {
      if (descending) std::sort(buf.begin(), buf.end(), Descending<T>());
      else std::sort(buf.begin(), buf.end(), Ascending<T>());
    });
  });
}

void topk(const Tensor& x, int64_t dim, int64_t k, bool largest, bool sorted, const Tensor& values,
          const Tensor& indices) {
  by_sort_type(x.dtype(), "topk", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    using E = std::pair<T, int64_t>;
    // NOTE: not stable: ties (and NaNs) come out in the order PyTorch 1.13's CPU topk gives,
    // by making the same selection (a heap for small k, else a partition and a sort of the
    // head) under the same order relation (NaN above every number, equal values unordered).
    auto above = [](const E& a, const E& b) {
      return (is_nan(a.first) && !is_nan(b.first)) || a.first > b.first;
    };
    auto below = [](const E& a, const E& b) {
      return (!is_nan(a.first) && is_nan(b.first)) || a.first < b.first;
    };
    auto select = [&](auto& buf, int64_t n, auto cmp) {
      if (k * 64 <= n) {
        std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), cmp);
      } else {
        std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.end(), cmp);
        if (sorted) std::sort(buf.begin(), buf.begin() + (k - 1), cmp);
      }
    };
    for_slices<T>(x, dim, k, values, indices, [&](auto& buf, int64_t n) {
      if (largest) select(buf, n, above);
      else select(buf, n, below);
    });
  });
}

}  // namespace tandem::cpu
