//===- Packed.cpp - pack, view and decode compressed weights --------------===//

#include "runtime/formats/Packed.h"
#include "runtime/formats/BitPack.h"
#include "runtime/formats/Quantize.h"
#include "runtime/formats/Simd.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

using namespace sparq::formats;

namespace {

std::string fmtError(const std::string &what) { return "cannot pack: " + what; }

unsigned idxWidth(int64_t dim) { return dim <= 65536 ? 2 : 4; }

//===----------------------------------------------------------------------===//
// Value codes: ternary, codebook and fixed point share one encoder.
//===----------------------------------------------------------------------===//

struct Codec {
  Layout l;
  float wp = 0, wn = 0;
  std::vector<float> table; // codebook

  uint32_t encode(float v) const {
    switch (l.quant) {
    case Quant::Ternary:
      return v > 0 ? 1 : v < 0 ? 2 : 0;
    case Quant::Codebook:
      return static_cast<uint32_t>(
          std::lower_bound(table.begin(), table.end(), v) - table.begin());
    case Quant::Fixed: {
      unsigned t = l.valueBits();
      double q = std::nearbyint(double(v) * std::ldexp(1.0, l.fracBits));
      double lo = -std::ldexp(1.0, t - 1), hi = std::ldexp(1.0, t - 1) - 1;
      return static_cast<uint32_t>(std::clamp(q, lo, hi) - lo);
    }
    default:
      return 0;
    }
  }
};

/// Wp/Wn of a ternarized weight (row `row`, or -1 for the layer); throws
/// if it holds more than one positive or one negative value.
TernaryScales ternaryScales(const float *w, int64_t n, int64_t row) {
  std::optional<TernaryScales> s = ternaryValues(w, n);
  if (!s) {
    std::ostringstream os;
    os << "the weight";
    if (row >= 0)
      os << "'s row " << row;
    os << " is not ternary: more than one positive or negative value (run "
          "sparq-ternarize first)";
    throw FormatError(fmtError(os.str()));
  }
  return *s;
}

Codec makeCodec(const Layout &l, const float *w, int64_t rows, int64_t cols) {
  Codec c{l};
  int64_t n = rows * cols;
  if (l.quant == Quant::Ternary && !l.perChannel) {
    TernaryScales s = ternaryScales(w, n, -1);
    c.wp = s.wp;
    c.wn = s.wn;
  } else if (l.quant == Quant::Codebook) {
    std::vector<float> v(w, w + n);
    if (l.isSparse())
      v.push_back(0.0f); // padding entries and empty slots decode to 0
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    if (v.size() > (size_t(1) << l.bits)) {
      std::ostringstream os;
      os << "the weight has " << v.size() << " distinct values"
         << (l.isSparse() ? " (counting 0)" : "") << ", more than a " << l.bits
         << "-bit codebook holds (run sparq-weight-share first)";
      throw FormatError(fmtError(os.str()));
    }
    c.table = v;
  }
  return c;
}

/// Appends stored values one entry at a time: f32, or codes in a bit stream.
struct ValueWriter {
  const Codec &codec;
  std::vector<uint8_t> &out;
  uint64_t count = 0;
  void push(float v) {
    if (codec.l.quant == Quant::None) {
      size_t at = out.size();
      out.resize(at + 4);
      std::memcpy(&out[at], &v, 4);
    } else {
      unsigned bits = codec.l.valueBits();
      out.resize(bytesForBits((count + 1) * bits), 0);
      writeBits(out.data(), count * bits, bits, codec.encode(v));
    }
    ++count;
  }
};

//===----------------------------------------------------------------------===//
// Builders
//===----------------------------------------------------------------------===//

struct Blob {
  Header h{};
  std::vector<uint8_t> sec[kNumSections];

