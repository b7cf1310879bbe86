//===- FormatsTest.cpp - runtime/formats: round trips and exact sizes -----===//
//
// Property tests: random shapes and densities, every layout; decode(pack(w))
// must give w back (or, for int and fixed point, the reference quantization
// written out below), and the payload must have exactly the bytes the format
// defines.
//
//===----------------------------------------------------------------------===//

#include "runtime/formats/BitPack.h"
#include "runtime/formats/Packed.h"
#include "runtime/formats/Pruning.h"
#include "runtime/formats/Quantize.h"

#include "test/unit/TestData.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace sparq::formats;

namespace {

uint64_t align64(uint64_t v) { return (v + 63) / 64 * 64; }
uint64_t bitsToBytes(uint64_t bits) { return (bits + 7) / 8; }

std::vector<float> randomMatrix(std::mt19937 &rng, int64_t rows, int64_t cols,
                                double density) {
  std::uniform_real_distribution<float> val(-1, 1);
  std::bernoulli_distribution keep(density);
  std::vector<float> w(rows * cols);
  for (float &x : w)
    x = keep(rng) ? val(rng) : 0.0f;
  return w;
}

/// The blob's weight, decoded at every SIMD level this machine has (the
/// decoders are vectorized per level, Simd.h): every level must give the
/// same bits.
std::vector<float> decodeAll(const std::vector<uint8_t> &blob) {
  PackedView v(blob.data(), blob.size());
  std::vector<float> first;
  sparq::test::atEveryLevel([&] {
    std::vector<float> out(v.rows() * v.cols());
    decodeRows(v, 0, v.rows(), out.data());
    if (first.empty())
      first = out;
    else
      EXPECT_EQ(std::memcmp(out.data(), first.data(), out.size() * 4), 0)
          << "decoded differently at this level";
  });
  return first;
}

int64_t countNonzeros(const std::vector<float> &w) {
  int64_t n = 0;
  for (float x : w)
    n += x != 0;
  return n;
}

TEST(BitPack, RoundTripsEveryWidth) {
  std::mt19937 rng(1);
  for (unsigned width = 1; width <= 24; ++width) {
    std::vector<uint32_t> codes(100);
    for (auto &c : codes)
      c = rng() & ((1u << width) - 1);
    std::vector<uint8_t> buf(bytesForBits(codes.size() * width), 0);
    for (size_t i = 0; i < codes.size(); ++i)
      writeBits(buf.data(), i * width, width, codes[i]);
    for (size_t i = 0; i < codes.size(); ++i)
      ASSERT_EQ(readBits(buf.data(), i * width, width), codes[i]) << width;
  }
  // 2-bit codes are 16 per little-endian uint32, first code in the low bits.
  std::vector<uint8_t> buf(4, 0);
  writeBits(buf.data(), 0, 2, 1);
  writeBits(buf.data(), 30, 2, 2);
  uint32_t word;
  std::memcpy(&word, buf.data(), 4);
  EXPECT_EQ(word, 1u | (2u << 30));
}

TEST(Formats, SparseRoundTripAndExactSizes) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    int64_t rows = 4 * (1 + rng() % 12), cols = 8 * (1 + rng() % 12);
    double density = std::uniform_real_distribution<double>(0, 1)(rng);
    std::vector<float> w = randomMatrix(rng, rows, cols, density);
    int64_t nnz = countNonzeros(w);

    Layout csr;
    csr.format = Format::CSR;
    auto blob = pack(w.data(), rows, cols, csr);
    EXPECT_EQ(decodeAll(blob), w);
    PackedView v(blob.data(), blob.size());
    EXPECT_EQ(v.payloadBytes(), uint64_t((rows + 1) * 4 + nnz * 2 + nnz * 4));
    EXPECT_EQ(v.header().nonzeros, nnz);
    EXPECT_EQ(blob.size(), align64(sizeof(Header)) + align64((rows + 1) * 4) +
                               align64(nnz * 2) + align64(nnz * 4));

