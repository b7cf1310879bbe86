//===- PackedKernels.cpp - kernels on compressed weights ------------------===//

#include "runtime/kernels/PackedKernels.h"
#include "runtime/formats/BitPack.h"
#include "runtime/kernels/DenseGemm.h"
#include "runtime/kernels/PackedGemvSimd.h"
#include "runtime/kernels/ThreadPool.h"
#include "runtime/kernels/Transpose.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <optional>
#include <vector>

using namespace sparq::kernels;
using sparq::formats::Format;
using sparq::formats::PackedView;
using sparq::formats::Quant;
using sparq::formats::Section;

namespace {

//===----------------------------------------------------------------------===//
// Values of sparse formats: f32, or codes looked up in a table.
//===----------------------------------------------------------------------===//

struct F32Values {
  const float *v;
  float operator()(uint64_t e) const { return v[e]; }
};

template <unsigned Bits> struct CodeValues {
  const uint8_t *codes;
  const float *table;
  float operator()(uint64_t e) const {
    if constexpr (Bits == 8)
      return table[codes[e]];
    else if constexpr (Bits == 4)
      return table[(codes[e >> 1] >> ((e & 1) * 4)) & 15];
    else if constexpr (Bits == 2)
      return table[(codes[e >> 2] >> ((e & 3) * 2)) & 3];
    else
      return table[sparq::formats::readBits(codes, e * bitsAtRun, bitsAtRun)];
  }
  unsigned bitsAtRun = Bits;
};

/// Table of every code's value (ternary, codebook, fixed point up to 16 bits).
std::vector<float> codeTable(const PackedView &w) {
  unsigned bits = w.layout().valueBits();
  std::vector<float> t(size_t(1) << bits);
  for (size_t c = 0; c < t.size(); ++c)
    t[c] = sparq::formats::codeValue(w, uint32_t(c), 0);
  return t;
}

/// Calls f(values) with the value reader of a sparse layout.
template <typename F> void withValues(const PackedView &w, F &&f) {
  if (w.layout().quant == Quant::None)
    return f(F32Values{w.section<float>(Section::Values)});
  std::vector<float> table = codeTable(w);
  const uint8_t *codes = w.section<uint8_t>(Section::Values);
  switch (w.layout().valueBits()) {
  case 2:
    return f(CodeValues<2>{codes, table.data()});
  case 4:
    return f(CodeValues<4>{codes, table.data()});
  case 8:
    return f(CodeValues<8>{codes, table.data()});
  default:
    return f(CodeValues<0>{codes, table.data(), w.layout().valueBits()});
  }
}

template <typename F> void withIndex(const PackedView &w, F &&f) {
  if (w.indexBytes() == 2)
    f(w.section<uint16_t>(Section::Index));
  else
    f(w.section<uint32_t>(Section::Index));
}

void zeroRows(float *y, int64_t ldy, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r)
    std::memset(y + r * ldy, 0, n * sizeof(float));
}

/// yr[0, n) += sum of v[i] * xs[i][0, n) for i < count (count <= 8): four or
/// eight rows at a time, so that yr is loaded and stored once per group.
SPARQ_SIMD_INLINE inline void axpy8At(float *__restrict yr,
                                      const float *const *xs, const float *v,
                                      int count, int64_t n) {
  if (count == 8) {
    const float *__restrict x0 = xs[0], *__restrict x1 = xs[1],
                            *__restrict x2 = xs[2], *__restrict x3 = xs[3],
                            *__restrict x4 = xs[4], *__restrict x5 = xs[5],
                            *__restrict x6 = xs[6], *__restrict x7 = xs[7];
    float v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3], v4 = v[4], v5 = v[5],
          v6 = v[6], v7 = v[7];
    for (int64_t j = 0; j < n; ++j)
      yr[j] += (v0 * x0[j] + v1 * x1[j]) + (v2 * x2[j] + v3 * x3[j]) +
               ((v4 * x4[j] + v5 * x5[j]) + (v6 * x6[j] + v7 * x7[j]));
    return;
  }
  if (count == 4) {
    const float *__restrict x0 = xs[0], *__restrict x1 = xs[1],
                            *__restrict x2 = xs[2], *__restrict x3 = xs[3];
    float v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3];
    for (int64_t j = 0; j < n; ++j)
      yr[j] += (v0 * x0[j] + v1 * x1[j]) + (v2 * x2[j] + v3 * x3[j]);
    return;
  }
  for (int i = 0; i < count; ++i) {
    const float *__restrict x = xs[i];
    float vi = v[i];
    for (int64_t j = 0; j < n; ++j)
      yr[j] += vi * x[j];
  }
}

void axpy8(float *yr, const float *const *xs, const float *v, int count,
           int64_t n) {
  sparq::withSimd([&]() SPARQ_SIMD_INLINE { axpy8At(yr, xs, v, count, n); });
}

/// Accumulates the entries of one output row, a group at a time: eight
/// rows of X for short rows, four for long ones, whose eight segments and
/// output would overflow L1 (measured in bench/packed_kernels.cpp).
struct RowAccumulator {
  float *yr;
  int64_t n;
  int width = n > 512 ? 4 : 8;
  const float *xs[8];
  float v[8];
  int count = 0;
  void add(const float *x, float value) {
    if (value == 0)
      return;
    xs[count] = x;
    v[count++] = value;
    if (count == width)
      flush();
  }
  void flush() {
    if (count)
      axpy8(yr, xs, v, count, n);
    count = 0;
  }
};

// Rows per thread below which a GEMV stays on one thread.
constexpr int64_t kGemvGrain = 256;
// Columns per scale of x where activations are int8 (Layout::actBits).
constexpr int64_t kActBlockCols = 128;
// The largest convolution weight decoded whole (64 MiB of floats); larger
// ones decode blocks of rows.
constexpr int64_t kDecodedConvFloats = int64_t(1) << 24;

