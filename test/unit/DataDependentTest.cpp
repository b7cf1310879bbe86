//===- DataDependentTest.cpp - NonZero, NMS and Unique kernels ------------===//
//
// The cases the ONNX backend data does not have: a bound below the count,
// NaN scores and values, and the order of unsorted Unique.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/DataDependent.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace sparq::kernels;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(DataDependent, NonZeroStopsAtTheBound) {
  std::vector<uint8_t> mask = {0, 1, 1, 0, 1, 1}; // [2, 3]
  int64_t shape[] = {2, 3};
  std::vector<int64_t> out(2 * 6, -1);
  EXPECT_EQ(nonZero(mask.data(), shape, 2, out.data(), 6), 4);
  // Row coordinates, then column coordinates; the rest zeros.
  EXPECT_EQ(out, (std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 2, 1, 2, 0, 0}));
  std::vector<int64_t> small(2 * 2);
  EXPECT_EQ(nonZero(mask.data(), shape, 2, small.data(), 2), 2);
  EXPECT_EQ(small, (std::vector<int64_t>{0, 0, 1, 2}));
}

TEST(DataDependent, NmsNeverKeepsNaNScores) {
  // Three disjoint boxes; the best score is NaN.
  std::vector<float> boxes = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
  std::vector<float> scores = {0.5f, kNaN, 0.9f};
  NmsParams p;
  p.maxOutput = 10;
  p.iouThreshold = 0.5f;
  std::vector<int64_t> out(3 * 3);
  ASSERT_EQ(
      nonMaxSuppression(boxes.data(), scores.data(), 1, 1, 3, p, out.data(), 3),
      2);
  EXPECT_EQ(out[2], 2); // 0.9 first
  EXPECT_EQ(out[5], 0);
}

TEST(DataDependent, NmsSuppressesAboveTheThresholdOnly) {
  // Box 1 overlaps box 0 with IoU 1/3: kept at 0.4, suppressed at 0.3.
  std::vector<float> boxes = {0, 0, 2, 2, 0, 1, 2, 3};
  std::vector<float> scores = {0.9f, 0.8f};
  NmsParams p;
  p.maxOutput = 5;
  std::vector<int64_t> out(2 * 3);
  p.iouThreshold = 0.4f;
  EXPECT_EQ(
      nonMaxSuppression(boxes.data(), scores.data(), 1, 1, 2, p, out.data(), 2),
      2);
  p.iouThreshold = 0.3f;
  EXPECT_EQ(
      nonMaxSuppression(boxes.data(), scores.data(), 1, 1, 2, p, out.data(), 2),
      1);
}

TEST(DataDependent, UniqueGroupsNaNsLast) {
  std::vector<float> x = {2, kNaN, 1, 2, kNaN, 0};
  std::vector<float> y(6);
  std::vector<int64_t> idx(6), inv(6), counts(6);
  ASSERT_EQ(unique(x.data(), 1, 6, 1, true, y.data(), idx.data(), inv.data(),
                   counts.data()),
            4);
  EXPECT_EQ(y[0], 0);
  EXPECT_EQ(y[1], 1);
  EXPECT_EQ(y[2], 2);
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_EQ(std::vector<int64_t>(idx.begin(), idx.begin() + 4),
            (std::vector<int64_t>{5, 2, 0, 1}));
  EXPECT_EQ(inv, (std::vector<int64_t>{2, 3, 1, 2, 3, 0}));
  EXPECT_EQ(std::vector<int64_t>(counts.begin(), counts.begin() + 4),
            (std::vector<int64_t>{1, 1, 2, 2}));
}

TEST(DataDependent, UniqueUnsortedKeepsFirstOccurrenceOrder) {
  // Slices along the middle axis of [1, 4, 2]: (3,1) (0,5) (3,1) (0,4).
  std::vector<int64_t> x = {3, 1, 0, 5, 3, 1, 0, 4};
  std::vector<int64_t> y(8), idx(4), inv(4), counts(4);
  ASSERT_EQ(unique(x.data(), 1, 4, 2, false, y.data(), idx.data(), inv.data(),
                   counts.data()),
            3);
  EXPECT_EQ(std::vector<int64_t>(y.begin(), y.begin() + 6),
            (std::vector<int64_t>{3, 1, 0, 5, 0, 4}));
  EXPECT_EQ(inv, (std::vector<int64_t>{0, 1, 0, 2}));
  EXPECT_EQ(std::vector<int64_t>(counts.begin(), counts.begin() + 3),
            (std::vector<int64_t>{2, 1, 1}));
}

} // namespace
