//===- CorrelationTest.cpp - PatchNet's correlation against loops ---------===//

#include "runtime/kernels/Correlation.h"
#include "test/unit/TestData.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace sparq;

namespace {

/// The definition, in double: every window's dot product with every patch
/// over the square root of its energy plus eps.
std::vector<float> reference(const std::vector<float> &s, int64_t n, int64_t c,
                             int64_t h, int64_t w, const std::vector<float> &p,
                             int64_t np, int64_t kh, int64_t kw, int64_t stride,
                             float eps) {
  int64_t oh = (h - kh) / stride + 1, ow = (w - kw) / stride + 1;
  std::vector<float> out(n * np * oh * ow);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t q = 0; q < np; ++q)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          double dot = 0, energy = 0;
          for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                double v =
                    s[((b * c + ci) * h + y * stride + i) * w + x * stride + j];
                dot += v * p[((q * c + ci) * kh + i) * kw + j];
                energy += v * v;
              }
          out[((b * np + q) * oh + y) * ow + x] =
              float(dot / std::sqrt(energy + eps));
        }
  return out;
}

} // namespace

TEST(Correlation, MatchesTheDefinitionAtEveryLevelAndThreadCount) {
  struct Shape {
    int64_t n, c, h, w, p, kh, kw, stride;
    float eps;
  };
  for (const Shape &sh : {Shape{1, 3, 19, 21, 16, 4, 4, 2, 1e-6f},
                          Shape{2, 2, 9, 9, 5, 3, 2, 1, 0.5f},
                          Shape{1, 1, 8, 8, 1, 8, 8, 3, 0.0f}}) {
    std::mt19937 rng(7);
    std::normal_distribution<float> d(0, 1);
    std::vector<float> s(sh.n * sh.c * sh.h * sh.w),
        p(sh.p * sh.c * sh.kh * sh.kw);
    for (float &v : s)
      v = d(rng);
    for (float &v : p)
      v = d(rng);
    std::vector<float> want = reference(s, sh.n, sh.c, sh.h, sh.w, p, sh.p,
                                        sh.kh, sh.kw, sh.stride, sh.eps);
    test::atEveryLevel([&] {
      test::expectSameOnEveryThreadCount([&] {
        std::vector<float> got(want.size());
        kernels::correlation(s.data(), sh.n, sh.c, sh.h, sh.w, p.data(), sh.p,
                             sh.kh, sh.kw, sh.stride, sh.eps, got.data());
        for (size_t i = 0; i < want.size(); ++i)
          EXPECT_NEAR(got[i], want[i], 1e-5f * (1 + std::fabs(want[i])))
              << "at " << i;
        return got;
      });
    });
  }
}
