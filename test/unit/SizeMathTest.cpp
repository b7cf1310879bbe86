//===- SizeMathTest.cpp - overflow-checked size arithmetic ----------------===//

#include "runtime/io/SizeMath.h"
#include "compiler/LayerReport.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

using sparq::SizeMath;

namespace {
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(SizeMath, InRangeChainsAreExact) {
  SizeMath m;
  // ConvTranspose's output size: stride * (in - 1) + pad + (k - 1) * d + 1.
  int64_t full = m.add(m.add(m.mul(2, m.sub(7, 1)), 1), m.add(m.mul(2, 3), 1));
  EXPECT_TRUE(m.ok());
  EXPECT_EQ(full, 20);
  EXPECT_EQ(m.ceilDiv(7, 2), 4);
  EXPECT_EQ(m.div(-7, 2), -3);
  EXPECT_EQ(m.product(std::vector<int64_t>{3, 4, 5}), 60);
  EXPECT_TRUE(m.ok());
}

TEST(SizeMath, EachOverflowIsCaughtAndSticks) {
  struct Case {
    const char *what;
    int64_t (*op)(SizeMath &);
  } cases[] = {
      {"add", [](SizeMath &m) { return m.add(kMax, 1); }},
      {"sub", [](SizeMath &m) { return m.sub(kMin, 1); }},
      {"negate min", [](SizeMath &m) { return m.sub(0, kMin); }},
      {"mul", [](SizeMath &m) { return m.mul(int64_t(1) << 62, 2); }},
      {"mul negative", [](SizeMath &m) { return m.mul(kMin, -1); }},
      {"div by 0", [](SizeMath &m) { return m.div(5, 0); }},
      {"div min by -1", [](SizeMath &m) { return m.div(kMin, -1); }},
      {"ceilDiv by 0", [](SizeMath &m) { return m.ceilDiv(5, 0); }},
      {"product",
       [](SizeMath &m) {
         return m.product(std::vector<int64_t>{1 << 30, 1 << 30, 1 << 30});
       }},
      {"negative dim",
       [](SizeMath &m) {
         return m.product(std::vector<int64_t>{4, -1});
       }},
  };
  for (const Case &c : cases) {
    SizeMath m;
    c.op(m);
    EXPECT_FALSE(m.ok()) << c.what;
    // Later steps in range do not clear the failure.
    m.add(1, 1);
    EXPECT_FALSE(m.ok()) << c.what;
  }
}

TEST(LayerReport, MacsOfAbsurdShapesSaturateInsteadOfOverflowing) {
  const int64_t big = int64_t(1) << 34;
  // A conv whose output and kernel are each 2^34 elements: 2^68 products.
  int64_t macs =
      sparq::countMacs("Conv", {{1, 1, big}, {1, 1, big}}, {{1, 1, big}}, 1);
  EXPECT_EQ(macs, int64_t(1) << 62);
  // A normal one is exact: 1x8x4x4 output, 8x3x3x3 weight.
  EXPECT_EQ(
      sparq::countMacs("Conv", {{1, 3, 6, 6}, {8, 3, 3, 3}}, {{1, 8, 4, 4}}, 1),
      8 * 4 * 4 * 27);
  // QLinearConv with too few inputs counts nothing (its weight is input 3).
  EXPECT_EQ(
      sparq::countMacs("QLinearConv", {{1, 3, 6, 6}, {1}}, {{1, 8, 4, 4}}, 1),
      0);
}
} // namespace
