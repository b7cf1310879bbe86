//===- DataDependent.cpp - NonZero, NonMaxSuppression, Unique -------------===//

#include "runtime/kernels/DataDependent.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

using namespace sparq::kernels;

int64_t sparq::kernels::nonZero(const uint8_t *mask, const int64_t *shape,
                                int64_t rank, int64_t *out, int64_t bound) {
  int64_t total = 1;
  for (int64_t a = 0; a < rank; ++a)
    total *= shape[a];
  std::fill(out, out + rank * bound, 0);
  int64_t count = 0;
  for (int64_t i = 0; i < total && count < bound; ++i) {
    if (!mask[i])
      continue;
    for (int64_t a = rank - 1, rest = i; a >= 0; --a) {
      out[a * bound + count] = rest % shape[a];
      rest /= shape[a];
    }
    ++count;
  }
  return count;
}

namespace {

struct Box {
  float y1, x1, y2, x2;
};

/// Corners in either order, or (cx, cy, w, h).
Box readBox(const float *b, bool centerPointBox) {
  if (centerPointBox)
    return {b[1] - b[3] / 2, b[0] - b[2] / 2, b[1] + b[3] / 2, b[0] + b[2] / 2};
  return {std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]),
          std::max(b[1], b[3])};
}

/// Whether IoU(a, b) > threshold; boxes without area never suppress.
bool suppresses(const Box &a, const Box &b, float threshold) {
  float areaA = (a.y2 - a.y1) * (a.x2 - a.x1);
  float areaB = (b.y2 - b.y1) * (b.x2 - b.x1);
  if (areaA <= 0 || areaB <= 0)
    return false;
  float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  if (ih <= 0 || iw <= 0)
    return false;
  float inter = ih * iw;
  return inter / (areaA + areaB - inter) > threshold;
}

} // namespace

int64_t sparq::kernels::nonMaxSuppression(const float *boxes,
                                          const float *scores, int64_t b,
                                          int64_t c, int64_t n,
                                          const NmsParams &p, int64_t *out,
                                          int64_t bound) {
  std::fill(out, out + bound * 3, 0);
  int64_t count = 0;
  std::vector<Box> bs(n);
  std::vector<int64_t> order, kept;
  for (int64_t bi = 0; bi < b; ++bi) {
    for (int64_t i = 0; i < n; ++i)
      bs[i] = readBox(boxes + (bi * n + i) * 4, p.centerPointBox);
    for (int64_t ci = 0; ci < c; ++ci) {
      const float *s = scores + (bi * c + ci) * n;
      order.clear();
      // A NaN score is never kept (and would break the sort's order).
      for (int64_t i = 0; i < n; ++i)
        if (!std::isnan(s[i]) &&
            (!p.hasScoreThreshold || s[i] > p.scoreThreshold))
          order.push_back(i);
      // Highest score first; equal scores by index, as onnxruntime does.
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t x, int64_t y) { return s[x] > s[y]; });
      kept.clear();
      for (int64_t i : order) {
        if (int64_t(kept.size()) >= p.maxOutput)
          break;
        bool suppressed = false;
        for (int64_t k : kept)
          if (suppresses(bs[k], bs[i], p.iouThreshold)) {
            suppressed = true;
            break;
          }
        if (suppressed)
          continue;
        kept.push_back(i);
        if (count < bound) {
          out[count * 3] = bi;
          out[count * 3 + 1] = ci;
          out[count * 3 + 2] = i;
        }
        ++count;
      }
    }
  }
  return std::min(count, bound);
}

template <typename T>
int64_t sparq::kernels::unique(const T *x, int64_t outer, int64_t d,
                               int64_t inner, bool sorted, T *y,
                               int64_t *indices, int64_t *inverse,
                               int64_t *counts) {
  // Slice j is x[o, j, i] for o, i in row-major order.
  auto at = [&](int64_t j, int64_t k) {
    return x[((k / inner) * d + j) * inner + k % inner];
  };
  int64_t width = outer * inner;
  // A total order: NaNs after every number and equal to each other, so
  // that sorting is well defined and NaNs group as one value.
  auto compare = [](T x, T y) {
    if constexpr (std::is_floating_point_v<T>) {
      bool nx = std::isnan(x), ny = std::isnan(y);
      if (nx || ny)
        return int(nx) - int(ny);
    }
    return x < y ? -1 : (y < x ? 1 : 0);
  };
  auto less = [&](int64_t a, int64_t b) {
    for (int64_t k = 0; k < width; ++k)
      if (int c = compare(at(a, k), at(b, k)))
        return c < 0;
    return false;
  };
  // Slices by value, first occurrences first among equals.
  std::vector<int64_t> order(d);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), less);
  std::vector<int64_t> firsts, groupOf(d);
  for (int64_t i = 0; i < d; ++i) {
    if (i == 0 || less(order[i - 1], order[i]))
      firsts.push_back(order[i]);
    groupOf[order[i]] = int64_t(firsts.size()) - 1;
  }
  int64_t n = firsts.size();
  // Unsorted: groups in order of their first occurrence.
  std::vector<int64_t> rank(n);
  std::iota(rank.begin(), rank.end(), 0);
  if (!sorted) {
    std::vector<int64_t> byFirst(n);
    std::iota(byFirst.begin(), byFirst.end(), 0);
    std::sort(byFirst.begin(), byFirst.end(),
              [&](int64_t a, int64_t b) { return firsts[a] < firsts[b]; });
    for (int64_t r = 0; r < n; ++r)
      rank[byFirst[r]] = r;
  }
  std::fill(y, y + outer * d * inner, T(0));
  std::fill(indices, indices + d, 0);
  std::fill(counts, counts + d, 0);
  for (int64_t g = 0; g < n; ++g) {
    int64_t r = rank[g];
    indices[r] = firsts[g];
    for (int64_t k = 0; k < width; ++k)
      y[((k / inner) * d + r) * inner + k % inner] = at(firsts[g], k);
  }
  for (int64_t j = 0; j < d; ++j) {
    inverse[j] = rank[groupOf[j]];
    ++counts[inverse[j]];
  }
  return n;
}

