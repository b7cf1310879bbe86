//===- BevPoolPlan.h - BEV pooling plan and its byte layout -----*- C++ -*-===//
//
// BEVFusion's camera-to-BEV pooling (BEVPoolv2's formulation): every frustum
// point p (camera, depth bin, pixel) falls in a BEV cell fixed by the camera
// geometry, and
//   out[cell, c] = sum over the cell's points of depth[p] * feat[pixel(p), c].
// The plan sorts the points by cell (stably: sums run in point order) and
// cuts them into intervals, once, at compile time. It is stored as bytes in
// the weights (sparq.bev_pool's lowering) and read in place by the host and
// the CUDA kernels:
//
//   u32 magic 'SQBP', u32 version 1, i64 cells, i64 points, i64 intervals,
//   i32 depthIndex[points], i32 featIndex[points], i32 start[intervals + 1],
//   i32 cell[intervals], i32 order[intervals]
//
// `order` runs the intervals by the feature row they read first, so that
// intervals reading the same pixels (a pixel's depth bins along its ray) run
// together and find those rows in cache.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_FORMATS_BEVPOOLPLAN_H
#define SPARQ_RUNTIME_FORMATS_BEVPOOLPLAN_H

#include <cstdint>
#include <string>
#include <vector>

namespace sparq::formats {

/// A plan read in place (from the bytes, or from a BevPoolPlan).
struct BevPoolPlanView {
  const int32_t *depthIndex = nullptr, *featIndex = nullptr;
  /// Points [start[i], start[i + 1]) all fall in cell[i].
  const int32_t *start = nullptr, *cell = nullptr, *order = nullptr;
  int64_t cells = 0, points = 0, intervals = 0;
};

struct BevPoolPlan {
  /// Kept points sorted by cell: where each reads its depth probability and
  /// its pixel's feature row.
  std::vector<int32_t> depthIndex, featIndex;
  std::vector<int32_t> start, cell, order;
  int64_t cells = 0;

  BevPoolPlanView view() const;
};

/// The plan for `points` frustum points: point p falls in cell[p] (outside
/// [0, cells): dropped) and reads depth[depthIndex[p]] and the feature row
/// featIndex[p]. Indices and counts must fit in int32.
BevPoolPlan planBevPool(const int64_t *cell, const int64_t *depthIndex,
                        const int64_t *featIndex, int64_t points,
                        int64_t cells);

/// The order to run `plan`'s intervals in (its `order` is not read): by the
/// feature row each reads first.
std::vector<int32_t> bevPoolOrder(const BevPoolPlanView &plan);

/// The plan's bytes (layout above).
std::vector<uint8_t> serializeBevPoolPlan(const BevPoolPlanView &plan);

/// Reads `size` bytes at `data` (4-byte aligned) as a plan, in O(1): false
/// with `error` set when the header or the size is wrong.
bool readBevPoolPlan(const uint8_t *data, size_t size, BevPoolPlanView &plan,
                     std::string &error);

/// Checks every interval and index of `plan` (O(points)): intervals that
/// cover the points in increasing cells, reads within `depthSize` depth
/// values and `featRows` feature rows (and `order`, unless null). For plans
/// from outside the compiler; a kernel trusts what it is given.
bool checkBevPoolPlan(const BevPoolPlanView &plan, int64_t depthSize,
                      int64_t featRows, std::string &error);

} // namespace sparq::formats

#endif // SPARQ_RUNTIME_FORMATS_BEVPOOLPLAN_H
