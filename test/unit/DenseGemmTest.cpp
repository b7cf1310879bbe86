//===- DenseGemmTest.cpp - the convolutions' GEMM against a loop ----------===//
//
// Every tile shape (full and partial rows and columns), strided operands,
// accumulation, clamping and NaN, serial and threaded, and denseGemm's
// transposed-B path: each against a plain triple loop in double. The
// transpose its B^T and panels use, against a plain double loop.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/DenseGemm.h"
#include "runtime/kernels/ThreadPool.h"
#include "runtime/kernels/Transpose.h"
#include "test/unit/TestData.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

using namespace sparq::kernels;

namespace {

std::vector<float> random(int64_t n, unsigned seed) {
  return sparq::test::randomVector(n, seed);
}

/// C (+)= A op(B) clamped, in double; the rest of C is untouched.
std::vector<float> reference(const std::vector<float> &a, int64_t lda,
                             const std::vector<float> &b, int64_t ldb,
                             bool transB, int64_t m, int64_t n, int64_t k,
                             std::vector<float> c, int64_t ldc, bool accumulate,
                             float lo, float hi) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = accumulate ? c[i * ldc + j] : 0.0;
      for (int64_t p = 0; p < k; ++p)
        s +=
            double(a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = std::min<float>(hi, std::max<float>(lo, float(s)));
    }
  return c;
}

using sparq::test::atEveryLevel;

void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                int64_t k) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 * (k + 1)) << "at " << i;
}

// (m, n, k): rows and columns around the tile sizes (6 x 64), K small to
// large.
class GemmShape
    : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(GemmShape, MatchesLoopOnStridedOperands) {
  auto [m, n, k] = GetParam();
  atEveryLevel([&, m = m, n = n, k = k] {
    // Leading dimensions larger than the rows: the kernel must honour them.
    int64_t lda = k + 3, ldb = n + 5, ldc = n + 7;
    auto a = random(m * lda, 1), b = random(k * ldb, 2), c = random(m * ldc, 3);
    for (bool accumulate : {false, true}) {
      for (int threads : {1, 2}) {
        setPoolThreads(threads);
        std::vector<float> got = c;
        denseGemm(a.data(), lda, b.data(), ldb, false, m, n, k, got.data(), ldc,
                  accumulate);
        expectNear(got,
                   reference(a, lda, b, ldb, false, m, n, k, c, ldc, accumulate,
                             -INFINITY, INFINITY),
                   k);
      }
    }
    setPoolThreads(2);
  });
}

TEST_P(GemmShape, ClampsAsItStores) {
  auto [m, n, k] = GetParam();
  atEveryLevel([&, m = m, n = n, k = k] {
    auto a = random(m * k, 4), b = random(k * n, 5), c = random(m * n, 6);
    std::vector<float> got = c;
    denseGemm(a.data(), k, b.data(), n, false, m, n, k, got.data(), n, true,
              nullptr, 0.0f, 0.5f);
    expectNear(
        got, reference(a, k, b, n, false, m, n, k, c, n, true, 0.0f, 0.5f), k);
  });
}

TEST_P(GemmShape, AddsTheBiasOfEachRow) {
  auto [m, n, k] = GetParam();
  atEveryLevel([&, m = m, n = n, k = k] {
    auto a = random(m * k, 12), b = random(k * n, 13), c = random(m * n, 14),
         bias = random(m, 15);
    for (bool accumulate : {false, true}) {
      std::vector<float> got = c, init = c;
      denseGemm(a.data(), k, b.data(), n, false, m, n, k, got.data(), n,
                accumulate, bias.data(), -0.5f, INFINITY);
      // The reference: the bias as the initial value of C.
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          init[i * n + j] = (accumulate ? init[i * n + j] : 0.0f) + bias[i];
      expectNear(
          got,
          reference(a, k, b, n, false, m, n, k, init, n, true, -0.5f, INFINITY),
          k);
    }
  });
}

TEST_P(GemmShape, TransposedB) {
  auto [m, n, k] = GetParam();
  atEveryLevel([&, m = m, n = n, k = k] {
    auto a = random(m * k, 7), b = random(n * k, 8), c = random(m * n, 9);
    std::vector<float> got = c;
    denseGemm(a.data(), k, b.data(), k, true, m, n, k, got.data(), n, false);
    expectNear(
        got,
        reference(a, k, b, k, true, m, n, k, c, n, false, -INFINITY, INFINITY),
        k);
  });
}

