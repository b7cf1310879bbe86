//===- BevPool.h - BEVFusion's camera-to-BEV pooling ------------*- C++ -*-===//
//
// Lift-splat pooling without the frustum tensor (BEVPoolv2's formulation):
// every frustum point p (camera, depth bin, pixel) has a BEV cell, fixed by
// the camera geometry; the BEV feature of a cell is
//   out[cell, c] = sum over its points of depth[p] * feat[pixel(p), c],
// the outer product of the depth distribution and the context features,
// summed per cell. planBevPool sorts the points by cell and cuts them into
// intervals once (at compile time, the geometry being constant); bevPool
// then gives each interval to one thread, so no atomics, and never builds
// the points x channels frustum. Sums run in point order within a cell:
// results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_BEVPOOL_H
#define SPARQ_RUNTIME_KERNELS_BEVPOOL_H

#include <cstdint>
#include <vector>

namespace sparq::kernels {

struct BevPoolPlan {
  /// Kept points sorted by cell (stable): where each reads its depth
  /// probability and its pixel's feature row.
  std::vector<int64_t> depthIndex, featIndex;
  /// Intervals: points [start[i], start[i + 1]) all fall in cell[i].
  std::vector<int64_t> start, cell;
  /// The order to run intervals in: by the feature row they read first, so
  /// that intervals reading the same pixels (a pixel column's depth bins
  /// along its ray) run together and find those rows in cache.
  std::vector<int64_t> order;
  int64_t cells = 0;
};

/// The plan for `points` frustum points: point p falls in cell[p] (outside
/// [0, cells): dropped) and reads depth[depthIndex[p]] and the feature row
/// featIndex[p].
BevPoolPlan planBevPool(const int64_t *cell, const int64_t *depthIndex,
                        const int64_t *featIndex, int64_t points,
                        int64_t cells);

/// out[cell, c] (channelsLast: [cells, C]; else [C, cells]) = the sum over
/// the cell's points of depth[depthIndex] * feat[featIndex * C + c]; cells
/// without points are 0.
void bevPool(const BevPoolPlan &plan, const float *depth, const float *feat,
             int64_t channels, float *out, bool channelsLast);

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_BEVPOOL_H