    Layout csc;
    csc.format = Format::CSC;
    blob = pack(w.data(), rows, cols, csc);
    EXPECT_EQ(decodeAll(blob), w);
    EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
              uint64_t((cols + 1) * 4 + nnz * 2 + nnz * 4));

    Layout bcsr;
    bcsr.format = Format::BCSR;
    bcsr.blockRows = 4;
    bcsr.blockCols = 2;
    blob = pack(w.data(), rows, cols, bcsr);
    EXPECT_EQ(decodeAll(blob), w);
    int64_t blocks = 0;
    for (int64_t r = 0; r < rows; r += 4)
      for (int64_t c = 0; c < cols; c += 2) {
        bool any = false;
        for (int64_t i = 0; i < 4; ++i)
          for (int64_t j = 0; j < 2; ++j)
            any |= w[(r + i) * cols + c + j] != 0;
        blocks += any;
      }
    EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
              uint64_t((rows / 4 + 1) * 4 + blocks * 2 + blocks * 8 * 4));

    for (unsigned pes : {1u, 3u, 8u})
      for (unsigned ib : {2u, 4u}) {
        Layout ic;
        ic.format = Format::InterleavedCSC;
        ic.pes = pes;
        ic.indexBits = ib;
        blob = pack(w.data(), rows, cols, ic);
        EXPECT_EQ(decodeAll(blob), w) << pes << " PEs, " << ib << " bits";
        // Entries: each non-zero plus one padding entry per full 2^b run of
        // zeros before it, counted independently here.
        int64_t entries = 0;
        for (unsigned p = 0; p < pes; ++p)
          for (int64_t c = 0; c < cols; ++c) {
            int64_t run = 0;
            for (int64_t r = p; r < rows; r += pes) {
              if (w[r * cols + c] == 0) {
                ++run;
                continue;
              }
              entries += 1 + run / (1 << ib);
              run = 0;
            }
          }
        PackedView iv(blob.data(), blob.size());
        EXPECT_EQ(iv.header().entries, entries);
        EXPECT_EQ(iv.payloadBytes(),
                  uint64_t(pes * (cols + 1) * 4 + bitsToBytes(entries * ib) +
                           entries * 4));
      }
  }
}

TEST(Formats, NMRoundTripAndSize) {
  std::mt19937 rng(3);
  for (auto [n, m] : {std::pair<int64_t, int64_t>{2, 4}, {1, 4}, {4, 8}}) {
    int64_t rows = 6, cols = 4 * m;
    std::vector<float> w = randomMatrix(rng, rows, cols, 1.0);
    PruneSpec spec;
    spec.granularity = Granularity::NM;
    spec.n = n;
    spec.m = m;
    applyMask(w.data(), pruneMask(w.data(), {rows, cols, 1, 1}, spec));
    Layout l;
    l.format = Format::NM;
    l.n = n;
    l.m = m;
    auto blob = pack(w.data(), rows, cols, l);
    EXPECT_EQ(decodeAll(blob), w);
    int64_t slots = rows * (cols / m) * n;
    unsigned ib = m == 4 ? 2 : 3;
    EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
              uint64_t(slots * 4 + bitsToBytes(slots * ib)));
  }
  // More than N non-zeros in a group is an error naming the row.
  std::vector<float> dense(4 * 8, 1.0f);
  Layout l;
  l.format = Format::NM;
  l.n = 2;
  l.m = 4;
  try {
    pack(dense.data(), 4, 8, l);
    FAIL() << "expected a FormatError";
  } catch (const FormatError &e) {
    EXPECT_NE(std::string(e.what()).find("row 0"), std::string::npos);
  }
}

