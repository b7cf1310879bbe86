//===- DenseGemm.cpp - dense f32 GEMM for convolutions --------------------===//

#include "runtime/kernels/DenseGemm.h"
#include "runtime/kernels/HostKernels.h"
#include "runtime/kernels/PackedKernels.h"
#include "runtime/kernels/ThreadPool.h"
#include "runtime/kernels/Transpose.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

using namespace sparq::kernels;
using avx512::kTileCols;
using avx512::kTileRows;

namespace {
/// Rows of one tile (the microkernel's), and tiles per unit of work: a
/// thread takes consecutive units, so B's columns stay in its L2.
constexpr int64_t kTilesPerUnit = 4;
/// Below this many multiply-adds a product runs on the calling thread:
/// waking another costs more.
constexpr int64_t kSerialMacs = int64_t(1) << 17;

using TileFn = decltype(&avx512::gemmTile);

/// The tile of the SIMD level in use.
TileFn tileKernel() {
  SimdLevel level = simdLevel();
  return level >= SimdLevel::Avx512 ? &avx512::gemmTile
         : level == SimdLevel::Avx2 ? &avx2::gemmTile
                                    : &portable::gemmTile;
}

/// Counts gemm calls: a thread's packed panel belongs to one call.
std::atomic<uint64_t> gemmCalls{0};

/// Whether the tiles read B from packed panels: the AVX2 tile runs strips
/// of 16 columns, each reading one cache line per row of B, every row on
/// another page; with enough rows of A to share a panel, the copy costs
/// less (under load, the tile went from 0.47-0.77x to 0.85-1.1x of
/// OpenBLAS's Haswell sgemm; bench/RESULTS.md, session 11). The AVX-512 tile
/// reads 4 lines a row: A/B runs of packing it were inconclusive, so it
/// reads B in place as before.
bool packsPanels(int64_t m) {
  return simdLevel() == SimdLevel::Avx2 && m >= 2 * kTileRows;
}

/// This thread's copy of B's columns [j0, j0 + cols) of column tile t, rows
/// contiguous at kTileCols floats, zero-padded: made once per call and tile.
/// A thread keeps a panel per column tile for the few-column order, whose
/// units go across the tiles; the many-column order needs one at a time.
const float *packedPanel(const float *b, int64_t ldb, const int64_t *bRows,
                         int64_t k, int64_t j0, int cols, uint64_t call,
                         int64_t t, bool byColumns) {
  struct Panel {
    uint64_t call = 0;
    int64_t tile = -1;
    std::vector<float> data;
  };
  static thread_local std::vector<Panel> panels;
  size_t slot = byColumns ? 0 : size_t(t);
  if (panels.size() <= slot)
    panels.resize(slot + 1);
  Panel &panel = panels[slot];
  if (panel.call == call && panel.tile == t)
    return panel.data.data();
  panel.call = call;
  panel.tile = t;
  panel.data.resize(k * kTileCols);
  for (int64_t p = 0; p < k; ++p) {
    const float *src = (bRows ? b + bRows[p] : b + p * ldb) + j0;
    float *dst = panel.data.data() + p * kTileCols;
    std::memcpy(dst, src, cols * sizeof(float));
    std::fill(dst + cols, dst + kTileCols, 0.0f);
  }
  return panel.data.data();
}

/// gemmF32 and gemmF32Rows: B's row p at b + p * ldb, or b + bRows[p];
/// gemmF32Panels: B in `panels` (panelsF32), b unused.
void gemm(const float *a, int64_t lda, const float *b, int64_t ldb,
          const int64_t *bRows, int64_t m, int64_t n, int64_t k, float *c,
          int64_t ldc, bool accumulate, const float *bias, float lo, float hi,
          const float *panels = nullptr) {
  if (m == 0 || n == 0)
    return;
  int64_t colTiles = (n + kTileCols - 1) / kTileCols;
  // The last, partial tile reads whole vectors (masked loads in its inner
  // loop would halve its speed). Where each row's over-read stays inside
  // the next row, it reads B in place but for the last row, copied and
  // zero-padded (bLast). Else its columns are copied, zero-padded to a
  // whole tile. (Packed panels are padded themselves.)
  bool pack = !panels && packsPanels(m);
  int64_t tail = pack || panels ? 0 : n % kTileCols;
  bool tailInPlace = tail && !bRows && ldb + tail >= kTileCols && k > 1;
  // Named through a pointer in the loop: other threads have their own.
  static thread_local std::vector<float> tailBuffer;
  std::vector<float> &tailCols = tailBuffer;
  if (tail) {
    int64_t copied = tailInPlace ? 1 : k;
    tailCols.resize(copied * kTileCols);
    for (int64_t p = k - copied; p < k; ++p) {
      float *dst = &tailCols[(p - (k - copied)) * kTileCols];
      const float *row = bRows ? b + bRows[p] : b + p * ldb;
      std::memcpy(dst, row + (n - tail), tail * sizeof(float));
      std::fill(dst + tail, dst + kTileCols, 0.0f);
    }
  }
  int64_t rowTiles = (m + kTileRows - 1) / kTileRows;
  // Units of several row tiles keep B's columns in L2; when that leaves few
  // units, one tile each, so that the threads' shares come out even.
  int64_t tilesPerUnit =
      colTiles * rowTiles >= 16 * kTilesPerUnit ? kTilesPerUnit : 1;
  int64_t rowUnits = (rowTiles + tilesPerUnit - 1) / tilesPerUnit;
  // Many columns: units run column tile by column tile, down the rows, so
  // a thread's columns of B stay in its L2. Few: row block by row block,
  // across the columns, so that each thread gets its share of every column
  // and a partial tile does not leave one thread with less work.
  bool byColumns = colTiles >= 8;
  int64_t units = colTiles * rowUnits;
  TileFn gemmTile = tileKernel();
  uint64_t call = ++gemmCalls;
  parallelFor(
      units, m * n * k < kSerialMacs ? units : 1, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1; ++u) {
          int64_t t = byColumns ? u / rowUnits : u % colTiles;
          int64_t j0 = t * kTileCols;
          int cols = int(std::min(kTileCols, n - j0));
          bool partial = cols < kTileCols;
          bool copied = partial && !tailInPlace;
          const float *bt = panels   ? panels + t * k * kTileCols
                            : copied ? tailCols.data()
                                     : b + j0;
          int64_t ldbt = copied ? kTileCols : ldb;
          const int64_t *rows = copied ? nullptr : bRows;
          // In place: B's last row from the copy.
          const float *bLast =
              partial && tailInPlace ? tailCols.data() : nullptr;
          int64_t kt = bLast ? k - 1 : k;
          if (pack || panels) {
            if (pack)
              bt = packedPanel(b, ldb, bRows, k, j0, cols, call, t, byColumns);
            ldbt = kTileCols;
            rows = nullptr;
            bLast = nullptr;
            kt = k;
          }
          int64_t r0 = (byColumns ? u % rowUnits : u / colTiles) *
                       tilesPerUnit * kTileRows;
          int64_t r1 = std::min(m, r0 + tilesPerUnit * kTileRows);
          for (int64_t r = r0; r < r1; r += kTileRows)
            gemmTile(a + r * lda, lda, bt, ldbt, rows, kt,
                     int(std::min(kTileRows, r1 - r)), cols, c + r * ldc + j0,
                     ldc, accumulate, bias ? bias + r : nullptr, lo, hi, bLast);
        }
      });
}
} // namespace