// Columns of X are processed in chunks so that the rows of X a weight row
// touches stay in cache.
constexpr int64_t kChunk = 1024;

//===----------------------------------------------------------------------===//
// Sparse formats times a dense matrix
//===----------------------------------------------------------------------===//

/// The rows of X: row i at x + i * ld, or at x + table[i] (the shifted
/// views of a phase-split convolution, ConvPhaseGemm.cpp).
struct XRows {
  const float *x;
  int64_t ld;
  const int64_t *table = nullptr;
  const float *row(int64_t i) const { return x + (table ? table[i] : i * ld); }
};

// Each SpMM takes the range [u0, u1) of its units: rows (CSR, N:M), block
// rows (BCSR) or PEs (interleaved CSC), which write disjoint output rows.

void csrSpmm(const PackedView &w, const XRows &x, float *y, int64_t ldy,
             int64_t n, int64_t u0, int64_t u1) {
  const uint32_t *ptr = w.section<uint32_t>(Section::Ptr);
  withIndex(w, [&](auto *idx) {
    withValues(w, [&](auto val) {
      for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
        int64_t len = std::min(kChunk, n - j0);
        for (int64_t r = u0; r < u1; ++r) {
          RowAccumulator acc{y + r * ldy + j0, len};
          for (uint32_t e = ptr[r]; e < ptr[r + 1]; ++e)
            acc.add(x.row(idx[e]) + j0, val(e));
          acc.flush();
        }
      }
    });
  });
}

void bcsrSpmm(const PackedView &w, const XRows &x, float *y, int64_t ldy,
              int64_t n, int64_t u0, int64_t u1) {
  const uint32_t *ptr = w.section<uint32_t>(Section::Ptr);
  int64_t br = w.layout().blockRows, bc = w.layout().blockCols;
  withIndex(w, [&](auto *idx) {
    withValues(w, [&](auto val) {
      for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
        int64_t len = std::min(kChunk, n - j0);
        for (int64_t b = u0; b < u1; ++b)
          for (int64_t i = 0; i < br; ++i) {
            RowAccumulator acc{y + (b * br + i) * ldy + j0, len};
            for (uint32_t e = ptr[b]; e < ptr[b + 1]; ++e) {
              int64_t c0 = int64_t(idx[e]) * bc;
              uint64_t v0 = uint64_t(e) * br * bc + i * bc;
              for (int64_t j = 0; j < bc; ++j)
                acc.add(x.row(c0 + j) + j0, val(v0 + j));
            }
            acc.flush();
          }
      }
    });
  });
}

void nmSpmm(const PackedView &w, const XRows &x, float *y, int64_t ldy,
            int64_t n, int64_t u0, int64_t u1) {
  int64_t nn = w.layout().n, m = w.layout().m, groups = w.cols() / m;
  unsigned ib = sparq::formats::nmIndexBits(m);
  const uint8_t *idx = w.section<uint8_t>(Section::Index);
  withValues(w, [&](auto val) {
    for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
      int64_t len = std::min(kChunk, n - j0);
      for (int64_t r = u0; r < u1; ++r) {
        RowAccumulator acc{y + r * ldy + j0, len};
        uint64_t e = uint64_t(r) * groups * nn;
        for (int64_t g = 0; g < groups; ++g)
          for (int64_t s = 0; s < nn; ++s, ++e)
            acc.add(x.row(g * m + sparq::formats::readBits(idx, e * ib, ib)) +
                        j0,
                    val(e));
        acc.flush();
      }
    }
  });
}

/// Interleaved CSC: PE by PE, column by column, as the ESE engine walks it.
void icscSpmm(const PackedView &w, const XRows &x, float *y, int64_t ldy,
              int64_t n, int64_t u0, int64_t u1) {
  const auto &l = w.layout();
  const uint32_t *ptr = w.section<uint32_t>(Section::Ptr);
  const uint8_t *idx = w.section<uint8_t>(Section::Index);
  int64_t cols = w.cols();
  withValues(w, [&](auto val) {
    for (int64_t p = u0; p < u1; ++p) {
      const uint32_t *cp = ptr + p * (cols + 1);
      for (int64_t c = 0; c < cols; ++c) {
        int64_t local = -1;
        const float *xr = x.row(c);
        for (uint32_t e = cp[c]; e < cp[c + 1]; ++e) {
          local += sparq::formats::readBits(idx, uint64_t(e) * l.indexBits,
                                            l.indexBits) +
                   1;
          float v = val(e);
          if (v == 0)
            continue;
          // (axpy8 is compiled per instruction set; this lambda is not.)
          axpy8(y + (p + local * l.pes) * ldy, &xr, &v, 1, n);
        }
      }
    }
  });
}

/// Rows decoded a block at a time, multiplied by sgemm: for quantized dense
/// layouts times a wide matrix, where the product, not the weight bytes,
/// bounds the time.
void decodedSpmm(const PackedView &w, const float *x, int64_t ldx, float *y,
                 int64_t ldy, int64_t n, bool accumulate) {
  // Blocks of about 1 MiB decoded: 16 rows at a time made each GEMM too
  // thin to use its tiles and streamed X once per 16 rows (a ternary
  // ResNet-18 ran 8x slower than dense).
  int64_t cols = w.cols();
  int64_t block = std::clamp<int64_t>((int64_t(1) << 18) / cols, 16,
                                      std::max<int64_t>(16, w.rows()));
  std::vector<float> buf(std::min(block, w.rows()) * cols);
  for (int64_t r0 = 0; r0 < w.rows(); r0 += block) {
    int64_t r1 = std::min(w.rows(), r0 + block);
    parallelFor(r1 - r0, 4, [&](int64_t a, int64_t b) {
      sparq::formats::decodeRows(w, r0 + a, r0 + b, buf.data() + a * cols);
    });
    denseGemm(buf.data(), cols, x, ldx, false, r1 - r0, n, cols, y + r0 * ldy,
              ldy, accumulate);
  }
}

