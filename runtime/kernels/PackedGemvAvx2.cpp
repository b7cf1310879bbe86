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

bool available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

namespace {
/// Entry idx & 15 of a 16-float table: two 8-entry permutes, bit 3 picks.
SPARQ_AVX2 inline __m256 lookup16(__m256i idx, const float *t) {
  __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(t), idx);
  __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(t + 8), idx);
  return _mm256_blendv_ps(lo, hi,
                          _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/// The sums of words [k0, k1) of one tile (codes at `tc`), added into `at`.
template <bool TwoTables>
SPARQ_AVX2 void tileRun(const uint32_t *tc, int64_t k0, int64_t k1,
                        const float *tables, float *at) {
  constexpr int64_t kTable = TwoTables ? 32 : 16;
  for (int h = 0; h < 2; ++h) {
    __m256 p0 = _mm256_setzero_ps(), p1 = p0, n0 = p0, n1 = p0;
    for (int64_t k = k0; k < k1; ++k) {
      __m256i c = _mm256_loadu_si256(
          reinterpret_cast<const __m256i *>(tc + k * kCodeTile + 8 * h));
      const float *tb = tables + (k - k0) * 8 * kTable;
#pragma GCC unroll 8
      for (int j = 0; j < 8; j += 2) {
        __m256i c1 = _mm256_srli_epi32(c, 4);
        p0 = _mm256_add_ps(p0, lookup16(c, tb + j * kTable));
        p1 = _mm256_add_ps(p1, lookup16(c1, tb + (j + 1) * kTable));
        if (TwoTables) {
          n0 = _mm256_add_ps(n0, lookup16(c, tb + j * kTable + 16));
          n1 = _mm256_add_ps(n1, lookup16(c1, tb + (j + 1) * kTable + 16));
        }
        c = _mm256_srli_epi32(c1, 4);
      }
    }
    float *ah = at + 8 * h;
    _mm256_storeu_ps(ah,
                     _mm256_add_ps(_mm256_loadu_ps(ah), _mm256_add_ps(p0, p1)));
    if (TwoTables)
      _mm256_storeu_ps(ah + 16, _mm256_add_ps(_mm256_loadu_ps(ah + 16),
                                              _mm256_add_ps(n0, n1)));
  }
}

/// The AVX-512 kernel's table sums (see there), 8 rows per half tile.
template <bool TwoTables>
SPARQ_AVX2 void tileSums(const uint32_t *codes, int64_t words, int64_t t0,
                         int64_t t1, int64_t k0, int64_t k1,
                         const float *tables, int64_t slabWords, float *sums) {
  constexpr int64_t kTable = TwoTables ? 32 : 16;
  for (int64_t t = t0; t < t1; ++t)
    for (int64_t ka = k0, kb; ka < k1; ka = kb) {
      kb = std::min(k1, (ka / slabWords + 1) * slabWords);
      tileRun<TwoTables>(
          codes + t * kCodeTile * words, ka, kb,
          tables + (ka - k0) * 8 * kTable,
          sums + (ka / slabWords - k0 / slabWords) * (t1 - t0) * kTable +
              (t - t0) * kTable);
    }
}
} // namespace

SPARQ_AVX2
void tileTableSums(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                   int64_t k0, int64_t k1, const float *tables, bool twoTables,
                   int64_t slabWords, float *sums) {
  if (twoTables)
    tileSums<true>(codes, words, t0, t1, k0, k1, tables, slabWords, sums);
  else
    tileSums<false>(codes, words, t0, t1, k0, k1, tables, slabWords, sums);
}

} // namespace sparq::kernels::avx2

#else
namespace sparq::kernels::avx2 {
bool available() { return false; }
void tileTableSums(const uint32_t *, int64_t, int64_t, int64_t, int64_t,
                   int64_t, const float *, bool, int64_t, float *) {}
} // namespace sparq::kernels::avx2
#endif