TEST(Formats, TernaryIsSixteenTimesSmaller) {
  std::mt19937 rng(11);
  int64_t rows = 64, cols = 576;
  std::vector<float> w = randomMatrix(rng, rows, cols, 1.0);
  TernaryScales s = ternarize(w.data(), w.size(), 0.05);
  EXPECT_GT(s.wp, 0);
  EXPECT_GT(s.wn, 0);
  Layout l;
  l.quant = Quant::Ternary;
  auto blob = pack(w.data(), rows, cols, l);
  EXPECT_EQ(decodeAll(blob), w);
  PackedView v(blob.data(), blob.size());
  EXPECT_EQ(v.payloadBytes(), uint64_t(rows * (cols / 16) * 4));
  EXPECT_GE(double(rows * cols * 4) / v.payloadBytes(), 15.0);

  // Per channel: a scale pair per row.
  std::vector<float> pc = randomMatrix(rng, rows, cols, 1.0);
  for (int64_t r = 0; r < rows; ++r)
    ternarize(pc.data() + r * cols, cols, 0.05);
  l.perChannel = true;
  blob = pack(pc.data(), rows, cols, l);
  EXPECT_EQ(decodeAll(blob), pc);
  EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
            uint64_t(rows * (cols / 16) * 4 + rows * 8));

  // Sparse ternary: CSR with 2-bit codes.
  l.perChannel = false;
  l.format = Format::CSR;
  applyMask(w.data(), pruneMask(w.data(), {rows, cols, 1, 1}, PruneSpec{}));
  blob = pack(w.data(), rows, cols, l);
  EXPECT_EQ(decodeAll(blob), w);

  // Not ternary: a clear error.
  std::vector<float> bad = {0.5f, 0.25f, -1.0f, 0.0f};
  l.format = Format::Dense;
  EXPECT_THROW(pack(bad.data(), 1, 4, l), FormatError);
}

/// Reference AWQ int-N group quantization, written from the paper's formula.
std::vector<float> awqReference(const std::vector<float> &w, int64_t rows,
                                int64_t cols, int bits, int64_t group) {
  std::vector<float> out(w.size());
  float levels = float((1 << bits) - 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < cols; g += group) {
      float lo = w[r * cols + g], hi = lo;
      for (int64_t i = 0; i < group; ++i) {
        lo = std::min(lo, w[r * cols + g + i]);
        hi = std::max(hi, w[r * cols + g + i]);
      }
      float scale = std::max(hi - lo, 1e-5f) / levels;
      float zero =
          std::min(std::max(-std::nearbyint(lo / scale), 0.0f), levels);
      for (int64_t i = 0; i < group; ++i) {
        float q = std::min(
            std::max(std::nearbyint(w[r * cols + g + i] / scale) + zero, 0.0f),
            levels);
        out[r * cols + g + i] = (q - zero) * scale;
      }
    }
  return out;
}

TEST(Formats, IntGroupsMatchAwqAndSizes) {
  std::mt19937 rng(5);
  for (int bits : {2, 3, 4, 8}) {
    int64_t rows = 8, cols = 256, group = 128;
    std::vector<float> w = randomMatrix(rng, rows, cols, 1.0);
    Layout l;
    l.quant = Quant::Int;
    l.bits = bits;
    l.group = group;
    l.zeroPoints = true;
    auto blob = pack(w.data(), rows, cols, l);
    std::vector<float> got = decodeAll(blob),
                       want = awqReference(w, rows, cols, bits, group);
    for (size_t i = 0; i < w.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-6) << bits << " bits at " << i;
    int64_t groups = rows * cols / group;
    EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
              uint64_t(rows * bitsToBytes(cols * bits) + groups * 4 + groups));
  }
  // Symmetric int8 per row: error at most half a step, no zero points.
  int64_t rows = 4, cols = 64;
  std::vector<float> w = randomMatrix(rng, rows, cols, 1.0);
  Layout l;
  l.quant = Quant::Int;
  l.bits = 8;
  auto blob = pack(w.data(), rows, cols, l);
  std::vector<float> got = decodeAll(blob);
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c)
      amax = std::max(amax, std::fabs(w[r * cols + c]));
    for (int64_t c = 0; c < cols; ++c)
      ASSERT_LE(std::fabs(got[r * cols + c] - w[r * cols + c]),
                amax / 127 / 2 * 1.0001f);
  }
  EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
            uint64_t(rows * cols + rows * 4));
}

