//===- BevPool.cpp - BEVFusion's camera-to-BEV pooling --------------------===//

#include "runtime/kernels/BevPool.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <cstring>
#include <numeric>

using namespace sparq::kernels;

BevPoolPlan sparq::kernels::planBevPool(const int64_t *cell,
                                        const int64_t *depthIndex,
                                        const int64_t *featIndex,
                                        int64_t points, int64_t cells) {
  std::vector<int64_t> order;
  order.reserve(points);
  for (int64_t p = 0; p < points; ++p)
    if (cell[p] >= 0 && cell[p] < cells)
      order.push_back(p);
  // Stable: a cell's points keep their order, and so do its sums.
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return cell[a] < cell[b]; });
  BevPoolPlan plan;
  plan.cells = cells;
  plan.depthIndex.reserve(order.size());
  plan.featIndex.reserve(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    int64_t p = order[i];
    if (i == 0 || cell[p] != cell[order[i - 1]]) {
      plan.start.push_back(int64_t(i));
      plan.cell.push_back(cell[p]);
    }
    plan.depthIndex.push_back(depthIndex[p]);
    plan.featIndex.push_back(featIndex[p]);
  }
  plan.start.push_back(int64_t(order.size()));
  plan.order.resize(plan.cell.size());
  std::iota(plan.order.begin(), plan.order.end(), 0);
  std::stable_sort(
      plan.order.begin(), plan.order.end(), [&](int64_t a, int64_t b) {
        return plan.featIndex[plan.start[a]] < plan.featIndex[plan.start[b]];
      });
  return plan;
}

void sparq::kernels::bevPool(const BevPoolPlan &plan, const float *depth,
                             const float *feat, int64_t channels, float *out,
                             bool channelsLast) {
  int64_t cells = plan.cells, intervals = int64_t(plan.cell.size());
  parallelFor(cells, 1 << 10, [&](int64_t b, int64_t e) {
    if (channelsLast) {
      std::memset(out + b * channels, 0, (e - b) * channels * sizeof(float));
    } else {
      for (int64_t c = 0; c < channels; ++c)
        std::memset(out + c * cells + b, 0, (e - b) * sizeof(float));
    }
  });
  parallelFor(intervals, 16, [&](int64_t b, int64_t e) {
    std::vector<float> buffer(channels);
    float *__restrict acc = buffer.data();
    for (int64_t j = b; j < e; ++j) {
      int64_t i = plan.order[j];
      std::fill(acc, acc + channels, 0.0f);
      for (int64_t k = plan.start[i]; k < plan.start[i + 1]; ++k) {
        // One depth probability times the pixel's feature row: vectorized
        // over channels.
        float d = depth[plan.depthIndex[k]];
        const float *__restrict f = feat + plan.featIndex[k] * channels;
        for (int64_t c = 0; c < channels; ++c)
          acc[c] += d * f[c];
      }
      int64_t cell = plan.cell[i];
      if (channelsLast)
        std::memcpy(out + cell * channels, acc, channels * sizeof(float));
      else
        for (int64_t c = 0; c < channels; ++c)
          out[c * cells + cell] = acc[c];
    }
  });
}