//===----------------------------------------------------------------------===//
// Matrix-vector products: bound by the bytes of the weight.
//===----------------------------------------------------------------------===//

/// A GEMV's tables quantized to int8 (Layout::actBits = 8), built once for
/// all words and shared by the threads. Per block of `blockWords` words,
/// scale = max |entry| / 127 (Linear: max |entry 1|, x's) and an entry is
/// round(entry * 127 / max): the error of quantizing x to int8 per block
/// of columns. The int8 kernel sums a block exactly in int32, then scales;
/// other kernels look up asFloat, the entries times their block's scale.
struct Int8Tables {
  SlotTables kind;
  int64_t blockWords;
  std::vector<int8_t> bytes;  // int8TableBytes(kind) per word, 64-aligned
  int64_t offset = 0;         // of the first word's tables in `bytes`
  std::vector<float> scale;   // per block
  std::vector<int32_t> xsum;  // Linear: per block, the sum of x's entries
  std::vector<float> asFloat; // f32 tables as tiledGemv's build writes, for
                              // f32 kernels and partial tiles; else empty

  const int8_t *word(int64_t k) const {
    return bytes.data() + offset + k * int8TableBytes(kind);
  }
  /// Entry e of slot j of word k (second: of the second table).
  int32_t entry(int64_t k, int j, int e, bool second) const {
    const int8_t *t = word(k);
    if (kind == SlotTables::Linear)
      return e * t[(j & 1) * 4 + j / 2];
    return t[(second ? 128 : 0) + (j & 1) * 64 + (j / 2) * 16 + e];
  }
};

/// The largest |v[i * stride]|, i < n: on the bits, whose order is the
/// floats' for magnitudes, so that it vectorizes.
SPARQ_SIMD_INLINE inline float maxMagnitudeAt(const float *__restrict v,
                                              int64_t n, int64_t stride) {
  uint32_t max = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, v + i * stride, 4);
    max = std::max(max, b & 0x7FFFFFFFu);
  }
  float m;
  std::memcpy(&m, &max, 4);
  return m;
}

float maxMagnitude(const float *v, int64_t n, int64_t stride) {
  float m;
  sparq::withSimd([&]()
                      SPARQ_SIMD_INLINE { m = maxMagnitudeAt(v, n, stride); });
  return m;
}

/// q[i] = round(v[i] * inv), i < 16: one table.
SPARQ_SIMD_INLINE inline void quantizeTableAt(const float *__restrict v,
                                              float inv, int8_t *__restrict q) {
  for (int i = 0; i < 16; ++i)
    q[i] = int8_t(std::nearbyint(v[i] * inv));
}

void quantizeTable(const float *v, float inv, int8_t *q) {
  sparq::withSimd([&]() SPARQ_SIMD_INLINE { quantizeTableAt(v, inv, q); });
}

/// Quantizes one block's f32 tables (words [k0, k1), at f) into t.
void quantizeBlock(Int8Tables &t, const float *f, int64_t b, int64_t k0,
                   int64_t k1) {
  int64_t table = t.kind == SlotTables::Two ? 32 : 16;
  int64_t bytes = int8TableBytes(t.kind);
  bool linear = t.kind == SlotTables::Linear;
  int64_t slots = (k1 - k0) * 8;
  float max = linear ? maxMagnitude(f + 1, slots, table)
                     : maxMagnitude(f, slots * table, 1);
  t.scale[b] = max / 127;
  float inv = max > 0 ? 127 / max : 0.0f;
  int32_t xsum = 0;
  for (int64_t k = k0; k < k1; ++k) {
    int8_t *q = t.bytes.data() + t.offset + k * bytes;
    for (int j = 0; j < 8; ++j) {
      const float *fj = f + ((k - k0) * 8 + j) * table;
      if (linear) {
        int8_t v = int8_t(std::nearbyint(fj[1] * inv));
        q[(j & 1) * 4 + j / 2] = v;
        xsum += v;
        continue;
      }
      for (int second = 0; second < table / 16; ++second)
        quantizeTable(fj + second * 16, inv,
                      q + second * 128 + (j & 1) * 64 + (j / 2) * 16);
    }
    if (!t.asFloat.empty())
      for (int j = 0; j < 8; ++j)
        for (int e = 0; e < table; ++e)
          t.asFloat[(k * 8 + j) * table + e] =
              float(t.entry(k, j, e % 16, e >= 16)) * t.scale[b];
  }
  t.xsum[b] = xsum;
}

/// Quantizes the f32 tables `build` writes (see tiledGemv) of `words`
/// words, block by block on the pool's threads, for a weight of `rows`
/// rows (Linear: only entry 1 of each table is read).
template <typename Build>
Int8Tables quantizeTables(SlotTables kind, int64_t rows, int64_t words,
                          int64_t blockWords, Build build) {
  int64_t table = kind == SlotTables::Two ? 32 : 16;
  Int8Tables t{kind, blockWords};
  t.bytes.resize(words * int8TableBytes(kind) + 64);
  t.offset = (64 - reinterpret_cast<uintptr_t>(t.bytes.data()) % 64) % 64;
  int64_t blocks = (words + blockWords - 1) / blockWords;
  t.scale.resize(blocks);
  t.xsum.resize(blocks);
  // The int8 kernel takes whole tiles and needs no f32 copy.
  if (simdLevel() != SimdLevel::Avx512Vnni || rows % kCodeTile)
    t.asFloat.resize(words * 8 * table);
  // At least 64 words a thread: waking one for less costs more.
  parallelFor(
      blocks, std::max<int64_t>(1, 64 / blockWords),
      [&](int64_t b0, int64_t b1) {
        int64_t k0 = b0 * blockWords, k1 = std::min(words, b1 * blockWords);
        std::unique_ptr<float[]> f(new float[(k1 - k0) * 8 * table]);
        build(k0, k1, f.get());
        for (int64_t b = b0; b < b1; ++b)
          quantizeBlock(t, f.get() + (b - b0) * blockWords * 8 * table, b,
                        b * blockWords, std::min(words, (b + 1) * blockWords));
      });
  return t;
}