  template <typename T> void append(Section s, T v) {
    size_t at = sec[s].size();
    sec[s].resize(at + sizeof(T));
    std::memcpy(&sec[s][at], &v, sizeof(T));
  }
  void appendIndex(Section s, uint32_t v, unsigned width) {
    if (width == 2)
      append<uint16_t>(s, static_cast<uint16_t>(v));
    else
      append<uint32_t>(s, v);
  }

  std::vector<uint8_t> finish() {
    uint64_t at =
        (sizeof(Header) + kSectionAlign - 1) / kSectionAlign * kSectionAlign;
    for (unsigned s = 0; s < kNumSections; ++s) {
      h.offset[s] = at;
      h.size[s] = sec[s].size();
      at += (sec[s].size() + kSectionAlign - 1) / kSectionAlign * kSectionAlign;
    }
    std::vector<uint8_t> bytes(at, 0);
    // Field by field into zeroed bytes: struct padding must not carry
    // garbage into the blob, so that packing is reproducible.
    Header out;
    std::memset(static_cast<void *>(&out), 0, sizeof(Header));
    std::memcpy(out.magic, h.magic, 4);
    out.version = h.version;
    const Layout &l = h.layout;
    Layout &o = out.layout;
    o.format = l.format;
    o.blockRows = l.blockRows;
    o.blockCols = l.blockCols;
    o.n = l.n;
    o.m = l.m;
    o.pes = l.pes;
    o.indexBits = l.indexBits;
    o.quant = l.quant;
    o.bits = l.bits;
    o.group = l.group;
    o.zeroPoints = l.zeroPoints;
    o.perChannel = l.perChannel;
    o.intBits = l.intBits;
    o.fracBits = l.fracBits;
    o.actBits = l.actBits;
    out.rows = h.rows;
    out.cols = h.cols;
    out.entries = h.entries;
    out.nonzeros = h.nonzeros;
    out.wp = h.wp;
    out.wn = h.wn;
    std::memcpy(out.offset, h.offset, sizeof(h.offset));
    std::memcpy(out.size, h.size, sizeof(h.size));
    std::memcpy(bytes.data(), &out, sizeof(Header));
    for (unsigned s = 0; s < kNumSections; ++s)
      if (!sec[s].empty())
        std::memcpy(&bytes[h.offset[s]], sec[s].data(), sec[s].size());
    return bytes;
  }
};

/// Bit offset in the Values section of code (r, i) of a dense quantized
/// layout.
uint64_t denseCodeBit(const Layout &l, int64_t rows, int64_t cols, int64_t r,
                      int64_t i) {
  if (int64_t n = codesPerWord(l))
    return uint64_t(tiledWordIndex(rows, (cols + n - 1) / n, r, i / n)) * 32 +
           uint64_t(i % n) * l.valueBits();
  return uint64_t(r) * denseRowBytes(l, cols) * 8 + uint64_t(i) * l.valueBits();
}

void packDense(Blob &b, const Codec &c, const float *w, int64_t rows,
               int64_t cols) {
  const Layout &l = c.l;
  auto &vals = b.sec[Values];
  if (l.quant == Quant::None) {
    vals.resize(rows * cols * 4);
    std::memcpy(vals.data(), w, vals.size());
    return;
  }
  uint64_t stride = denseRowBytes(l, cols);
  unsigned bits = l.valueBits();
  vals.assign(stride * rows, 0);
  if (l.quant == Quant::Int) {
    int64_t g = l.group ? l.group : cols, groups = cols / g;
    int64_t levels = (int64_t(1) << l.bits) - 1;
    b.sec[Scales].assign(rows * groups * sizeof(float), 0);
    if (l.zeroPoints)
      b.sec[Zeros].assign(rows * groups, 0);
    // A row's codes first, then its words or bits: finding each code's
    // bit position on its own made packing a large model take seconds.
    std::vector<uint32_t> rowCodes(cols);
    int64_t perWord = codesPerWord(l);
    int64_t words = perWord ? (cols + perWord - 1) / perWord : 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t g0 = 0; g0 < cols; g0 += g) {
        const float *x = w + r * cols + g0;
        float scale, zero;
        if (l.zeroPoints) {
          // AWQ: scale = (max - min) / (2^N - 1) (the range at least 1e-5),
          // zero = clamp(-round(min / scale), 0, 2^N - 1).
          float lo = *std::min_element(x, x + g);
          float hi = *std::max_element(x, x + g);
          scale = std::max(hi - lo, 1e-5f) / levels;
          zero = std::clamp<float>(-std::nearbyint(lo / scale), 0, levels);
        } else {
          float amax = 0;
          for (int64_t i = 0; i < g; ++i)
            amax = std::max(amax, std::fabs(x[i]));
          int64_t qmax = (int64_t(1) << (l.bits - 1)) - 1;
          scale = amax / qmax;
          if (scale == 0)
            scale = 1;
          zero = qmax + 1; // offset binary: code = q + 2^(N-1)
        }
        int64_t at = scaleIndex(l, rows, groups, r, g0 / g);
        std::memcpy(&b.sec[Scales][at * sizeof(float)], &scale, sizeof(float));
        if (l.zeroPoints)
          b.sec[Zeros][at] = static_cast<uint8_t>(zero);
        float lowest = l.zeroPoints ? 0 : 1;
        for (int64_t i = 0; i < g; ++i) {
          float q = std::nearbyint(x[i] / scale) + zero;
          rowCodes[g0 + i] =
              static_cast<uint32_t>(std::clamp<float>(q, lowest, levels));
        }
      }
      if (perWord) {
        // Little-endian words, code j of a word at bit j * bits: the bits
        // writeBits would set (denseCodeBit).
        for (int64_t k = 0; k < words; ++k) {
          uint32_t word = 0;
          for (int64_t j = 0; j < perWord && k * perWord + j < cols; ++j)
            word |= rowCodes[k * perWord + j] << (j * bits);
          uint8_t *at = &vals[tiledWordIndex(rows, words, r, k) * 4];
          for (int byte = 0; byte < 4; ++byte)
            at[byte] = uint8_t(word >> (8 * byte));
        }
      } else if (bits == 8) {
        uint8_t *row = &vals[r * stride];
        for (int64_t i = 0; i < cols; ++i)
          row[i] = uint8_t(rowCodes[i]);
      } else {
        for (int64_t i = 0; i < cols; ++i)
          writeBits(vals.data(), denseCodeBit(l, rows, cols, r, i), bits,
                    rowCodes[i]);
      }
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = w + r * cols;
    Codec rc = c;
    if (l.quant == Quant::Ternary && l.perChannel) {
      TernaryScales s = ternaryScales(x, cols, r);
      rc.wp = s.wp;
      rc.wn = s.wn;
      b.append<float>(Scales, rc.wp);
      b.append<float>(Scales, rc.wn);
    }
    for (int64_t i = 0; i < cols; ++i)
      writeBits(vals.data(), denseCodeBit(l, rows, cols, r, i), bits,
                rc.encode(x[i]));
  }
}

