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

#include "bench/BevScene.h"
#include "runtime/kernels/BevPool.h"
#include "runtime/kernels/HostKernels.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace sparq;
using bench::kC;
using bench::Scene;

namespace {

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
  state.SetBytesProcessed(state.iterations() * bench::bytesToMove(s));
  state.counters["kept_points"] = double(s.plan.depthIndex.size());
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
