//===- Transpose.cpp - matrix transpose in tiles --------------------------===//

#include "runtime/kernels/Transpose.h"
#include "runtime/formats/Simd.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

using namespace sparq;

namespace {

constexpr int64_t kTile = 32;

/// Rows [i0, i1) x columns [j0, j1) of the transpose, element by element.
template <typename T>
void tileScalar(const T *src, int64_t lds, T *dst, int64_t ldd, int64_t i0,
                int64_t i1, int64_t j0, int64_t j1) {
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = j0; j < j1; ++j)
      dst[j * ldd + i] = src[i * lds + j];
}

#if defined(__x86_64__) && defined(__GNUC__)
/// One 8 x 8 block of 4-byte elements: rows to lanes in three shuffle steps
/// (pairs, quads, 128-bit halves).
SPARQ_TARGET_AVX2 inline void block8x8(const float *src, int64_t lds,
                                       float *dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int k = 0; k < 8; ++k)
    r[k] = _mm256_loadu_ps(src + k * lds);
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
    t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
  }
  for (int k = 0; k < 8; k += 4) {
    r[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
    r[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
    r[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
    r[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
  }
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_ps(dst + k * ldd,
                     _mm256_permute2f128_ps(r[k], r[k + 4], 0x20));
    _mm256_storeu_ps(dst + (k + 4) * ldd,
                     _mm256_permute2f128_ps(r[k], r[k + 4], 0x31));
  }
}

/// Rows [i0, i1) of src, 4-byte elements: whole 8 x 8 blocks in registers,
/// the edges element by element.
SPARQ_TARGET_AVX2 void rowsAvx2(const uint32_t *src, int64_t lds, uint32_t *dst,
                                int64_t ldd, int64_t i0, int64_t i1,
                                int64_t cols) {
  const float *s = reinterpret_cast<const float *>(src);
  float *d = reinterpret_cast<float *>(dst);
  for (int64_t t0 = i0; t0 < i1; t0 += kTile) {
    int64_t t1 = std::min(i1, t0 + kTile);
    int64_t blockRows = t0 + (t1 - t0) / 8 * 8;
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      int64_t j1 = std::min(cols, j0 + kTile);
      int64_t blockCols = j0 + (j1 - j0) / 8 * 8;
      for (int64_t i = t0; i < blockRows; i += 8)
        for (int64_t j = j0; j < blockCols; j += 8)
          block8x8(s + i * lds + j, lds, d + j * ldd + i, ldd);
      tileScalar(src, lds, dst, ldd, t0, blockRows, blockCols, j1);
      tileScalar(src, lds, dst, ldd, blockRows, t1, j0, j1);
    }
  }
}
#endif

/// Rows [i0, i1) of src, tile by tile.
template <typename T>
void rowsScalar(const T *src, int64_t lds, T *dst, int64_t ldd, int64_t i0,
                int64_t i1, int64_t cols) {
  for (int64_t t0 = i0; t0 < i1; t0 += kTile)
    for (int64_t j0 = 0; j0 < cols; j0 += kTile)
      tileScalar(src, lds, dst, ldd, t0, std::min(i1, t0 + kTile), j0,
                 std::min(cols, j0 + kTile));
}

void transposeRows(const void *src, int64_t lds, void *dst, int64_t ldd,
                   int64_t i0, int64_t i1, int64_t cols, int elemBytes) {
  switch (elemBytes) {
  case 1:
    return rowsScalar(static_cast<const uint8_t *>(src), lds,
                      static_cast<uint8_t *>(dst), ldd, i0, i1, cols);
  case 2:
    return rowsScalar(static_cast<const uint16_t *>(src), lds,
                      static_cast<uint16_t *>(dst), ldd, i0, i1, cols);
  case 4:
#if defined(__x86_64__) && defined(__GNUC__)
    if (simdLevel() >= SimdLevel::Avx2)
      return rowsAvx2(static_cast<const uint32_t *>(src), lds,
                      static_cast<uint32_t *>(dst), ldd, i0, i1, cols);
#endif
    return rowsScalar(static_cast<const uint32_t *>(src), lds,
                      static_cast<uint32_t *>(dst), ldd, i0, i1, cols);
  default:
    return rowsScalar(static_cast<const uint64_t *>(src), lds,
                      static_cast<uint64_t *>(dst), ldd, i0, i1, cols);
  }
}

} // namespace