void sparq::kernels::gemmTileF32(const float *a, int64_t lda, const float *b,
                                 int64_t ldb, const int64_t *bRows, int64_t k,
                                 int rows, int cols, float *c, int64_t ldc,
                                 bool accumulate, const float *bias, float lo,
                                 float hi, const float *bLast) {
  tileKernel()(a, lda, b, ldb, bRows, k, rows, cols, c, ldc, accumulate, bias,
               lo, hi, bLast);
}

void sparq::kernels::gemmF32(const float *a, int64_t lda, const float *b,
                             int64_t ldb, int64_t m, int64_t n, int64_t k,
                             float *c, int64_t ldc, bool accumulate,
                             const float *bias, float lo, float hi) {
  gemm(a, lda, b, ldb, nullptr, m, n, k, c, ldc, accumulate, bias, lo, hi);
}

std::vector<float> sparq::kernels::panelsF32(const float *b, int64_t ldb,
                                             bool transposed, int64_t k,
                                             int64_t n) {
  int64_t tiles = (n + kTileCols - 1) / kTileCols;
  std::vector<float> out(tiles * k * kTileCols, 0.0f);
  // Panels on the kernels' threads (constants at compile time: 1.1 s of a
  // 216 M decoder's serially), each panel's transpose on one.
  parallelFor(tiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float *panel = out.data() + t * k * kTileCols;
      int64_t j0 = t * kTileCols, cols = std::min(kTileCols, n - j0);
      if (transposed)
        transpose(b + j0 * ldb, ldb, panel, kTileCols, cols, k, sizeof(float),
                  /*threads=*/false);
      else
        for (int64_t p = 0; p < k; ++p)
          std::memcpy(panel + p * kTileCols, b + p * ldb + j0,
                      cols * sizeof(float));
    }
  });
  return out;
}