/// A GEMV on a dense layout stored as tiled words (ternary, 4-bit codes:
/// formats::codesPerWord) by table lookups (PackedGemvSimd.h).
/// `build(k0, k1, tables)` writes the 16-entry tables (`kind`: 32 floats for
/// two tables, else 16) of the slots of words [k0, k1); each row sums what
/// its slots select; every `flushWords` words, and at the end,
/// `flush(k1, r0, n, s0, s1)` adds into y[r0...r0 + n) what the sums of
/// those rows make (s1: the second table's; n is a tile or one row), and the
/// sums start again. With `i8` (int8 activations, whose blocks must end
/// where flushes do) the tables are those and build is not called; with
/// `epilogue` too (int4), the int8 kernel adds each group into y itself
/// and flush is left for the rows of a partial tile.
///
/// A thread takes the columns 16 KiB of tables at a time (they stay in L1)
/// across all its tiles. The SIMD kernel keeps the sums of each flush (an
/// int4 group) apart, so that a tile's codes stream in runs of the whole
/// block; flushing after every group's pass over all tiles read 1 KiB runs:
/// int4 7.7 -> 10 GB/s on one thread. Full tiles run on the SIMD kernel; the
/// rows of a last partial tile, or all rows without SIMD, look the same
/// tables up one slot at a time. (Building all tables up front, in L2, and
/// taking four tiles at a time across them measured slower: ternary 24 -> 19
/// GB/s.)
template <typename Build, typename Flush>
void tiledGemv(const PackedView &w, SlotTables kind, int64_t flushWords,
               Build build, Flush flush, const Int8Tables *i8 = nullptr,
               const GroupEpilogue *epilogue = nullptr) {
  int64_t table = kind == SlotTables::Two ? 32 : 16;
  static_assert(kCodeTile == sparq::formats::kTileRows);
  int64_t rows = w.rows(), perWord = sparq::formats::codesPerWord(w.layout());
  int64_t words = (w.cols() + perWord - 1) / perWord;
  const uint32_t *codes = w.section<uint32_t>(Section::Values);
  SimdLevel level = simdLevel();
  bool vnni = i8 && level == SimdLevel::Avx512Vnni;
  auto kernel = level >= SimdLevel::Avx512 ? avx512::tileTableSums
                : level == SimdLevel::Avx2 ? avx2::tileTableSums
                                           : nullptr;
  int64_t fullTiles = kernel ? rows / kCodeTile : 0;
  int64_t tiles = (rows + kCodeTile - 1) / kCodeTile;
  // int8 tables: 64 KiB at a time (L2), so that a tile's codes stream in
  // runs of up to 512 words.
  int64_t block = vnni ? std::min(words, (64 << 10) / int8TableBytes(kind))
                       : std::min(words, (16 << 10) / (8 * table * 4));
  // The kernel's epilogue needs blocks that end where groups do. (Against
  // slabs of sums, written by the kernel and read back by flush: int4 +8%
  // on two threads, +11% on one.)
  bool fused = vnni && epilogue && flushWords <= block;
  if (fused)
    block -= block % flushWords;
  // Slabs of sums: the groups a block's words can touch.
  int64_t slabs = flushWords <= block ? block / flushWords + 1 : 2;
  parallelFor(tiles, kGemvGrain / kCodeTile, [&](int64_t t0, int64_t t1) {
    int64_t simdEnd = std::clamp(fullTiles, t0, t1);
    int64_t r0 = simdEnd * kCodeTile, r1 = std::min(rows, t1 * kCodeTile);
    // 64-byte aligned: each table is one cache line for the kernel's loads.
    std::vector<float> tableBuf(i8 ? 0 : block * 8 * table + 16);
    float *tables =
        tableBuf.data() +
        (16 - reinterpret_cast<uintptr_t>(tableBuf.data()) / 4 % 16) % 16;
    int64_t slab = (simdEnd - t0) * table;
    std::vector<float> sums(fused ? 0 : slabs * slab, 0.0f),
        rowSums((r1 - r0) * 2, 0.0f);
    auto flushes = [&](int64_t k1) {
      return k1 % flushWords == 0 || k1 == words;
    };
    // Flushes the slabs whose group ends in [K0, K1); a group that goes on
    // into the next block moves to the first slab.
    auto flushSlabs = [&](int64_t K0, int64_t K1) {
      int64_t first = K0 / flushWords, last = (K1 - 1) / flushWords;
      for (int64_t g = first; g <= last; ++g) {
        float *sg = sums.data() + (g - first) * slab;
        int64_t end = std::min(K1, (g + 1) * flushWords);
        if (!flushes(end)) {
          if (g > first) {
            std::copy(sg, sg + slab, sums.data());
            std::fill(sg, sg + slab, 0.0f);
          }
          continue;
        }
        for (int64_t t = t0; t < simdEnd; ++t) {
          float *s = sg + (t - t0) * table;
          flush(end, t * kCodeTile, kCodeTile, s, s + 16);
        }
        std::fill(sg, sg + slab, 0.0f);
      }
    };
    for (int64_t K0 = 0; K0 < words; K0 += block) {
      int64_t K1 = std::min(words, K0 + block);
      if (i8)
        tables = i8->asFloat.empty()
                     ? nullptr
                     : const_cast<float *>(i8->asFloat.data()) + K0 * 8 * table;
      else
        build(K0, K1, tables);
      if (simdEnd > t0) {
        if (vnni)
          avx512vnni::tileTableSums(codes, words, t0, simdEnd, K0, K1,
                                    i8->word(K0), kind, flushWords,
                                    i8->blockWords, i8->scale.data(),
                                    sums.data(), fused ? epilogue : nullptr);
        else
          kernel(codes, words, t0, simdEnd, K0, K1, tables, kind, flushWords,
                 sums.data());
        if (!fused) // else the kernel's epilogue has added them to y
          flushSlabs(K0, K1);
      }
      for (int64_t r = r0; r < r1; ++r) {
        float *s = rowSums.data() + 2 * (r - r0);
        for (int64_t k = K0; k < K1; ++k) {
          uint32_t word =
              codes[sparq::formats::tiledWordIndex(rows, words, r, k)];
          const float *tk = tables + (k - K0) * 8 * table;
          for (int j = 0; j < 8; ++j, word >>= 4) {
            s[0] += tk[j * table + (word & 15)];
            if (table == 32)
              s[1] += tk[j * table + 16 + (word & 15)];
          }
          if (flushes(k + 1)) {
            flush(k + 1, r, 1, s, s + 1);
            s[0] = s[1] = 0;
          }
        }
      }
    }
  });
}

