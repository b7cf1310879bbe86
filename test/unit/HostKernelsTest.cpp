// Host kernels against straightforward reference loops, including strided
// (non-contiguous) views, which the library path must handle or fall back on.

#include "runtime/kernels/HostKernels.h"
#include "runtime/kernels/BufferCache.h"
#include "runtime/kernels/DenseGemm.h"
#include "runtime/kernels/QuantizedElementwise.h"
#include "runtime/kernels/TopKRanks.h"
#include "test/unit/TestData.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <tuple>
#include <type_traits>
#include <vector>

using namespace sparq::kernels;

namespace {

using sparq::test::randomVector;

template <int R>
MemRef<float, R> view(std::vector<float> &data, std::array<int64_t, R> sizes,
                      std::array<int64_t, R> strides, int64_t offset = 0) {
  MemRef<float, R> m;
  m.allocated = m.aligned = data.data();
  m.offset = offset;
  for (int i = 0; i < R; ++i) {
    m.sizes[i] = sizes[i];
    m.strides[i] = strides[i];
  }
  return m;
}

TEST(HostKernels, MatmulAccumulatesIntoOutput) {
  const int64_t m = 7, k = 13, n = 5;
  auto a = randomVector(m * k, 1), b = randomVector(k * n, 2),
       c = randomVector(m * n, 3);
  std::vector<float> expected = c;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p)
        expected[i * n + j] += a[i * k + p] * b[p * n + j];
  sparq::test::atEveryLevel([&] {
    std::vector<float> got = c;
    auto av = view<2>(a, {m, k}, {k, 1}), bv = view<2>(b, {k, n}, {n, 1}),
         cv = view<2>(got, {m, n}, {n, 1});
    matmulF32(&av, &bv, &cv);
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], expected[i], 1e-4) << "at " << i;
  });
}

TEST(HostKernels, MatmulOnTransposedViewFallsBackCorrectly) {
  // B is a transposed view (column stride != 1): no sgemm, same result.
  const int64_t m = 4, k = 6, n = 3;
  auto a = randomVector(m * k, 4), bt = randomVector(n * k, 5);
  std::vector<float> c(m * n, 0.0f), expected(m * n, 0.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p)
        expected[i * n + j] += a[i * k + p] * bt[j * k + p];
  sparq::test::atEveryLevel([&] {
    std::vector<float> got = c;
    auto av = view<2>(a, {m, k}, {k, 1}), bv = view<2>(bt, {k, n}, {1, k}),
         cv = view<2>(got, {m, n}, {n, 1});
    matmulF32(&av, &bv, &cv);
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], expected[i], 1e-4);
  });
}

// A times B in panels, as a compiled Linear calls it: contiguous views on
// the GEMM, strided ones (a slice of A, a column view of C) by loops.
TEST(HostKernels, MatmulOnPanelsAccumulatesIntoOutput) {
  const int64_t m = 9, k = 21, n = 70;
  auto a = randomVector(m * 2 * k, 6), bt = randomVector(n * k, 7),
       c = randomVector(m * n * 2, 8);
  std::vector<float> panels = panelsF32(bt.data(), k, true, k, n);
  sparq::test::atEveryLevel([&] {
    for (bool strided : {false, true}) {
      std::vector<float> got = c, expected = c;
      int64_t as1 = strided ? 2 : 1, cs0 = strided ? 2 * n : n;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          for (int64_t p = 0; p < k; ++p)
            expected[i * cs0 + j] += a[(i * k + p) * as1] * bt[j * k + p];
      auto av = view<2>(a, {m, k}, {k * as1, as1}),
           cv = view<2>(got, {m, n}, {cs0, 1});
      auto pv = view<3>(panels, {(n + 63) / 64, k, 64}, {k * 64, 64, 1});
      matmulF32Panels(&av, &pv, &cv);
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], expected[i], 1e-4) << "at " << i;
    }
  });
}

struct ConvCase {
  int64_t n, c, h, w, f, kh, kw, sh, sw, dh, dw;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0; // implicit zero padding
  bool accumulate = true;
  float lo = -INFINITY, hi = INFINITY;
  bool bias = false; // a bias per output channel
};