TEST_P(GemmShape, ResultsDoNotDependOnThreadCount) {
  auto [m, n, k] = GetParam();
  atEveryLevel([&, m = m, n = n, k = k] {
    auto a = random(m * k, 20), b = random(k * n, 21), bias = random(m, 22);
    for (bool transB : {false, true})
      sparq::test::expectSameOnEveryThreadCount([&, m = m, n = n, k = k] {
        std::vector<float> c(m * n, 0.5f);
        denseGemm(a.data(), k, b.data(), transB ? k : n, transB, m, n, k,
                  c.data(), n, true, bias.data(), -1.0f, 1.0f);
        return c;
      });
    // The batch-1 product: n rows of B times a[0:k].
    sparq::test::expectSameOnEveryThreadCount([&, n = n, k = k] {
      std::vector<float> y(n, 0.25f);
      gemvF32(b.data(), k, n, k, a.data(), y.data(), true);
      return y;
    });
  });
}

// B laid out in panels (a constant B, at compile time) gives gemmF32's bits:
// the same tiles sum each output in the same order.
TEST_P(GemmShape, PanelsGiveTheSameBits) {
  auto [m, n, k] = GetParam();
  atEveryLevel([&, m = m, n = n, k = k] {
    int64_t lda = k + 2, ldc = n + 3;
    auto a = random(m * lda, 23), b = random(k * n, 24), bt = random(n * k, 25),
         c = random(m * ldc, 26), bias = random(m, 27);
    for (bool transposed : {false, true}) {
      const std::vector<float> &src = transposed ? bt : b;
      std::vector<float> panels =
          panelsF32(src.data(), transposed ? k : n, transposed, k, n);
      ASSERT_EQ(int64_t(panels.size()), (n + 63) / 64 * k * 64);
      for (bool accumulate : {false, true}) {
        // gemmF32 on B [K, N] (for B^T, its transpose: denseGemm would run
        // few rows as GEMVs, another order of sums).
        std::vector<float> bkn = b;
        if (transposed)
          for (int64_t p = 0; p < k; ++p)
            for (int64_t j = 0; j < n; ++j)
              bkn[p * n + j] = bt[j * k + p];
        std::vector<float> want = c;
        gemmF32(a.data(), lda, bkn.data(), n, m, n, k, want.data(), ldc,
                accumulate, bias.data(), -1.0f, 2.0f);
        expectNear(want,
                   reference(
                       a, lda, bkn, n, false, m, n, k,
                       [&] {
                         std::vector<float> init = c;
                         for (int64_t i = 0; i < m; ++i)
                           for (int64_t j = 0; j < n; ++j)
                             init[i * ldc + j] =
                                 (accumulate ? init[i * ldc + j] : 0.0f) +
                                 bias[i];
                         return init;
                       }(),
                       ldc, true, -1.0f, 2.0f),
                   k);
        sparq::test::expectSameOnEveryThreadCount([&, m = m, n = n, k = k] {
          std::vector<float> got = c;
          gemmF32Panels(a.data(), lda, panels.data(), m, n, k, got.data(), ldc,
                        accumulate, bias.data(), -1.0f, 2.0f);
          EXPECT_EQ(got, want) << (transposed ? "from B^T" : "from B");
          return got;
        });
      }
    }
  });
}

INSTANTIATE_TEST_SUITE_P(
    Tiles, GemmShape,
    ::testing::Values(std::make_tuple(1, 1, 1), std::make_tuple(6, 64, 8),
                      std::make_tuple(5, 17, 3), std::make_tuple(7, 65, 33),
                      std::make_tuple(13, 49, 100), std::make_tuple(25, 130, 9),
                      std::make_tuple(64, 196, 72),
                      std::make_tuple(50, 300, 257)));

// One row times a transposed B (a batch-1 MatMul, which runs as gemvF32):
// strided B, bias, clamp, overwriting and accumulating, both thread counts.
TEST(DenseGemm, OneRowTimesTransposedB) {
  int64_t n = 300, k = 257, ldb = k + 3;
  auto a = random(k, 16), b = random(n * ldb, 17), c = random(n, 18),
       bias = random(1, 19);
  atEveryLevel([&] {
    for (bool accumulate : {false, true})
      for (int threads : {1, 2}) {
        setPoolThreads(threads);
        std::vector<float> got = c, init = c;
        denseGemm(a.data(), k, b.data(), ldb, true, 1, n, k, got.data(), n,
                  accumulate, bias.data(), -0.5f, 2.0f);
        for (int64_t j = 0; j < n; ++j)
          init[j] = (accumulate ? init[j] : 0.0f) + bias[0];
        expectNear(
            got,
            reference(a, k, b, ldb, true, 1, n, k, init, n, true, -0.5f, 2.0f),
            k);
      }
    setPoolThreads(2);
  });
}

