//===- PackedKernelsTest.cpp - kernels on packed weights vs loops ---------===//
//
// Every layout, every product shape: the kernel on the packed bytes must
// equal a plain loop over the decoded weight.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/PackedKernels.h"
#include "runtime/formats/Packed.h"
#include "runtime/formats/Pruning.h"
#include "runtime/formats/Quantize.h"
#include "test/unit/TestData.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace sparq::formats;
using namespace sparq::kernels;

namespace {

struct Case {
  const char *name;
  Layout layout;
  double density;
};

Layout make(Format f, Quant q = Quant::None, unsigned bits = 0) {
  Layout l;
  l.format = f;
  l.quant = q;
  l.bits = bits;
  return l;
}

std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({"dense", make(Format::Dense), 1.0});
  c.push_back({"csr", make(Format::CSR), 0.1});
  c.push_back({"csc", make(Format::CSC), 0.3});
  Layout b = make(Format::BCSR);
  b.blockRows = 4;
  b.blockCols = 4;
  c.push_back({"bcsr4x4", b, 0.3});
  Layout nm = make(Format::NM);
  nm.n = 2;
  nm.m = 4;
  c.push_back({"nm2:4", nm, 1.0});
  Layout ic = make(Format::InterleavedCSC);
  ic.pes = 4;
  ic.indexBits = 4;
  c.push_back({"icsc", ic, 0.1});
  c.push_back({"ternary", make(Format::Dense, Quant::Ternary), 1.0});
  Layout tpc = make(Format::Dense, Quant::Ternary);
  tpc.perChannel = true;
  c.push_back({"ternary/ch", tpc, 1.0});
  c.push_back({"csr+ternary", make(Format::CSR, Quant::Ternary), 0.2});
  Layout i4 = make(Format::Dense, Quant::Int, 4);
  i4.group = 32;
  i4.zeroPoints = true;
  c.push_back({"int4g32", i4, 1.0});
  Layout i8 = make(Format::Dense, Quant::Int, 8);
  c.push_back({"int8", i8, 1.0});
  c.push_back({"cb4", make(Format::Dense, Quant::Codebook, 4), 1.0});
  c.push_back({"csr+cb4", make(Format::CSR, Quant::Codebook, 4), 0.2});
  Layout icb = ic;
  icb.quant = Quant::Codebook;
  icb.bits = 4;
  c.push_back({"icsc+cb4", icb, 0.1});
  Layout fx = make(Format::Dense, Quant::Fixed);
  fx.intBits = 3;
  fx.fracBits = 8;
  c.push_back({"q3.8", fx, 1.0});
  return c;
}

/// A weight the case's layout stores, at its density.
std::vector<float> weightFor(const Case &c, int64_t rows, int64_t cols,
                             std::mt19937 &rng) {
  return sparq::test::weightFor(c.layout, rows, cols, c.density, rng);
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                const char *what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-4f * (1 + std::fabs(want[i])))
        << what << " at " << i;
}

using sparq::test::simdLevels;

TEST(PackedKernels, SpmmGemvAndLinearMatchLoops) {
  for (SimdLevel level : simdLevels()) {
    SCOPED_TRACE(std::string("SIMD level ") + simdName(level));
    ASSERT_EQ(limitSimd(level), level);
    std::mt19937 rng(21);
    std::normal_distribution<float> d(0, 1);
    for (const Case &c : cases()) {
      int64_t rows = 24, cols = 64;
      std::vector<float> w = weightFor(c, rows, cols, rng);
      std::vector<uint8_t> blob = pack(w.data(), rows, cols, c.layout);
      PackedView v(blob.data(), blob.size());
      std::vector<float> wd(rows * cols);
      decodeRows(v, 0, rows, wd.data());

      for (int64_t n : {1, 7, 600}) {
        int64_t ldx = n + 3, ldy = n + 5;
        std::vector<float> x(cols * ldx), y(rows * ldy), want(rows * ldy);
        for (float &e : x)
          e = d(rng);
        for (size_t i = 0; i < y.size(); ++i)
          y[i] = want[i] = d(rng);
        for (bool acc : {true, false}) {
          std::vector<float> got = y, ref = want;
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < n; ++j) {
              double s = acc ? ref[r * ldy + j] : 0.0;
              for (int64_t k = 0; k < cols; ++k)
                s += double(wd[r * cols + k]) * x[k * ldx + j];
              ref[r * ldy + j] = float(s);
            }
          packedSpmm(v, x.data(), ldx, got.data(), ldy, n, acc);
          expectNear(got, ref, (std::string(c.name) + " spmm").c_str());
        }
      }

      std::vector<float> x(cols), y(rows, 0.5f), ref(rows, 0.5f);
      for (float &e : x)
        e = d(rng);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < cols; ++k)
          ref[r] += wd[r * cols + k] * x[k];
      packedGemv(v, x.data(), y.data(), true);
      expectNear(y, ref, (std::string(c.name) + " gemv").c_str());

      for (int64_t m : {1, 3, 9})
        for (bool acc : {false, true}) {
          std::vector<float> a(m * cols), out(m * rows, 0.25f), want(m * rows);
          for (float &e : a)
            e = d(rng);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t r = 0; r < rows; ++r) {
              double s = acc ? 0.25 : 0.0;
              for (int64_t k = 0; k < cols; ++k)
                s += double(a[i * cols + k]) * wd[r * cols + k];
              want[i * rows + r] = float(s);
            }
          packedLinear(v, a.data(), cols, out.data(), rows, m, acc);
          expectNear(out, want, (std::string(c.name) + " linear").c_str());
        }
    }
  }
  limitSimd(SimdLevel::Avx512Vnni);
}

