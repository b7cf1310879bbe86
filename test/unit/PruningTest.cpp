//===- PruningTest.cpp - pruning, granularity, PE balance, TTQ, k-means ---===//

#include "runtime/formats/Pruning.h"
#include "runtime/formats/Quantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

using namespace sparq::formats;

namespace {

std::vector<float> randomWeights(std::mt19937 &rng, int64_t n) {
  std::normal_distribution<float> d(0, 1);
  std::vector<float> w(n);
  for (float &x : w)
    x = d(rng);
  return w;
}

TEST(Pruning, ElementMaskIsTheDsdThreshold) {
  std::mt19937 rng(1);
  std::vector<float> w = randomWeights(rng, 1000);
  PruneSpec spec;
  spec.ratio = 0.3;
  std::vector<uint8_t> mask = pruneMask(w.data(), {1000, 1, 1, 1}, spec);
  // DSD: sort |w|, lambda = the value at rank ratio * n, keep |w| > lambda.
  std::vector<float> mags(w.size());
  for (size_t i = 0; i < w.size(); ++i)
    mags[i] = std::fabs(w[i]);
  std::vector<float> sorted = mags;
  std::sort(sorted.begin(), sorted.end());
  float lambda = sorted[300 - 1];
  for (size_t i = 0; i < w.size(); ++i)
    ASSERT_EQ(mask[i], mags[i] > lambda) << i;
}

TEST(Pruning, KernelFilterChannelVectorAndBlockRemoveWholeGroups) {
  std::mt19937 rng(2);
  WeightShape s{8, 6, 3, 3};
  std::vector<float> w = randomWeights(rng, s.size());
  struct Case {
    const char *name;
    int64_t groups, groupSize;
  } cases[] = {{"kernel", 48, 9},
               {"filter", 8, 54},
               {"channel", 6, 72},
               {"vector", 144, 3},
               {"block2x9", 24, 18}};
  for (const Case &c : cases) {
    PruneSpec spec;
    ASSERT_TRUE(parseGranularity(c.name, spec));
    spec.ratio = 0.5;
    for (GroupNorm norm : {GroupNorm::L1, GroupNorm::L2, GroupNorm::Max}) {
      spec.norm = norm;
      std::vector<float> p = w;
      applyMask(p.data(), pruneMask(p.data(), s, spec));
      int64_t zeros = std::count(p.begin(), p.end(), 0.0f);
      EXPECT_EQ(zeros, c.groups / 2 * c.groupSize) << c.name;
      // Blocks of two whole kernels are also kernel sparsity, the finer
      // name detection gives them.
      SparsityInfo info = detectSparsity(p.data(), s);
      EXPECT_EQ(granularityName(info.pattern),
                std::string(c.name) == "block2x9" ? "kernel" : c.name);
    }
  }
  // The kept kernels are those of largest L1 norm.
  PruneSpec spec;
  parseGranularity("kernel", spec);
  spec.ratio = 0.75;
  std::vector<uint8_t> mask = pruneMask(w.data(), s, spec);
  std::vector<double> l1(48, 0);
  for (int64_t i = 0; i < s.size(); ++i)
    l1[i / 9] += std::fabs(w[i]);
  std::vector<double> sorted = l1;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t g = 0; g < 48; ++g)
    EXPECT_EQ(mask[g * 9], l1[g] > sorted[35]) << g;
}

TEST(Pruning, DetectsBlocksOfAMatrix) {
  std::mt19937 rng(5);
  WeightShape s{16, 32, 1, 1};
  for (const char *name : {"block8x8", "block4x4", "block1x4", "block4x1"}) {
    std::vector<float> w = randomWeights(rng, s.size());
    PruneSpec spec;
    ASSERT_TRUE(parseGranularity(name, spec));
    spec.ratio = 0.6;
    applyMask(w.data(), pruneMask(w.data(), s, spec));
    EXPECT_EQ(granularityName(detectSparsity(w.data(), s).pattern), name);
  }
  // Scattered zeros are element sparsity.
  std::vector<float> w = randomWeights(rng, s.size());
  PruneSpec spec;
  spec.ratio = 0.5;
  applyMask(w.data(), pruneMask(w.data(), s, spec));
  SparsityInfo info = detectSparsity(w.data(), s);
  EXPECT_EQ(granularityName(info.pattern), "element");
  EXPECT_DOUBLE_EQ(info.density(), 0.5);
}

TEST(Pruning, NMKeepsTheLargestInEveryGroup) {
  std::mt19937 rng(3);
  std::vector<float> w = randomWeights(rng, 4 * 16);
  PruneSpec spec;
  ASSERT_TRUE(parseGranularity("2:4", spec));
  std::vector<uint8_t> mask = pruneMask(w.data(), {4, 16, 1, 1}, spec);
  for (int64_t g = 0; g < 16; ++g) {
    int kept = 0;
    float minKept = 1e9, maxDropped = 0;
    for (int j = 0; j < 4; ++j) {
      float m = std::fabs(w[g * 4 + j]);
      if (mask[g * 4 + j]) {
        ++kept;
        minKept = std::min(minKept, m);
      } else {
        maxDropped = std::max(maxDropped, m);
      }
    }
    EXPECT_EQ(kept, 2);
    EXPECT_GE(minKept, maxDropped);
  }
  applyMask(w.data(), mask);
  EXPECT_EQ(granularityName(detectSparsity(w.data(), {4, 16, 1, 1}).pattern),
            "nm2:4");
  EXPECT_THROW(pruneMask(w.data(), {4, 10, 1, 1}, spec), std::invalid_argument);
}