TEST(Formats, CodebookAndFixedPoint) {
  std::mt19937 rng(9);
  int64_t rows = 32, cols = 64;
  std::vector<float> w = randomMatrix(rng, rows, cols, 1.0);
  std::vector<float> centroids = shareWeights(w.data(), w.size(), 16, false);
  EXPECT_LE(centroids.size(), 16u);
  EXPECT_EQ(distinctValues(w.data(), w.size()), int64_t(centroids.size()));
  Layout l;
  l.quant = Quant::Codebook;
  l.bits = 4;
  auto blob = pack(w.data(), rows, cols, l);
  EXPECT_EQ(decodeAll(blob), w);
  EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
            uint64_t(16 * 4 + rows * cols / 2));

  // Fixed point Q3.8 (12 bits): nearest step, clamped to the range.
  std::vector<float> f = randomMatrix(rng, rows, cols, 1.0);
  f[0] = 100.0f; // clamps to the largest value, 2^3 - 2^-8
  Layout q;
  q.quant = Quant::Fixed;
  q.intBits = 3;
  q.fracBits = 8;
  blob = pack(f.data(), rows, cols, q);
  std::vector<float> got = decodeAll(blob);
  EXPECT_EQ(got[0], 8.0f - 1.0f / 256);
  for (size_t i = 1; i < f.size(); ++i)
    ASSERT_EQ(got[i], std::nearbyint(f[i] * 256) / 256) << i;
  EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
            uint64_t(rows * bitsToBytes(cols * 12)));
}

TEST(Formats, FourBitCodesAreWordsInRowTiles) {
  // Int4, 4-bit codebooks and 4-bit fixed point store rows as uint32 words,
  // 8 codes each (low bits first), the words in 16-row tiles: the GEMV's
  // table lookups load the same word of 16 rows at once. Shapes with a
  // partial last tile and a partial last word.
  std::mt19937 rng(21);
  int64_t rows = 37, cols = 70, words = (cols + 7) / 8;
  std::vector<float> w = randomMatrix(rng, rows, cols, 1.0);
  Layout i4;
  i4.quant = Quant::Int;
  i4.bits = 4;
  i4.zeroPoints = true;
  auto blob = pack(w.data(), rows, cols, i4);
  PackedView v(blob.data(), blob.size());
  EXPECT_EQ(codesPerWord(i4), 8);
  EXPECT_EQ(v.payloadBytes(), uint64_t(rows * words * 4 + rows * 5));
  std::vector<float> got = decodeAll(blob),
                     want = awqReference(w, rows, cols, 4, cols);
  for (size_t i = 0; i < w.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-6) << "int4 at " << i;
  // Code (r, c) sits in word tiledWordIndex(r, c / 8), bits 4 (c % 8).
  const uint32_t *codes = v.section<uint32_t>(Values);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float scale = v.section<float>(Scales)[r];
      float zero = v.section<uint8_t>(Zeros)[r];
      uint32_t q =
          codes[tiledWordIndex(rows, words, r, c / 8)] >> (4 * (c % 8));
      ASSERT_EQ((float(q & 15) - zero) * scale, got[r * cols + c])
          << r << "," << c;
    }
  EXPECT_EQ(tiledWordIndex(rows, words, 17, 2), 16 * words + 2 * 16 + 1);
  EXPECT_EQ(tiledWordIndex(rows, words, 33, 2), 32 * words + 2 * 5 + 1);

  std::vector<float> cb = w;
  shareWeights(cb.data(), cb.size(), 16, false);
  Layout c4;
  c4.quant = Quant::Codebook;
  c4.bits = 4;
  blob = pack(cb.data(), rows, cols, c4);
  EXPECT_EQ(decodeAll(blob), cb);
  EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
            uint64_t(16 * 4 + rows * words * 4));

  Layout q12; // Q1.2: 4 bits
  q12.quant = Quant::Fixed;
  q12.intBits = 1;
  q12.fracBits = 2;
  EXPECT_EQ(codesPerWord(q12), 8);
  blob = pack(w.data(), rows, cols, q12);
  got = decodeAll(blob);
  for (size_t i = 0; i < w.size(); ++i)
    ASSERT_EQ(got[i], std::clamp(std::nearbyint(w[i] * 4) / 4, -2.0f, 1.75f))
        << "q1.2 at " << i;
  EXPECT_EQ(PackedView(blob.data(), blob.size()).payloadBytes(),
            uint64_t(rows * words * 4));
  // Other widths stay bit strings padded to a byte per row.
  Layout i3 = i4;
  i3.bits = 3;
  EXPECT_EQ(codesPerWord(i3), 0);
  EXPECT_EQ(denseRowBytes(i3, cols), uint64_t(bitsToBytes(cols * 3)));
}

