//===- QuantizedGemmSimd.cpp - tiles of the u8 x s8 GEMM ------------------===//
//
// B holds four consecutive k of a column in 4 bytes, tap by tap
// (QuadPanel in QuantizedConv.h).
// AVX-512 VNNI: vpdpbusd multiplies a column's 4 u8 by a row's 4 s8 (one
// 32-bit broadcast) and adds the four products to the column's int32 lane:
// 6 rows x 64 columns, 24 accumulators. AVX2: the bytes widen to 16 bits
// and vpmaddwd adds products in pairs (u8 x s8 fits 16 bits' products, the
// pair sum 32 bits: exact, unlike vpmaddubsw's saturating 16-bit sums), a
// column's two pair sums added at the end. Each compiled for its level
// whatever the build's baseline; gemmU8S8 calls it only at that level.
//
//===----------------------------------------------------------------------===//

#include "runtime/formats/Simd.h"
#include "runtime/kernels/QuantizedConv.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_VNNI                                                             \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

namespace sparq::kernels {
namespace {
int32_t quadOf(const int8_t *a) {
  int32_t v;
  std::memcpy(&v, a, 4);
  return v;
}

/// R rows of A (row stride lda) times columns [j0, j0 + cols) of the panel,
/// into c (row stride ldc, column 0 = j0).
template <int R>
SPARQ_VNNI inline void rowsVnni(const int8_t *a, int64_t lda,
                                const QuadPanel &p, int64_t j0, int cols,
                                int32_t *c, int64_t ldc) {
  __m512i acc[R][4];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < 4; ++v)
      acc[i][v] = _mm512_setzero_si512();
  for (int64_t t = 0; t < p.taps; ++t) {
    const uint8_t *bt = p.b + (p.tapOffsets[t] + j0) * 4;
    const int8_t *at = a + t * p.quads * 4;
    for (int64_t q = 0; q < p.quads; ++q) {
      const uint8_t *bq = bt + q * p.quadStride * 4;
      __m512i bv[4];
      for (int v = 0; v < 4; ++v)
        bv[v] = _mm512_loadu_si512(bq + 64 * v);
      for (int i = 0; i < R; ++i) {
        __m512i wv = _mm512_set1_epi32(quadOf(at + i * lda + 4 * q));
        for (int v = 0; v < 4; ++v)
          acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], bv[v], wv);
      }
    }
  }
  for (int v = 0; v < 4; ++v) {
    int left = cols - 16 * v;
    __mmask16 m = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (1u << left) - 1;
    for (int i = 0; i < R; ++i)
      _mm512_mask_storeu_epi32(c + i * ldc + 16 * v, m, acc[i][v]);
  }
}

template <int R>
SPARQ_TARGET_AVX2 inline void rowsAvx2(const int8_t *a, int64_t lda,
                                       const QuadPanel &p, int64_t j0, int cols,
                                       int32_t *c, int64_t ldc) {
  // acc[i][g]: columns 4g..4g+3, two pair sums each.
  __m256i acc[R][4];
  for (int i = 0; i < R; ++i)
    for (int g = 0; g < 4; ++g)
      acc[i][g] = _mm256_setzero_si256();
  for (int64_t t = 0; t < p.taps; ++t) {
    const uint8_t *bt = p.b + (p.tapOffsets[t] + j0) * 4;
    const int8_t *at = a + t * p.quads * 4;
    for (int64_t q = 0; q < p.quads; ++q) {
      const uint8_t *bq = bt + q * p.quadStride * 4;
      __m256i wv[R];
      for (int i = 0; i < R; ++i)
        wv[i] =
            _mm256_cvtepi8_epi16(_mm_set1_epi32(quadOf(at + i * lda + 4 * q)));
      for (int g = 0; g < 4; ++g) {
        __m256i bg = _mm256_cvtepu8_epi16(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(bq + 16 * g)));
        for (int i = 0; i < R; ++i)
          acc[i][g] = _mm256_add_epi32(acc[i][g], _mm256_madd_epi16(bg, wv[i]));
      }
    }
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int h = 0; h < 2; ++h) {
    int left = cols - 8 * h;
    if (left <= 0)
      break;
    __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane);
    for (int i = 0; i < R; ++i) {
      // Lanes: [c0 c1 c4 c5 | c2 c3 c6 c7] of the pair sums added, then
      // the 64-bit quarters in order.
      __m256i s = _mm256_hadd_epi32(acc[i][2 * h], acc[i][2 * h + 1]);
      s = _mm256_permute4x64_epi64(s, 0xD8);
      int32_t *o = c + i * ldc + 8 * h;
      if (left >= 8)
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(o), s);
      else
        _mm256_maskstore_epi32(o, m, s);
    }
  }
}
} // namespace

SPARQ_VNNI void avx512vnni::gemmU8S8Tile(const int8_t *a, int64_t lda,
                                         const QuadPanel &p, int64_t rows,
                                         int64_t j0, int64_t cols, int32_t *c,
                                         int64_t ldc) {
  int64_t r = 0;
  for (; r + 6 <= rows; r += 6)
    rowsVnni<6>(a + r * lda, lda, p, j0, int(cols), c + r * ldc, ldc);
  for (; r < rows; ++r)
    rowsVnni<1>(a + r * lda, lda, p, j0, int(cols), c + r * ldc, ldc);
}

SPARQ_TARGET_AVX2 void avx2::gemmU8S8Tile(const int8_t *a, int64_t lda,
                                          const QuadPanel &p, int64_t rows,
                                          int64_t j0, int64_t cols, int32_t *c,
                                          int64_t ldc) {
  int64_t r = 0;
  for (; r + 2 <= rows; r += 2)
    rowsAvx2<2>(a + r * lda, lda, p, j0, int(cols), c + r * ldc, ldc);
  for (; r < rows; ++r)
    rowsAvx2<1>(a + r * lda, lda, p, j0, int(cols), c + r * ldc, ldc);
}

} // namespace sparq::kernels

#else
namespace sparq::kernels {
void avx512vnni::gemmU8S8Tile(const int8_t *, int64_t, const QuadPanel &,
                              int64_t, int64_t, int64_t, int32_t *, int64_t) {}
void avx2::gemmU8S8Tile(const int8_t *, int64_t, const QuadPanel &, int64_t,
                        int64_t, int64_t, int32_t *, int64_t) {}
} // namespace sparq::kernels
#endif