/// The bias of output channel f in these tests.
float biasValue(int64_t f) { return 0.25f * float(f % 5) - 0.5f; }

/// The output's height and width for a case's window, strides and padding.
std::pair<int64_t, int64_t> outputSize(const ConvCase &p) {
  return {(p.h + p.pt + p.pb - (p.kh - 1) * p.dh - 1) / p.sh + 1,
          (p.w + p.pl + p.pr - (p.kw - 1) * p.dw - 1) / p.sw + 1};
}

/// Calls fn(ky, kx, iy, ix) for each tap of output (y, xo) that falls inside
/// the input (taps in the padding are skipped).
template <typename Fn>
void forEachTap(const ConvCase &p, int64_t y, int64_t xo, Fn fn) {
  for (int64_t ky = 0; ky < p.kh; ++ky)
    for (int64_t kx = 0; kx < p.kw; ++kx) {
      int64_t iy = y * p.sh + ky * p.dh - p.pt;
      int64_t ix = xo * p.sw + kx * p.dw - p.pl;
      if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w)
        fn(ky, kx, iy, ix);
    }
}

/// Reference convolution with implicit zero padding; `groups` = channels
/// gives the depthwise case (w is [C, KH, KW] then).
std::vector<float> referenceConv(const ConvCase &p, const std::vector<float> &x,
                                 const std::vector<float> &wt,
                                 std::vector<float> out, int64_t oh, int64_t ow,
                                 bool depthwise) {
  for (int64_t b = 0; b < p.n; ++b)
    for (int64_t f = 0; f < p.f; ++f)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xo = 0; xo < ow; ++xo) {
          float acc = 0;
          for (int64_t c = 0; c < p.c; ++c) {
            if (depthwise && c != f)
              continue;
            forEachTap(
                p, y, xo, [&](int64_t ky, int64_t kx, int64_t iy, int64_t ix) {
                  float wv = depthwise
                                 ? wt[(f * p.kh + ky) * p.kw + kx]
                                 : wt[((f * p.c + c) * p.kh + ky) * p.kw + kx];
                  acc += x[((b * p.c + c) * p.h + iy) * p.w + ix] * wv;
                });
          }
          float &o = out[((b * p.f + f) * oh + y) * ow + xo];
          acc += p.bias ? biasValue(f) : 0.0f;
          o = std::min(std::max((p.accumulate ? o : 0.0f) + acc, p.lo), p.hi);
        }
  return out;
}

ConvParams paramsOf(const ConvCase &p) {
  static std::vector<float> biases;
  biases.resize(std::max(p.f, p.c));
  for (size_t f = 0; f < biases.size(); ++f)
    biases[f] = biasValue(f);
  ConvParams cp;
  cp.bias = p.bias ? biases.data() : nullptr;
  cp.strideH = p.sh;
  cp.strideW = p.sw;
  cp.dilationH = p.dh;
  cp.dilationW = p.dw;
  cp.padTop = p.pt;
  cp.padLeft = p.pl;
  cp.accumulate = p.accumulate;
  cp.lo = p.lo;
  cp.hi = p.hi;
  return cp;
}

class Conv2dTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dTest, MatchesReference) {
  ConvCase p = GetParam();
  int64_t oh, ow;
  std::tie(oh, ow) = outputSize(p);
  auto x = randomVector(p.n * p.c * p.h * p.w, 6);
  auto wt = randomVector(p.f * p.c * p.kh * p.kw, 7);
  // A NaN-free garbage output: must be ignored when not accumulating.
  auto out = randomVector(p.n * p.f * oh * ow, 8);
  auto expected = referenceConv(p, x, wt, out, oh, ow, false);
  auto xv =
      view<4>(x, {p.n, p.c, p.h, p.w}, {p.c * p.h * p.w, p.h * p.w, p.w, 1});
  auto wv = view<4>(wt, {p.f, p.c, p.kh, p.kw},
                    {p.c * p.kh * p.kw, p.kh * p.kw, p.kw, 1});
  auto ov = view<4>(out, {p.n, p.f, oh, ow}, {p.f * oh * ow, oh * ow, ow, 1});
  sparq::test::atEveryLevel([&] {
    auto got = out;
    auto gv = view<4>(got, {p.n, p.f, oh, ow}, {p.f * oh * ow, oh * ow, ow, 1});
    conv2dNchwF32(&xv, &wv, &gv, paramsOf(p));
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], expected[i], 1e-3) << "at " << i;
  });
}