void packCsr(Blob &b, const Codec &c, const float *w, int64_t rows,
             int64_t cols, bool transpose) {
  // CSC is CSR of the transpose.
  int64_t outer = transpose ? cols : rows, inner = transpose ? rows : cols;
  unsigned width = idxWidth(inner);
  ValueWriter vw{c, b.sec[Values]};
  uint32_t count = 0;
  b.append<uint32_t>(Ptr, 0);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      float v = transpose ? w[i * cols + o] : w[o * cols + i];
      if (v == 0)
        continue;
      b.appendIndex(Index, static_cast<uint32_t>(i), width);
      vw.push(v);
      ++count;
    }
    b.append<uint32_t>(Ptr, count);
  }
  b.h.entries = count;
}

void packBcsr(Blob &b, const Codec &c, const float *w, int64_t rows,
              int64_t cols) {
  int64_t br = b.h.layout.blockRows, bc = b.h.layout.blockCols;
  unsigned width = idxWidth(cols / bc);
  ValueWriter vw{c, b.sec[Values]};
  uint32_t blocks = 0;
  b.append<uint32_t>(Ptr, 0);
  for (int64_t r0 = 0; r0 < rows; r0 += br) {
    for (int64_t c0 = 0; c0 < cols; c0 += bc) {
      bool any = false;
      for (int64_t i = 0; i < br && !any; ++i)
        for (int64_t j = 0; j < bc && !any; ++j)
          any = w[(r0 + i) * cols + c0 + j] != 0;
      if (!any)
        continue;
      b.appendIndex(Index, static_cast<uint32_t>(c0 / bc), width);
      for (int64_t i = 0; i < br; ++i)
        for (int64_t j = 0; j < bc; ++j)
          vw.push(w[(r0 + i) * cols + c0 + j]);
      ++blocks;
    }
    b.append<uint32_t>(Ptr, blocks);
  }
  b.h.entries = blocks;
}

