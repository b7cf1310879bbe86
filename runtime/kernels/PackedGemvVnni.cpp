//===- PackedGemvVnni.cpp - int8 table sums over tiled codes --------------===//
//
// The GEMV inner loop with int8 activations (Layout::actBits = 8), for
// AVX-512 with VBMI and VNNI; contracts in PackedGemvSimd.h. Per 64 bytes of
// codes (a word of 16 rows) the f32 kernel spends 20 instructions and is
// compute-bound below the memory's bandwidth; this one spends 7 (5 for
// int4): `vpermb` looks up four slots of 16 rows at once in 64 bytes of
// tables and `vpdpbusd` adds the bytes it found, four to a lane.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/PackedGemvSimd.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_VNNI                                                             \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")))

namespace sparq::kernels::avx512vnni {

namespace {

/// y += scale * (sum - zero * xsum) for the rows of NT tiles from row0, in
/// group g (GroupEpilogue).
template <int NT>
SPARQ_VNNI inline void groupEpilogue(const GroupEpilogue &e, int64_t g,
                                     int64_t row0, const __m512 (*f)[1]) {
  const __m512 xsum = _mm512_set1_ps(e.xsum[g]);
  for (int i = 0; i < NT; ++i) {
    int64_t r = row0 + i * kCodeTile, at = g * e.rows + r;
    __m512 zero = e.zeros
                      ? _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(
                            reinterpret_cast<const __m128i *>(e.zeros + at))))
                      : _mm512_set1_ps(8.0f);
    __m512 y = _mm512_loadu_ps(e.y + r);
    y = _mm512_fmadd_ps(_mm512_loadu_ps(e.scales + at),
                        _mm512_fnmadd_ps(zero, xsum, f[i][0]), y);
    _mm512_storeu_ps(e.y + r, y);
  }
}

/// Sums of words [k0, k1) of NT consecutive tiles (codes at `tc`), added
/// into `at`, slabs `slabStride` apart (a slab ends at every multiple of
/// slabWords). Within a slab, each block of blockWords words sums in int32,
/// then joins the slab's f32 sums times the block's scale. With `epi`, a
/// slab's sums go into y for rows row0... instead. `next`, when not null, is
/// the codes of tiles still to come, prefetched word by word (as
/// PackedGemvAvx512.cpp).
template <SlotTables Kind, int NT>
SPARQ_VNNI inline void
tileRun(const uint32_t *tc, int64_t words, int64_t k0, int64_t k1,
        const int8_t *tables, int64_t slabWords, int64_t blockWords,
        const float *scales, float *at, int64_t slabStride,
        const uint32_t *next, const GroupEpilogue *epi, int64_t row0) {
  constexpr int64_t kBytes = int8TableBytes(Kind);
  constexpr bool kTwo = Kind == SlotTables::Two;
  // Lane r's dword holds row r's word: byte b has slot 2b in its low nibble
  // and slot 2b + 1 in its high one. (nibble | 16 b) indexes the 64 bytes
  // that hold the tables of slots 0, 2, 4, 6 (or 1, 3, 5, 7), 16 apiece.
  const __m512i nibbles = _mm512_set1_epi32(0x0F0F0F0F);
  const __m512i offsets = _mm512_set1_epi32(0x30201000);
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t ka = k0, kb; ka < k1; ka = kb) {
    kb = std::min(k1, (ka / slabWords + 1) * slabWords);
    __m512 f[NT][kTwo ? 2 : 1];
    for (int i = 0; i < NT; ++i)
      for (auto &v : f[i])
        v = _mm512_setzero_ps();
    for (int64_t kc = ka, kd; kc < kb; kc = kd) {
      kd = std::min(kb, (kc / blockWords + 1) * blockWords);
      __m512i a[NT][kTwo ? 4 : 2];
      for (int i = 0; i < NT; ++i)
        for (auto &v : a[i])
          v = _mm512_setzero_si512();
      for (int64_t k = kc; k < kd; ++k) {
        __m512i c[NT];
        for (int i = 0; i < NT; ++i)
          c[i] = _mm512_loadu_si512(tc + (i * words + k) * kCodeTile);
        if (next)
          for (int i = 0; i < NT; ++i)
            _mm_prefetch(reinterpret_cast<const char *>(next + (i * words + k) *
                                                                   kCodeTile),
                         _MM_HINT_T1);
        const int8_t *tb = tables + (k - k0) * kBytes;
        if constexpr (Kind == SlotTables::Linear) {
          // Codes times x: the codes are the unsigned operand, x the signed.
          int32_t even, odd;
          std::memcpy(&even, tb, 4);
          std::memcpy(&odd, tb + 4, 4);
          const __m512i xe = _mm512_set1_epi32(even),
                        xo = _mm512_set1_epi32(odd);
          for (int i = 0; i < NT; ++i) {
            a[i][0] = _mm512_dpbusd_epi32(a[i][0],
                                          _mm512_and_si512(c[i], nibbles), xe);
            a[i][1] = _mm512_dpbusd_epi32(
                a[i][1], _mm512_and_si512(_mm512_srli_epi32(c[i], 4), nibbles),
                xo);
          }
        } else {
          const __m512i te = _mm512_loadu_si512(tb),
                        to = _mm512_loadu_si512(tb + 64);
          const __m512i se = kTwo ? _mm512_loadu_si512(tb + 128) : te;
          const __m512i so = kTwo ? _mm512_loadu_si512(tb + 192) : to;
          for (int i = 0; i < NT; ++i) {
            // (c & nibbles) | offsets in one instruction.
            __m512i ie =
                _mm512_ternarylogic_epi32(c[i], nibbles, offsets, 0xEA);
            __m512i io = _mm512_ternarylogic_epi32(_mm512_srli_epi32(c[i], 4),
                                                   nibbles, offsets, 0xEA);
            a[i][0] = _mm512_dpbusd_epi32(a[i][0], ones,
                                          _mm512_permutexvar_epi8(ie, te));
            a[i][1] = _mm512_dpbusd_epi32(a[i][1], ones,
                                          _mm512_permutexvar_epi8(io, to));
            if constexpr (kTwo) {
              a[i][2] = _mm512_dpbusd_epi32(a[i][2], ones,
                                            _mm512_permutexvar_epi8(ie, se));
              a[i][3] = _mm512_dpbusd_epi32(a[i][3], ones,
                                            _mm512_permutexvar_epi8(io, so));
            }
          }
        }
      }
      const __m512 scale = _mm512_set1_ps(scales[kc / blockWords]);
      for (int i = 0; i < NT; ++i) {
        f[i][0] = _mm512_fmadd_ps(
            _mm512_cvtepi32_ps(_mm512_add_epi32(a[i][0], a[i][1])), scale,
            f[i][0]);
        if constexpr (kTwo)
          f[i][1] = _mm512_fmadd_ps(
              _mm512_cvtepi32_ps(_mm512_add_epi32(a[i][2], a[i][3])), scale,
              f[i][1]);
      }
    }
    if constexpr (!kTwo)
      if (epi) {
        groupEpilogue<NT>(*epi, ka / slabWords, row0, f);
        continue;
      }
    for (int i = 0; i < NT; ++i) {
      float *ai = at + i * (kTwo ? 32 : 16);
      _mm512_storeu_ps(ai, _mm512_add_ps(_mm512_loadu_ps(ai), f[i][0]));
      if constexpr (kTwo)
        _mm512_storeu_ps(ai + 16,
                         _mm512_add_ps(_mm512_loadu_ps(ai + 16), f[i][1]));
    }
    at += slabStride;
  }
}