TEST_P(Conv2dTest, DepthwiseMatchesReference) {
  ConvCase p = GetParam();
  p.f = p.c;
  int64_t oh, ow;
  std::tie(oh, ow) = outputSize(p);
  auto x = randomVector(p.n * p.c * p.h * p.w, 9);
  auto wt = randomVector(p.c * p.kh * p.kw, 10);
  auto out = randomVector(p.n * p.c * oh * ow, 11);
  auto expected = referenceConv(p, x, wt, out, oh, ow, true);
  auto xv =
      view<4>(x, {p.n, p.c, p.h, p.w}, {p.c * p.h * p.w, p.h * p.w, p.w, 1});
  auto wv = view<3>(wt, {p.c, p.kh, p.kw}, {p.kh * p.kw, p.kw, 1});
  auto ov = view<4>(out, {p.n, p.c, oh, ow}, {p.c * oh * ow, oh * ow, ow, 1});
  sparq::test::atEveryLevel([&] {
    auto got = out;
    auto gv = view<4>(got, {p.n, p.c, oh, ow}, {p.c * oh * ow, oh * ow, ow, 1});
    depthwiseConv2dNchwF32(&xv, &wv, &gv, paramsOf(p));
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], expected[i], 1e-4) << "at " << i;
  });
}

TEST_P(Conv2dTest, ResultsDoNotDependOnThreadCount) {
  ConvCase p = GetParam();
  int64_t oh, ow;
  std::tie(oh, ow) = outputSize(p);
  auto x = randomVector(p.n * p.c * p.h * p.w, 6);
  auto wt = randomVector(p.f * p.c * p.kh * p.kw, 7);
  auto dw = randomVector(p.c * p.kh * p.kw, 10);
  auto xv =
      view<4>(x, {p.n, p.c, p.h, p.w}, {p.c * p.h * p.w, p.h * p.w, p.w, 1});
  auto wv = view<4>(wt, {p.f, p.c, p.kh, p.kw},
                    {p.c * p.kh * p.kw, p.kh * p.kw, p.kw, 1});
  auto dv = view<3>(dw, {p.c, p.kh, p.kw}, {p.kh * p.kw, p.kw, 1});
  sparq::test::atEveryLevel([&] {
    sparq::test::expectSameOnEveryThreadCount([&] {
      auto out = randomVector(p.n * p.f * oh * ow, 8);
      auto ov =
          view<4>(out, {p.n, p.f, oh, ow}, {p.f * oh * ow, oh * ow, ow, 1});
      conv2dNchwF32(&xv, &wv, &ov, paramsOf(p));
      return out;
    });
    sparq::test::expectSameOnEveryThreadCount([&] {
      auto out = randomVector(p.n * p.c * oh * ow, 11);
      auto ov =
          view<4>(out, {p.n, p.c, oh, ow}, {p.c * oh * ow, oh * ow, ow, 1});
      depthwiseConv2dNchwF32(&xv, &dv, &ov, paramsOf(p));
      return out;
    });
  });
}

