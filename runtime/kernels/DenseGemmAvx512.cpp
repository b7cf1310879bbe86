//===- DenseGemmAvx512.cpp - the AVX-512 tile of DenseGemm ----------------===//
//
// Compiled for AVX-512F whatever the build's baseline; DenseGemm.cpp calls
// it only when the CPU has it.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/DenseGemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_AVX512 __attribute__((target("avx512f,fma")))

namespace sparq::kernels::avx512 {
namespace {

/// R rows x 16V columns: R*V accumulators; per k, V loads of B and R
/// broadcasts of weights feed R*V FMAs. B's row p starts at b + p * ldb, or
/// with a row table at b + bRows[p]; with bLast, one more row (p = k) is
/// there.
template <int R, int V, bool Table>
SPARQ_AVX512 inline void tile(const float *a, int64_t lda, const float *b,
                              int64_t ldb, const int64_t *bRows, int64_t k,
                              int cols, float *c, int64_t ldc, bool accumulate,
                              const float *bias, float lo, float hi,
                              const float *bLast) {
  __mmask16 mask[V];
  for (int v = 0; v < V; ++v) {
    int left = cols - 16 * v;
    mask[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (1u << left) - 1;
  }
  __m512 acc[R][V];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v)
      acc[i][v] = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
  const float *rows[R];
  for (int i = 0; i < R; ++i)
    rows[i] = a + i * lda;
  auto step = [&](const float *bp, int64_t p) SPARQ_AVX512 {
    __m512 bv[V];
    for (int v = 0; v < V; ++v)
      bv[v] = _mm512_loadu_ps(bp + 16 * v);
    for (int i = 0; i < R; ++i) {
      __m512 w = _mm512_set1_ps(rows[i][p]);
      for (int v = 0; v < V; ++v)
        acc[i][v] = _mm512_fmadd_ps(w, bv[v], acc[i][v]);
    }
  };
  for (int64_t p = 0; p < k; ++p)
    step(Table ? b + bRows[p] : b + p * ldb, p);
  if (bLast)
    step(bLast, k);
  __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v) {
      float *o = c + i * ldc + 16 * v;
      __m512 x = acc[i][v];
      if (accumulate)
        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], o));
      // Bound first: max/min return their second operand on NaN, which
      // keeps a NaN result NaN.
      x = _mm512_min_ps(vhi, _mm512_max_ps(vlo, x));
      _mm512_mask_storeu_ps(o, mask[v], x);
    }
}

template <int V, bool Table>
SPARQ_AVX512 void tileRows(const float *a, int64_t lda, const float *b,
                           int64_t ldb, const int64_t *bRows, int64_t k,
                           int rows, int cols, float *c, int64_t ldc,
                           bool accumulate, const float *bias, float lo,
                           float hi, const float *bLast) {
#define SPARQ_TILE(R)                                                          \
  tile<R, V, Table>(a, lda, b, ldb, bRows, k, cols, c, ldc, accumulate, bias,  \
                    lo, hi, bLast)
  switch (rows) {
  case 6:
    return SPARQ_TILE(6);
  case 5:
    return SPARQ_TILE(5);
  case 4:
    return SPARQ_TILE(4);
  case 3:
    return SPARQ_TILE(3);
  case 2:
    return SPARQ_TILE(2);
  default:
    return SPARQ_TILE(1);
  }
#undef SPARQ_TILE
}

template <bool Table>
SPARQ_AVX512 void tileCols(const float *a, int64_t lda, const float *b,
                           int64_t ldb, const int64_t *bRows, int64_t k,
                           int rows, int cols, float *c, int64_t ldc,
                           bool accumulate, const float *bias, float lo,
                           float hi, const float *bLast) {
  // A partial tile computes only the vectors it needs.
  switch ((cols + 15) / 16) {
  case 1:
    return tileRows<1, Table>(a, lda, b, ldb, bRows, k, rows, cols, c, ldc,
                              accumulate, bias, lo, hi, bLast);
  case 2:
    return tileRows<2, Table>(a, lda, b, ldb, bRows, k, rows, cols, c, ldc,
                              accumulate, bias, lo, hi, bLast);
  case 3:
    return tileRows<3, Table>(a, lda, b, ldb, bRows, k, rows, cols, c, ldc,
                              accumulate, bias, lo, hi, bLast);
  default:
    return tileRows<kTileVecs, Table>(a, lda, b, ldb, bRows, k, rows, cols, c,
                                      ldc, accumulate, bias, lo, hi, bLast);
  }
}

} // namespace

SPARQ_AVX512
void gemmTile(const float *a, int64_t lda, const float *b, int64_t ldb,
              const int64_t *bRows, int64_t k, int rows, int cols, float *c,
              int64_t ldc, bool accumulate, const float *bias, float lo,
              float hi, const float *bLast) {
  if (bRows)
    return tileCols<true>(a, lda, b, ldb, bRows, k, rows, cols, c, ldc,
                          accumulate, bias, lo, hi, bLast);
  return tileCols<false>(a, lda, b, ldb, bRows, k, rows, cols, c, ldc,
                         accumulate, bias, lo, hi, bLast);
}

} // namespace sparq::kernels::avx512

#else
namespace sparq::kernels::avx512 {
void gemmTile(const float *, int64_t, const float *, int64_t, const int64_t *,
              int64_t, int, int, float *, int64_t, bool, const float *, float,
              float, const float *) {}
} // namespace sparq::kernels::avx512
#endif
