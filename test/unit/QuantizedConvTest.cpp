//===- QuantizedConvTest.cpp - integer convolution against a loop ---------===//
//
// qconv2dNchwU8S8 must equal a plain loop over sum (x - zero) * w exactly
// (integers: no tolerance), at every SIMD level and thread count, on full
// uint8/int8 ranges, padding (read as the zero point), strides and
// dilations (the phase planes), 1x1, channels not a multiple of 4, outputs
// narrower than a tile, accumulation. The
// requantizing form must give the bytes of the formula written out here.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/QuantizedConv.h"
#include "runtime/formats/ConvWeightsS8.h"
#include "runtime/formats/Packed.h"
#include "test/unit/TestData.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <vector>

using namespace sparq::kernels;

namespace {

struct QCase {
  int64_t n, c, h, w, f, kh, kw, s, d, pad;
  int32_t zero;
  bool accumulate;
};

/// The output's height and width, and the kernel parameters, of a case.
std::pair<int64_t, int64_t> outputSize(const QCase &q) {
  return {(q.h + 2 * q.pad - (q.kh - 1) * q.d - 1) / q.s + 1,
          (q.w + 2 * q.pad - (q.kw - 1) * q.d - 1) / q.s + 1};
}

ConvParams paramsOf(const QCase &q) {
  ConvParams p;
  p.strideH = p.strideW = q.s;
  p.dilationH = p.dilationW = q.d;
  p.padTop = p.padLeft = q.pad;
  p.accumulate = q.accumulate;
  return p;
}

/// init (+)= sum over taps of tap(x element or std::nullopt in the padding)
/// * w, in int64, straight from the definition.
template <typename X, typename Tap>
std::vector<int32_t> reference(const QCase &q, const std::vector<X> &x,
                               const std::vector<int8_t> &w,
                               std::vector<int32_t> out, Tap tap) {
  auto [oh, ow] = outputSize(q);
  for (int64_t b = 0; b < q.n; ++b)
    for (int64_t f = 0; f < q.f; ++f)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          int64_t s = 0;
          for (int64_t c = 0; c < q.c; ++c)
            for (int64_t ky = 0; ky < q.kh; ++ky)
              for (int64_t kx = 0; kx < q.kw; ++kx) {
                int64_t iy = oy * q.s + ky * q.d - q.pad,
                        ix = ox * q.s + kx * q.d - q.pad;
                bool inside = iy >= 0 && iy < q.h && ix >= 0 && ix < q.w;
                std::optional<int64_t> v;
                if (inside)
                  v = x[((b * q.c + c) * q.h + iy) * q.w + ix];
                s += tap(v) * w[((f * q.c + c) * q.kh + ky) * q.kw + kx];
              }
          int32_t &o = out[((b * q.f + f) * oh + oy) * ow + ox];
          o = int32_t((q.accumulate ? o : 0) + s);
        }
  return out;
}

/// Random x (of T's full range), int8 w and int32 init for a case.
template <typename T>
void randomOperands(const QCase &q, unsigned seed, std::vector<T> &x,
                    std::vector<int8_t> &w, std::vector<int32_t> &init) {
  auto [oh, ow] = outputSize(q);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> xs(std::numeric_limits<T>::min(),
                                        std::numeric_limits<T>::max()),
      s8(-128, 127), any(-1000, 1000);
  x.resize(q.n * q.c * q.h * q.w);
  w.resize(q.f * q.c * q.kh * q.kw);
  init.resize(q.n * q.f * oh * ow);
  for (auto &e : x)
    e = T(xs(rng));
  for (auto &e : w)
    e = int8_t(s8(rng));
  for (auto &e : init)
    e = any(rng);
}

class QConvTest : public ::testing::TestWithParam<QCase> {};

TEST_P(QConvTest, EqualsTheLoopExactly) {
  QCase q = GetParam();
  auto [oh, ow] = outputSize(q);
  std::vector<uint8_t> x;
  std::vector<int8_t> w;
  std::vector<int32_t> init;
  randomOperands(q, 7, x, w, init);
  // Taps in the padding read the zero point: they add nothing.
  std::vector<int32_t> want =
      reference(q, x, w, init,
                [&](std::optional<int64_t> v) { return v ? *v - q.zero : 0; });
  auto xv = sparq::test::denseMemRef<uint8_t, 4>(x, {q.n, q.c, q.h, q.w});
  auto wv = sparq::test::denseMemRef<int8_t, 4>(w, {q.f, q.c, q.kh, q.kw});
  ConvParams p = paramsOf(q);
  sparq::test::atEveryLevel([&] {
    sparq::test::expectSameOnEveryThreadCount([&] {
      std::vector<int32_t> got = init;
      auto ov = sparq::test::denseMemRef<int32_t, 4>(got, {q.n, q.f, oh, ow});
      qconv2dNchwU8S8(&xv, &wv, &ov, q.zero, p);
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], want[i]) << "at " << i;
      // As floats for the bitwise comparison across thread counts.
      return std::vector<float>(got.begin(), got.end());
    });
  });
}

