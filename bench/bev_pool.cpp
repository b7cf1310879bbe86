//===- bev_pool.cpp - BEV pooling: fused against frustum + scatter --------===//
//
// BEVFusion's camera-to-BEV pooling at nuScenes shapes (6 cameras x 118
// depth bins x 32 x 88 pixels, C = 80) on a 128x128 and a 256x256 grid:
//  - Fused: kernels::bevPool over a plan made once (the geometry is fixed);
//  - FrustumScatter: what the exported model computes without the fusion,
//    the points x C frustum (depth times features) materialized, then
//    scatter-added by cell;
//  - Copy: a memcpy of 256 MB, the machine's streaming bandwidth.
// bytes_per_second of Fused counts the bytes it must move: depth, features,
// the plan's indices, the output.
//
//   build/bin/sparq-bench-bev [--benchmark_filter=...]
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/BevPool.h"
#include "runtime/kernels/HostKernels.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace sparq;

namespace {

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

Scene &scene(int64_t grid) {
  static Scene s128(128), s256(256);
  return grid == 128 ? s128 : s256;
}

void Fused(benchmark::State &state) {
  Scene &s = scene(state.range(0));
  std::vector<float> out(s.grid * s.grid * kC);
  for (auto _ : state) {
    kernels::bevPool(s.plan.view(), s.depth.data(), s.feat.data(), kC,
                     out.data(),
                     /*channelsLast=*/true);
    benchmark::DoNotOptimize(out.data());
  }
  int64_t kept = int64_t(s.plan.depthIndex.size());
  int64_t bytes = (s.depth.size() + s.feat.size() + out.size()) * 4 + kept * 8 +
                  int64_t(s.plan.start.size() + 2 * s.plan.cell.size()) * 4;
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["kept_points"] = double(kept);
}

void FrustumScatter(benchmark::State &state) {
  Scene &s = scene(state.range(0));
  std::vector<float> frustum(s.points * kC), out(s.grid * s.grid * kC);
  for (auto _ : state) {
    for (int64_t p = 0; p < s.points; ++p) {
      float d = s.depth[s.depthIndex[p]];
      const float *f = s.feat.data() + s.featIndex[p] * kC;
      for (int64_t c = 0; c < kC; ++c)
        frustum[p * kC + c] = d * f[c];
    }
    std::memset(out.data(), 0, out.size() * 4);
    for (int64_t p = 0; p < s.points; ++p) {
      if (s.cell[p] < 0)
        continue;
      float *o = out.data() + s.cell[p] * kC;
      for (int64_t c = 0; c < kC; ++c)
        o[c] += frustum[p * kC + c];
    }
    benchmark::DoNotOptimize(out.data());
  }
}

void Copy(benchmark::State &state) {
  std::vector<char> a(256 << 20, 1), b(256 << 20);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), a.size());
    benchmark::DoNotOptimize(b.data());
  }
  // Read and written.
  state.SetBytesProcessed(state.iterations() * 2 * int64_t(a.size()));
}

} // namespace

BENCHMARK(Fused)
    ->Arg(128)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(FrustumScatter)
    ->Arg(128)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(Copy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
