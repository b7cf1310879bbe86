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

#include <algorithm>

namespace sparq::kernels::avx2 {
namespace {

/// Lanes [0, 8) that are < left, as a maskload/maskstore mask.
SPARQ_TARGET_AVX2 inline __m256i laneMask(int left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(left),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// Rows of B (values of k) a strip runs before the next strip: the strips
/// of a tile then share B's block in L1/L2 instead of each streaming all of
/// B's rows (a strip alone reads one cache line per row of B).
constexpr int64_t kBlockK = 128;

/// Sums [k0, k1) of R rows x 8V columns (V <= 2) of a strip into acc (R x 16
/// floats, row stride 64), which holds the sums so far: every output's sum
/// still runs over k in order, as without the blocks.
template <int R, int V, bool Table>
SPARQ_TARGET_AVX2 inline void strip(const float *a, int64_t lda, const float *b,
                                    int64_t ldb, const int64_t *bRows,
                                    int64_t k0, int64_t k1, float *acc) {
  __m256 s[R][V];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v)
      s[i][v] = _mm256_loadu_ps(acc + i * 64 + 8 * v);
  for (int64_t p = k0; p < k1; ++p) {
    const float *bp = Table ? b + bRows[p] : b + p * ldb;
    __m256 bv[V];
    for (int v = 0; v < V; ++v)
      bv[v] = _mm256_loadu_ps(bp + 8 * v);
    for (int i = 0; i < R; ++i) {
      __m256 w = _mm256_broadcast_ss(a + i * lda + p);
      for (int v = 0; v < V; ++v)
        s[i][v] = _mm256_fmadd_ps(w, bv[v], s[i][v]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v)
      _mm256_storeu_ps(acc + i * 64 + 8 * v, s[i][v]);
}

template <int R, bool Table>
SPARQ_TARGET_AVX2 void tileRows(const float *a, int64_t lda, const float *b,
                                int64_t ldb, const int64_t *bRows, int64_t k,
                                int cols, float *c, int64_t ldc,
                                bool accumulate, const float *bias, float lo,
                                float hi, const float *bLast) {
  alignas(32) float acc[R * 64];
  for (int i = 0; i < R; ++i)
    std::fill(acc + i * 64, acc + i * 64 + 64, bias ? bias[i] : 0.0f);
  auto run = [&](const float *bb, int64_t ld, const int64_t *rows, int64_t k0,
                 int64_t k1) SPARQ_TARGET_AVX2 {
    for (int j = 0; j < cols; j += 16) {
      if (cols - j > 8)
        strip<R, 2, Table>(a, lda, bb + j, ld, rows, k0, k1, acc + j);
      else
        strip<R, 1, Table>(a, lda, bb + j, ld, rows, k0, k1, acc + j);
    }
  };
  for (int64_t k0 = 0; k0 < k; k0 += kBlockK)
    run(b, ldb, bRows, k0, std::min(k, k0 + kBlockK));
  if (bLast) {
    // Row k of B is at bLast: a one-row block (the table, if any, ends at k).
    int64_t last = k;
    for (int j = 0; j < cols; j += 16) {
      if (cols - j > 8)
        strip<R, 2, false>(a, lda, bLast + j, 0, nullptr, last, last + 1,
                           acc + j);
      else
        strip<R, 1, false>(a, lda, bLast + j, 0, nullptr, last, last + 1,
                           acc + j);
    }
  }
  __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  for (int v = 0; 8 * v < cols; ++v) {
    int left = cols - 8 * v;
    bool whole = left >= 8;
    __m256i mask = laneMask(left);
    for (int i = 0; i < R; ++i) {
      float *o = c + i * ldc + 8 * v;
      __m256 x = _mm256_loadu_ps(acc + i * 64 + 8 * v);
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

template <bool Table>
SPARQ_TARGET_AVX2 void tileStrips(const float *a, int64_t lda, const float *b,
                                  int64_t ldb, const int64_t *bRows, int64_t k,
                                  int rows, int cols, float *c, int64_t ldc,
                                  bool accumulate, const float *bias, float lo,
                                  float hi, const float *bLast) {
#define SPARQ_ROWS(R)                                                          \
  tileRows<R, Table>(a, lda, b, ldb, bRows, k, cols, c, ldc, accumulate, bias, \
                     lo, hi, bLast)
  switch (rows) {
  case 6:
    return SPARQ_ROWS(6);
  case 5:
    return SPARQ_ROWS(5);
  case 4:
    return SPARQ_ROWS(4);
  case 3:
    return SPARQ_ROWS(3);
  case 2:
    return SPARQ_ROWS(2);
  default:
    return SPARQ_ROWS(1);
  }
#undef SPARQ_ROWS
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
