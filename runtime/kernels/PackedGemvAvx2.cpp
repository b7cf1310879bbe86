//===- PackedGemvAvx2.cpp - AVX2 GEMV on ternary/int4/codebook codes ------===//
//
// The AVX2 + FMA versions of PackedGemvAvx512.cpp, for CPUs without
// AVX-512. Same contracts (PackedGemvSimd.h); 8 lanes instead of 16.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/PackedGemvSimd.h"

#include <algorithm>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_AVX2 __attribute__((target("avx2,fma")))

namespace sparq::kernels::avx2 {

bool available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

namespace {
SPARQ_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/// Entry idx & 15 of a 16-float table: two 8-entry permutes, bit 3 picks.
SPARQ_AVX2 inline __m256 lookup16(__m256i idx, const float *t) {
  __m256 lo = _mm256_permutevar8x32_ps(_mm256_load_ps(t), idx);
  __m256 hi = _mm256_permutevar8x32_ps(_mm256_load_ps(t + 8), idx);
  return _mm256_blendv_ps(lo, hi,
                          _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/// The AVX-512 kernel's pair tables (see there), 8 rows per half tile.
template <bool PerRow>
SPARQ_AVX2 void ternaryTiles(const uint32_t *codes, int64_t words, int64_t t0,
                             int64_t t1, const float *xPadded, float wp,
                             float wn, const float *rowScales, float *y) {
  constexpr int64_t kTable = PerRow ? 32 : 16;
  constexpr int64_t kBlock = 16384 / (8 * kTable * 4);
  alignas(32) float tables[kBlock * 8 * kTable];
  int64_t tiles = t1 - t0;
  std::vector<float> acc(tiles * kTable, 0.0f);
  for (int64_t k0 = 0; k0 < words; k0 += kBlock) {
    int64_t k1 = std::min(words, k0 + kBlock);
    ternaryPairTables(xPadded, k0, k1, wp, wn, PerRow, tables);
    for (int64_t t = 0; t < tiles; ++t) {
      const uint32_t *tc = codes + (t0 + t) * kTernaryTile * words;
      float *at = acc.data() + t * kTable;
      for (int h = 0; h < 2; ++h) {
        __m256 p0 = _mm256_setzero_ps(), p1 = p0, n0 = p0, n1 = p0;
        for (int64_t k = k0; k < k1; ++k) {
          __m256i c = _mm256_loadu_si256(
              reinterpret_cast<const __m256i *>(tc + k * kTernaryTile + 8 * h));
          const float *tb = tables + (k - k0) * 8 * kTable;
#pragma GCC unroll 8
          for (int j = 0; j < 8; j += 2) {
            __m256i c1 = _mm256_srli_epi32(c, 4);
            p0 = _mm256_add_ps(p0, lookup16(c, tb + j * kTable));
            p1 = _mm256_add_ps(p1, lookup16(c1, tb + (j + 1) * kTable));
            if (PerRow) {
              n0 = _mm256_add_ps(n0, lookup16(c, tb + j * kTable + 16));
              n1 = _mm256_add_ps(n1, lookup16(c1, tb + (j + 1) * kTable + 16));
            }
            c = _mm256_srli_epi32(c1, 4);
          }
        }
        float *ah = at + 8 * h;
        _mm256_storeu_ps(
            ah, _mm256_add_ps(_mm256_loadu_ps(ah), _mm256_add_ps(p0, p1)));
        if (PerRow)
          _mm256_storeu_ps(ah + 16, _mm256_add_ps(_mm256_loadu_ps(ah + 16),
                                                  _mm256_add_ps(n0, n1)));
      }
    }
  }
  addTernaryTileSums(acc.data(), t0, tiles, rowScales, y);
}
} // namespace

SPARQ_AVX2
void ternaryGemv(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                 const float *xPadded, float wp, float wn,
                 const float *rowScales, float *y) {
  if (rowScales)
    ternaryTiles<true>(codes, words, t0, t1, xPadded, 0, 0, rowScales, y);
  else
    ternaryTiles<false>(codes, words, t0, t1, xPadded, wp, wn, nullptr, y);
}

namespace {
/// 16 weights from 8 bytes of nibbles: low nibbles times xe, high times xo;
/// values are the codes (int4) or a 16-entry table split in two halves.
SPARQ_AVX2 inline void nibbles8(const uint8_t *b, const float *xe,
                                const float *xo, const __m256 *lut,
                                __m256 &acc0, __m256 &acc1) {
  __m256i v = _mm256_cvtepu8_epi32(
      _mm_loadl_epi64(reinterpret_cast<const __m128i *>(b)));
  __m256i lo = _mm256_and_si256(v, _mm256_set1_epi32(15));
  __m256i hi = _mm256_srli_epi32(v, 4);
  __m256 flo, fhi;
  if (lut) {
    // Entries 0-7 from lut[0], 8-15 from lut[1], chosen by bit 3.
    __m256i seven = _mm256_set1_epi32(7);
    flo = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lut[0], lo),
                           _mm256_permutevar8x32_ps(lut[1], lo),
                           _mm256_castsi256_ps(_mm256_cmpgt_epi32(lo, seven)));
    fhi = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lut[0], hi),
                           _mm256_permutevar8x32_ps(lut[1], hi),
                           _mm256_castsi256_ps(_mm256_cmpgt_epi32(hi, seven)));
  } else {
    flo = _mm256_cvtepi32_ps(lo);
    fhi = _mm256_cvtepi32_ps(hi);
  }
  acc0 = _mm256_fmadd_ps(flo, _mm256_loadu_ps(xe), acc0);
  acc1 = _mm256_fmadd_ps(fhi, _mm256_loadu_ps(xo), acc1);
}
} // namespace