TEST(Pruning, GranularityNamesRoundTrip) {
  for (const char *n : {"element", "vector", "kernel", "filter", "channel",
                        "block4x4", "nm2:4"}) {
    PruneSpec s;
    ASSERT_TRUE(parseGranularity(n, s)) << n;
    EXPECT_EQ(granularityName(s), n);
  }
  PruneSpec s;
  EXPECT_FALSE(parseGranularity("blob", s));
  EXPECT_FALSE(parseGranularity("block4", s));
  EXPECT_FALSE(parseGranularity("4:2", s));
}

TEST(Pruning, PeBalanceEqualizesTheWork) {
  std::mt19937 rng(4);
  int64_t rows = 64, cols = 32, pes = 8;
  std::vector<float> w = randomWeights(rng, rows * cols);
  // Make the load skewed: rows of PE 0 are large.
  for (int64_t r = 0; r < rows; r += pes)
    for (int64_t c = 0; c < cols; ++c)
      w[r * cols + c] *= 10;
  std::vector<float> plain = w, balanced = w;
  PruneSpec spec;
  spec.ratio = 0.8;
  applyMask(plain.data(), pruneMask(plain.data(), {rows, cols, 1, 1}, spec));
  double before = peLoad(plain.data(), rows, cols, pes).efficiency();
  applyMask(balanced.data(),
            balancedPruneMask(balanced.data(), rows, cols, pes, 0.8));
  PeLoad after = peLoad(balanced.data(), rows, cols, pes);
  EXPECT_LT(before, 0.5);
  EXPECT_DOUBLE_EQ(after.efficiency(), 1.0);
  EXPECT_EQ(after.nonzeros[0], int64_t(std::llround(0.2 * 8 * 32)));
}

TEST(Ternary, TtqThresholdAndScales) {
  std::vector<float> w = {1.0f, -0.5f, 0.04f, -0.04f, 0.5f, -1.0f, 0.2f};
  TernaryScales s = ternarize(w.data(), w.size(), 0.05);
  // delta = 0.05: the +/-0.04 go to 0; Wp = mean(1, 0.5, 0.2).
  EXPECT_FLOAT_EQ(s.wp, (1.0f + 0.5f + 0.2f) / 3);
  EXPECT_FLOAT_EQ(s.wn, 0.75f);
  EXPECT_EQ(w[2], 0.0f);
  EXPECT_EQ(w[3], 0.0f);
  EXPECT_EQ(w[1], -s.wn);
  auto found = ternaryValues(w.data(), w.size());
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->wp, s.wp);
  std::vector<float> not3 = {1, 2, 0};
  EXPECT_FALSE(ternaryValues(not3.data(), 3).has_value());
  // Given scales are used as they are.
  std::vector<float> v = {0.3f, -0.3f, 0.001f};
  s = ternarize(v.data(), 3, 0.05, TernaryScales{2.0f, 3.0f});
  EXPECT_EQ(v[0], 2.0f);
  EXPECT_EQ(v[1], -3.0f);
  EXPECT_EQ(v[2], 0.0f);
}

TEST(WeightSharing, KMeansConvergesToClusterMeans) {
  // Three well separated clusters: k-means finds their means exactly.
  std::vector<float> w;
  for (float c : {-2.0f, 0.5f, 3.0f})
    for (float d : {-0.125f, 0.0f, 0.125f})
      w.push_back(c + d);
  std::vector<float> original = w;
  std::vector<float> cents = shareWeights(w.data(), w.size(), 3, false);
  ASSERT_EQ(cents.size(), 3u);
  EXPECT_FLOAT_EQ(cents[0], -2.0f);
  EXPECT_FLOAT_EQ(cents[1], 0.5f);
  EXPECT_FLOAT_EQ(cents[2], 3.0f);
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_EQ(w[i], cents[i / 3]);
  // Zeros stay zero when asked.
  std::vector<float> z = {0, 1, 1.1f, 0, -1};
  shareWeights(z.data(), z.size(), 2, true);
  EXPECT_EQ(z[0], 0.0f);
  EXPECT_EQ(z[3], 0.0f);
}

} // namespace

namespace {
TEST(Ternary, CodesAreTheSignsTernarizeWrites) {
  std::mt19937 rng(9);
  std::vector<float> w = randomWeights(rng, 777), t = w;
  std::vector<int8_t> codes(w.size());
  TernaryScales init = ternaryCodes(w.data(), w.size(), 0.05, codes.data());
  TernaryScales s = ternarize(t.data(), t.size(), 0.05);
  EXPECT_EQ(init.wp, s.wp);
  EXPECT_EQ(init.wn, s.wn);
  float amax = 0;
  for (float x : w)
    amax = std::max(amax, std::fabs(x));
  for (size_t i = 0; i < w.size(); ++i) {
    int8_t expect = w[i] > 0.05 * amax ? 1 : w[i] < -0.05 * amax ? -1 : 0;
    EXPECT_EQ(codes[i], expect) << i;
    EXPECT_EQ(t[i], expect > 0 ? s.wp : expect < 0 ? -s.wn : 0.0f) << i;
  }
}
} // namespace