ConvCase padded(ConvCase c, int64_t pad, bool accumulate, float lo = -INFINITY,
                float hi = INFINITY) {
  c.pt = c.pl = c.pb = c.pr = pad;
  c.accumulate = accumulate;
  c.lo = lo;
  c.hi = hi;
  return c;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Conv2dTest,
    ::testing::Values(
        ConvCase{1, 3, 9, 9, 8, 3, 3, 1, 1, 1, 1},
        ConvCase{2, 4, 10, 7, 5, 3, 2, 2, 1, 1, 1},
        ConvCase{1, 8, 6, 6, 16, 1, 1, 1, 1, 1, 1},  // pointwise
        ConvCase{1, 2, 11, 11, 3, 3, 3, 2, 2, 2, 2}, // dilated
        ConvCase{1, 1, 5, 5, 1, 5, 5, 1, 1, 1, 1},
        // Implicit padding, overwriting, ReLU6 clamp (MobileNet's blocks).
        padded(ConvCase{1, 6, 12, 12, 6, 3, 3, 1, 1, 1, 1}, 1, false, 0, 6),
        padded(ConvCase{2, 4, 13, 9, 4, 3, 3, 2, 2, 1, 1}, 1, false, 0, 0.5f),
        padded(ConvCase{1, 3, 8, 8, 3, 3, 3, 1, 1, 2, 2}, 2, true),
        padded(ConvCase{1, 2, 4, 4, 2, 3, 3, 1, 1, 1, 1}, 3, false, -0.25f),
        // Asymmetric padding ("same" at stride 2), rows wider than a vector.
        ConvCase{1, 3, 35, 37, 3, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, true},
        ConvCase{1, 2, 20, 40, 2, 5, 3, 1, 2, 1, 3, 2, 0, 2, 4, false, -1, 1},
        // A folded bias, overwriting and accumulating.
        [] {
          ConvCase c =
              padded(ConvCase{1, 5, 10, 10, 7, 3, 3, 1, 1, 1, 1}, 1, false, 0);
          c.bias = true;
          return c;
        }(),
        [] {
          ConvCase c = ConvCase{1, 4, 9, 17, 6, 1, 1, 1, 1, 1, 1};
          c.bias = true;
          return c;
        }(),
        // Shapes of the phase-split GEMM (ConvPhaseGemm.cpp): a 1x1
        // stride-2 downsample into a residual with bias and ReLU, a 7x7
        // stride-2 stem, rows of more than one 64-column tile, stride with
        // dilation and uneven padding.
        [] {
          ConvCase c = ConvCase{1, 8, 14, 14, 10, 1, 1, 2, 2, 1, 1};
          c.bias = true;
          c.lo = 0;
          return c;
        }(),
        [] {
          ConvCase c =
              padded(ConvCase{1, 3, 23, 29, 8, 7, 7, 2, 2, 1, 1}, 3, false, 0);
          c.bias = true;
          return c;
        }(),
        [] {
          ConvCase c = padded(ConvCase{1, 16, 9, 70, 20, 3, 3, 1, 1, 1, 1}, 1,
                              true, 0, 6);
          c.bias = true;
          return c;
        }(),
        ConvCase{1, 3, 17, 19, 4, 3, 3, 2, 2, 2, 2, 1, 2, 0, 1, false},
        // Rows that fill whole vectors, which the phase-split GEMM runs row
        // by row into the output: MobileNet's stem (stride 2, 32 filters,
        // bias, ReLU6) and a 14x14 3x3 accumulating (row by row on AVX2,
        // flattened on AVX-512: both levels run each case). Depthwise, the 3x3
        // kernels' aligned paths at widths 32, 14 and 7 (stride 2 of 14).
        [] {
          ConvCase c = padded(ConvCase{1, 3, 64, 64, 32, 3, 3, 2, 2, 1, 1}, 1,
                              false, 0, 6);
          c.bias = true;
          return c;
        }(),
        padded(ConvCase{1, 7, 14, 14, 20, 3, 3, 1, 1, 1, 1}, 1, true),
        padded(ConvCase{1, 9, 14, 14, 9, 3, 3, 2, 2, 1, 1}, 1, true, -1, 1),
        // Enough planes for the depthwise kernel to split over threads.
        padded(ConvCase{2, 48, 28, 28, 48, 3, 3, 1, 1, 1, 1}, 1, false, 0, 6)));

/// Max pool with implicit -inf padding, straight from the definition.
std::vector<float> referenceMaxPool(const ConvCase &p,
                                    const std::vector<float> &x,
                                    std::vector<float> out, int64_t oh,
                                    int64_t ow) {
  for (int64_t q = 0; q < p.n * p.c; ++q)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t xo = 0; xo < ow; ++xo) {
        float &o = out[(q * oh + y) * ow + xo];
        float m = p.accumulate ? o : -INFINITY;
        forEachTap(p, y, xo, [&](int64_t, int64_t, int64_t iy, int64_t ix) {
          float v = x[(q * p.h + iy) * p.w + ix];
          m = std::isnan(v) || std::isnan(m) ? NAN : std::max(m, v);
        });
        o = m;
      }
  return out;
}

