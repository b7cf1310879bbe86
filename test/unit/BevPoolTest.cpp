//===- BevPoolTest.cpp - BEV pooling against the frustum scatter-add ------===//

#include "runtime/kernels/BevPool.h"
#include "test/unit/TestData.h"

#include <gtest/gtest.h>

#include <random>

using namespace sparq;

namespace {

/// A small lift-splat: cams x depth bins x pixels points, each with a BEV
/// cell from a random "geometry" (some outside the grid: dropped).
struct Scene {
  int64_t cams = 2, bins = 4, pixels = 15, channels = 7, cells = 30;
  std::vector<float> depth, feat;
  std::vector<int64_t> cell, depthIndex, featIndex;
  int64_t points() const { return cams * bins * pixels; }

  explicit Scene(unsigned seed) {
    depth = test::randomVector(cams * bins * pixels, seed);
    feat = test::randomVector(cams * pixels * channels, seed + 1);
    std::mt19937 rng(seed + 2);
    std::uniform_int_distribution<int64_t> where(-3, cells + 2);
    for (int64_t n = 0; n < cams; ++n)
      for (int64_t d = 0; d < bins; ++d)
        for (int64_t x = 0; x < pixels; ++x) {
          cell.push_back(where(rng));
          depthIndex.push_back((n * bins + d) * pixels + x); // [N, D, HW]
          featIndex.push_back(n * pixels + x);               // [N, HW, C]
        }
  }

  /// What the exported model computes: the frustum (points x channels,
  /// depth times features), then a scatter-add by cell in point order.
  std::vector<float> reference(bool channelsLast) const {
    std::vector<float> frustum(points() * channels), out(cells * channels, 0);
    for (int64_t p = 0; p < points(); ++p)
      for (int64_t c = 0; c < channels; ++c)
        frustum[p * channels + c] =
            depth[depthIndex[p]] * feat[featIndex[p] * channels + c];
    for (int64_t p = 0; p < points(); ++p) {
      if (cell[p] < 0 || cell[p] >= cells)
        continue;
      for (int64_t c = 0; c < channels; ++c) {
        float &o = channelsLast ? out[cell[p] * channels + c]
                                : out[c * cells + cell[p]];
        o += frustum[p * channels + c];
      }
    }
    return out;
  }
};

TEST(BevPool, PlanSortsPointsIntoCellIntervals) {
  Scene s(1);
  kernels::BevPoolPlan plan =
      kernels::planBevPool(s.cell.data(), s.depthIndex.data(),
                           s.featIndex.data(), s.points(), s.cells);
  int64_t kept = 0;
  for (int64_t c : s.cell)
    kept += c >= 0 && c < s.cells;
  EXPECT_EQ(int64_t(plan.depthIndex.size()), kept);
  ASSERT_EQ(plan.start.size(), plan.cell.size() + 1);
  EXPECT_EQ(plan.start.back(), kept);
  for (size_t i = 0; i + 1 < plan.cell.size(); ++i) {
    EXPECT_LT(plan.cell[i], plan.cell[i + 1]); // one interval per cell
    EXPECT_LT(plan.start[i], plan.start[i + 1]);
  }
}

TEST(BevPool, EqualsTheFrustumScatterAddOnEveryThreadCount) {
  Scene s(2);
  kernels::BevPoolPlan plan =
      kernels::planBevPool(s.cell.data(), s.depthIndex.data(),
                           s.featIndex.data(), s.points(), s.cells);
  for (bool channelsLast : {true, false}) {
    std::vector<float> expected = s.reference(channelsLast);
    test::expectSameOnEveryThreadCount([&] {
      std::vector<float> out(s.cells * s.channels, -1.0f);
      kernels::bevPool(plan, s.depth.data(), s.feat.data(), s.channels,
                       out.data(), channelsLast);
      // Summed in point order, as the scatter-add: the same bits.
      EXPECT_EQ(out, expected) << (channelsLast ? "[cells, C]" : "[C, cells]");
      return out;
    });
  }
}

TEST(BevPool, EmptyGridAndNoPoints) {
  kernels::BevPoolPlan plan =
      kernels::planBevPool(nullptr, nullptr, nullptr, 0, 4);
  std::vector<float> out(4 * 3, 5.0f);
  kernels::bevPool(plan, nullptr, nullptr, 3, out.data(), true);
  EXPECT_EQ(out, std::vector<float>(12, 0.0f));
}

} // namespace
