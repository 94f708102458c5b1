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
    case DType::Int16: return f(static_cast<int16_t*>(nullptr));
    case DType::UInt16: return f(static_cast<uint16_t*>(nullptr));
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

// memset(0) split across threads (big outputs of the accumulating kernels).
void zero(const Tensor& t) {
  char* p = static_cast<char*>(t.data_ptr());
  parallel_for(static_cast<int64_t>(t.nbytes()), 1 << 18, [&](int64_t b, int64_t e) {
    std::memset(p + b, 0, static_cast<size_t>(e - b));
  });
}

// loop.run, but a single run (a contiguous tensor) is split across threads too. Only for
// kernels whose elements are independent within a run.
template <size_t N, typename F>
void run_split(const StridedLoop<N>& loop, F&& fn) {
  const int64_t n = loop.inner();
  if (loop.outer() != 1 || n < 65536) {
    loop.run(fn);
    return;
  }
  const auto off = loop.offsets(0);
  const auto st = loop.inner_strides();
  parallel_for(n, 32768, [&](int64_t b, int64_t e) {
    std::array<int64_t, N> o = off;
    for (size_t k = 0; k < N; ++k) o[k] += b * st[k];
    fn(o, e - b, st);
  });
}

}  // namespace

void copy_same_type(const Tensor& out, const Tensor& src) {
  if (out.numel() == 0) return;
  StridedLoop<2> loop(out.shape(), {out.strides(), broadcast_strides(src, out.shape())});
  by_width(out.itemsize(), "copy", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    T* op = static_cast<T*>(out.data_ptr());
    const T* sp = static_cast<const T*>(src.data_ptr());
    run_split(loop, [&](std::array<int64_t, 2> off, int64_t m, std::array<int64_t, 2> st) {
      T* o = op + off[0];
      const T* x = sp + off[1];
      if (st[0] == 1 && st[1] == 1) std::memcpy(o, x, m * sizeof(T));
      else if (st[0] == 1 && st[1] == 0) std::fill(o, o + m, *x);
      else
        for (int64_t e = 0; e < m; ++e) o[e * st[0]] = x[e * st[1]];
    });
  });
}

bool cat_contiguous(const std::vector<Tensor>& inputs, int64_t dim, const Tensor& out) {
  for (const Tensor& x : inputs)
    if (x.dtype() != out.dtype() || !x.is_contiguous()) return false;
  if (out.numel() == 0) return true;
  const Shape& s = out.shape();
  const int64_t outer = prod(s, 0, dim), inner = prod(s, dim + 1, s.size());
  const size_t es = out.itemsize();
  // Per input: the bytes of one outer slice and where they start in an output slice.
  std::vector<size_t> bytes, at;
  std::vector<const char*> src;
  size_t row = 0;
  for (const Tensor& x : inputs) {
    bytes.push_back(static_cast<size_t>(x.shape()[dim] * inner) * es);
    at.push_back(row);
    row += bytes.back();
    src.push_back(static_cast<const char*>(x.data_ptr()));
  }
  char* op = static_cast<char*>(out.data_ptr());
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(131072 / std::max<size_t>(row, 1)));
  parallel_for(outer, grain, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o)
      for (size_t i = 0; i < src.size(); ++i)
        std::memcpy(op + o * row + at[i], src[i] + o * bytes[i], bytes[i]);
  });
  return true;
}