void packNm(Blob &b, const Codec &c, const float *w, int64_t rows,
            int64_t cols) {
  int64_t n = b.h.layout.n, m = b.h.layout.m;
  unsigned ib = nmIndexBits(m);
  ValueWriter vw{c, b.sec[Values]};
  auto &idx = b.sec[Index];
  uint64_t slot = 0;
  idx.assign(bytesForBits(uint64_t(rows) * (cols / m) * n * ib), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g0 = 0; g0 < cols; g0 += m) {
      int64_t used = 0;
      for (int64_t j = 0; j < m; ++j) {
        float v = w[r * cols + g0 + j];
        if (v == 0)
          continue;
        if (used == n) {
          std::ostringstream os;
          os << "row " << r << " has more than " << n << " non-zeros in the "
             << m << " columns from " << g0 << " (not " << n << ":" << m
             << " sparse)";
          throw FormatError(fmtError(os.str()));
        }
        writeBits(idx.data(), (slot + used) * ib, ib, static_cast<uint32_t>(j));
        vw.push(v);
        ++used;
      }
      for (; used < n; ++used)
        vw.push(0.0f); // empty slot: value 0 at position 0
      slot += n;
    }
  b.h.entries = static_cast<int64_t>(slot);
}

void packInterleaved(Blob &b, const Codec &c, const float *w, int64_t rows,
                     int64_t cols) {
  const Layout &l = b.h.layout;
  int64_t pes = l.pes;
  unsigned ib = l.indexBits;
  uint32_t maxRun = (1u << ib) - 1;
  ValueWriter vw{c, b.sec[Values]};
  std::vector<uint32_t> runs;
  for (int64_t p = 0; p < pes; ++p) {
    b.append<uint32_t>(Ptr, static_cast<uint32_t>(runs.size()));
    for (int64_t j = 0; j < cols; ++j) {
      int64_t last = -1, local = 0;
      for (int64_t r = p; r < rows; r += pes, ++local) {
        float v = w[r * cols + j];
        if (v == 0)
          continue;
        int64_t zeros = local - last - 1;
        // A run longer than the index can say becomes padding entries:
        // value 0 with the largest index, each covering 2^b positions.
        while (zeros > maxRun) {
          runs.push_back(maxRun);
          vw.push(0.0f);
          zeros -= maxRun + 1;
        }
        runs.push_back(static_cast<uint32_t>(zeros));
        vw.push(v);
        last = local;
      }
      b.append<uint32_t>(Ptr, static_cast<uint32_t>(runs.size()));
    }
  }
  auto &idx = b.sec[Index];
  idx.assign(bytesForBits(uint64_t(runs.size()) * ib), 0);
  for (size_t e = 0; e < runs.size(); ++e)
    writeBits(idx.data(), e * ib, ib, runs[e]);
  b.h.entries = static_cast<int64_t>(runs.size());
}

//===----------------------------------------------------------------------===//
// Decoding
//===----------------------------------------------------------------------===//

