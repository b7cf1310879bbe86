//===- DenseGemmAvx2.cpp - the AVX2 tile of DenseGemm ---------------------===//
//
// The same tile as DenseGemmAvx512.cpp (up to 6 rows x 64 columns, B read in
// place through the same row pointers, bias, accumulation and clamp applied
// as it stores) for CPUs with AVX2 and FMA but no AVX-512. A tile runs as
// strips of 16 columns: 6 rows x 2 vectors of 8 are 12 accumulators, plus
// 2 vectors of B and a broadcast weight, of the 16 registers AVX2 has.
// Compiled for AVX2 whatever the build's baseline; DenseGemm.cpp calls it
// only when the CPU has it.
//
//===----------------------------------------------------------------------===//

#include "runtime/formats/Simd.h"
#include "runtime/kernels/DenseGemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

namespace sparq::kernels::avx2 {
namespace {

/// Lanes [0, 8) that are < left, as a maskload/maskstore mask.
SPARQ_TARGET_AVX2 inline __m256i laneMask(int left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(left),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// R rows x 8V columns (V <= 2) of a strip; `cols` of them are stored.
template <int R, int V, bool Table>
SPARQ_TARGET_AVX2 inline void strip(const float *a, int64_t lda, const float *b,
                                    int64_t ldb, const int64_t *bRows,
                                    int64_t k, int cols, float *c, int64_t ldc,
                                    bool accumulate, const float *bias,
                                    float lo, float hi, const float *bLast) {
  __m256 acc[R][V];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v)
      acc[i][v] = bias ? _mm256_set1_ps(bias[i]) : _mm256_setzero_ps();
  const float *rows[R];
  for (int i = 0; i < R; ++i)
    rows[i] = a + i * lda;
  auto step = [&](const float *bp, int64_t p) SPARQ_TARGET_AVX2 {
    __m256 bv[V];
    for (int v = 0; v < V; ++v)
      bv[v] = _mm256_loadu_ps(bp + 8 * v);
    for (int i = 0; i < R; ++i) {
      __m256 w = _mm256_broadcast_ss(rows[i] + p);
      for (int v = 0; v < V; ++v)
        acc[i][v] = _mm256_fmadd_ps(w, bv[v], acc[i][v]);
    }
  };
  for (int64_t p = 0; p < k; ++p)
    step(Table ? b + bRows[p] : b + p * ldb, p);
  if (bLast)
    step(bLast, k);
  __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  for (int v = 0; v < V; ++v) {
    int left = cols - 8 * v;
    bool whole = left >= 8;
    __m256i mask = laneMask(left);
    for (int i = 0; i < R; ++i) {
      float *o = c + i * ldc + 8 * v;
      __m256 x = acc[i][v];
      if (accumulate)
        x = _mm256_add_ps(x, whole ? _mm256_loadu_ps(o)
                                   : _mm256_maskload_ps(o, mask));
      // Bound first: max/min return their second operand on NaN, which
      // keeps a NaN result NaN.
      x = _mm256_min_ps(vhi, _mm256_max_ps(vlo, x));
      if (whole)
        _mm256_storeu_ps(o, x);
      else
        _mm256_maskstore_ps(o, mask, x);
    }
  }
}

template <int V, bool Table>
SPARQ_TARGET_AVX2 void stripRows(const float *a, int64_t lda, const float *b,
                                 int64_t ldb, const int64_t *bRows, int64_t k,
                                 int rows, int cols, float *c, int64_t ldc,
                                 bool accumulate, const float *bias, float lo,
                                 float hi, const float *bLast) {
#define SPARQ_STRIP(R)                                                         \
  strip<R, V, Table>(a, lda, b, ldb, bRows, k, cols, c, ldc, accumulate, bias, \
                     lo, hi, bLast)
  switch (rows) {
  case 6:
    return SPARQ_STRIP(6);
  case 5:
    return SPARQ_STRIP(5);
  case 4:
    return SPARQ_STRIP(4);
  case 3:
    return SPARQ_STRIP(3);
  case 2:
    return SPARQ_STRIP(2);
  default:
    return SPARQ_STRIP(1);
  }
#undef SPARQ_STRIP
}

template <bool Table>
SPARQ_TARGET_AVX2 void tileStrips(const float *a, int64_t lda, const float *b,
                                  int64_t ldb, const int64_t *bRows, int64_t k,
                                  int rows, int cols, float *c, int64_t ldc,
                                  bool accumulate, const float *bias, float lo,
                                  float hi, const float *bLast) {
  // Strip by strip, each over all of k: a row of A is read once per strip
  // (from L1), B's 16 columns once per tile.
  for (int j = 0; j < cols; j += 16) {
    int n = cols - j < 16 ? cols - j : 16;
    const float *bl = bLast ? bLast + j : nullptr;
    if (n > 8)
      stripRows<2, Table>(a, lda, b + j, ldb, bRows, k, rows, n, c + j, ldc,
                          accumulate, bias, lo, hi, bl);
    else
      stripRows<1, Table>(a, lda, b + j, ldb, bRows, k, rows, n, c + j, ldc,
                          accumulate, bias, lo, hi, bl);
  }
}

} // namespace

SPARQ_TARGET_AVX2
void gemmTile(const float *a, int64_t lda, const float *b, int64_t ldb,
              const int64_t *bRows, int64_t k, int rows, int cols, float *c,
              int64_t ldc, bool accumulate, const float *bias, float lo,
              float hi, const float *bLast) {
  if (bRows)
    return tileStrips<true>(a, lda, b, ldb, bRows, k, rows, cols, c, ldc,
                            accumulate, bias, lo, hi, bLast);
  return tileStrips<false>(a, lda, b, ldb, bRows, k, rows, cols, c, ldc,
                           accumulate, bias, lo, hi, bLast);
}

} // namespace sparq::kernels::avx2

#else
namespace sparq::kernels::avx2 {
void gemmTile(const float *, int64_t, const float *, int64_t, const int64_t *,
              int64_t, int, int, float *, int64_t, bool, const float *, float,
              float, const float *) {}
} // namespace sparq::kernels::avx2
#endif