namespace {

// Whether every index of a run is in [0, n); reports the first bad one otherwise.
inline bool run_in_range(const int64_t* i, int64_t m, int64_t stride, int64_t n, BadIndex& bad) {
  bool ok = true;
  for (int64_t e = 0; e < m; ++e) ok &= static_cast<uint64_t>(i[e * stride]) < static_cast<uint64_t>(n);
  if (ok) [[likely]] return true;
  for (int64_t e = 0; e < m; ++e)
    if (static_cast<uint64_t>(i[e * stride]) >= static_cast<uint64_t>(n)) {
      bad.report(i[e * stride]);
      break;
    }
  return false;
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
    // NOTE: a run with a bad index is skipped whole (the op throws): the copy loops below
    // then run without checks, and vectorize when the strides are unit.
    run_split(loop, [&](std::array<int64_t, 3> off, int64_t m, std::array<int64_t, 3> st) {
      T* o = op + off[0];
      const int64_t* i = ip + off[1];
      const T* xb = xp + off[2];
      if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
        const uint64_t un = static_cast<uint64_t>(n);
        int64_t e = 0;
        for (; e + 4 <= m; e += 4) {  // one check per 4 indices, then 4 independent loads
          const int64_t v0 = i[e], v1 = i[e + 1], v2 = i[e + 2], v3 = i[e + 3];
          if ((static_cast<uint64_t>(v0) >= un) | (static_cast<uint64_t>(v1) >= un) |
              (static_cast<uint64_t>(v2) >= un) | (static_cast<uint64_t>(v3) >= un)) [[unlikely]]
            break;
          o[e] = xb[v0 * xsd];
          o[e + 1] = xb[v1 * xsd];
          o[e + 2] = xb[v2 * xsd];
          o[e + 3] = xb[v3 * xsd];
        }
        for (; e < m; ++e) {
          const int64_t v = i[e];
          if (static_cast<uint64_t>(v) >= un) [[unlikely]] {
            bad.report(v);
            return;
          }
          o[e] = xb[v * xsd];
        }
      } else {
        if (!run_in_range(i, m, st[1], n, bad)) return;
        for (int64_t e = 0; e < m; ++e) o[e * st[0]] = xb[e * st[2] + i[e * st[1]] * xsd];
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
      auto add = [](T& dst, T v) {
        if constexpr (std::is_same_v<T, bool>) dst = dst || v;
        else dst = static_cast<T>(dst + v);
      };
      if (st[0] == 0 && st[1] == 1 && st[2] == 1) {  // a run along dim
        const uint64_t un = static_cast<uint64_t>(n);
        int64_t e = 0;
        for (; e + 4 <= m; e += 4) {
          const int64_t v0 = i[e], v1 = i[e + 1], v2 = i[e + 2], v3 = i[e + 3];
          if ((static_cast<uint64_t>(v0) >= un) | (static_cast<uint64_t>(v1) >= un) |
              (static_cast<uint64_t>(v2) >= un) | (static_cast<uint64_t>(v3) >= un)) [[unlikely]]
            break;
          add(o[v0 * osd], s[e]);
          add(o[v1 * osd], s[e + 1]);
          add(o[v2 * osd], s[e + 2]);
          add(o[v3 * osd], s[e + 3]);
        }
        for (; e < m; ++e) {
          const int64_t v = i[e];
          if (static_cast<uint64_t>(v) >= un) [[unlikely]] {
            bad.report(v);
            return;
          }
          add(o[v * osd], s[e]);
        }
      } else {
        if (!run_in_range(i, m, st[1], n, bad)) return;
        for (int64_t e = 0; e < m; ++e) add(o[e * st[0] + i[e * st[1]] * osd], s[e * st[2]]);
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
  zero(out);
  const Shape s = sizes1(out);
  const int64_t outer = prod(s, 0, dim), n = s[dim], inner = prod(s, dim + 1, s.size());
  if (outer * k == 0 || inner == 0) return;
  // Tasks own disjoint parts of the output, so they never write the same element however
  // the indices repeat: (outer row, column chunk) when those are plenty, else (outer row,
  // range of output rows), each task then scanning all k indices for its rows.
  const int64_t chunk = std::max<int64_t>(256, inner / 16);
  const int64_t chunks = (inner + chunk - 1) / chunk;
  const int64_t threads = omp_get_max_threads();
  const bool by_columns = outer * chunks >= 4 * threads || k * inner < 65536;
  const int64_t parts = by_columns ? chunks : std::min<int64_t>(n, 4 * threads);
  const int64_t tasks = outer * parts;
  const int64_t per_task = by_columns ? k * std::min(chunk, inner) : k * inner / parts;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, per_task));
  by_type(out.dtype(), "index_select_backward", [&](auto* tag) {
    using T = elem_t<decltype(tag)>;
    if constexpr (std::is_floating_point_v<T>) {
      const T* gp = static_cast<const T*>(g.data_ptr());
      T* op = static_cast<T*>(out.data_ptr());
      parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t o = t / parts, p = t - o * parts;
          const int64_t c0 = by_columns ? p * chunk : 0;
          const int64_t c1 = by_columns ? std::min(inner, c0 + chunk) : inner;
          const int64_t r0 = by_columns ? 0 : p * n / parts, r1 = by_columns ? n : (p + 1) * n / parts;
          for (int64_t j = 0; j < k; ++j) {
            if (idx[j] < r0 || idx[j] >= r1) continue;
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
    run_split(loop, [&](std::array<int64_t, 3> off, int64_t m, std::array<int64_t, 3> st) {
      T* o = op + off[0];
      const T* xs = xp + off[1];
      const uint8_t* ms = mp + off[2];
      // NOTE: branch-free select: masks are often random, and the plain loop vectorizes.
      if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
        for (int64_t e = 0; e < m; ++e) {
          const T keep = static_cast<T>(ms[e] != 0) - T(1);  // all ones where not masked
          o[e] = static_cast<T>((xs[e] & keep) | (v & ~keep));
        }
        return;
      }
      for (int64_t e = 0; e < m; ++e) {
        const T keep = static_cast<T>(ms[e * st[2]] != 0) - T(1);
        o[e * st[0]] = static_cast<T>((xs[e * st[1]] & keep) | (v & ~keep));
      }
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
  zero(out);
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

// Runs fn(src, stride, buffer) on every slice along dim (fn fills the buffer with
// (value, index) pairs and orders them), then writes the first `keep` entries of the
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
    std::vector<std::pair<T, int64_t>> buf(n + 1);
    for (int64_t s = b; s < e; ++s) {
      auto off = walk.offsets(s);
      fn(xp + off[0], xsd, buf);
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
    using E = std::pair<T, int64_t>;
    for_slices<T>(x, dim, n, values, indices, [&](const T* src, int64_t xsd, std::vector<E>& buf) {
      for (int64_t j = 0; j < n; ++j) buf[j] = {src[j * xsd], j};
      // NaNs go to their end first (stable), so the comparisons below need no NaN test;
      // the index breaks ties, which makes the unstable sort give the stable order.
      auto lo = buf.begin(), hi = buf.begin() + n;
      if constexpr (std::is_floating_point_v<T>) {
        auto is_num = [](const E& a) { return !std::isnan(a.first); };
        if (!std::all_of(lo, hi, is_num)) {
          if (descending) lo = std::stable_partition(lo, hi, [&](const E& a) { return !is_num(a); });
          else hi = std::stable_partition(lo, hi, is_num);
        }
      }
      if (descending)
        std::sort(lo, hi, [](const E& a, const E& b) {
          return a.first > b.first || (a.first == b.first && a.second < b.second);
        });
      else
        std::sort(lo, hi, [](const E& a, const E& b) {
          return a.first < b.first || (a.first == b.first && a.second < b.second);
        });
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
    const int64_t n = sizes1(x)[dim];
    auto select = [&](const T* src, int64_t xsd, std::vector<E>& buf, auto cmp) {
      if (k * 64 <= n) {
        // std::partial_sort's heap selection, streamed: a heap of the first k, each later
        // element that beats the top replaces it (pop_heap with it in slot k), then
        // sort_heap. Same steps, same order of ties, without copying the whole slice.
        for (int64_t j = 0; j < k; ++j) buf[j] = {src[j * xsd], j};
        std::make_heap(buf.begin(), buf.begin() + k, cmp);
        for (int64_t j = k; j < n; ++j) {
          const E cand{src[j * xsd], j};
          if (!cmp(cand, buf[0])) continue;
          buf[k] = cand;
          std::pop_heap(buf.begin(), buf.begin() + k + 1, cmp);
        }
        std::sort_heap(buf.begin(), buf.begin() + k, cmp);
      } else {
        for (int64_t j = 0; j < n; ++j) buf[j] = {src[j * xsd], j};
        std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.begin() + n, cmp);
        if (sorted) std::sort(buf.begin(), buf.begin() + (k - 1), cmp);
      }
    };
    for_slices<T>(x, dim, k, values, indices, [&](const T* src, int64_t xsd, std::vector<E>& buf) {
      if (largest) select(src, xsd, buf, above);
      else select(src, xsd, buf, below);
    });
  });
}

}  // namespace tandem::cpu