template <SlotTables Kind>
SPARQ_VNNI void tileSums(const uint32_t *codes, int64_t words, int64_t t0,
                         int64_t t1, int64_t k0, int64_t k1,
                         const int8_t *tables, int64_t slabWords,
                         int64_t blockWords, const float *scales, float *sums,
                         const GroupEpilogue *epi) {
  constexpr int64_t kTable = Kind == SlotTables::Two ? 32 : 16;
  // Four tiles at a time (two with two tables: their sums fill the
  // registers), prefetching those two steps ahead.
  constexpr int kTiles = Kind == SlotTables::Two ? 2 : 4;
  const int64_t tileWords = kCodeTile * words, slab = (t1 - t0) * kTable;
  int64_t t = t0;
  for (; t + kTiles <= t1; t += kTiles)
    tileRun<Kind, kTiles>(
        codes + t * tileWords, words, k0, k1, tables, slabWords, blockWords,
        scales, epi ? nullptr : sums + (t - t0) * kTable, slab,
        t + 3 * kTiles <= t1 ? codes + (t + 2 * kTiles) * tileWords : nullptr,
        epi, t * kCodeTile);
  for (; t < t1; ++t)
    tileRun<Kind, 1>(codes + t * tileWords, words, k0, k1, tables, slabWords,
                     blockWords, scales,
                     epi ? nullptr : sums + (t - t0) * kTable, slab, nullptr,
                     epi, t * kCodeTile);
}

} // namespace

SPARQ_VNNI
void tileTableSums(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                   int64_t k0, int64_t k1, const int8_t *tables,
                   SlotTables kind, int64_t slabWords, int64_t blockWords,
                   const float *scales, float *sums,
                   const GroupEpilogue *epilogue) {
  switch (kind) {
  case SlotTables::One:
    return tileSums<SlotTables::One>(codes, words, t0, t1, k0, k1, tables,
                                     slabWords, blockWords, scales, sums,
                                     nullptr);
  case SlotTables::Two:
    return tileSums<SlotTables::Two>(codes, words, t0, t1, k0, k1, tables,
                                     slabWords, blockWords, scales, sums,
                                     nullptr);
  case SlotTables::Linear:
    return tileSums<SlotTables::Linear>(codes, words, t0, t1, k0, k1, tables,
                                        slabWords, blockWords, scales, sums,
                                        epilogue);
  }
}

} // namespace sparq::kernels::avx512vnni

#else
namespace sparq::kernels::avx512vnni {
void tileTableSums(const uint32_t *, int64_t, int64_t, int64_t, int64_t,
                   int64_t, const int8_t *, SlotTables, int64_t, int64_t,
                   const float *, float *, const GroupEpilogue *) {}
} // namespace sparq::kernels::avx512vnni
#endif
