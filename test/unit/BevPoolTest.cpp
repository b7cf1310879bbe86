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

  formats::BevPoolPlan plan() const {
    return formats::planBevPool(cell.data(), depthIndex.data(),
                                featIndex.data(), points(), cells);
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
  formats::BevPoolPlan plan = s.plan();
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
  formats::BevPoolPlan plan = s.plan();
  for (bool channelsLast : {true, false}) {
    std::vector<float> expected = s.reference(channelsLast);
    test::expectSameOnEveryThreadCount([&] {
      std::vector<float> out(s.cells * s.channels, -1.0f);
      kernels::bevPool(plan.view(), s.depth.data(), s.feat.data(), s.channels,
                       out.data(), channelsLast);
      // Summed in point order, as the scatter-add: the same bits.
      EXPECT_EQ(out, expected) << (channelsLast ? "[cells, C]" : "[C, cells]");
      return out;
    });
  }
}

TEST(BevPool, PlanBytesReadBackInPlace) {
  Scene s(3);
  formats::BevPoolPlan plan = s.plan();
  std::vector<uint8_t> bytes = formats::serializeBevPoolPlan(plan.view());
  formats::BevPoolPlanView view;
  std::string error;
  ASSERT_TRUE(formats::readBevPoolPlan(bytes.data(), bytes.size(), view, error))
      << error;
  EXPECT_TRUE(formats::checkBevPoolPlan(view, int64_t(s.depth.size()),
                                        s.cams * s.pixels, error))
      << error;
  EXPECT_EQ(view.cells, s.cells);
  EXPECT_EQ(view.points, int64_t(plan.depthIndex.size()));
  EXPECT_EQ(std::vector<int32_t>(view.order, view.order + view.intervals),
            plan.order);
  std::vector<float> fromBytes(s.cells * s.channels), fromPlan = fromBytes;
  kernels::bevPool(view, s.depth.data(), s.feat.data(), s.channels,
                   fromBytes.data(), true);
  kernels::bevPool(plan.view(), s.depth.data(), s.feat.data(), s.channels,
                   fromPlan.data(), true);
  EXPECT_EQ(fromBytes, fromPlan);
}

TEST(BevPool, DamagedPlanBytesAreRefused) {
  Scene s(4);
  formats::BevPoolPlan plan = s.plan();
  std::vector<uint8_t> bytes = formats::serializeBevPoolPlan(plan.view());
  formats::BevPoolPlanView view;
  std::string error;
  EXPECT_FALSE(
      formats::readBevPoolPlan(bytes.data(), bytes.size() - 4, view, error));
  EXPECT_NE(error.find("size"), std::string::npos) << error;
  std::vector<uint8_t> badMagic = bytes;
  badMagic[0] ^= 1;
  EXPECT_FALSE(
      formats::readBevPoolPlan(badMagic.data(), badMagic.size(), view, error));
  ASSERT_TRUE(
      formats::readBevPoolPlan(bytes.data(), bytes.size(), view, error));
  // Feature rows beyond the tensor the kernel would be given.
  EXPECT_FALSE(formats::checkBevPoolPlan(view, int64_t(s.depth.size()),
                                         s.cams * s.pixels - 1, error));
  EXPECT_NE(error.find("reads out of range"), std::string::npos) << error;
  // Intervals out of order.
  std::vector<uint8_t> swapped = bytes;
  auto *cells = reinterpret_cast<int32_t *>(swapped.data() + 32) +
                2 * view.points + view.intervals + 1;
  std::swap(cells[0], cells[1]);
  ASSERT_TRUE(
      formats::readBevPoolPlan(swapped.data(), swapped.size(), view, error));
  EXPECT_FALSE(formats::checkBevPoolPlan(view, int64_t(s.depth.size()),
                                         s.cams * s.pixels, error));
}

TEST(BevPool, EmptyGridAndNoPoints) {
  formats::BevPoolPlan plan =
      formats::planBevPool(nullptr, nullptr, nullptr, 0, 4);
  std::vector<float> out(4 * 3, 5.0f);
  kernels::bevPool(plan.view(), nullptr, nullptr, 3, out.data(), true);
  EXPECT_EQ(out, std::vector<float>(12, 0.0f));
}

} // namespace