/// x padded with zeros to `n` floats: codes past the last column are 0, but
/// x there may not be.
std::vector<float> padX(const float *x, int64_t cols, int64_t n) {
  std::vector<float> xp(n, 0.0f);
  std::memcpy(xp.data(), x, cols * sizeof(float));
  return xp;
}

void ternaryGemv(const PackedView &w, const float *x, float *y) {
  int64_t words = (w.cols() + 15) / 16;
  std::vector<float> xp = padX(x, w.cols(), words * 16);
  const auto &h = w.header();
  const float *scales = w.section<float>(Section::Scales);
  bool perRow = h.layout.perChannel;
  // Slot j of word k is the pair of columns p = 8k + j. Entry c0 | c1 << 2
  // of its table is what codes (c0, c1) add: val(c0) * x0 + val(c1) * x1
  // with val = (0, Wp, -Wn, 0). With per-row scales, two tables: the sum
  // under +1 codes and the sum under -1 codes; the row's Wp, Wn come last.
  const float val[4] = {0, perRow ? 1 : h.wp, perRow ? 0 : -h.wn, 0};
  const float neg[4] = {0, 0, 1, 0};
  int64_t table = perRow ? 32 : 16;
  auto build = [&](int64_t k0, int64_t k1, float *tables) {
    for (int64_t p = 8 * k0; p < 8 * k1; ++p) {
      float x0 = xp[2 * p], x1 = xp[2 * p + 1];
      float *t = tables + (p - 8 * k0) * table;
      for (int i = 0; i < 16; ++i)
        t[i] = val[i & 3] * x0 + val[i >> 2] * x1;
      if (perRow)
        for (int i = 0; i < 16; ++i)
          t[16 + i] = neg[i & 3] * x0 + neg[i >> 2] * x1;
    }
  };
  auto flush = [&](int64_t, int64_t r0, int64_t n, const float *s0,
                   const float *s1) {
    for (int64_t i = 0, r = r0; i < n; ++i, ++r)
      y[r] +=
          perRow ? scales[2 * r] * s0[i] - scales[2 * r + 1] * s1[i] : s0[i];
  };
  SlotTables kind = perRow ? SlotTables::Two : SlotTables::One;
  if (h.layout.actBits != 8)
    return tiledGemv(w, kind, words, build, flush);
  Int8Tables t =
      quantizeTables(kind, w.rows(), words, kActBlockCols / 16, build);
  tiledGemv(w, kind, words, build, flush, &t);
}

/// Tables of single 4-bit codes: slot j of word k is column c = 8k + j and
/// entry q of its table is value[q] * x[c].
auto nibbleTables(const std::vector<float> &xp, const float *value) {
  return [&xp, value](int64_t k0, int64_t k1, float *tables) {
    for (int64_t c = 8 * k0; c < 8 * k1; ++c)
      for (int q = 0; q < 16; ++q)
        tables[(c - 8 * k0) * 16 + q] = value[q] * xp[c];
  };
}

/// y[i] += scale[i] * (s[i] - zero[i] * xsum) for the N rows of a tile:
/// what a group's sums of q * x add (zeros null: symmetric, zero 8). Once
/// per tile and group: vectorized, with the trip count known (scalar, it
/// took a third of the int4 GEMV's time).
template <int64_t N>
SPARQ_SIMD_INLINE inline void addGroupSumsAt(const float *__restrict s,
                                             const float *__restrict scale,
                                             const uint8_t *__restrict zero,
                                             float xsum, float *__restrict y) {
  if (zero)
    for (int64_t i = 0; i < N; ++i)
      y[i] += scale[i] * (s[i] - float(zero[i]) * xsum);
  else
    for (int64_t i = 0; i < N; ++i)
      y[i] += scale[i] * (s[i] - 8.0f * xsum);
}

template <int64_t N>
void addGroupSums(const float *s, const float *scale, const uint8_t *zero,
                  float xsum, float *y) {
  sparq::withSimd(
      [&]() SPARQ_SIMD_INLINE { addGroupSumsAt<N>(s, scale, zero, xsum, y); });
}

