//===- BevPoolCudaTest.cpp - BEV pooling on a GPU against the host --------===//
//
// The GPU kernel over the uploaded plan bytes must give the host kernel's
// output bit for bit: built where nvcc is, run where a GPU is (skipped, with
// the reason, elsewhere).
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/BevPoolCuda.h"
#include "runtime/cuda/GradientCompressionCuda.h"
#include "runtime/kernels/BevPool.h"
#include "test/unit/RequireGpu.h"
#include "test/unit/TestData.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>

using namespace sparq;

namespace {

template <typename T> T *upload(const T *host, size_t count) {
  T *d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, count * sizeof(T) + 1), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, host, count * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
  return d;
}

/// A random lift-splat of `points` points over `cells` cells, C channels;
/// the GPU's and the host's outputs.
void expectSameAsHost(int64_t pixels, int64_t bins, int64_t channels,
                      int64_t cells, unsigned seed) {
  int64_t points = pixels * bins;
  std::vector<float> depth = test::randomVector(points, seed);
  std::vector<float> feat = test::randomVector(pixels * channels, seed + 1);
  std::mt19937 rng(seed + 2);
  std::uniform_int_distribution<int64_t> where(-5, cells + 4);
  std::vector<int64_t> cell(points), depthIndex(points), featIndex(points);
  for (int64_t p = 0; p < points; ++p) {
    cell[p] = where(rng);
    depthIndex[p] = p;
    featIndex[p] = p % pixels;
  }
  formats::BevPoolPlan plan = formats::planBevPool(
      cell.data(), depthIndex.data(), featIndex.data(), points, cells);
  std::vector<uint8_t> bytes = formats::serializeBevPoolPlan(plan.view());
  formats::BevPoolPlanView hostView;
  std::string error;
  ASSERT_TRUE(
      formats::readBevPoolPlan(bytes.data(), bytes.size(), hostView, error))
      << error;
  uint8_t *dPlan = upload(bytes.data(), bytes.size());
  float *dDepth = upload(depth.data(), depth.size());
  float *dFeat = upload(feat.data(), feat.size());
  for (bool channelsFirst : {false, true}) {
    std::vector<float> expected(cells * channels, -1.0f);
    kernels::bevPool(hostView, depth.data(), feat.data(), channels,
                     expected.data(), /*channelsLast=*/!channelsFirst);
    std::vector<float> poison(cells * channels, -1.0f), got(cells * channels);
    float *dOut = upload(poison.data(), poison.size());
    gpu::bevPool(gpu::planOnDevice(hostView, bytes.data(), dPlan), dDepth,
                 dFeat, channels, dOut, channelsFirst, nullptr);
    ASSERT_EQ(cudaMemcpy(got.data(), dOut, got.size() * sizeof(float),
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
    cudaFree(dOut);
    EXPECT_EQ(got, expected) << (channelsFirst ? "[C, cells]" : "[cells, C]");
  }
  for (void *p : {(void *)dPlan, (void *)dDepth, (void *)dFeat})
    cudaFree(p);
}

TEST(BevPoolCuda, EqualsTheHostKernel) {
  REQUIRE_GPU();
  expectSameAsHost(/*pixels=*/40, /*bins=*/6, /*channels=*/80, /*cells=*/64, 1);
}

TEST(BevPoolCuda, OddChannelCountsAndEmptyCells) {
  REQUIRE_GPU();
  expectSameAsHost(7, 3, 5, 200, 2);
  expectSameAsHost(1000, 20, 33, 4096, 3);
}

} // namespace