// Linear layers on more rows than GEMVs take (a prefill) with a weight of
// 200 rows of 2048, int4 groups of 128 (decoded in several blocks): against a
// loop, at every SIMD level, the same bits on every thread count.
TEST(PackedKernels, LinearOnManyRowsMatchesLoop) {
  int64_t rows = 200, cols = 2048, m = 9;
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0, 1);
  Layout i4 = make(Format::Dense, Quant::Int, 4);
  i4.group = 128;
  std::vector<float> w(rows * cols), a(m * cols);
  for (float &e : w)
    e = d(rng);
  for (float &e : a)
    e = d(rng);
  std::vector<uint8_t> blob = pack(w.data(), rows, cols, i4);
  PackedView v(blob.data(), blob.size());
  std::vector<float> wd(rows * cols), want(m * rows);
  decodeRows(v, 0, rows, wd.data());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t k = 0; k < cols; ++k)
        s += double(a[i * cols + k]) * wd[r * cols + k];
      want[i * rows + r] = float(s);
    }
  sparq::test::atEveryLevel([&] {
    sparq::test::expectSameOnEveryThreadCount([&] {
      std::vector<float> y(m * rows);
      packedLinear(v, a.data(), cols, y.data(), rows, m, false);
      for (size_t i = 0; i < y.size(); ++i)
        EXPECT_NEAR(y[i], want[i], 1e-3 * (1 + std::fabs(want[i])))
            << "at " << i;
      return y;
    });
  });
}

// The quantized GEMVs' table-lookup paths at the shapes that select them:
// row tiles full, partial and several per thread; partial last words; int4
// groups of one or several table blocks, one group per row, and groups that
// split words (decoded rows instead); 4-bit fixed point (decoded rows).
TEST(PackedKernels, QuantizedGemvShapesMatchLoops) {
  Layout tl = make(Format::Dense, Quant::Ternary);
  Layout tc = tl;
  tc.perChannel = true;
  Layout i4 = make(Format::Dense, Quant::Int, 4);
  i4.group = 128;
  i4.zeroPoints = true;
  Layout i4s = i4;
  i4s.zeroPoints = false;
  Layout i4g = i4;
  i4g.group = 256;
  Layout i4o = i4;
  i4o.group = 64;
  Layout i4g192 = i4; // groups that cross the 32-word table blocks
  i4g192.group = 192;
  Layout i4row = i4; // one group per row, any width
  i4row.group = 0;
  Layout i4odd = i4; // groups that split words: decoded rows
  i4odd.group = 12;
  Layout cb = make(Format::Dense, Quant::Codebook, 4);
  Layout q12 = make(Format::Dense, Quant::Fixed); // 4 bits, tiled words
  q12.intBits = 1;
  q12.fracBits = 2;
  struct Shape {
    Case c;
    std::vector<int64_t> cols;
  };
  std::vector<Shape> shapes = {
      {{"ternary", tl, 1.0}, {16, 70, 200, 1000}},
      {{"ternary/ch", tc, 1.0}, {16, 70, 1000}},
      {{"int4g128", i4, 1.0}, {128, 384}},
      {{"int4g128/sym", i4s, 1.0}, {256}},
      {{"int4g256", i4g, 1.0}, {512}},
      {{"int4g64", i4o, 1.0}, {192}},
      {{"int4g192", i4g192, 1.0}, {576}},
      {{"int4/row", i4row, 1.0}, {8, 70, 1000}},
      {{"int4g12", i4odd, 1.0}, {36}},
      {{"cb4", cb, 1.0}, {128, 200, 301}},
      {{"q1.2", q12, 1.0}, {70}},
  };
  for (SimdLevel level : simdLevels()) {
    SCOPED_TRACE(std::string("SIMD level ") + simdName(level));
    ASSERT_EQ(limitSimd(level), level);
    std::mt19937 rng(24);
    std::normal_distribution<float> d(0, 1);
    for (const Shape &s : shapes)
      for (int64_t rows : {1, 15, 16, 37, 600})
        for (int64_t cols : s.cols) {
          std::vector<float> w = weightFor(s.c, rows, cols, rng);
          std::vector<uint8_t> blob = pack(w.data(), rows, cols, s.c.layout);
          PackedView v(blob.data(), blob.size());
          std::vector<float> wd(rows * cols), x(cols), y(rows);
          decodeRows(v, 0, rows, wd.data());
          for (float &e : x)
            e = d(rng);
          std::vector<float> ref(rows);
          for (int64_t r = 0; r < rows; ++r) {
            y[r] = d(rng);
            double sum = y[r];
            for (int64_t k = 0; k < cols; ++k)
              sum += double(wd[r * cols + k]) * x[k];
            ref[r] = float(sum);
          }
          packedGemv(v, x.data(), y.data(), true);
          expectNear(y, ref,
                     (std::string(s.c.name) + " " + std::to_string(rows) + "x" +
                      std::to_string(cols))
                         .c_str());
        }
  }
  limitSimd(SimdLevel::Avx512Vnni);
}