void int4Gemv(const PackedView &w, const float *x, float *y) {
  const auto &l = w.layout();
  int64_t cols = w.cols(), g = l.group ? l.group : cols, groups = cols / g;
  int64_t words = (cols + 7) / 8, groupWords = g == cols ? words : g / 8;
  std::vector<float> xp = padX(x, cols, words * 8);
  const float *scales = w.section<float>(Section::Scales);
  const uint8_t *zeros =
      l.zeroPoints ? w.section<uint8_t>(Section::Zeros) : nullptr;
  // sum (q - z) * s * x = s * (sum q * x - z * sum x): the tables hold q * x
  // and the group sums of x are the same for every row.
  std::vector<float> xsum(groups, 0.0f);
  const float iota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  auto build = nibbleTables(xp, iota);
  // int8 activations: blocks of x's scale end where groups do; a group's
  // sum of x is that of its blocks' int8 x times their scales.
  std::optional<Int8Tables> t;
  if (l.actBits == 8) {
    // Only x (entry 1) is read.
    auto xOnly = [&](int64_t k0, int64_t k1, float *tables) {
      for (int64_t c = 8 * k0; c < 8 * k1; ++c)
        tables[(c - 8 * k0) * 16 + 1] = xp[c];
    };
    t = quantizeTables(SlotTables::Linear, w.rows(), words,
                       groupWords == words
                           ? kActBlockCols / 8
                           : std::gcd(groupWords, kActBlockCols / 8),
                       xOnly);
    for (size_t b = 0; b < t->scale.size(); ++b)
      xsum[b * t->blockWords / groupWords] += t->scale[b] * float(t->xsum[b]);
  } else {
    for (int64_t gi = 0; gi < groups; ++gi)
      for (int64_t i = 0; i < g; ++i)
        xsum[gi] += x[gi * g + i];
  }
  auto flush = [&](int64_t k1, int64_t r0, int64_t n, const float *s,
                   const float *) {
    // A group's scales (and zeros) lie row after row (formats::scaleIndex).
    int64_t gi = (k1 - 1) / groupWords;
    int64_t at = sparq::formats::scaleIndex(l, w.rows(), groups, r0, gi);
    const uint8_t *z = zeros ? zeros + at : nullptr;
    if (n == kCodeTile)
      addGroupSums<kCodeTile>(s, scales + at, z, xsum[gi], y + r0);
    else
      addGroupSums<1>(s, scales + at, z, xsum[gi], y + r0);
  };
  GroupEpilogue epilogue{scales, zeros, xsum.data(), w.rows(), y};
  tiledGemv(w, SlotTables::Linear, groupWords, build, flush, t ? &*t : nullptr,
            &epilogue);
}

void codebook4Gemv(const PackedView &w, const float *x, float *y) {
  int64_t words = (w.cols() + 7) / 8;
  std::vector<float> xp = padX(x, w.cols(), words * 8);
  auto build = nibbleTables(xp, w.section<float>(Section::Table));
  auto flush = [&](int64_t, int64_t r0, int64_t n, const float *s,
                   const float *) {
    for (int64_t i = 0; i < n; ++i)
      y[r0 + i] += s[i];
  };
  if (w.layout().actBits != 8)
    return tiledGemv(w, SlotTables::One, words, build, flush);
  Int8Tables t = quantizeTables(SlotTables::One, w.rows(), words,
                                kActBlockCols / 8, build);
  tiledGemv(w, SlotTables::One, words, build, flush, &t);
}

void sparseGemv(const PackedView &w, const float *x, float *y) {
  const auto &l = w.layout();
  const uint32_t *ptr = w.section<uint32_t>(Section::Ptr);
  withValues(w, [&](auto val) {
    switch (l.format) {
    case Format::CSR:
      withIndex(w, [&](auto *idx) {
        parallelFor(w.rows(), kGemvGrain, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            float acc = 0;
            for (uint32_t e = ptr[r]; e < ptr[r + 1]; ++e)
              acc += val(e) * x[idx[e]];
            y[r] += acc;
          }
        });
      });
      break;
    case Format::BCSR: {
      int64_t br = l.blockRows, bc = l.blockCols;
      withIndex(w, [&](auto *idx) {
        for (int64_t b = 0; b < w.rows() / br; ++b)
          for (uint32_t e = ptr[b]; e < ptr[b + 1]; ++e) {
            const float *xb = x + int64_t(idx[e]) * bc;
            uint64_t v0 = uint64_t(e) * br * bc;
            for (int64_t i = 0; i < br; ++i) {
              float acc = 0;
              for (int64_t j = 0; j < bc; ++j)
                acc += val(v0 + i * bc + j) * xb[j];
              y[b * br + i] += acc;
            }
          }
      });
      break;
    }
    default:
      break;
    }
  });
}

/// Rows decoded a few at a time, then dot products.
void decodedGemv(const PackedView &w, const float *x, float *y) {
  int64_t cols = w.cols();
  parallelFor(w.rows(), kGemvGrain, [&](int64_t r0, int64_t r1) {
    constexpr int64_t kBlock = 8;
    std::vector<float> buf(kBlock * cols);
    for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
      int64_t b1 = std::min(r1, b0 + kBlock);
      sparq::formats::decodeRows(w, b0, b1, buf.data());
      gemvF32(buf.data(), cols, b1 - b0, cols, x, y + b0, true);
    }
  });
}

} // namespace