// The IR's integer conv (linalg.conv_2d_nchw_fchw on int8): taps in the
// padding read the pad value and are multiplied like any other.
TEST_P(QConvTest, SignedInputEqualsTheNamedOpExactly) {
  QCase q = GetParam();
  int32_t pad = q.zero - 128; // an int8
  auto [oh, ow] = outputSize(q);
  std::vector<int8_t> x, w;
  std::vector<int32_t> init;
  randomOperands(q, 8, x, w, init);
  std::vector<int32_t> want =
      reference(q, x, w, init, [&](std::optional<int64_t> v) {
        return v ? *v : int64_t(pad);
      });
  auto xv = sparq::test::denseMemRef<int8_t, 4>(x, {q.n, q.c, q.h, q.w});
  auto wv = sparq::test::denseMemRef<int8_t, 4>(w, {q.f, q.c, q.kh, q.kw});
  ConvParams p = paramsOf(q);
  sparq::test::atEveryLevel([&] {
    std::vector<int32_t> got = init;
    auto ov = sparq::test::denseMemRef<int32_t, 4>(got, {q.n, q.f, oh, ow});
    qconv2dNchwS8S8(&xv, &wv, &ov, pad, p);
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], want[i]) << "at " << i;
  });
}

// The QDQ epilogue in the kernel: y = clamp(float(sum - shift) * scale +
// offset, lo, hi) rounded half to even, a byte, against the formula on the
// sums of the reference loop. Input biased (uint8, x + 128) or int8, output
// uint8 (lo raised by a ReLU) or int8; scales that make ties and
// saturation common.
TEST_P(QConvTest, RequantizedEqualsTheFormulaExactly) {
  QCase q = GetParam();
  int32_t pad = q.zero - 128;
  auto [oh, ow] = outputSize(q);
  std::vector<int8_t> x, w;
  std::vector<int32_t> init;
  randomOperands(q, 9, x, w, init);
  std::vector<int32_t> sums = reference(
      q, x, w, std::vector<int32_t>(init.size(), 0),
      [&](std::optional<int64_t> v) { return v ? *v : int64_t(pad); });
  std::mt19937 rng(10);
  std::uniform_int_distribution<int> shifts(-3000, 3000);
  std::uniform_real_distribution<float> scales(0.001f, 0.05f),
      offsets(-40.0f, 200.0f);
  std::vector<int32_t> shift(q.f);
  std::vector<float> scale(q.f), offset(q.f);
  for (int64_t f = 0; f < q.f; ++f) {
    shift[f] = shifts(rng);
    // Powers of two now and then: exact products, so that .5 ties occur.
    scale[f] = f % 3 == 0 ? 0.5f : scales(rng);
    offset[f] = f % 3 == 0 ? 0.0f : offsets(rng);
  }
  bool unsignedOut = q.zero % 2 == 0;
  float lo = unsignedOut ? 7.0f : -128.0f, hi = unsignedOut ? 255.0f : 127.0f;
  std::vector<int8_t> want(sums.size());
  int64_t plane = oh * ow;
  for (size_t i = 0; i < sums.size(); ++i) {
    int64_t f = int64_t(i) / plane % q.f;
    volatile float product = float(sums[i] - shift[f]) * scale[f];
    float y = std::min(std::max(product + offset[f], lo), hi);
    want[i] = int8_t(uint8_t(int32_t(std::nearbyint(y))));
  }
  ConvParams p = paramsOf(q);
  p.accumulate = false;
  std::vector<uint8_t> blob = sparq::formats::packConvWeightsS8(
      w.data(),
      std::array<int64_t, 4>{q.c * q.kh * q.kw, q.kh * q.kw, q.kw, 1}.data(),
      q.f, q.c, q.kh, q.kw);
  auto packed = sparq::formats::viewConvWeightsS8(blob.data(), blob.size());
  Requantize r{shift.data(), scale.data(), offset.data(), lo, hi};
  for (bool biased : {false, true}) {
    std::vector<int8_t> in = x;
    if (biased)
      for (auto &e : in)
        e = int8_t(uint8_t(e) ^ 0x80); // x + 128 as uint8
    auto xv = sparq::test::denseMemRef<int8_t, 4>(in, {q.n, q.c, q.h, q.w});
    sparq::test::atEveryLevel([&] {
      sparq::test::expectSameOnEveryThreadCount([&] {
        std::vector<int8_t> got(want.size(), 0x55);
        auto ov = sparq::test::denseMemRef<int8_t, 4>(got, {q.n, q.f, oh, ow});
        qconv2dNchwS8S8Requantized(&xv, packed, &ov, pad, p, biased, r);
        for (size_t i = 0; i < got.size(); ++i)
          EXPECT_EQ(int(got[i]), int(want[i]))
              << "at " << i << " (sum " << sums[i] << ", biased " << biased
              << ")";
        return std::vector<float>(got.begin(), got.end());
      });
    });
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, QConvTest,
    ::testing::Values(QCase{1, 3, 9, 9, 8, 3, 3, 1, 1, 1, 128, false},
                      QCase{2, 5, 11, 7, 13, 3, 3, 2, 1, 1, 0, true},
                      QCase{1, 16, 14, 14, 70, 1, 1, 1, 1, 0, 255, false},
                      QCase{1, 4, 12, 12, 6, 3, 3, 1, 2, 2, 17, false},
                      QCase{1, 3, 23, 29, 9, 7, 7, 2, 1, 3, 91, true},
                      QCase{1, 64, 8, 8, 20, 3, 3, 1, 1, 1, 200, false},
                      QCase{1, 2, 3, 3, 1, 3, 3, 1, 1, 1, 5, false},
                      QCase{1, 8, 13, 10, 12, 1, 1, 2, 1, 0, 3, false},
                      QCase{1, 6, 17, 15, 5, 3, 3, 3, 2, 2, 66, false},
                      QCase{2, 4, 5, 6, 7, 2, 2, 2, 1, 0, 254, true}));

// The int8 depthwise kernel (requantizing): the formula on the sums of a
// plain loop, exactly, every level and thread count, strides, dilation,
// padding (the pad value multiplied like any other), biased or int8 input.
TEST(QuantizedDepthwise, RequantizedEqualsTheFormulaExactly) {
  struct Case {
    int64_t n, c, h, w, k, s, d, pad;
  };
  for (Case t :
       {Case{1, 5, 9, 11, 3, 1, 1, 1}, Case{2, 3, 13, 12, 3, 2, 1, 1},
        Case{1, 4, 11, 11, 5, 1, 2, 3}, Case{1, 7, 8, 9, 2, 2, 1, 0}}) {
    int64_t oh = (t.h + 2 * t.pad - (t.k - 1) * t.d - 1) / t.s + 1;
    int64_t ow = (t.w + 2 * t.pad - (t.k - 1) * t.d - 1) / t.s + 1;
    std::mt19937 rng(31);
    std::uniform_int_distribution<int> s8(-128, 127), shifts(-900, 900);
    std::vector<int8_t> x(t.n * t.c * t.h * t.w), w(t.c * t.k * t.k);
    for (auto &e : x)
      e = int8_t(s8(rng));
    for (auto &e : w)
      e = int8_t(s8(rng));
    int32_t padValue = -77;
    std::vector<int32_t> shift(t.c);
    std::vector<float> scale(t.c), offset(t.c);
    for (int64_t c = 0; c < t.c; ++c) {
      shift[c] = shifts(rng);
      scale[c] = c % 2 ? 0.5f : 0.0123f * float(c + 1);
      offset[c] = c % 2 ? 0.0f : 3.5f + float(c);
    }
    Requantize r{shift.data(), scale.data(), offset.data(), 2.0f, 255.0f};
    std::vector<uint8_t> want(t.n * t.c * oh * ow);
    for (int64_t b = 0; b < t.n; ++b)
      for (int64_t c = 0; c < t.c; ++c)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            int64_t sum = 0;
            for (int64_t ky = 0; ky < t.k; ++ky)
              for (int64_t kx = 0; kx < t.k; ++kx) {
                int64_t iy = oy * t.s + ky * t.d - t.pad,
                        ix = ox * t.s + kx * t.d - t.pad;
                int64_t v = iy >= 0 && iy < t.h && ix >= 0 && ix < t.w
                                ? x[((b * t.c + c) * t.h + iy) * t.w + ix]
                                : padValue;
                sum += v * w[(c * t.k + ky) * t.k + kx];
              }
            volatile float product = float(sum - shift[c]) * scale[c];
            float y = std::min(std::max(product + offset[c], r.lo), r.hi);
            want[((b * t.c + c) * oh + oy) * ow + ox] =
                uint8_t(int32_t(std::nearbyint(y)));
          }
    auto wv = sparq::test::denseMemRef<int8_t, 3>(w, {t.c, t.k, t.k});
    ConvParams p;
    p.strideH = p.strideW = t.s;
    p.dilationH = p.dilationW = t.d;
    p.padTop = p.padLeft = t.pad;
    for (bool biased : {false, true}) {
      std::vector<int8_t> in = x;
      if (biased)
        for (auto &e : in)
          e = int8_t(uint8_t(e) ^ 0x80);
      auto xv = sparq::test::denseMemRef<int8_t, 4>(in, {t.n, t.c, t.h, t.w});
      sparq::test::atEveryLevel([&] {
        sparq::test::expectSameOnEveryThreadCount([&] {
          std::vector<int8_t> got(want.size(), 0x55);
          auto ov =
              sparq::test::denseMemRef<int8_t, 4>(got, {t.n, t.c, oh, ow});
          qdepthwiseNchwS8S8Requantized(&xv, &wv, &ov, padValue, p, biased, r);
          for (size_t i = 0; i < got.size(); ++i)
            EXPECT_EQ(int(uint8_t(got[i])), int(want[i]))
                << "at " << i << " (k " << t.k << ", stride " << t.s << ")";
          return std::vector<float>(got.begin(), got.end());
        });
      });
    }
  }
}

