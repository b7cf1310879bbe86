//===- PackedGemvAvx512.cpp - AVX-512 table sums over tiled codes ---------===//
//
// Compiled for AVX-512 (F, BW, VL) and BMI2 whatever the build's baseline;
// PackedKernels.cpp calls these only when the CPU has those features
// (contracts in PackedGemvSimd.h).
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/PackedGemvSimd.h"

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_AVX512                                                           \
  __attribute__((target("avx512f,avx512bw,avx512vl,bmi2,fma")))

namespace sparq::kernels::avx512 {

namespace {

/// The sums of words [k0, k1) of NT consecutive tiles (codes at `tc`),
/// added into `at`: one load of each table serves NT tiles. `next`, when not
/// null, is the codes of tiles still to come, prefetched word by word.
template <bool TwoTables, int NT>
SPARQ_AVX512 inline void tileRun(const uint32_t *tc, int64_t words, int64_t k0,
                                 int64_t k1, const float *tables, float *at,
                                 const uint32_t *next) {
  constexpr int64_t kTable = TwoTables ? 32 : 16;
  const __m512 one = _mm512_set1_ps(1.0f);
  // Four chains per tile: with one table, slot j takes chain j % 4; with
  // two, the first table's sums take chains 0-1 and the second's 2-3. Half
  // the sums go through the FMA pipes (v * 1 + a), so Zen 4 issues them on
  // both its add and its FMA pipes (measured: 2-thread GEMV 19 -> 24 GB/s).
  __m512 a[NT][4];
  for (int i = 0; i < NT; ++i)
    for (int q = 0; q < 4; ++q)
      a[i][q] = _mm512_setzero_ps();
  for (int64_t k = k0; k < k1; ++k) {
    // Lane r of word k holds row r's word. A load at byte offset b puts
    // slot 2b in the lane's low nibble, slot 2b + 1 one shift away: loads
    // replace three of the seven shifts (compute-bound in L3: 12 -> 14
    // GB/s). The last word shifts instead, not to read past the codes.
    const bool offsetLoads = k + 1 < words;
    const char *wk[NT];
    __m512i c[NT];
    for (int i = 0; i < NT; ++i) {
      wk[i] = reinterpret_cast<const char *>(tc + (i * words + k) * kCodeTile);
      c[i] = _mm512_loadu_si512(wk[i]);
    }
    // The hardware prefetcher does not follow the jumps from one tile's
    // block of words to the next tile's (two threads: 18 -> 22-24 GB/s).
    if (next)
      for (int i = 0; i < NT; ++i)
        _mm_prefetch(
            reinterpret_cast<const char *>(next + (i * words + k) * kCodeTile),
            _MM_HINT_T1);
    const float *tb = tables + (k - k0) * 8 * kTable;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512 tp = _mm512_loadu_ps(tb + j * kTable);
      __m512 tn = TwoTables ? _mm512_loadu_ps(tb + j * kTable + 16) : tp;
      for (int i = 0; i < NT; ++i) {
        if (offsetLoads && j > 0 && j % 2 == 0)
          c[i] = _mm512_loadu_si512(wk[i] + j / 2);
        __m512 vp = _mm512_permutexvar_ps(c[i], tp);
        if (TwoTables) {
          a[i][j & 1] = _mm512_add_ps(a[i][j & 1], vp);
          a[i][2 + (j & 1)] = _mm512_fmadd_ps(_mm512_permutexvar_ps(c[i], tn),
                                              one, a[i][2 + (j & 1)]);
        } else if (j & 1) {
          a[i][j & 3] = _mm512_fmadd_ps(vp, one, a[i][j & 3]);
        } else {
          a[i][j & 3] = _mm512_add_ps(a[i][j & 3], vp);
        }
        if (!offsetLoads || j % 2 == 0)
          c[i] = _mm512_srli_epi32(c[i], 4);
      }
    }
  }
  for (int i = 0; i < NT; ++i) {
    float *ai = at + i * kTable;
    if (TwoTables) {
      _mm512_storeu_ps(ai, _mm512_add_ps(_mm512_loadu_ps(ai),
                                         _mm512_add_ps(a[i][0], a[i][1])));
      _mm512_storeu_ps(ai + 16, _mm512_add_ps(_mm512_loadu_ps(ai + 16),
                                              _mm512_add_ps(a[i][2], a[i][3])));
    } else {
      _mm512_storeu_ps(
          ai, _mm512_add_ps(_mm512_loadu_ps(ai),
                            _mm512_add_ps(_mm512_add_ps(a[i][0], a[i][1]),
                                          _mm512_add_ps(a[i][2], a[i][3]))));
    }
  }
}

/// tileTableSums for NT consecutive tiles (codes at `tc`), adding into their
/// sums `at` (slabs `slabStride` apart): one load of each table serves NT
/// tiles. `next`, when not null, is the codes of tiles still to come,
/// prefetched word by word.
template <bool TwoTables, int NT>
SPARQ_AVX512 inline void tileBlock(const uint32_t *tc, int64_t words,
                                   int64_t k0, int64_t k1, const float *tables,
                                   int64_t slabWords, float *at,
                                   int64_t slabStride, const uint32_t *next) {
  for (int64_t ka = k0, kb; ka < k1; ka = kb) {
    kb = std::min(k1, (ka / slabWords + 1) * slabWords);
    tileRun<TwoTables, NT>(
        tc, words, ka, kb, tables + (ka - k0) * 8 * (TwoTables ? 32 : 16),
        at + (ka / slabWords - k0 / slabWords) * slabStride, next);
  }
}

template <bool TwoTables>
SPARQ_AVX512 void tileSums(const uint32_t *codes, int64_t words, int64_t t0,
                           int64_t t1, int64_t k0, int64_t k1,
                           const float *tables, int64_t slabWords,
                           float *sums) {
  constexpr int64_t kTable = TwoTables ? 32 : 16;
  const int64_t tileWords = kCodeTile * words, slab = (t1 - t0) * kTable;
  int64_t t = t0;
  // Four tiles at a time, prefetching the four after the next four.
  for (; t + 4 <= t1; t += 4)
    tileBlock<TwoTables, 4>(codes + t * tileWords, words, k0, k1, tables,
                            slabWords, sums + (t - t0) * kTable, slab,
                            t + 12 <= t1 ? codes + (t + 8) * tileWords
                                         : nullptr);
  for (; t + 2 <= t1; t += 2)
    tileBlock<TwoTables, 2>(codes + t * tileWords, words, k0, k1, tables,
                            slabWords, sums + (t - t0) * kTable, slab, nullptr);
  if (t < t1)
    tileBlock<TwoTables, 1>(codes + t * tileWords, words, k0, k1, tables,
                            slabWords, sums + (t - t0) * kTable, slab, nullptr);
}

} // namespace

SPARQ_AVX512
void tileTableSums(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                   int64_t k0, int64_t k1, const float *tables, SlotTables kind,
                   int64_t slabWords, float *sums) {
  // Linear tables are looked up as any other: with AVX-512 one permute
  // serves.
  if (kind == SlotTables::Two)
    tileSums<true>(codes, words, t0, t1, k0, k1, tables, slabWords, sums);
  else
    tileSums<false>(codes, words, t0, t1, k0, k1, tables, slabWords, sums);
}

} // namespace sparq::kernels::avx512

#else
namespace sparq::kernels::avx512 {
void tileTableSums(const uint32_t *, int64_t, int64_t, int64_t, int64_t,
                   int64_t, const float *, SlotTables, int64_t, float *) {}
} // namespace sparq::kernels::avx512
#endif