void sparq::kernels::transpose(const void *src, int64_t lds, void *dst,
                               int64_t ldd, int64_t rows, int64_t cols,
                               int elemBytes, bool threads) {
  if (rows <= 0 || cols <= 0)
    return;
  int64_t tiles = (rows + kTile - 1) / kTile;
  // Threads only for a quarter MiB or more per share: waking them costs
  // more than a small matrix.
  int64_t tileBytes = kTile * cols * elemBytes;
  int64_t grain = std::max<int64_t>(1, (256 << 10) / tileBytes);
  if (!threads || tiles < 2 * grain)
    return transposeRows(src, lds, dst, ldd, 0, rows, cols, elemBytes);
  parallelFor(tiles, grain, [&](int64_t q0, int64_t q1) {
    transposeRows(src, lds, dst, ldd, q0 * kTile, std::min(rows, q1 * kTile),
                  cols, elemBytes);
  });
}

namespace {
/// Moves the units (of `unitBytes`) of a p x q matrix of units at `base` to
/// its q x p transpose, each unit once: the unit bound for position d comes
/// from position src(d) = (d % p) * q + d / p; the cycles of that
/// permutation are followed with one unit of scratch and a visited bit per
/// position.
void transposeUnits(uint8_t *base, int64_t p, int64_t q, size_t unitBytes) {
  int64_t n = p * q;
  std::vector<bool> done(n, false);
  std::vector<uint8_t> held(unitBytes);
  auto unit = [&](int64_t i) { return base + i * unitBytes; };
  auto from = [&](int64_t d) { return (d % p) * q + d / p; };
  for (int64_t start = 0; start < n; ++start) {
    if (done[start])
      continue;
    done[start] = true;
    int64_t s = from(start);
    if (s == start)
      continue;
    std::memcpy(held.data(), unit(start), unitBytes);
    int64_t d = start;
    while (s != start) {
      std::memcpy(unit(d), unit(s), unitBytes);
      done[s] = true;
      d = s;
      s = from(d);
    }
    std::memcpy(unit(d), held.data(), unitBytes);
  }
}

/// The smallest divisor of `n` that is at least `atLeast`, or 0.
int64_t divisorAtLeast(int64_t n, int64_t atLeast) {
  for (int64_t c = std::max<int64_t>(1, atLeast); c <= n; ++c)
    if (n % c == 0)
      return c;
  return 0;
}
} // namespace

bool sparq::kernels::transposeInPlace(void *data, int64_t rows, int64_t cols,
                                      int elemBytes, size_t scratchBytes) {
  if (rows <= 1 || cols <= 1)
    return true; // the same bytes either way
  size_t e = static_cast<size_t>(elemBytes);
  size_t total = static_cast<size_t>(rows) * cols * e;
  int64_t minParts = static_cast<int64_t>((total + scratchBytes - 1) /
                                          std::max<size_t>(1, scratchBytes));
  // Split the columns (each part's rows are whole rows' pieces) or the
  // rows; the fewer parts, the larger the units the cycles move.
  int64_t byCols = divisorAtLeast(cols, minParts);
  int64_t byRows = divisorAtLeast(rows, minParts);
  if (!byCols && !byRows)
    return false;
  auto *base = static_cast<uint8_t *>(data);
  std::vector<uint8_t> scratch;
  if (byCols && (!byRows || byCols <= byRows)) {
    // [rows][c][L] -> [c][rows][L] (units of L elements), then each part
    // [rows][L] -> [L][rows]: [c][L][rows] is [cols][rows].
    int64_t c = byCols, l = cols / c;
    transposeUnits(base, rows, c, l * e);
    scratch.resize(static_cast<size_t>(rows) * l * e);
    for (int64_t j = 0; j < c; ++j) {
      uint8_t *part = base + static_cast<size_t>(j) * rows * l * e;
      transpose(part, l, scratch.data(), rows, rows, l, elemBytes);
      std::memcpy(part, scratch.data(), scratch.size());
    }
    return true;
  }
  // Each part of m whole rows [m][cols] -> [cols][m], then [c][cols][m] ->
  // [cols][c][m] (units of m elements): [cols][rows].
  int64_t c = byRows, m = rows / c;
  scratch.resize(static_cast<size_t>(m) * cols * e);
  for (int64_t i = 0; i < c; ++i) {
    uint8_t *part = base + static_cast<size_t>(i) * m * cols * e;
    transpose(part, cols, scratch.data(), m, m, cols, elemBytes);
    std::memcpy(part, scratch.data(), scratch.size());
  }
  transposeUnits(base, c, cols, m * e);
  return true;
}
