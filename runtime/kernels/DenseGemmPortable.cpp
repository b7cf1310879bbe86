//===- DenseGemmPortable.cpp - the baseline tile of DenseGemm -------------===//
//
// The tile of DenseGemmAvx512.cpp in plain C++ for CPUs without AVX2 (and
// for the portable level of the SIMD cap): each output is bias, then one
// product added per k in order, then C and the clamp, as in the vector
// tiles. OpenBLAS's sgemm was the fallback before, but the order of its
// sums changes with the columns a call gets, so results changed with the
// thread count.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/DenseGemm.h"

#include <algorithm>

namespace sparq::kernels::portable {
namespace {
/// R rows x 16 columns; the compiler keeps the sums in vector registers.
template <int R, bool Table>
void strip(const float *a, int64_t lda, const float *b, int64_t ldb,
           const int64_t *bRows, int64_t k, int cols, float *c, int64_t ldc,
           bool accumulate, const float *bias, float lo, float hi,
           const float *bLast) {
  float acc[R][16];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < 16; ++j)
      acc[i][j] = bias ? bias[i] : 0.0f;
  auto step = [&](const float *bp, int64_t p) {
    for (int i = 0; i < R; ++i) {
      float w = a[i * lda + p];
      for (int j = 0; j < 16; ++j)
        acc[i][j] += w * bp[j];
    }
  };
  for (int64_t p = 0; p < k; ++p)
    step(Table ? b + bRows[p] : b + p * ldb, p);
  if (bLast)
    step(bLast, k);
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < cols; ++j) {
      float x = acc[i][j] + (accumulate ? c[i * ldc + j] : 0.0f);
      // max/min that keep a NaN NaN, as the vector tiles' do.
      x = x < lo ? lo : x;
      c[i * ldc + j] = x > hi ? hi : x;
    }
}

template <bool Table>
void tileStrips(const float *a, int64_t lda, const float *b, int64_t ldb,
                const int64_t *bRows, int64_t k, int rows, int cols, float *c,
                int64_t ldc, bool accumulate, const float *bias, float lo,
                float hi, const float *bLast) {
  for (int j = 0; j < cols; j += 16) {
    int n = std::min(16, cols - j);
    const float *bl = bLast ? bLast + j : nullptr;
    for (int r = 0; r < rows; r += 2) {
      const float *br = bias ? bias + r : nullptr;
      if (rows - r >= 2)
        strip<2, Table>(a + r * lda, lda, b + j, ldb, bRows, k, n,
                        c + r * ldc + j, ldc, accumulate, br, lo, hi, bl);
      else
        strip<1, Table>(a + r * lda, lda, b + j, ldb, bRows, k, n,
                        c + r * ldc + j, ldc, accumulate, br, lo, hi, bl);
    }
  }
}
} // namespace

void gemmTile(const float *a, int64_t lda, const float *b, int64_t ldb,
              const int64_t *bRows, int64_t k, int rows, int cols, float *c,
              int64_t ldc, bool accumulate, const float *bias, float lo,
              float hi, const float *bLast) {
  if (bRows)
    return tileStrips<true>(a, lda, b, ldb, bRows, k, rows, cols, c, ldc,
                            accumulate, bias, lo, hi, bLast);
  tileStrips<false>(a, lda, b, ldb, bRows, k, rows, cols, c, ldc, accumulate,
                    bias, lo, hi, bLast);
}
} // namespace sparq::kernels::portable