TEST(HostKernels, MaxPoolMatchesReference) {
  for (ConvCase p : {
           padded(ConvCase{1, 3, 13, 13, 3, 3, 3, 2, 2, 1, 1}, 1, false),
           padded(ConvCase{2, 2, 9, 20, 2, 2, 3, 1, 2, 2, 1}, 1, true),
           ConvCase{1, 4, 8, 8, 4, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false},
           ConvCase{1, 2, 7, 11, 2, 3, 3, 1, 1, 1, 1, 2, 0, 0, 2, false},
       }) {
    int64_t oh, ow;
    std::tie(oh, ow) = outputSize(p);
    auto x = randomVector(p.n * p.c * p.h * p.w, 12);
    x[5] = NAN; // a NaN in a window is the window's maximum
    auto out = randomVector(p.n * p.c * oh * ow, 13);
    auto expected = referenceMaxPool(p, x, out, oh, ow);
    auto xv =
        view<4>(x, {p.n, p.c, p.h, p.w}, {p.c * p.h * p.w, p.h * p.w, p.w, 1});
    auto ov = view<4>(out, {p.n, p.c, oh, ow}, {p.c * oh * ow, oh * ow, ow, 1});
    sparq::test::atEveryLevel([&] {
      sparq::test::expectSameOnEveryThreadCount([&] {
        std::vector<float> got = out;
        auto gv =
            view<4>(got, {p.n, p.c, oh, ow}, {p.c * oh * ow, oh * ow, ow, 1});
        maxPool2dNchwF32(&xv, p.kh, p.kw, &gv, paramsOf(p));
        int nans = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          nans += std::isnan(expected[i]);
          if (std::isnan(expected[i]))
            EXPECT_TRUE(std::isnan(got[i])) << "at " << i;
          else
            EXPECT_EQ(got[i], expected[i]) << "at " << i;
        }
        EXPECT_GT(nans, 0);
        return got;
      });
    });
  }
}

// The byte max pools (a QDQ model's activations): the window's maximum as
// uint8 or int8 order has it, padding never the maximum.
template <typename T> void checkBytePool() {
  for (ConvCase p : {
           padded(ConvCase{1, 3, 13, 13, 3, 3, 3, 2, 2, 1, 1}, 1, false),
           padded(ConvCase{2, 2, 9, 20, 2, 2, 3, 1, 2, 2, 1}, 1, true),
           ConvCase{1, 70, 8, 40, 70, 3, 3, 1, 2, 1, 1, 0, 1, 0, 0, false},
       }) {
    int64_t oh, ow;
    std::tie(oh, ow) = outputSize(p);
    std::mt19937 rng(21);
    std::uniform_int_distribution<int> any(0, 255);
    std::vector<T> x(p.n * p.c * p.h * p.w), out(p.n * p.c * oh * ow);
    for (auto &e : x)
      e = T(any(rng));
    for (auto &e : out)
      e = T(any(rng));
    std::vector<T> want = out;
    for (int64_t q = 0; q < p.n * p.c; ++q)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xo = 0; xo < ow; ++xo) {
          T &o = want[(q * oh + y) * ow + xo];
          T m = p.accumulate ? o : std::numeric_limits<T>::lowest();
          forEachTap(p, y, xo, [&](int64_t, int64_t, int64_t iy, int64_t ix) {
            m = std::max(m, x[(q * p.h + iy) * p.w + ix]);
          });
          o = m;
        }
    auto byteView = [](std::vector<T> &v, std::array<int64_t, 4> sizes) {
      MemRef<T, 4> m;
      m.allocated = m.aligned = v.data();
      m.offset = 0;
      int64_t stride = 1;
      for (int i = 3; i >= 0; --i) {
        m.sizes[i] = sizes[i];
        m.strides[i] = stride;
        stride *= sizes[i];
      }
      return m;
    };
    auto xv = byteView(x, {p.n, p.c, p.h, p.w});
    sparq::test::atEveryLevel([&] {
      sparq::test::expectSameOnEveryThreadCount([&] {
        std::vector<T> got = out;
        auto gv = byteView(got, {p.n, p.c, oh, ow});
        if constexpr (std::is_same_v<T, uint8_t>)
          maxPool2dNchwU8(&xv, p.kh, p.kw, &gv, paramsOf(p));
        else
          maxPool2dNchwS8(&xv, p.kh, p.kw, &gv, paramsOf(p));
        for (size_t i = 0; i < got.size(); ++i)
          EXPECT_EQ(int(got[i]), int(want[i])) << "at " << i;
        return std::vector<float>(got.begin(), got.end());
      });
    });
  }
}

