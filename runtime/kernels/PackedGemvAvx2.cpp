//===- PackedGemvAvx2.cpp - AVX2 table sums over tiled codes --------------===//
//
// The AVX2 + FMA versions of PackedGemvAvx512.cpp, for CPUs without
// AVX-512. Same contracts (PackedGemvSimd.h); 8 lanes instead of 16.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/PackedGemvSimd.h"

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_AVX2 __attribute__((target("avx2,fma")))

namespace sparq::kernels::avx2 {

namespace {
/// Entry idx & 15 of a 16-float table held as two halves: two 8-entry
/// permutes, bit 3 picks.
SPARQ_AVX2 inline __m256 lookup16(__m256i idx, __m256 lo, __m256 hi) {
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx),
                          _mm256_permutevar8x32_ps(hi, idx),
                          _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/// Word k of a tile's two 8-row halves; prefetches word k of `next`.
SPARQ_AVX2 inline void loadWord(const uint32_t *tc, const uint32_t *next,
                                int64_t k, __m256i c[2]) {
  for (int h = 0; h < 2; ++h)
    c[h] = _mm256_loadu_si256(
        reinterpret_cast<const __m256i *>(tc + k * kCodeTile + 8 * h));
  _mm_prefetch(reinterpret_cast<const char *>(next + k * kCodeTile),
               _MM_HINT_T1);
}

/// The sums of words [k0, k1) of one tile (codes at `tc`), added into `at`:
/// both halves of the tile (8 rows each) share each load of a table.
template <bool TwoTables>
SPARQ_AVX2 void tileRun(const uint32_t *tc, int64_t k0, int64_t k1,
                        const float *tables, float *at, const uint32_t *next) {
  constexpr int64_t kTable = TwoTables ? 32 : 16;
  __m256 p[2], n[2];
  for (int h = 0; h < 2; ++h)
    p[h] = n[h] = _mm256_setzero_ps();
  for (int64_t k = k0; k < k1; ++k) {
    __m256i c[2];
    loadWord(tc, next, k, c);
    const float *tb = tables + (k - k0) * 8 * kTable;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const float *t = tb + j * kTable;
      __m256 lo = _mm256_loadu_ps(t), hi = _mm256_loadu_ps(t + 8);
      for (int h = 0; h < 2; ++h)
        p[h] = _mm256_add_ps(p[h], lookup16(c[h], lo, hi));
      if (TwoTables) {
        lo = _mm256_loadu_ps(t + 16);
        hi = _mm256_loadu_ps(t + 24);
        for (int h = 0; h < 2; ++h)
          n[h] = _mm256_add_ps(n[h], lookup16(c[h], lo, hi));
      }
      for (int h = 0; h < 2; ++h)
        c[h] = _mm256_srli_epi32(c[h], 4);
    }
  }
  for (int h = 0; h < 2; ++h) {
    float *ah = at + 8 * h;
    _mm256_storeu_ps(ah, _mm256_add_ps(_mm256_loadu_ps(ah), p[h]));
    if (TwoTables)
      _mm256_storeu_ps(ah + 16, _mm256_add_ps(_mm256_loadu_ps(ah + 16), n[h]));
  }
}

/// tileRun for SlotTables::Linear: q * x as a float conversion and an FMA
/// with x broadcast (entry 1 of the slot's table), where a 16-entry lookup
/// takes two permutes and a blend on AVX2.
SPARQ_AVX2 void tileRunLinear(const uint32_t *tc, int64_t k0, int64_t k1,
                              const float *tables, float *at,
                              const uint32_t *next) {
  const __m256i nibble = _mm256_set1_epi32(15);
  __m256 p[2][2];
  for (int h = 0; h < 2; ++h)
    p[h][0] = p[h][1] = _mm256_setzero_ps();
  for (int64_t k = k0; k < k1; ++k) {
    __m256i c[2];
    loadWord(tc, next, k, c);
    const float *tb = tables + (k - k0) * 8 * 16;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m256 x = _mm256_broadcast_ss(tb + j * 16 + 1);
      for (int h = 0; h < 2; ++h) {
        __m256 q = _mm256_cvtepi32_ps(_mm256_and_si256(c[h], nibble));
        p[h][j & 1] = _mm256_fmadd_ps(q, x, p[h][j & 1]);
        c[h] = _mm256_srli_epi32(c[h], 4);
      }
    }
  }
  for (int h = 0; h < 2; ++h)
    _mm256_storeu_ps(at + 8 * h,
                     _mm256_add_ps(_mm256_loadu_ps(at + 8 * h),
                                   _mm256_add_ps(p[h][0], p[h][1])));
}

/// The AVX-512 kernel's table sums (see there), 8 rows per half tile.
template <SlotTables Kind>
SPARQ_AVX2 void tileSums(const uint32_t *codes, int64_t words, int64_t t0,
                         int64_t t1, int64_t k0, int64_t k1,
                         const float *tables, int64_t slabWords, float *sums) {
  constexpr int64_t kTable = Kind == SlotTables::Two ? 32 : 16;
  for (int64_t t = t0; t < t1; ++t)
    for (int64_t ka = k0, kb; ka < k1; ka = kb) {
      kb = std::min(k1, (ka / slabWords + 1) * slabWords);
      const uint32_t *tc = codes + t * kCodeTile * words;
      const float *tk = tables + (ka - k0) * 8 * kTable;
      float *at = sums +
                  (ka / slabWords - k0 / slabWords) * (t1 - t0) * kTable +
                  (t - t0) * kTable;
      // As in the AVX-512 kernel: the prefetcher does not follow the jump
      // to the next tiles' words.
      const uint32_t *next = tc + 2 * kCodeTile * words;
      if (Kind == SlotTables::Linear)
        tileRunLinear(tc, ka, kb, tk, at, next);
      else
        tileRun<Kind == SlotTables::Two>(tc, ka, kb, tk, at, next);
    }
}
} // namespace

SPARQ_AVX2
void tileTableSums(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                   int64_t k0, int64_t k1, const float *tables, SlotTables kind,
                   int64_t slabWords, float *sums) {
  if (kind == SlotTables::Two)
    tileSums<SlotTables::Two>(codes, words, t0, t1, k0, k1, tables, slabWords,
                              sums);
  else if (kind == SlotTables::Linear)
    tileSums<SlotTables::Linear>(codes, words, t0, t1, k0, k1, tables,
                                 slabWords, sums);
  else
    tileSums<SlotTables::One>(codes, words, t0, t1, k0, k1, tables, slabWords,
                              sums);
}

} // namespace sparq::kernels::avx2

#else
namespace sparq::kernels::avx2 {
void tileTableSums(const uint32_t *, int64_t, int64_t, int64_t, int64_t,
                   int64_t, const float *, SlotTables, int64_t, float *) {}
} // namespace sparq::kernels::avx2
#endif