void convMatchesDirectLoops();

/// Every format as a convolution's weight, against loops over the weight
/// it stores: 3x3 at strides (2, 1), which runs on stride phases where the
/// own GEMM runs (ConvPhaseGemm.cpp), and 1x1, on the input in place; a
/// folded bias and ReLU, overwriting and accumulating. Weights stored
/// dense (quantized) run the dense convolution on their decoded rows; at
/// every instruction set, since that GEMM is the own one or sgemm.
TEST(PackedKernels, ConvMatchesDirectLoops) {
  for (SimdLevel level : simdLevels()) {
    SCOPED_TRACE(std::string("SIMD level ") + simdName(level));
    ASSERT_EQ(limitSimd(level), level);
    convMatchesDirectLoops();
  }
  limitSimd(SimdLevel::Avx512Vnni);
}

/// Every layout's GEMV (f32 and int8 activations where the layout has
/// them), SpMM, linear layer and convolution give the same bits on 1-4
/// threads, at every SIMD level.
TEST(PackedKernels, ResultsDoNotDependOnThreadCount) {
  std::vector<Case> all = cases();
  for (Case c : cases())
    if (c.layout.format == Format::Dense &&
        sparq::formats::tableGemv(c.layout, 256)) {
      c.layout.actBits = 8;
      c.name = "int8 activations";
      all.push_back(c);
    }
  std::mt19937 rng(23);
  std::normal_distribution<float> d(0, 1);
  for (const Case &c : all) {
    SCOPED_TRACE(c.name);
    int64_t rows = 1000, cols = 256;
    std::vector<float> w = weightFor(c, rows, cols, rng);
    std::vector<uint8_t> blob = pack(w.data(), rows, cols, c.layout);
    PackedView v(blob.data(), blob.size());
    std::vector<float> x(cols * 600), a(9 * cols);
    for (float &e : x)
      e = d(rng);
    for (float &e : a)
      e = d(rng);
    sparq::test::atEveryLevel([&] {
      sparq::test::expectSameOnEveryThreadCount([&] {
        std::vector<float> y(rows);
        packedGemv(v, x.data(), y.data(), false);
        return y;
      });
      for (int64_t n : {7, 600})
        sparq::test::expectSameOnEveryThreadCount([&] {
          std::vector<float> y(rows * n);
          packedSpmm(v, x.data(), n, y.data(), n, n, false);
          return y;
        });
      for (int64_t m : {3, 9})
        sparq::test::expectSameOnEveryThreadCount([&] {
          std::vector<float> y(m * rows);
          packedLinear(v, a.data(), cols, y.data(), rows, m, false);
          return y;
        });
    });
  }
  // Convolutions: 16 channels x 4x4 taps over an 18x18 map.
  std::vector<float> in(2 * 16 * 18 * 18);
  for (float &e : in)
    e = d(rng);
  MemRef<float, 4> iv{
      in.data(), in.data(), 0, {2, 16, 18, 18}, {16 * 18 * 18, 18 * 18, 18, 1}};
  for (const Case &c : cases()) {
    SCOPED_TRACE(std::string(c.name) + " conv");
    std::vector<float> w = weightFor(c, 40, 16 * 16, rng);
    std::vector<uint8_t> blob = pack(w.data(), 40, 16 * 16, c.layout);
    PackedView v(blob.data(), blob.size());
    sparq::test::atEveryLevel([&] {
      sparq::test::expectSameOnEveryThreadCount([&] {
        std::vector<float> out(2 * 40 * 9 * 9);
        MemRef<float, 4> ov{
            out.data(), out.data(), 0, {2, 40, 9, 9}, {40 * 81, 81, 9, 1}};
        ConvParams p;
        p.strideH = p.strideW = 2;
        p.padTop = p.padLeft = 1;
        p.accumulate = false;
        p.lo = -INFINITY;
        p.hi = INFINITY;
        packedConv2dNchwF32(v, &iv, &ov, 4, 4, p);
        return out;
      });
    });
  }
}