struct ValueReader {
  const PackedView &v;
  const uint8_t *codes;
  unsigned bits;
  explicit ValueReader(const PackedView &v)
      : v(v), codes(v.section<uint8_t>(Values)), bits(v.layout().valueBits()) {}
  float operator()(uint64_t e) const {
    if (v.layout().quant == Quant::None)
      return v.section<float>(Values)[e];
    return codeValue(v, readBits(codes, e * bits, bits), -1);
  }
};

uint32_t readIndex(const PackedView &v, uint64_t e) {
  return v.indexBytes() == 2 ? v.section<uint16_t>(Index)[e]
                             : v.section<uint32_t>(Index)[e];
}

/// Row codes of a dense layout, and what decodeDense maps them to: the
/// compressed convolutions decode their weight on every call, so these are
/// vectorized (GCC vector types, or loops the compiler vectorizes), and
/// compiled for each instruction set (withSimd, Simd.h).
SPARQ_SIMD_INLINE inline void tiledRowCodesAt(const uint32_t *word,
                                              int64_t step, int64_t words,
                                              unsigned bits, uint32_t *codes) {
  // The 16 (8) codes of a word in one vector: the word shifted by each
  // code's position.
  using U32x16 = uint32_t __attribute__((vector_size(64)));
  using U32x8 = uint32_t __attribute__((vector_size(32)));
  if (bits == 2) {
    const U32x16 shift = {0,  2,  4,  6,  8,  10, 12, 14,
                          16, 18, 20, 22, 24, 26, 28, 30};
    for (int64_t k = 0; k < words; ++k) {
      U32x16 c = ((U32x16{} + word[k * step]) >> shift) & 3u;
      std::memcpy(codes + 16 * k, &c, sizeof(c));
    }
  } else {
    const U32x8 shift = {0, 4, 8, 12, 16, 20, 24, 28};
    for (int64_t k = 0; k < words; ++k) {
      U32x8 c = ((U32x8{} + word[k * step]) >> shift) & 15u;
      std::memcpy(codes + 8 * k, &c, sizeof(c));
    }
  }
}

void tiledRowCodes(const uint32_t *word, int64_t step, int64_t words,
                   unsigned bits, uint32_t *codes) {
  sparq::withSimd([&]() SPARQ_SIMD_INLINE {
    tiledRowCodesAt(word, step, words, bits, codes);
  });
}

SPARQ_SIMD_INLINE inline void ternaryCodeValuesAt(const uint32_t *codes,
                                                  int64_t n, float wp, float wn,
                                                  float *out) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = codes[i] == 1 ? wp : codes[i] == 2 ? -wn : 0.0f;
}

void ternaryCodeValues(const uint32_t *codes, int64_t n, float wp, float wn,
                       float *out) {
  sparq::withSimd(
      [&]() SPARQ_SIMD_INLINE { ternaryCodeValuesAt(codes, n, wp, wn, out); });
}

SPARQ_SIMD_INLINE inline void intCodeValuesAt(const uint32_t *codes, int64_t n,
                                              float zero, float scale,
                                              float *out) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = (float(codes[i]) - zero) * scale;
}

void intCodeValues(const uint32_t *codes, int64_t n, float zero, float scale,
                   float *out) {
  sparq::withSimd(
      [&]() SPARQ_SIMD_INLINE { intCodeValuesAt(codes, n, zero, scale, out); });
}

/// Fixed point: (code - 2^(bits-1)) * 2^-frac, exact in double as
/// codeValue's ldexp.
SPARQ_SIMD_INLINE inline void fixedCodeValuesAt(const uint32_t *codes,
                                                int64_t n, double offset,
                                                double step, float *out) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = float((double(codes[i]) - offset) * step);
}

void fixedCodeValues(const uint32_t *codes, int64_t n, double offset,
                     double step, float *out) {
  sparq::withSimd([&]() SPARQ_SIMD_INLINE {
    fixedCodeValuesAt(codes, n, offset, step, out);
  });
}

