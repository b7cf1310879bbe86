//===- GradientCompressionTest.cpp - DGC's selection and messages ---------===//

#include "runtime/kernels/GradientCompression.h"
#include "runtime/formats/GradientMessage.h"
#include "runtime/formats/Packed.h"
#include "runtime/kernels/ThreadPool.h"
#include "test/unit/TestData.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

using namespace sparq;

namespace {

std::vector<float> gradient(int64_t n, unsigned seed) {
  return test::randomVector(n, seed);
}

/// The k largest |v| (ties: the earlier), ascending: the plain definition.
std::vector<int64_t> topK(const std::vector<float> &v, int64_t k) {
  std::vector<int64_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return std::fabs(v[a]) > std::fabs(v[b]);
  });
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

TEST(GradientMessage, RoundTripsWithFillersForLongGaps) {
  std::vector<int64_t> pos = {0, 1, 70000, 70001, 300000, 999999};
  std::vector<float> val = {1.5f, -2, 3, 4, -5, 6};
  int64_t entries = formats::gradientMessageEntries(pos.data(), pos.size());
  // 70000 - 1 - 1 = 69998 skipped: one filler; 229998: three.
  EXPECT_EQ(entries, 6 + 1 + 3 + 10);
  std::vector<uint8_t> msg(formats::gradientMessageBytes(entries));
  EXPECT_EQ(formats::encodeGradientMessage(pos.data(), val.data(), pos.size(),
                                           msg.data()),
            msg.size());
  EXPECT_EQ(msg.size() % 4, 0u);
  std::vector<float> dense(1000000, 0.25f);
  formats::addGradientMessage(msg.data(), msg.size(), dense.data(),
                              dense.size());
  for (size_t i = 0; i < pos.size(); ++i)
    EXPECT_EQ(dense[pos[i]], 0.25f + val[i]);
  EXPECT_EQ(std::count(dense.begin(), dense.end(), 0.25f),
            int64_t(dense.size() - pos.size()));
}

TEST(GradientMessage, BadMessagesAreErrors) {
  std::vector<int64_t> pos = {5, 5};
  std::vector<float> val = {1, 2};
  std::vector<uint8_t> msg(formats::gradientMessageBytes(2));
  EXPECT_THROW(
      formats::encodeGradientMessage(pos.data(), val.data(), 2, msg.data()),
      formats::FormatError);
  pos = {5, 9};
  formats::encodeGradientMessage(pos.data(), val.data(), 2, msg.data());
  std::vector<float> dense(10, 0), small(9, 0);
  EXPECT_THROW(formats::addGradientMessage(msg.data(), 12, dense.data(), 10),
               formats::FormatError); // truncated
  EXPECT_THROW(
      formats::addGradientMessage(msg.data(), msg.size(), small.data(), 9),
      formats::FormatError); // position 9 of 9 values
  EXPECT_NO_THROW(
      formats::addGradientMessage(msg.data(), msg.size(), dense.data(), 10));
}

TEST(GradientCompression, AccumulatesAsWritten) {
  int64_t n = 100000;
  std::vector<float> g = gradient(n, 1), u = gradient(n, 2), v = gradient(n, 3);
  std::vector<float> ru = u, rv = v;
  kernels::accumulateGradient(u.data(), v.data(), g.data(), n, 0.9f);
  for (int64_t i = 0; i < n; ++i) {
    float m = 0.9f * ru[i]; // rounded before the add: no FMA
    ru[i] = m + g[i];
    rv[i] += ru[i];
  }
  EXPECT_EQ(u, ru);
  EXPECT_EQ(v, rv);
}

TEST(GradientCompression, ExactSelectionIsTheTopK) {
  std::vector<float> v = gradient(5000, 4);
  v[17] = v[18] = 100; // a tie: both kept
  kernels::SelectOptions o;
  o.sampleFraction = 1.0; // the whole tensor: exact
  kernels::SelectStats s;
  EXPECT_EQ(kernels::selectLargest(v.data(), v.size(), 50, o, &s), topK(v, 50));
  EXPECT_TRUE(s.exact);
}

TEST(GradientCompression, SampledSelectionKeepsTheLargestWithinBudget) {
  int64_t n = 3000000, k = n / 1000;
  std::vector<float> v = gradient(n, 5);
  for (int threads : {1, 2, 3}) {
    kernels::setPoolThreads(threads);
    kernels::SelectStats s;
    std::vector<int64_t> got =
        kernels::selectLargest(v.data(), n, k, {0.01, 0.3, 7}, &s);
    kernels::setPoolThreads(2);
    ASSERT_GT(s.sampled, 0);
    EXPECT_LE(int64_t(got.size()), k);
    EXPECT_GE(double(got.size()), 0.7 * k);
    ASSERT_TRUE(std::is_sorted(got.begin(), got.end()));
    // Every selected entry is at least every other one: a threshold.
    std::vector<uint8_t> in(n, 0);
    float smallest = INFINITY, largestLeft = 0;
    for (int64_t p : got) {
      in[p] = 1;
      smallest = std::min(smallest, std::fabs(v[p]));
    }
    for (int64_t i = 0; i < n; ++i)
      if (!in[i])
        largestLeft = std::max(largestLeft, std::fabs(v[i]));
    EXPECT_GE(smallest, largestLeft) << threads << " threads";
    static std::vector<int64_t> first;
    if (threads == 1)
      first = got;
    else
      EXPECT_EQ(got, first) << "differs with " << threads << " threads";
  }
}

TEST(GradientCompression, NeverSelectsZerosOrNaN) {
  std::vector<float> v(100000, 0.0f);
  v[10] = 1;
  v[20] = NAN;
  v[30] = -2;
  std::vector<int64_t> got = kernels::selectLargest(v.data(), v.size(), 100);
  EXPECT_EQ(got, (std::vector<int64_t>{10, 30}));
}

TEST(GradientCompression, ClearingMasksMomentum) {
  std::vector<float> u = {1, 2, 3, 4}, v = {5, 6, 7, 8};
  std::vector<int64_t> pos = {1, 3};
  kernels::clearSelected(u.data(), v.data(), pos.data(), 2);
  EXPECT_EQ(u, (std::vector<float>{1, 0, 3, 0}));
  EXPECT_EQ(v, (std::vector<float>{5, 0, 7, 0}));
}

} // namespace