void convMatchesDirectLoops() {
  std::mt19937 rng(22);
  std::normal_distribution<float> d(0, 1);
  int64_t n = 2, c = 32, h = 9, wd = 8, k = 40; // k: tiles of rows and a part
  std::vector<float> bias(k);                   // a folded per-channel bias
  for (int64_t f = 0; f < k; ++f)
    bias[f] = 0.1f * float(f) - 0.3f;
  std::vector<float> x(n * c * h * wd);
  for (float &e : x)
    e = d(rng);
  MemRef<float, 4> in{
      x.data(), x.data(), 0, {n, c, h, wd}, {c * h * wd, h * wd, wd, 1}};
  int tried = 0;
  for (int64_t kh : {3, 1})
    for (const Case &cs : cases()) {
      int64_t kw = kh, sh = kh == 3 ? 2 : 1, pad = kh == 3 ? 1 : 0;
      int64_t cols = c * kh * kw;
      ConvParams p;
      p.strideH = sh;
      p.padTop = p.padLeft = pad;
      p.accumulate = ++tried % 2 == 0;
      p.lo = 0.0f; // fused ReLU
      p.hi = INFINITY;
      p.bias = bias.data();
      int64_t oh = (h + 2 * pad - kh) / sh + 1, ow = wd + 2 * pad - kw + 1;
      std::vector<float> out(n * k * oh * ow);
      for (float &e : out)
        e = d(rng);
      std::vector<float> before = out;
      std::vector<float> w = weightFor(cs, k, cols, rng);
      std::vector<uint8_t> blob = pack(w.data(), k, cols, cs.layout);
      PackedView view(blob.data(), blob.size());
      std::vector<float> stored(k * cols); // what the kernels multiply by
      sparq::formats::decodeRows(view, 0, k, stored.data());
      MemRef<float, 4> o{out.data(),
                         out.data(),
                         0,
                         {n, k, oh, ow},
                         {k * oh * ow, oh * ow, ow, 1}};
      packedConv2dNchwF32(view, &in, &o, kh, kw, p);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t f = 0; f < k; ++f)
          for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) {
              int64_t at = ((b * k + f) * oh + oy) * ow + ox;
              double s = bias[f] + (p.accumulate ? before[at] : 0.0);
              for (int64_t ci = 0; ci < c; ++ci)
                for (int64_t ky = 0; ky < kh; ++ky)
                  for (int64_t kx = 0; kx < kw; ++kx) {
                    int64_t iy = oy * sh + ky - pad, ix = ox + kx - pad;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd)
                      continue;
                    s += double(stored[((f * c + ci) * kh + ky) * kw + kx]) *
                         x[((b * c + ci) * h + iy) * wd + ix];
                  }
              float want = std::max(float(s), 0.0f);
              ASSERT_NEAR(out[at], want, 1e-4f * (1 + std::fabs(want)))
                  << cs.name << " " << kh << "x" << kw << " at " << at;
            }
    }
}

} // namespace

#include "runtime/kernels/ThreadPool.h"

#include <atomic>

namespace {

TEST(ThreadPool, CoversTheRangeOnce) {
  for (int threads : {1, 2, 3}) {
    setPoolThreads(threads);
    for (int64_t n : {0, 1, 5, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      parallelFor(n, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          ++hits[i];
      });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[i].load(), 1) << threads << " threads, n = " << n;
    }
  }
  setPoolThreads(2);
}

} // namespace