SPARQ_SIMD_INLINE inline void tableCodeValuesAt(const uint32_t *codes,
                                                int64_t n, const float *table,
                                                unsigned bits, float *out) {
  int64_t i = 0;
#if defined(__GNUC__) && !defined(__clang__)
  // 16 entries fit a vector: one permute per 16 codes, not a gather.
  if (bits == 4) {
    using F32x16 = float __attribute__((vector_size(64)));
    using U32x16 = uint32_t __attribute__((vector_size(64)));
    F32x16 t;
    std::memcpy(&t, table, sizeof(t));
    for (; i + 16 <= n; i += 16) {
      U32x16 c;
      std::memcpy(&c, codes + i, sizeof(c));
      F32x16 v = __builtin_shuffle(t, c);
      std::memcpy(out + i, &v, sizeof(v));
    }
  }
#endif
  for (; i < n; ++i)
    out[i] = table[codes[i]];
}

void tableCodeValues(const uint32_t *codes, int64_t n, const float *table,
                     unsigned bits, float *out) {
  sparq::withSimd([&]() SPARQ_SIMD_INLINE {
    tableCodeValuesAt(codes, n, table, bits, out);
  });
}

void decodeDense(const PackedView &v, int64_t r0, int64_t r1, float *out) {
  const Layout &l = v.layout();
  int64_t rows = v.rows(), cols = v.cols();
  if (l.quant == Quant::None) {
    std::memcpy(out, v.section<float>(Values) + r0 * cols,
                (r1 - r0) * cols * sizeof(float));
    return;
  }
  // Per format, the value of a code is worked out once per row (ternary),
  // group (int) or layer (codebook, fixed point), not once per element.
  unsigned bits = l.valueBits();
  const uint8_t *vals = v.section<uint8_t>(Values);
  int64_t perWord = codesPerWord(l);
  int64_t words = perWord ? (cols + perWord - 1) / perWord : 0;
  std::vector<uint32_t> codes(perWord ? words * perWord : cols);
  // Row r's codes, in order, into `codes`.
  auto rowCodes = [&](int64_t r) {
    if (perWord) {
      // A row's words lie one tile's rows apart.
      int64_t first = tiledWordIndex(rows, words, r, 0);
      int64_t step = words > 1 ? tiledWordIndex(rows, words, r, 1) - first : 0;
      return tiledRowCodes(v.section<uint32_t>(Values) + first, step, words,
                           bits, codes.data());
    }
    const uint8_t *row = vals + r * denseRowBytes(l, cols);
    if (bits == 8) {
      std::copy(row, row + cols, codes.begin());
      return;
    }
    for (int64_t i = 0; i < cols; ++i)
      codes[i] = readBits(row, uint64_t(i) * bits, bits);
  };
  int64_t g = l.group ? l.group : cols, groups = cols / g;
  for (int64_t r = r0; r < r1; ++r) {
    float *o = out + (r - r0) * cols;
    rowCodes(r);
    switch (l.quant) {
    case Quant::Ternary:
      ternaryCodeValues(codes.data(), cols, codeValue(v, 1, r),
                        -codeValue(v, 2, r), o);
      break;
    case Quant::Int:
      for (int64_t gi = 0; gi < groups; ++gi) {
        int64_t at = scaleIndex(l, rows, groups, r, gi);
        float zero = l.zeroPoints ? v.section<uint8_t>(Zeros)[at]
                                  : float(1u << (l.bits - 1));
        intCodeValues(codes.data() + gi * g, g, zero,
                      v.section<float>(Scales)[at], o + gi * g);
      }
      break;
    case Quant::Codebook: // (2^bits entries)
      tableCodeValues(codes.data(), cols, v.section<float>(Table), bits, o);
      break;
    default:
      fixedCodeValues(codes.data(), cols, std::ldexp(1.0, int(bits) - 1),
                      std::ldexp(1.0, -int(l.fracBits)), o);
    }
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Public API
//===----------------------------------------------------------------------===//

unsigned sparq::formats::nmIndexBits(int64_t m) {
  unsigned b = 1;
  while ((int64_t(1) << b) < m)
    ++b;
  return b;
}

int64_t sparq::formats::codesPerWord(const Layout &l) {
  if (l.format != Format::Dense || l.quant == Quant::None)
    return 0;
  if (l.quant == Quant::Ternary)
    return 16;
  return l.valueBits() == 4 ? 8 : 0;
}

int64_t sparq::formats::scaleIndex(const Layout &l, int64_t rows,
                                   int64_t groups, int64_t r, int64_t g) {
  return codesPerWord(l) ? g * rows + r : r * groups + g;
}

uint64_t sparq::formats::denseRowBytes(const Layout &l, int64_t cols) {
  if (int64_t n = codesPerWord(l))
    return (cols + n - 1) / n * 4;
  return bytesForBits(uint64_t(cols) * l.valueBits());
}

std::vector<uint8_t> sparq::formats::pack(const float *w, int64_t rows,
                                          int64_t cols, const Layout &layout) {
  std::string why = checkLayout(layout, rows, cols);
  if (!why.empty())
    throw FormatError(fmtError(why));
  for (int64_t i = 0; i < rows * cols; ++i)
    if (!std::isfinite(w[i]))
      throw FormatError(fmtError("the weight holds a non-finite value"));
  Blob b;
  std::memcpy(b.h.magic, "SPQW", 4);
  b.h.version = kBlobVersion;
  b.h.layout = layout;
  b.h.rows = rows;
  b.h.cols = cols;
  b.h.entries = rows * cols;
  for (int64_t i = 0; i < rows * cols; ++i)
    b.h.nonzeros += w[i] != 0;
  Codec c = makeCodec(layout, w, rows, cols);
  b.h.wp = c.wp;
  b.h.wn = c.wn;
  for (float t : c.table)
    b.append<float>(Table, t);
  if (layout.quant == Quant::Codebook)
    b.sec[Table].resize(size_t(4) << layout.bits, 0); // 2^bits entries
  switch (layout.format) {
  case Format::Dense:
    packDense(b, c, w, rows, cols);
    break;
  case Format::CSR:
  case Format::CSC:
    packCsr(b, c, w, rows, cols, layout.format == Format::CSC);
    break;
  case Format::BCSR:
    packBcsr(b, c, w, rows, cols);
    break;
  case Format::NM:
    packNm(b, c, w, rows, cols);
    break;
  case Format::InterleavedCSC:
    packInterleaved(b, c, w, rows, cols);
    break;
  }
  return b.finish();
}

PackedView::PackedView(const uint8_t *data, size_t size)
    : base(data), h(reinterpret_cast<const Header *>(data)) {
  if (size < sizeof(Header) || std::memcmp(h->magic, "SPQW", 4) != 0)
    throw FormatError("not a packed sparq weight");
  check(size);
}

PackedView::PackedView(const uint8_t *data)
    : base(data), h(reinterpret_cast<const Header *>(data)) {}

void PackedView::check(size_t size) const {
  if (h->version != kBlobVersion)
    throw FormatError("packed weight version " + std::to_string(h->version) +
                      ", expected " + std::to_string(kBlobVersion));
  for (unsigned s = 0; s < kNumSections; ++s)
    if (h->offset[s] > size || h->size[s] > size - h->offset[s] ||
        h->offset[s] % kSectionAlign)
      throw FormatError("packed weight section " + std::to_string(s) +
                        " lies outside its " + std::to_string(size) + " bytes");
  std::string why = checkLayout(h->layout, h->rows, h->cols);
  if (!why.empty())
    throw FormatError("packed weight: " + why);
}

uint64_t PackedView::payloadBytes() const {
  uint64_t total = 0;
  for (unsigned s = 0; s < kNumSections; ++s)
    total += h->size[s];
  return total;
}

unsigned PackedView::indexBytes() const {
  switch (h->layout.format) {
  case Format::CSR:
    return idxWidth(h->cols);
  case Format::CSC:
    return idxWidth(h->rows);
  case Format::BCSR:
    return idxWidth(h->cols / h->layout.blockCols);
  default:
    return 0;
  }
}

float sparq::formats::codeValue(const PackedView &v, uint32_t code,
                                int64_t row) {
  const Layout &l = v.layout();
  switch (l.quant) {
  case Quant::Ternary: {
    float wp = v.header().wp, wn = v.header().wn;
    if (l.perChannel) {
      wp = v.section<float>(Scales)[2 * row];
      wn = v.section<float>(Scales)[2 * row + 1];
    }
    return code == 1 ? wp : code == 2 ? -wn : 0.0f;
  }
  case Quant::Codebook:
    return v.section<float>(Table)[code];
  case Quant::Fixed: {
    unsigned t = l.valueBits();
    return float(
        std::ldexp(double(code) - std::ldexp(1.0, t - 1), -int(l.fracBits)));
  }
  default:
    return 0.0f;
  }
}

void sparq::formats::decodeRows(const PackedView &v, int64_t r0, int64_t r1,
                                float *out) {
  const Layout &l = v.layout();
  int64_t cols = v.cols();
  if (l.format == Format::Dense)
    return decodeDense(v, r0, r1, out);
  std::fill(out, out + (r1 - r0) * cols, 0.0f);
  ValueReader val(v);
  const uint32_t *ptr = v.section<uint32_t>(Ptr);
  auto put = [&](int64_t r, int64_t c, float x) {
    if (r >= r0 && r < r1)
      out[(r - r0) * cols + c] = x;
  };
  switch (l.format) {
  case Format::CSR:
    for (int64_t r = r0; r < r1; ++r)
      for (uint32_t e = ptr[r]; e < ptr[r + 1]; ++e)
        put(r, readIndex(v, e), val(e));
    break;
  case Format::CSC:
    for (int64_t c = 0; c < cols; ++c)
      for (uint32_t e = ptr[c]; e < ptr[c + 1]; ++e)
        put(readIndex(v, e), c, val(e));
    break;
  case Format::BCSR: {
    int64_t br = l.blockRows, bc = l.blockCols;
    for (int64_t b = r0 / br; b * br < r1; ++b)
      for (uint32_t e = ptr[b]; e < ptr[b + 1]; ++e) {
        int64_t c0 = int64_t(readIndex(v, e)) * bc;
        for (int64_t i = 0; i < br; ++i)
          for (int64_t j = 0; j < bc; ++j)
            put(b * br + i, c0 + j, val(uint64_t(e) * br * bc + i * bc + j));
      }
    break;
  }
  case Format::NM: {
    unsigned ib = nmIndexBits(l.m);
    int64_t groups = cols / l.m;
    const uint8_t *idx = v.section<uint8_t>(Index);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t g = 0; g < groups; ++g)
        for (int64_t s = 0; s < l.n; ++s) {
          uint64_t e = (uint64_t(r) * groups + g) * l.n + s;
          float x = val(e);
          if (x != 0)
            put(r, g * l.m + readBits(idx, e * ib, ib), x);
        }
    break;
  }
  case Format::InterleavedCSC: {
    const uint8_t *idx = v.section<uint8_t>(Index);
    for (int64_t p = 0; p < l.pes; ++p) {
      const uint32_t *cp = ptr + p * (cols + 1);
      for (int64_t c = 0; c < cols; ++c) {
        int64_t local = -1;
        for (uint32_t e = cp[c]; e < cp[c + 1]; ++e) {
          local += readBits(idx, uint64_t(e) * l.indexBits, l.indexBits) + 1;
          float x = val(e);
          if (x != 0)
            put(p + local * l.pes, c, x);
        }
      }
    }
    break;
  }
  case Format::Dense:
    break;
  }
}