SPARQ_AVX2
void int4Gemv(const uint8_t *codes, int64_t rows, int64_t cols, int64_t group,
              const float *scales, const uint8_t *zeros, const float *xe,
              const float *xo, const float *xsum, float *y) {
  int64_t groups = cols / group, stride = cols / 2;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t *row = codes + r * stride;
    float total = 0;
    for (int64_t g = 0; g < groups; ++g) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0;
      int64_t b0 = g * group / 2, b1 = b0 + group / 2, b = b0;
      for (; b + 8 <= b1; b += 8)
        nibbles8(row + b, xe + b, xo + b, nullptr, a0, a1);
      float acc = hsum(_mm256_add_ps(a0, a1));
      for (; b < b1; ++b)
        acc += float(row[b] & 15) * xe[b] + float(row[b] >> 4) * xo[b];
      float z = zeros ? float(zeros[r * groups + g]) : 8.0f;
      total += scales[r * groups + g] * (acc - z * xsum[g]);
    }
    y[r] += total;
  }
}

SPARQ_AVX2
void codebook4Gemv(const uint8_t *codes, int64_t rows, int64_t cols,
                   const float *table, const float *xe, const float *xo,
                   float *y) {
  int64_t stride = (cols + 1) / 2, pairs = cols / 2;
  __m256 lut[2] = {_mm256_loadu_ps(table), _mm256_loadu_ps(table + 8)};
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t *row = codes + r * stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t b = 0;
    for (; b + 8 <= pairs; b += 8)
      nibbles8(row + b, xe + b, xo + b, lut, a0, a1);
    float acc = hsum(_mm256_add_ps(a0, a1));
    for (; b < pairs; ++b)
      acc += table[row[b] & 15] * xe[b] + table[row[b] >> 4] * xo[b];
    y[r] += acc;
  }
}

} // namespace sparq::kernels::avx2

#else
namespace sparq::kernels::avx2 {
bool available() { return false; }
void ternaryGemv(const uint32_t *, int64_t, int64_t, int64_t, const float *,
                 float, float, const float *, float *) {}
void int4Gemv(const uint8_t *, int64_t, int64_t, int64_t, const float *,
              const uint8_t *, const float *, const float *, const float *,
              float *) {}
void codebook4Gemv(const uint8_t *, int64_t, int64_t, const float *,
                   const float *, const float *, float *) {}
} // namespace sparq::kernels::avx2
#endif
