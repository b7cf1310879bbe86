//===- TopKRanks.cpp - TopK's ranks by sorting ----------------------------===//

#include "runtime/kernels/TopKRanks.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

using namespace sparq::kernels;

void sparq::kernels::topKRanks(const float *x, int64_t rows, int64_t n,
                               bool largest, int64_t *ranks) {
  std::vector<int64_t> order;
  for (int64_t r = 0; r < rows; ++r) {
    const float *v = x + r * n;
    int64_t *out = ranks + r * n;
    order.clear();
    for (int64_t i = 0; i < n; ++i) {
      out[i] = 0; // NaN: nothing beats it
      if (!std::isnan(v[i]))
        order.push_back(i);
    }
    // Best first, equal values by index: each element's position is the
    // number of elements that beat it.
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return largest ? v[a] > v[b] : v[a] < v[b];
    });
    for (int64_t p = 0; p < static_cast<int64_t>(order.size()); ++p)
      out[order[p]] = p;
  }
}

extern "C" void _mlir_ciface_sparq_topk_ranks_f32(MemRef<float, 2> *x,
                                                  MemRef<int64_t, 2> *ranks,
                                                  int64_t largest) {
  std::vector<float> xs;
  std::vector<int64_t> rs;
  const float *xp = contiguous(*x, xs);
  int64_t *rp = outputOf(*ranks, rs);
  topKRanks(xp, x->sizes[0], x->sizes[1], largest != 0, rp);
  writeBack(*ranks, rs);
}