TEST(Formats, SparseFcWithCodebookIsTenTimesSmaller) {
  // The EIE/ESE storage: 90% sparse, 4-bit codebook values, 4-bit relative
  // indices, interleaved over PEs.
  std::mt19937 rng(13);
  int64_t rows = 1024, cols = 512;
  std::vector<float> w = randomMatrix(rng, rows, cols, 1.0);
  PruneSpec spec;
  spec.ratio = 0.9;
  applyMask(w.data(), pruneMask(w.data(), {rows, cols, 1, 1}, spec));
  shareWeights(w.data(), w.size(), 15, /*keepZeros=*/true);
  Layout l;
  l.format = Format::InterleavedCSC;
  l.pes = 32;
  l.indexBits = 4;
  l.quant = Quant::Codebook;
  l.bits = 4;
  auto blob = pack(w.data(), rows, cols, l);
  EXPECT_EQ(decodeAll(blob), w);
  double ratio = double(rows * cols * 4) /
                 PackedView(blob.data(), blob.size()).payloadBytes();
  EXPECT_GE(ratio, 10.0) << "compression " << ratio;
}

TEST(Formats, RejectsBadBlobsAndLayouts) {
  std::vector<uint8_t> junk(16, 0);
  EXPECT_THROW(PackedView(junk.data(), junk.size()), FormatError);
  std::vector<float> w(12, 1.0f);
  Layout l;
  l.format = Format::BCSR;
  l.blockRows = 5;
  EXPECT_THROW(pack(w.data(), 3, 4, l), FormatError);
  auto blob = pack(w.data(), 3, 4, Layout{});
  EXPECT_THROW(PackedView(blob.data(), blob.size() / 2), FormatError);
  Layout cb;
  cb.quant = Quant::Codebook;
  cb.bits = 1;
  std::vector<float> three = {1, 2, 3, 1};
  EXPECT_THROW(pack(three.data(), 1, 4, cb), FormatError);
}

} // namespace

namespace {
TEST(Formats, PackingIsReproducible) {
  std::mt19937 rng(17);
  std::vector<float> w = randomMatrix(rng, 16, 32, 0.3);
  Layout a, b;
  a.format = b.format = Format::CSR;
  // Different garbage in the callers' padding must not reach the bytes.
  std::memset(static_cast<void *>(&b), 0xAB, sizeof(Layout));
  b.format = Format::CSR;
  b.blockRows = b.blockCols = 1;
  b.n = b.m = 0;
  b.pes = 1;
  b.indexBits = 4;
  b.quant = Quant::None;
  b.bits = 0;
  b.group = 0;
  b.zeroPoints = b.perChannel = false;
  b.intBits = b.fracBits = b.actBits = 0;
  EXPECT_EQ(pack(w.data(), 16, 32, a), pack(w.data(), 16, 32, b));
}
} // namespace
