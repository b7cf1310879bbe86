//===- PackedGemvAvx512.cpp - AVX-512 GEMV on ternary/int4/codebook codes -===//
//
// Compiled for AVX-512 (F, BW, VL) and BMI2 whatever the build's baseline;
// PackedKernels.cpp calls these only when the CPU has those features
// (contracts in PackedGemvSimd.h).
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/PackedGemvSimd.h"

#include <algorithm>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_AVX512                                                           \
  __attribute__((target("avx512f,avx512bw,avx512vl,bmi2,fma")))

namespace sparq::kernels::avx512 {

bool available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2");
}

namespace {

/// Adds columns [k0, k1) of NT consecutive row tiles (codes at `tc`) into
/// their sums `at` (kTable floats per tile), looking up `tables` (the pair
/// tables of words k0...): one table load serves NT tiles.
template <bool PerRow, int NT>
SPARQ_AVX512 inline void tileBlock(const uint32_t *tc, int64_t words,
                                   int64_t k0, int64_t k1, const float *tables,
                                   float *at) {
  constexpr int64_t kTable = PerRow ? 32 : 16;
  const __m512 one = _mm512_set1_ps(1.0f);
  // Four chains per tile: per layer, pair j takes chain j % 4; per row, the
  // +1 sums take chains 0-1 and the -1 sums chains 2-3. Half the sums go
  // through the FMA pipes (v * 1 + a), so Zen 4 issues them on both its add
  // and its FMA pipes (measured: 2-thread GEMV 19 -> 24 GB/s).
  __m512 a[NT][4];
  for (int i = 0; i < NT; ++i)
    for (int q = 0; q < 4; ++q)
      a[i][q] = _mm512_setzero_ps();
  for (int64_t k = k0; k < k1; ++k) {
    __m512i c[NT];
    for (int i = 0; i < NT; ++i)
      c[i] = _mm512_loadu_si512(tc + (i * words + k) * kTernaryTile);
    const float *tb = tables + (k - k0) * 8 * kTable;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512 tp = _mm512_load_ps(tb + j * kTable);
      __m512 tn = PerRow ? _mm512_load_ps(tb + j * kTable + 16) : tp;
      for (int i = 0; i < NT; ++i) {
        __m512 vp = _mm512_permutexvar_ps(c[i], tp);
        if (PerRow) {
          a[i][j & 1] = _mm512_add_ps(a[i][j & 1], vp);
          a[i][2 + (j & 1)] = _mm512_fmadd_ps(_mm512_permutexvar_ps(c[i], tn),
                                              one, a[i][2 + (j & 1)]);
        } else if (j & 1) {
          a[i][j & 3] = _mm512_fmadd_ps(vp, one, a[i][j & 3]);
        } else {
          a[i][j & 3] = _mm512_add_ps(a[i][j & 3], vp);
        }
        c[i] = _mm512_srli_epi32(c[i], 4);
      }
    }
  }
  for (int i = 0; i < NT; ++i) {
    float *ai = at + i * kTable;
    if (PerRow) {
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

/// Full row tiles [t0, t1). Columns are taken a block at a time; for each
/// pair of columns (x0, x1) a 16-entry table holds what every pair of codes
/// adds, so one permute looks up the pair's contribution for 16 rows at
/// once (32 weights), where masks or decoded values need one operation per
/// 16 weights. With per-row scales the tables hold the sums under +1 codes
/// and under -1 codes separately; the scales apply at the end.
template <bool PerRow>
SPARQ_AVX512 void ternaryTiles(const uint32_t *codes, int64_t words, int64_t t0,
                               int64_t t1, const float *xPadded, float wp,
                               float wn, const float *rowScales, float *y) {
  constexpr int64_t kTable = PerRow ? 32 : 16;         // floats per column pair
  constexpr int64_t kBlock = 16384 / (8 * kTable * 4); // words: 16 KiB tables
  alignas(64) float tables[kBlock * 8 * kTable];
  int64_t tiles = t1 - t0;
  std::vector<float> acc(tiles * kTable, 0.0f);
  for (int64_t k0 = 0; k0 < words; k0 += kBlock) {
    int64_t k1 = std::min(words, k0 + kBlock);
    ternaryPairTables(xPadded, k0, k1, wp, wn, PerRow, tables);
    int64_t t = 0;
    for (; t + 4 <= tiles; t += 4)
      tileBlock<PerRow, 4>(codes + (t0 + t) * kTernaryTile * words, words, k0,
                           k1, tables, acc.data() + t * kTable);
    for (; t + 2 <= tiles; t += 2)
      tileBlock<PerRow, 2>(codes + (t0 + t) * kTernaryTile * words, words, k0,
                           k1, tables, acc.data() + t * kTable);
    if (t < tiles)
      tileBlock<PerRow, 1>(codes + (t0 + t) * kTernaryTile * words, words, k0,
                           k1, tables, acc.data() + t * kTable);
  }
  addTernaryTileSums(acc.data(), t0, tiles, rowScales, y);
}

} // namespace

SPARQ_AVX512
void ternaryGemv(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                 const float *xPadded, float wp, float wn,
                 const float *rowScales, float *y) {
  if (rowScales)
    ternaryTiles<true>(codes, words, t0, t1, xPadded, 0, 0, rowScales, y);
  else
    ternaryTiles<false>(codes, words, t0, t1, xPadded, wp, wn, nullptr, y);
}

namespace {

/// Rows [r, r + R) of nibbleGemv: the rows share every load of x.
template <int R>
SPARQ_AVX512 inline void nibbleRows(const uint8_t *codes, int64_t r,
                                    int64_t stride, int64_t cols,
                                    const float *xBlocked, const float *x,
                                    const NibbleValues &v, float *y) {
  int64_t blocks = cols / 128;
  int64_t groups = v.table ? 0 : cols / v.group;
  int64_t blocksPerGroup = v.table ? 0 : v.group / 128;
  const __m512 iota =
      _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512 table[R], a[R][2];
  for (int i = 0; i < R; ++i) {
    table[i] = v.table ? _mm512_loadu_ps(v.table) : iota;
    a[i][0] = a[i][1] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < blocks; ++b) {
    __m512i c[R];
    for (int i = 0; i < R; ++i) {
      if (!v.table && b % blocksPerGroup == 0) {
        int64_t g = (r + i) * groups + b / blocksPerGroup;
        float zero = v.zeros ? float(v.zeros[g]) : 8.0f;
        table[i] = _mm512_mul_ps(_mm512_sub_ps(iota, _mm512_set1_ps(zero)),
                                 _mm512_set1_ps(v.scales[g]));
      }
      c[i] = _mm512_loadu_si512(codes + (r + i) * stride + b * 64);
    }
    const float *xb = xBlocked + b * 128;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512 xj = _mm512_loadu_ps(xb + 16 * j);
      for (int i = 0; i < R; ++i) {
        a[i][j & 1] = _mm512_fmadd_ps(_mm512_permutexvar_ps(c[i], table[i]), xj,
                                      a[i][j & 1]);
        c[i] = _mm512_srli_epi32(c[i], 4);
      }
    }
  }
  for (int i = 0; i < R; ++i) {
    const uint8_t *row = codes + (r + i) * stride;
    float acc = _mm512_reduce_add_ps(_mm512_add_ps(a[i][0], a[i][1]));
    for (int64_t k = blocks * 128; k < cols; ++k) // codebook columns left
      acc += v.table[(row[k / 2] >> (4 * (k & 1))) & 15] * x[k];
    y[r + i] += acc;
  }
}

} // namespace

SPARQ_AVX512
void nibbleGemv(const uint8_t *codes, int64_t rows, int64_t stride,
                int64_t cols, const float *xBlocked, const float *x,
                const NibbleValues &v, float *y) {
  // Lane l of a block's 16 dwords holds weights 8l ... 8l + 7: shifted right
  // by 4j, its low nibble indexes a 16-float table of values (the codebook,
  // or (q - zero) * scale for the row's group), and one permute gives weight
  // 8l + j of every lane, already dequantized; xBlocked holds the matching
  // x. Four rows at a time: one row per load of x streamed x from L2 at
  // eight times the bytes of the codes (measured 7 GB/s).
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4)
    nibbleRows<4>(codes, r, stride, cols, xBlocked, x, v, y);
  for (; r < rows; ++r)
    nibbleRows<1>(codes, r, stride, cols, xBlocked, x, v, y);
}

} // namespace sparq::kernels::avx512

#else
namespace sparq::kernels::avx512 {
bool available() { return false; }
void ternaryGemv(const uint32_t *, int64_t, int64_t, int64_t, const float *,
                 float, float, const float *, float *) {}
void nibbleGemv(const uint8_t *, int64_t, int64_t, int64_t, const float *,
                const float *, const NibbleValues &, float *) {}
} // namespace sparq::kernels::avx512
#endif