TEST(HostKernels, ByteMaxPoolsMatchReference) {
  checkBytePool<uint8_t>();
  checkBytePool<int8_t>();
}

// The QDQ Add on bytes against its formula written out (f32 products and
// sums, clamp, round half to even), each signedness of the inputs, ties
// included (scales of 0.5), on a length that is no multiple of a vector.
TEST(HostKernels, QuantizedAddMatchesTheFormula) {
  int64_t n = 70001;
  std::mt19937 rng(22);
  std::uniform_int_distribution<int> any(0, 255);
  std::vector<uint8_t> a(n), b(n);
  for (int64_t i = 0; i < n; ++i)
    a[i] = uint8_t(any(rng)), b[i] = uint8_t(any(rng));
  for (int combo = 0; combo < 4; ++combo) {
    QuantizedAdd q{combo % 2 ? 3 : -7,
                   combo / 2 ? 128 : 0,
                   combo % 2 == 1,
                   combo / 2 == 1,
                   combo == 0 ? 0.5f : 0.37f,
                   combo == 3 ? 0.5f : 0.81f,
                   combo < 2 ? 0.0f : 11.0f,
                   combo == 1 ? -128.0f : 0.0f,
                   combo == 1 ? 127.0f : 255.0f};
    std::vector<uint8_t> want(n);
    for (int64_t i = 0; i < n; ++i) {
      int32_t va = q.unsignedA ? a[i] : int8_t(a[i]);
      int32_t vb = q.unsignedB ? b[i] : int8_t(b[i]);
      volatile float t = float(va - q.zeroA) * q.scaleA;
      volatile float u = float(vb - q.zeroB) * q.scaleB;
      volatile float sum = t + u;
      float y = std::min(std::max(sum + q.offset, q.lo), q.hi);
      want[i] = uint8_t(int32_t(std::nearbyint(y)));
    }
    sparq::test::atEveryLevel([&] {
      sparq::test::expectSameOnEveryThreadCount([&] {
        std::vector<uint8_t> got(n, 0x55);
        quantizedAdd(a.data(), b.data(), got.data(), n, q);
        for (int64_t i = 0; i < n; ++i)
          EXPECT_EQ(int(got[i]), int(want[i])) << "at " << i << ", " << combo;
        return std::vector<float>(got.begin(), got.end());
      });
    });
  }
}

/// A registered kernel's entry point, by its JIT name.
void *hostKernel(const std::string &want) {
  void *found = nullptr;
  forEachHostKernel([&](const char *name, void *address) {
    if (want == name)
      found = address;
  });
  return found;
}