namespace {
/// Whether products with this weight decode its rows and run sgemm: dense
/// layouts, CSC, and sparse ones whose values need more than a table.
bool decodesRows(const sparq::formats::Layout &l) {
  bool tableValues =
      l.quant == Quant::None || (l.quant != Quant::Int && l.valueBits() <= 16);
  return !l.isSparse() || !tableValues || l.format == Format::CSC;
}

void spmm(const PackedView &w, const XRows &x, float *y, int64_t ldy, int64_t n,
          bool accumulate) {
  const auto &l = w.layout();
  if (decodesRows(l)) {
    // (Convolutions decode such weights themselves: no row table here.)
    assert(!x.table);
    return decodedSpmm(w, x.x, x.ld, y, ldy, n, accumulate);
  }
  if (!accumulate)
    zeroRows(y, ldy, w.rows(), n);
  // Threads take disjoint output rows.
  int64_t units = l.format == Format::BCSR             ? w.rows() / l.blockRows
                  : l.format == Format::InterleavedCSC ? l.pes
                                                       : w.rows();
  parallelFor(units, 1, [&](int64_t u0, int64_t u1) {
    switch (l.format) {
    case Format::CSR:
      return csrSpmm(w, x, y, ldy, n, u0, u1);
    case Format::BCSR:
      return bcsrSpmm(w, x, y, ldy, n, u0, u1);
    case Format::NM:
      return nmSpmm(w, x, y, ldy, n, u0, u1);
    case Format::InterleavedCSC:
      return icscSpmm(w, x, y, ldy, n, u0, u1);
    default:
      return;
    }
  });
}
} // namespace

void sparq::kernels::packedSpmm(const PackedView &w, const float *x,
                                int64_t ldx, float *y, int64_t ldy, int64_t n,
                                bool accumulate) {
  if (n == 1 && ldy == 1 && ldx == 1)
    return packedGemv(w, x, y, accumulate);
  spmm(w, XRows{x, ldx}, y, ldy, n, accumulate);
}

void sparq::kernels::packedGemv(const PackedView &w, const float *x, float *y,
                                bool accumulate) {
  const auto &l = w.layout();
  if (!accumulate)
    std::memset(y, 0, w.rows() * sizeof(float));
  bool tableValues =
      l.quant == Quant::None || (l.quant != Quant::Int && l.valueBits() <= 16);
  if (l.format == Format::Dense) {
    if (l.quant == Quant::None)
      return gemvF32(w.section<float>(Section::Values), w.cols(), w.rows(),
                     w.cols(), x, y, true);
    if (l.quant == Quant::Ternary)
      return ternaryGemv(w, x, y);
    if (sparq::formats::tableGemv(l, w.cols()))
      return l.quant == Quant::Int ? int4Gemv(w, x, y) : codebook4Gemv(w, x, y);
    return decodedGemv(w, x, y);
  }
  if (!tableValues)
    return decodedGemv(w, x, y);
  switch (l.format) {
  case Format::CSR:
  case Format::BCSR:
    return sparseGemv(w, x, y);
  case Format::NM:
    return parallelFor(w.rows(), kGemvGrain, [&](int64_t r0, int64_t r1) {
      nmSpmm(w, XRows{x, 1}, y, 1, 1, r0, r1);
    });
  case Format::InterleavedCSC:
    return parallelFor(l.pes, 1, [&](int64_t p0, int64_t p1) {
      icscSpmm(w, XRows{x, 1}, y, 1, 1, p0, p1);
    });
  default:
    return decodedGemv(w, x, y);
  }
}

void sparq::kernels::packedLinear(const PackedView &w, const float *a,
                                  int64_t lda, float *y, int64_t ldy, int64_t m,
                                  bool accumulate) {
  const auto &l = w.layout();
  int64_t rows = w.rows(), cols = w.cols();
  if (l.format == Format::Dense && l.quant == Quant::None) {
    return denseGemm(a, lda, w.section<float>(Section::Values), cols, true, m,
                     rows, cols, y, ldy, accumulate);
  }
  if (m <= 4) {
    // A few rows (batch-1 inference, a decoder step): matrix-vector products
    // straight on the packed bytes.
    std::vector<float> yr(rows);
    for (int64_t i = 0; i < m; ++i) {
      packedGemv(w, a + i * lda, yr.data(), false);
      float *out = y + i * ldy;
      for (int64_t r = 0; r < rows; ++r)
        out[r] = (accumulate ? out[r] : 0.0f) + yr[r];
    }
    return;
  }
  if (decodesRows(l)) {
    // Y[m, rows] = A W^T, W decoded 64 rows at a time and laid out as one
    // panel of the dense GEMM (its rows to the panel's columns by the
    // transpose kernel): the tokens are the GEMM's rows, W's rows its
    // columns. (As Y^T = W A^T the tokens filled 16 of the tile's 64
    // columns: a 16-token prefill ran at half speed.) Panels on the
    // kernels' threads; each output's sum runs over k in order whatever
    // the threads.
    constexpr int64_t kPanel = avx512::kTileCols;
    int64_t panels = (rows + kPanel - 1) / kPanel;
    auto run = [&](int64_t t0, int64_t t1) {
      static thread_local std::vector<float> decoded, panel;
      decoded.resize(kPanel * cols);
      panel.resize(cols * kPanel);
      for (int64_t t = t0; t < t1; ++t) {
        int64_t r0 = t * kPanel, n = std::min(kPanel, rows - r0);
        sparq::formats::decodeRows(w, r0, r0 + n, decoded.data());
        if (n < kPanel)
          std::fill(panel.begin(), panel.end(), 0.0f);
        transpose(decoded.data(), cols, panel.data(), kPanel, n, cols,
                  sizeof(float), /*threads=*/false);
        gemmF32Panels(a, lda, panel.data(), m, n, cols, y + r0, ldy,
                      accumulate);
      }
    };
    // Few panels: one at a time, each GEMM on the threads instead.
    if (panels >= 2 * poolThreads())
      parallelFor(panels, 1, run);
    else
      run(0, panels);
    return;
  }
  // Y^T[rows, m] = W * A^T[cols, m].
  std::vector<float> at(cols * m), yt(rows * m);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < cols; ++c)
      at[c * m + i] = a[i * lda + c];
  packedSpmm(w, at.data(), m, yt.data(), m, m, false);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < rows; ++r)
      y[i * ldy + r] = (accumulate ? y[i * ldy + r] : 0.0f) + yt[r * m + i];
}