// The packed weights: rows tap-major, quads of channels within, zeros past
// a filter's channels, each filter's sum; a blob that is not one is
// refused.
TEST(ConvWeightsS8, RowOrderSumsAndChecks) {
  // 2 filters, 5 channels, 1x2 kernel: w[f][c][0][x] = f*50 + c*10 + x.
  int64_t f = 2, c = 5, kh = 1, kw = 2;
  std::vector<int8_t> w(f * c * kh * kw);
  for (int64_t fi = 0; fi < f; ++fi)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t x = 0; x < kw; ++x)
        w[(fi * c + ci) * kw + x] = int8_t(fi * 50 + ci * 10 + x);
  int64_t strides[4] = {c * kw, kw, kw, 1};
  auto tap = sparq::formats::packConvWeightsS8(w.data(), strides, f, c, kh, kw);
  auto v = sparq::formats::viewConvWeightsS8(tap.data(), tap.size());
  ASSERT_EQ(v.rowBytes, 2 * 2 * 4); // 2 taps x 2 quads x 4
  // Filter 1, tap 1 (x = 1), channel 4: quad 1, byte 0.
  EXPECT_EQ(v.rows[1 * v.rowBytes + (1 * 2 + 1) * 4 + 0], 50 + 40 + 1);
  EXPECT_EQ(v.rows[1 * v.rowBytes + (1 * 2 + 1) * 4 + 1], 0); // channel 5
  // Filter 0, tap 0, channel 2: quad 0, byte 2.
  EXPECT_EQ(v.rows[2], 20);
  int32_t sum1 = 0;
  for (int64_t i = c * kw; i < 2 * c * kw; ++i)
    sum1 += w[i];
  EXPECT_EQ(v.sums[1], sum1);
  EXPECT_THROW(sparq::formats::viewConvWeightsS8(tap.data(), tap.size() - 1),
               sparq::formats::FormatError);
  std::vector<uint8_t> bad = tap;
  bad[0] ^= 1;
  EXPECT_THROW(sparq::formats::viewConvWeightsS8(bad.data(), bad.size()),
               sparq::formats::FormatError);
  EXPECT_THROW(sparq::formats::viewConvWeightsS8(tap.data(), 10),
               sparq::formats::FormatError);
}

// A long K at the extremes of both ranges: the sums must not overflow or
// saturate (vpmaddubsw's 16-bit sums would).
TEST(QuantizedGemm, ExtremesOverALongK) {
  int64_t m = 7, n = 37, k4 = 4608;
  std::vector<int8_t> a(m * k4, -128);
  std::vector<uint8_t> b(k4 * n + 256, 255);
  for (int64_t i = 0; i < k4; i += 3)
    a[i] = 127; // row 0 mixes the extremes
  sparq::test::atEveryLevel([&] {
    std::vector<int32_t> c(m * n);
    gemmU8S8(a.data(), b.data(), m, n, k4, c.data(), n);
    for (int64_t r = 0; r < m; ++r) {
      int64_t want = 0;
      for (int64_t k = 0; k < k4; ++k)
        want += 255 * int64_t(a[r * k4 + k]);
      for (int64_t j = 0; j < n; ++j)
        ASSERT_EQ(c[r * n + j], want) << r << "," << j;
    }
  });
}

} // namespace
