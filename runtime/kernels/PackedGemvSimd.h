//===- PackedGemvSimd.h - SIMD GEMV kernels on packed codes -----*- C++ -*-===//
//
// Matrix-vector products on packed weights, vectorized by hand for AVX-512
// (PackedGemvAvx512.cpp) and AVX2 (PackedGemvAvx2.cpp): what the compiler
// does not find on its own: 16-entry table lookups in registers that add a
// pair of ternary columns for 16 rows, or dequantize 16 nibbles, at once.
// Call a namespace's kernels only when its available() says the CPU has the
// features. Each adds W * x into y.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_PACKEDGEMVSIMD_H
#define SPARQ_RUNTIME_KERNELS_PACKEDGEMVSIMD_H

#include <cstdint>

namespace sparq::kernels {
/// Rows of a ternary weight's tile (formats::ternaryWordIndex).
constexpr int64_t kTernaryTile = 16;

/// The ternary kernels' tables for the column pairs of words [k0, k1): per
/// pair (x0, x1), entry i = c0 | c1 << 2 holds what codes (c0, c1) add:
/// val(c0) * x0 + val(c1) * x1 with val = (0, Wp, -Wn, 0), 16 floats; or,
/// when `perRow`, the sum under +1 codes then the sum under -1 codes, 32
/// floats (the row's Wp and Wn apply at the end). Plain C++, inlined into
/// each instruction set's kernel.
inline void ternaryPairTables(const float *xPadded, int64_t k0, int64_t k1,
                              float wp, float wn, bool perRow, float *tables) {
  const float val[4] = {0, perRow ? 1 : wp, perRow ? 0 : -wn, 0};
  const float neg[4] = {0, 0, 1, 0};
  int64_t table = perRow ? 32 : 16;
  for (int64_t p = 0; p < (k1 - k0) * 8; ++p) {
    float x0 = xPadded[k0 * 16 + 2 * p], x1 = xPadded[k0 * 16 + 2 * p + 1];
    float *t = tables + p * table;
    for (int i = 0; i < 16; ++i)
      t[i] = val[i & 3] * x0 + val[i >> 2] * x1;
    if (perRow)
      for (int i = 0; i < 16; ++i)
        t[16 + i] = neg[i & 3] * x0 + neg[i >> 2] * x1;
  }
}

/// Adds the sums of tiles [t0, t0 + tiles) (`acc`, 16 or 32 floats per tile
/// as the tables) into y, with per-row scales when rowScales is not null.
inline void addTernaryTileSums(const float *acc, int64_t t0, int64_t tiles,
                               const float *rowScales, float *y) {
  int64_t table = rowScales ? 32 : 16;
  for (int64_t t = 0; t < tiles; ++t) {
    const float *at = acc + t * table;
    for (int64_t i = 0; i < kTernaryTile; ++i) {
      int64_t r = (t0 + t) * kTernaryTile + i;
      y[r] += rowScales
                  ? rowScales[2 * r] * at[i] - rowScales[2 * r + 1] * at[16 + i]
                  : at[i];
    }
  }
}

/// What 4-bit codes stand for: the 16 entries of a codebook `table`, or
/// int4 groups of `group` columns (a multiple of 128), each with a scale and
/// a zero point (zeros null: symmetric, zero 8), `scales`/`zeros` starting
/// at the first row's groups.
struct NibbleValues {
  const float *table = nullptr;
  const float *scales = nullptr;
  const uint8_t *zeros = nullptr;
  int64_t group = 0;
};
} // namespace sparq::kernels

namespace sparq::kernels::avx512 {

bool available();

/// Ternary codes stored in row tiles (formats::ternaryWordIndex), `words`
/// uint32 per row: the full tiles [t0, t1), whose rows are t * 16 ...;
/// x padded with zeros to words * 16 floats. Scales are the layer's Wp and
/// Wn, or (Wp, Wn) per row when rowScales is not null.
void ternaryGemv(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                 const float *xPadded, float wp, float wn,
                 const float *rowScales, float *y);

/// 4-bit codes, row-major with `stride` bytes per row. Columns in whole
/// blocks of 128 read x from xBlocked, permuted within each block:
/// xBlocked[128b + 16j + l] = x[128b + 8l + j]. Columns past the last whole
/// block (codebooks only) read x.
void nibbleGemv(const uint8_t *codes, int64_t rows, int64_t stride,
                int64_t cols, const float *xBlocked, const float *x,
                const NibbleValues &values, float *y);

} // namespace sparq::kernels::avx512

/// AVX2 + FMA kernels (PackedGemvAvx2.cpp), 8 lanes wide: ternary as the
/// AVX-512 kernel; int4 and codebook GEMVs for every shape (AVX-512 machines
/// use them where nibbleGemv's blocks do not fit). For int4, xe/xo are the
/// even/odd elements of x, xsum the sum of x over each group; zeros null for
/// symmetric (zero 8). Codebook codes index `table` (16 floats).
namespace sparq::kernels::avx2 {
bool available();
void ternaryGemv(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                 const float *xPadded, float wp, float wn,
                 const float *rowScales, float *y);
void int4Gemv(const uint8_t *codes, int64_t rows, int64_t cols, int64_t group,
              const float *scales, const uint8_t *zeros, const float *xe,
              const float *xo, const float *xsum, float *y);
void codebook4Gemv(const uint8_t *codes, int64_t rows, int64_t cols,
                   const float *table, const float *xe, const float *xo,
                   float *y);
} // namespace sparq::kernels::avx2

#endif // SPARQ_RUNTIME_KERNELS_PACKEDGEMVSIMD_H