// The grouped convolutions' entry points, on [N, G, C, H, W] views: 3
// groups of 5 input and 4 output channels, 3x3 taps, stride 2 and dilation
// 1, accumulating into the output, against the definition, at every SIMD
// level and thread count; f32 with a bias, and int8 x int8 -> int32.
TEST(HostKernels, GroupedConvolutionsRunEachGroup) {
  const int64_t n = 2, g = 3, c = 5, f = 4, h = 11, w = 9, k = 3, s = 2;
  const int64_t oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> small(-9, 9);
  auto fill = [&](auto &v) {
    for (auto &x : v)
      x = static_cast<std::decay_t<decltype(x)>>(small(gen));
  };
  std::vector<float> xf(n * g * c * h * w), wf(g * f * c * k * k), bias(g * f),
      initF(n * g * f * oh * ow);
  std::vector<int8_t> xi(xf.size()), wi(wf.size());
  std::vector<int32_t> initI(initF.size());
  fill(xf), fill(wf), fill(bias), fill(initF), fill(xi), fill(wi), fill(initI);
  // The definition, in doubles (exact here): out += bias + sum x * w.
  auto reference = [&](auto &x, auto &wt, auto &init, bool withBias) {
    std::vector<double> out(init.begin(), init.end());
    for (int64_t b = 0; b < n; ++b)
      for (int64_t gi = 0; gi < g; ++gi)
        for (int64_t fi = 0; fi < f; ++fi)
          for (int64_t y = 0; y < oh; ++y)
            for (int64_t xo = 0; xo < ow; ++xo) {
              double acc = withBias ? bias[gi * f + fi] : 0.0;
              for (int64_t ci = 0; ci < c; ++ci)
                for (int64_t ky = 0; ky < k; ++ky)
                  for (int64_t kx = 0; kx < k; ++kx)
                    acc +=
                        double(
                            x[(((b * g + gi) * c + ci) * h + y * s + ky) * w +
                              xo * s + kx]) *
                        double(
                            wt[(((gi * f + fi) * c + ci) * k + ky) * k + kx]);
              out[(((b * g + gi) * f + fi) * oh + y) * ow + xo] += acc;
            }
    return out;
  };
  std::vector<double> wantF = reference(xf, wf, initF, true),
                      wantI = reference(xi, wi, initI, false);
  using F32Fn = void (*)(MemRef<float, 5> *, MemRef<float, 5> *,
                         MemRef<float, 5> *, F32x1 *, int64_t, int64_t, int64_t,
                         int64_t, int64_t, int64_t, int64_t, float, float);
  using I8Fn = void (*)(MemRef<int8_t, 5> *, MemRef<int8_t, 5> *,
                        MemRef<int32_t, 5> *, int64_t, int64_t, int64_t,
                        int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
  auto f32 = reinterpret_cast<F32Fn>(
      hostKernel("_mlir_ciface_sparq_grouped_conv2d_nchw_f32"));
  auto i8 = reinterpret_cast<I8Fn>(
      hostKernel("_mlir_ciface_sparq_grouped_conv2d_nchw_s8s8_i32"));
  ASSERT_TRUE(f32 && i8);
  sparq::test::atEveryLevel([&] {
    sparq::test::expectSameOnEveryThreadCount([&] {
      std::vector<float> out = initF;
      auto x5 = sparq::test::denseMemRef<float, 5>(xf, {n, g, c, h, w});
      auto w5 = sparq::test::denseMemRef<float, 5>(wf, {g, f, c, k, k});
      auto o5 = sparq::test::denseMemRef<float, 5>(out, {n, g, f, oh, ow});
      auto b1 = sparq::test::denseMemRef<float, 1>(bias, {g * f});
      f32(&x5, &w5, &o5, &b1, s, s, 1, 1, 0, 0, 1, -INFINITY, INFINITY);
      for (size_t i = 0; i < out.size(); ++i)
        EXPECT_EQ(out[i], wantF[i]) << "f32 output " << i;
      std::vector<int32_t> sums = initI;
      auto xi5 = sparq::test::denseMemRef<int8_t, 5>(xi, {n, g, c, h, w});
      auto wi5 = sparq::test::denseMemRef<int8_t, 5>(wi, {g, f, c, k, k});
      auto oi5 = sparq::test::denseMemRef<int32_t, 5>(sums, {n, g, f, oh, ow});
      i8(&xi5, &wi5, &oi5, 0, 0, s, s, 1, 1, 0, 0, 1);
      for (size_t i = 0; i < sums.size(); ++i)
        EXPECT_EQ(double(sums[i]), wantI[i]) << "int8 output " << i;
      out.insert(out.end(), sums.begin(), sums.end());
      return out;
    });
  });
}

TEST(HostKernels, EveryKernelIsRegisteredForTheJit) {
  std::vector<std::string> names;
  forEachHostKernel([&](const char *name, void *address) {
    EXPECT_NE(address, nullptr);
    names.push_back(name);
  });
  // Every call sparq-host-library-calls emits, and the lowering's
  // malloc/free.
  std::set<std::string> want = {
      "malloc",
      "free",
      "_mlir_ciface_sparq_matmul_f32",
      "_mlir_ciface_sparq_matmul_f32_panels",
      "_mlir_ciface_sparq_batch_matmul_f32",
      "_mlir_ciface_sparq_conv2d_nchw_f32",
      "_mlir_ciface_sparq_depthwise_conv2d_nchw_f32",
      "_mlir_ciface_sparq_grouped_conv2d_nchw_f32",
      "_mlir_ciface_sparq_maxpool2d_nchw_f32",
      "_mlir_ciface_sparq_packed_linear_f32",
      "_mlir_ciface_sparq_packed_conv2d_nchw_f32",
      "_mlir_ciface_sparq_conv2d_nchw_s8s8_i32",
      "_mlir_ciface_sparq_grouped_conv2d_nchw_s8s8_i32",
      "_mlir_ciface_sparq_packed_conv2d_nchw_s8s8_i32",
      "_mlir_ciface_sparq_packed_conv2d_nchw_s8s8_requant",
      "_mlir_ciface_sparq_depthwise_nchw_s8s8_requant",
      "_mlir_ciface_sparq_maxpool2d_nchw_u8",
      "_mlir_ciface_sparq_maxpool2d_nchw_s8",
      "_mlir_ciface_sparq_qadd_i8",
      "_mlir_ciface_sparq_bev_pool",
      "_mlir_ciface_sparq_correlation",
      "_mlir_ciface_sparq_roi_align",
      "_mlir_ciface_sparq_topk_ranks_f32",
      "_mlir_ciface_sparq_nonzero",
      "_mlir_ciface_sparq_non_max_suppression",
      "_mlir_ciface_sparq_unique_f32",
      "_mlir_ciface_sparq_unique_i64"};
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), want);
  EXPECT_EQ(names.size(), want.size());
}

