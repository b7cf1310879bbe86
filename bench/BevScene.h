//===- BevScene.h - nuScenes-shaped BEV pooling inputs ----------*- C++ -*-===//
//
// The lift-splat the BEV pooling benchmarks share (host: bev_pool.cpp, GPU:
// bev_pool_cuda.cu): 6 cameras x 118 depth bins x 32 x 88 pixels, C = 80,
// random depth and features, and the plan of a ring of cameras.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_BENCH_BEVSCENE_H
#define SPARQ_BENCH_BEVSCENE_H

#include "runtime/formats/BevPoolPlan.h"

#include <cmath>
#include <random>
#include <vector>

namespace sparq::bench {

constexpr int64_t kCams = 6, kBins = 118, kRows = 32, kCols = 88, kC = 80;

/// A ring of six cameras, 60 degrees apart with a 70-degree field of view;
/// depth bins from 1 m every 0.5 m. A pixel column at one depth falls in one
/// BEV cell (the grid has no height), as lift-splat's geometry gives.
struct Scene {
  int64_t grid, points = kCams * kBins * kRows * kCols;
  std::vector<float> depth, feat;
  formats::BevPoolPlan plan;
  std::vector<int64_t> cell, depthIndex, featIndex;

  explicit Scene(int64_t grid) : grid(grid) {
    std::mt19937 rng(0);
    std::uniform_real_distribution<float> u(0, 1);
    depth.resize(points);
    for (float &x : depth)
      x = u(rng);
    feat.resize(kCams * kRows * kCols * kC);
    for (float &x : feat)
      x = u(rng) - 0.5f;
    double cellSize = 102.4 / grid; // +-51.2 m
    for (int64_t n = 0; n < kCams; ++n)
      for (int64_t d = 0; d < kBins; ++d)
        for (int64_t h = 0; h < kRows; ++h)
          for (int64_t w = 0; w < kCols; ++w) {
            double yaw = n * M_PI / 3 +
                         (w / double(kCols - 1) - 0.5) * (70.0 * M_PI / 180);
            double r = 1.0 + 0.5 * d;
            int64_t x =
                int64_t(std::floor((r * std::cos(yaw) + 51.2) / cellSize));
            int64_t y =
                int64_t(std::floor((r * std::sin(yaw) + 51.2) / cellSize));
            bool inside = x >= 0 && x < grid && y >= 0 && y < grid;
            cell.push_back(inside ? y * grid + x : -1);
            depthIndex.push_back(((n * kBins + d) * kRows + h) * kCols + w);
            featIndex.push_back((n * kRows + h) * kCols + w);
          }
    plan = formats::planBevPool(cell.data(), depthIndex.data(),
                                featIndex.data(), points, grid * grid);
  }
};

/// Bytes a pooling must move at least: depth, features, the plan's
/// indices (8 per point, 12 per interval) and the output.
inline int64_t bytesToMove(const Scene &s) {
  return int64_t(s.depth.size() + s.feat.size() + s.grid * s.grid * kC) * 4 +
         int64_t(s.plan.depthIndex.size()) * 8 +
         int64_t(s.plan.cell.size()) * 12;
}

} // namespace sparq::bench

#endif // SPARQ_BENCH_BEVSCENE_H