void sparq::kernels::gemmF32Panels(const float *a, int64_t lda,
                                   const float *panels, int64_t m, int64_t n,
                                   int64_t k, float *c, int64_t ldc,
                                   bool accumulate, const float *bias, float lo,
                                   float hi) {
  gemm(a, lda, nullptr, 0, nullptr, m, n, k, c, ldc, accumulate, bias, lo, hi,
       panels);
}

void sparq::kernels::gemmF32Rows(const float *a, int64_t lda, const float *b,
                                 const int64_t *bRows, int64_t m, int64_t n,
                                 int64_t k, float *c, int64_t ldc,
                                 bool accumulate, const float *bias, float lo,
                                 float hi) {
  gemm(a, lda, b, 0, bRows, m, n, k, c, ldc, accumulate, bias, lo, hi);
}

// HostKernels.h: the pool's threads.
void sparq::kernels::setNumThreads(int threads) { setPoolThreads(threads); }

void sparq::kernels::denseGemm(const float *a, int64_t lda, const float *b,
                               int64_t ldb, bool transB, int64_t m, int64_t n,
                               int64_t k, float *c, int64_t ldc,
                               bool accumulate, const float *bias, float lo,
                               float hi) {
  if (m == 0 || n == 0)
    return;
  if (!transB)
    return gemmF32(a, lda, b, ldb, m, n, k, c, ldc, accumulate, bias, lo, hi);
  // A few rows times a transposed B (a batch-1 MatMul, a decoder step): one
  // GEMV on B's rows per row of A. (sgemm packed all of B first: a 4-layer
  // 4096-wide MLP ran 27.8 ms, 5.2-7.2 as sgemv, which gemvF32 matches.)
  if (m <= kGemvRows) {
    for (int64_t i = 0; i < m; ++i) {
      float *ci = c + i * ldc;
      if (bias)
        addRowBias(ci, 1, ldc, n, bias + i, !accumulate);
      gemvF32(b, ldb, n, k, a + i * lda, ci, accumulate || bias);
      clampRows(ci, 1, ldc, n, lo, hi);
    }
    return;
  }
  // Else B transposed once into a buffer, for the tiles to read in rows.
  static thread_local std::vector<float> transposed;
  transposed.resize(k * n);
  float *bt = transposed.data();
  transpose(b, ldb, bt, n, n, k, sizeof(float));
  gemmF32(a, lda, bt, n, m, n, k, c, ldc, accumulate, bias, lo, hi);
}