void sparq::kernels::packedConv2dNchwF32(const PackedView &w, F32x4 *in,
                                         F32x4 *out, int64_t kh, int64_t kw,
                                         const ConvParams &p) {
  // Where the GEMM would decode rows anyway, decode them and run the dense
  // convolution on them: it stores straight into the output and needs no
  // result buffer (ResNet-18, dense 21.4 ms: ternary 32.5 -> 24.5, int4 42
  // -> 25.4, with the vectorized decoder). All filters at once, up to
  // kDecodedConvFloats, else blocks of filters into slices of the output.
  // The buffer is reused from call to call; the weight stays packed.
  int64_t rows = w.rows(), cols = w.cols();
  if (decodesRows(w.layout())) {
    if (w.layout().format == Format::Dense && w.layout().quant == Quant::None)
      return conv2dNchwF32Rows(in, w.section<float>(sparq::formats::Values),
                               rows, kh, kw, out, p);
    int64_t block = std::clamp<int64_t>(kDecodedConvFloats / cols, 1, rows);
    // (Named through a pointer in the lambda: other threads have their own.)
    static thread_local std::vector<float> buffer;
    buffer.resize(block * cols);
    float *decoded = buffer.data();
    for (int64_t f0 = 0; f0 < rows; f0 += block) {
      int64_t f1 = std::min(rows, f0 + block);
      // At least 64K weights a thread: waking one for less costs more.
      parallelFor(f1 - f0, std::max<int64_t>(1, (int64_t(1) << 16) / cols),
                  [&](int64_t r0, int64_t r1) {
                    sparq::formats::decodeRows(w, f0 + r0, f0 + r1,
                                               decoded + r0 * cols);
                  });
      F32x4 slice = *out;
      slice.offset += f0 * out->strides[1];
      slice.sizes[1] = f1 - f0;
      ConvParams sliceParams = p;
      if (p.bias)
        sliceParams.bias = p.bias + f0;
      conv2dNchwF32Rows(in, decoded, f1 - f0, kh, kw, &slice, sliceParams);
    }
    return;
  }
  // As the dense convolution: without im2col where the phase split pays.
  if (convPhaseGemmPays(kh, kw, out->sizes[2], out->sizes[3], p))
    return convPhases(
        in, w.rows(), kh, kw, out, p,
        [&](const float *planes, const int64_t *rows, int64_t cols,
            float *result) {
          spmm(w, XRows{planes, 0, rows}, result, cols, cols, false);
        });
  convIm2col(in, w.rows(), kh, kw, out, p,
             [&](const float *cols, int64_t ldCols, float *o, int64_t ldo,
                 int64_t n, bool accumulate, const float *bias, float lo,
                 float hi) {
               if (bias)
                 addRowBias(o, w.rows(), ldo, n, bias, !accumulate);
               packedSpmm(w, cols, ldCols, o, ldo, n, accumulate || bias);
               clampRows(o, w.rows(), ldo, n, lo, hi);
             });
}

//===----------------------------------------------------------------------===//
// C interface for generated code
//===----------------------------------------------------------------------===//

using U8x1 = MemRef<uint8_t, 1>;

extern "C" {
/// y[M, rows] (+)= a[M, cols] * W^T with W packed in `blob`.
void _mlir_ciface_sparq_packed_linear_f32(U8x1 *blob, F32x2 *a, F32x2 *y,
                                          int64_t accumulate) {
  PackedView w(blob->data());
  if (a->strides[1] == 1 && y->strides[1] == 1) {
    packedLinear(w, a->data(), a->strides[0], y->data(), y->strides[0],
                 a->sizes[0], accumulate != 0);
    return;
  }
  // Strided views: copy into contiguous rows first.
  int64_t m = a->sizes[0], cols = a->sizes[1], rows = y->sizes[1];
  std::vector<float> ac(m * cols), yc(m * rows);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < cols; ++c)
      ac[i * cols + c] = a->data()[i * a->strides[0] + c * a->strides[1]];
  packedLinear(w, ac.data(), cols, yc.data(), rows, m, false);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      float &o = y->data()[i * y->strides[0] + r * y->strides[1]];
      o = (accumulate ? o : 0.0f) + yc[i * rows + r];
    }
}

// Arguments after the memrefs (blob, input, output, bias; the bias empty
// for none): kernel (h, w), strides, dilations, padding (top, left),
// accumulate, clamp (lo, hi); see ConvParams.
void _mlir_ciface_sparq_packed_conv2d_nchw_f32(
    U8x1 *blob, F32x4 *in, F32x4 *out, F32x1 *bias, int64_t kh, int64_t kw,
    int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl,
    int64_t acc, float lo, float hi) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, lo, hi);
  p.bias = biasOf(bias, PackedView(blob->data()).rows());
  packedConv2dNchwF32(PackedView(blob->data()), in, out, kh, kw, p);
}
}

void sparq::kernels::forEachPackedKernel(
    const std::function<void(const char *, void *)> &fn) {
  fn("_mlir_ciface_sparq_packed_linear_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_packed_linear_f32));
  fn("_mlir_ciface_sparq_packed_conv2d_nchw_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_packed_conv2d_nchw_f32));
}