template int64_t sparq::kernels::unique<float>(const float *, int64_t, int64_t,
                                               int64_t, bool, float *,
                                               int64_t *, int64_t *, int64_t *);
template int64_t sparq::kernels::unique<int64_t>(const int64_t *, int64_t,
                                                 int64_t, int64_t, bool,
                                                 int64_t *, int64_t *,
                                                 int64_t *, int64_t *);

namespace {

template <typename T>
int64_t uniqueCall(MemRef<T, 3> *x, MemRef<T, 3> *y,
                   MemRef<int64_t, 1> *indices, MemRef<int64_t, 1> *inverse,
                   MemRef<int64_t, 1> *counts, int64_t sorted) {
  std::vector<T> xs, ys;
  std::vector<int64_t> is, vs, cs;
  const T *xp = contiguous(*x, xs);
  T *yp = outputOf(*y, ys);
  int64_t *ip = outputOf(*indices, is), *vp = outputOf(*inverse, vs),
          *cp = outputOf(*counts, cs);
  int64_t n = unique(xp, x->sizes[0], x->sizes[1], x->sizes[2], sorted != 0, yp,
                     ip, vp, cp);
  writeBack(*y, ys);
  writeBack(*indices, is);
  writeBack(*inverse, vs);
  writeBack(*counts, cs);
  return n;
}

} // namespace

extern "C" int64_t _mlir_ciface_sparq_nonzero(MemRef<uint8_t, 1> *mask,
                                              MemRef<int64_t, 1> *shape,
                                              MemRef<int64_t, 2> *out) {
  std::vector<uint8_t> ms;
  std::vector<int64_t> ss, os;
  const uint8_t *mp = contiguous(*mask, ms);
  const int64_t *sp = contiguous(*shape, ss);
  int64_t *op = outputOf(*out, os);
  int64_t n = nonZero(mp, sp, shape->sizes[0], op, out->sizes[1]);
  writeBack(*out, os);
  return n;
}

extern "C" int64_t _mlir_ciface_sparq_non_max_suppression(
    MemRef<float, 3> *boxes, MemRef<float, 3> *scores, MemRef<int64_t, 2> *out,
    int64_t maxOutput, float iouThreshold, float scoreThreshold,
    int64_t hasScoreThreshold, int64_t centerPointBox) {
  std::vector<float> bs, ss;
  std::vector<int64_t> os;
  const float *bp = contiguous(*boxes, bs), *sp = contiguous(*scores, ss);
  int64_t *op = outputOf(*out, os);
  NmsParams p{std::max<int64_t>(maxOutput, 0), iouThreshold, scoreThreshold,
              hasScoreThreshold != 0, centerPointBox != 0};
  int64_t n = nonMaxSuppression(bp, sp, boxes->sizes[0], scores->sizes[1],
                                boxes->sizes[1], p, op, out->sizes[0]);
  writeBack(*out, os);
  return n;
}

extern "C" int64_t _mlir_ciface_sparq_unique_f32(
    MemRef<float, 3> *x, MemRef<float, 3> *y, MemRef<int64_t, 1> *indices,
    MemRef<int64_t, 1> *inverse, MemRef<int64_t, 1> *counts, int64_t sorted) {
  return uniqueCall(x, y, indices, inverse, counts, sorted);
}

extern "C" int64_t _mlir_ciface_sparq_unique_i64(
    MemRef<int64_t, 3> *x, MemRef<int64_t, 3> *y, MemRef<int64_t, 1> *indices,
    MemRef<int64_t, 1> *inverse, MemRef<int64_t, 1> *counts, int64_t sorted) {
  return uniqueCall(x, y, indices, inverse, counts, sorted);
}