TEST(DenseGemm, NaNStaysNaNThroughTheClamp) {
  const int64_t m = 6, n = 64, k = 4;
  std::vector<float> a(m * k, 1.0f), b(k * n, 1.0f), c(m * n, 0.0f);
  b[5] = std::numeric_limits<float>::quiet_NaN();
  atEveryLevel([&] {
    denseGemm(a.data(), k, b.data(), n, false, m, n, k, c.data(), n, false,
              nullptr, 0.0f, 6.0f);
    for (int64_t i = 0; i < m; ++i) {
      EXPECT_TRUE(std::isnan(c[i * n + 5])) << "row " << i;
      EXPECT_EQ(c[i * n + 4], 4.0f);
    }
  });
}

TEST(DenseGemm, LeavesColumnsPastNUntouched) {
  // A partial tile stores through a mask: the padding of C keeps its values.
  const int64_t m = 7, n = 20, k = 5, ldc = 64;
  auto a = random(m * k, 10), b = random(k * n, 11);
  atEveryLevel([&] {
    std::vector<float> c(m * ldc, 42.0f);
    denseGemm(a.data(), k, b.data(), n, false, m, n, k, c.data(), ldc, false);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = n; j < ldc; ++j)
        ASSERT_EQ(c[i * ldc + j], 42.0f) << i << "," << j;
  });
}

} // namespace

namespace {
/// transpose of a rows x cols matrix of T (strides padded by 3) against the
/// plain loop, bit for bit, leaving dst's padding alone.
template <typename T>
void expectTransposed(int64_t rows, int64_t cols, bool threads) {
  int64_t lds = cols + 3, ldd = rows + 3;
  std::vector<T> src(rows * lds), dst(cols * ldd, T(0x5a)), want = dst;
  std::mt19937_64 gen(rows * 131 + cols);
  for (T &x : src)
    x = static_cast<T>(gen());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      want[j * ldd + i] = src[i * lds + j];
  transpose(src.data(), lds, dst.data(), ldd, rows, cols, sizeof(T), threads);
  ASSERT_EQ(dst, want) << rows << " x " << cols << ", " << sizeof(T)
                       << "-byte elements, threads " << threads;
}
} // namespace

// Shapes around the 8 x 8 blocks and 32 x 32 tiles, and one large enough
// to be split over the threads; every element size, at every SIMD level,
// serial and on 1, 2 and 3 threads.
TEST(Transpose, MatchesLoopForEveryShapeAndElementSize) {
  std::vector<std::pair<int64_t, int64_t>> shapes = {
      {1, 1},   {1, 9},   {7, 1},  {8, 8},     {9, 17},    {31, 33},
      {32, 32}, {40, 64}, {65, 7}, {100, 257}, {1024, 300}};
  atEveryLevel([&] {
    for (int threads : {1, 2, 3}) {
      setPoolThreads(threads);
      for (auto [rows, cols] : shapes)
        for (bool parallel : {false, true}) {
          expectTransposed<uint8_t>(rows, cols, parallel);
          expectTransposed<uint16_t>(rows, cols, parallel);
          expectTransposed<uint32_t>(rows, cols, parallel);
          expectTransposed<uint64_t>(rows, cols, parallel);
        }
    }
    setPoolThreads(2);
  });
}

// In place, with scratch for a whole matrix, a half, a fifth and a
// seventh of it: splits by columns (1024 x 300) and by rows (35 x 97, whose
// columns are prime), at every element size, against the plain loop.
TEST(Transpose, InPlaceMatchesLoopForEverySplit) {
  std::vector<std::pair<int64_t, int64_t>> shapes = {
      {1, 9}, {7, 1}, {3, 14}, {8, 8}, {35, 97}, {97, 35}, {1024, 300}};
  for (int elemBytes : {1, 2, 4, 8})
    for (auto [rows, cols] : shapes)
      for (int parts : {1, 2, 5, 7}) {
        size_t bytes = size_t(rows) * cols * elemBytes;
        std::vector<uint8_t> a(bytes), want(bytes);
        std::mt19937_64 gen(rows * 7 + cols + elemBytes);
        for (uint8_t &x : a)
          x = static_cast<uint8_t>(gen());
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j)
            std::memcpy(&want[(j * rows + i) * elemBytes],
                        &a[(i * cols + j) * elemBytes], elemBytes);
        ASSERT_TRUE(transposeInPlace(a.data(), rows, cols, elemBytes,
                                     (bytes + parts - 1) / parts))
            << rows << " x " << cols << " in " << parts << " parts";
        ASSERT_EQ(a, want) << rows << " x " << cols << ", " << elemBytes
                           << "-byte elements, " << parts << " parts";
      }
  // 97 x 89 (both prime) in a hundredth of it cannot be split: nothing
  // changes.
  std::vector<uint8_t> a(97 * 89 * 4, 7), before = a;
  EXPECT_FALSE(transposeInPlace(a.data(), 97, 89, 4, a.size() / 100));
  EXPECT_EQ(a, before);
}