TEST(BufferCache, ReusesLargeBlocksOfTheSameSize) {
  releaseCachedBuffers();
  size_t big = 4 * kMinCachedBytes;
  void *a = cachedMalloc(big);
  ASSERT_NE(a, nullptr);
  static_cast<char *>(a)[big - 1] = 1; // usable to its end
  cachedFree(a);
  EXPECT_EQ(cachedBytes(), big);
  void *b = cachedMalloc(big);
  EXPECT_EQ(a, b) << "a block of the same size is reused";
  EXPECT_EQ(cachedBytes(), 0u);
  void *c = cachedMalloc(big + 64);
  EXPECT_NE(c, b) << "other sizes get their own block";
  cachedFree(b);
  cachedFree(c);
  // Small blocks bypass the cache.
  void *s = cachedMalloc(16);
  cachedFree(s);
  EXPECT_EQ(cachedBytes(), 2 * big + 64);
  releaseCachedBuffers();
  EXPECT_EQ(cachedBytes(), 0u);
}

TEST(TopKRanks, MatchTheQuadraticDefinition) {
  // The importer's generic: rank[i] = #j beating i, larger (or smaller)
  // or equal and earlier, by ordered comparisons (NaN beats nothing and
  // nothing beats it). Ties and NaNs included.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick(0, 5);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (bool largest : {true, false}) {
    std::vector<float> x(3 * 40);
    for (float &v : x)
      v = pick(rng) == 0 ? nan : float(pick(rng)) - 2.5f;
    std::vector<int64_t> got(x.size());
    topKRanks(x.data(), 3, 40, largest, got.data());
    for (int r = 0; r < 3; ++r)
      for (int i = 0; i < 40; ++i) {
        int64_t want = 0;
        for (int j = 0; j < 40; ++j) {
          float xi = x[r * 40 + i], xj = x[r * 40 + j];
          bool strict = largest ? xj > xi : xj < xi;
          want += strict || (xj == xi && j < i);
        }
        EXPECT_EQ(got[r * 40 + i], want) << "row " << r << " element " << i;
      }
  }
}

} // namespace
