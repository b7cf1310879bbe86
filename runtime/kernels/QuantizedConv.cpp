//===- QuantizedConv.cpp - integer convolution (u8 x s8 -> i32) -----------===//

#include "runtime/kernels/QuantizedConv.h"
#include "runtime/formats/ConvWeightsS8.h"
#include "runtime/formats/Simd.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace sparq::kernels;

namespace {
/// Bytes a panel may be read past its last column: tiles load whole
/// vectors (64 columns of 4 bytes).
constexpr int64_t kSlack = 256;
/// Rows of A per block of work; columns per block are the tile's width.
constexpr int64_t kBlockRows = 24;
constexpr int64_t kMaxTileWidth = 64;

/// The portable tile: one output at a time over the taps and quads.
void tilePortable(const int8_t *a, int64_t lda, const QuadPanel &p,
                  int64_t rows, int64_t j0, int64_t cols, int32_t *c,
                  int64_t ldc) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t jj = 0; jj < cols; ++jj) {
      int32_t s = 0;
      for (int64_t t = 0; t < p.taps; ++t) {
        const uint8_t *bt = p.b + (p.tapOffsets[t] + j0 + jj) * 4;
        const int8_t *at = a + r * lda + t * p.quads * 4;
        for (int64_t q = 0; q < p.quads; ++q) {
          const uint8_t *bq = bt + q * p.quadStride * 4;
          const int8_t *aq = at + 4 * q;
          s += int32_t(bq[0]) * aq[0] + int32_t(bq[1]) * aq[1] +
               int32_t(bq[2]) * aq[2] + int32_t(bq[3]) * aq[3];
        }
      }
      c[r * ldc + jj] = s;
    }
}

/// A * panel over `m` rows and `n` columns, in blocks of kBlockRows rows by
/// the tile's width, each handed to `epilogue(r0, rows, j0, cols, sums,
/// ldSums)` as soon as it is summed (in cache). Blocks run in parallel, a
/// column strip at a time down the rows (its panel stays in L1/L2); every
/// sum is exact, so neither the split nor the level changes a result.
template <typename Epilogue>
void gemmBlocks(const int8_t *a, int64_t lda, const QuadPanel &p, int64_t m,
                int64_t n, const Epilogue &epilogue) {
  sparq::SimdLevel level = sparq::simdLevel();
  auto tile = level == sparq::SimdLevel::Avx512Vnni ? &avx512vnni::gemmU8S8Tile
              : level >= sparq::SimdLevel::Avx2     ? &avx2::gemmU8S8Tile
                                                    : &tilePortable;
  int64_t width = level == sparq::SimdLevel::Avx512Vnni ? 64 : 16;
  int64_t colTiles = (n + width - 1) / width;
  int64_t rowUnits = (m + kBlockRows - 1) / kBlockRows;
  parallelFor(colTiles * rowUnits, 1, [&](int64_t u0, int64_t u1) {
    alignas(64) int32_t sums[kBlockRows * kMaxTileWidth];
    for (int64_t u = u0; u < u1; ++u) {
      int64_t j0 = u / rowUnits * width, r0 = u % rowUnits * kBlockRows;
      int64_t rows = std::min(kBlockRows, m - r0),
              cols = std::min(width, n - j0);
      tile(a + r0 * lda, lda, p, rows, j0, cols, sums, kMaxTileWidth);
      epilogue(r0, rows, j0, cols, sums, kMaxTileWidth);
    }
  });
}
/// Requantizes a block of sums (rows x kMaxTileWidth, row stride
/// kMaxTileWidth) to bytes (Requantize), row r with filter r0 + r's
/// parameters, into `bytes` (same shape). Whole rows of the fixed width, so
/// that the loop is all vectors; columns past the block's are ignored.
/// Clamping before rounding gives the same result (the bounds are
/// integers), and keeps |y| small enough for the rounding trick: adding and
/// subtracting 1.5 * 2^23 rounds a float to an integer, half to even. This
/// file is built without FMA contraction: every level computes the same
/// float(v) * scale, then + offset.
void requantizeBlock(const int32_t *sums, int64_t rows, int64_t r0,
                     const int32_t *totals, const Requantize &rq,
                     uint8_t *bytes) {
  const int32_t *shift = totals + r0;
  const float *scale = rq.scale + r0, *offset = rq.offset + r0;
  const float lo = rq.lo, hi = rq.hi;
  sparq::withSimd([=]() SPARQ_SIMD_INLINE {
    // Locals, not the lambda's members: byte stores may alias those.
    constexpr float kRound = 12582912.0f;
    const float l = lo, u = hi;
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t *__restrict src = sums + r * kMaxTileWidth;
      uint8_t *__restrict dst = bytes + r * kMaxTileWidth;
      const int32_t t = shift[r];
      const float m = scale[r], o = offset[r];
      for (int64_t i = 0; i < kMaxTileWidth; ++i) {
        float y = float(src[i] - t) * m + o;
        y = std::min(std::max(y, l), u);
        dst[i] = uint8_t(int32_t((y + kRound) - kRound));
      }
    }
  });
}

/// How a convolution reads its input: as phase planes. Output (oy, ox)'s
/// tap (ky, kx) reads padded input row oy * sh + ky * dh, which is row
/// oy + (ky * dh) / sh of phase (ky * dh) % sh: the rows of that phase
/// (and the columns likewise). Each phase plane, made once, holds the
/// padded input at rows y * sh + py, columns x * sw + px; then every tap
/// is one fixed offset into its phase plane from the output's position, at
/// any stride, with no im2col. Outputs are computed on the phase planes'
/// width; the extra columns are dropped. Stride 1 has one phase.
struct PhaseLayout {
  int64_t sh, sw, rows, cols; // phase planes: rows x cols words
  int64_t phaseWords, plane;  // words per phase plane, per quad plane
  std::vector<int64_t> tapOffsets;
  std::vector<bool> used; // phase py * sw + px read by some tap
};

PhaseLayout phaseLayout(int64_t kh, int64_t kw, int64_t oh, int64_t ow,
                        const ConvParams &p) {
  PhaseLayout l;
  l.sh = p.strideH, l.sw = p.strideW;
  l.rows = oh + (kh - 1) * p.dilationH / l.sh;
  l.cols = ow + (kw - 1) * p.dilationW / l.sw;
  l.phaseWords = l.rows * l.cols;
  // Tiles read whole vectors past the last column, up to the last tap's
  // offset: slack after the last phase.
  l.plane = l.sh * l.sw * l.phaseWords + l.cols + kMaxTileWidth;
  l.used.assign(l.sh * l.sw, false);
  for (int64_t ky = 0; ky < kh; ++ky)
    for (int64_t kx = 0; kx < kw; ++kx) {
      int64_t dy = ky * p.dilationH, dx = kx * p.dilationW;
      int64_t phase = dy % l.sh * l.sw + dx % l.sw;
      l.used[phase] = true;
      l.tapOffsets.push_back(phase * l.phaseWords + dy / l.sh * l.cols +
                             dx / l.sw);
    }
  return l;
}

/// The phase planes of one image, four channels per 32-bit word: word
/// (q, phase (py, px), y, x) holds channels 4q..4q+3 of input row
/// y * sh + py - padTop, column x * sw + px - padLeft, XOR `flip`; `pad`
/// outside the input, for channels past `c`, and in the slack.
void phaseQuads(const uint8_t *x, const int64_t *xs, int64_t c, int64_t h,
                int64_t w, const PhaseLayout &l, const ConvParams &p,
                uint8_t pad, uint8_t flip, uint8_t *out) {
  int64_t quads = (c + 3) / 4;
  // Rows of the channels past c: pad bytes, as long as a strided row.
  std::vector<uint8_t> padRow(std::max<int64_t>(1, (w - 1) * xs[2] + 1),
                              pad ^ flip);
  const uint8_t *padBytes = padRow.data();
  parallelFor(quads, 1, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const uint8_t *planes[4];
      for (int i = 0; i < 4; ++i)
        planes[i] = 4 * q + i < c ? x + (4 * q + i) * xs[0] : nullptr;
      uint32_t *quadPlane = reinterpret_cast<uint32_t *>(out) + q * l.plane;
      const uint32_t padWord = uint32_t(pad) * 0x01010101u;
      const uint32_t flipWord = uint32_t(flip) * 0x01010101u;
      std::fill(quadPlane, quadPlane + l.plane, padWord);
      for (int64_t py = 0; py < l.sh; ++py)
        for (int64_t px = 0; px < l.sw; ++px) {
          if (!l.used[py * l.sw + px])
            continue;
          // Columns x whose input column x * sw + px - pl is in [0, w).
          int64_t first = std::max<int64_t>(0, p.padLeft - px);
          int64_t x0 = (first + l.sw - 1) / l.sw;
          int64_t x1 = std::min(l.cols, (w - 1 + p.padLeft - px) / l.sw + 1);
          if (w - 1 + p.padLeft - px < 0 || x1 <= x0)
            continue;
          int64_t ix0 = x0 * l.sw + px - p.padLeft;
          uint32_t *phase = quadPlane + (py * l.sw + px) * l.phaseWords;
          for (int64_t y = 0; y < l.rows; ++y) {
            int64_t iy = y * l.sh + py - p.padTop;
            if (iy < 0 || iy >= h)
              continue;
            const int64_t off = iy * xs[1] + ix0 * xs[2];
            const uint8_t *__restrict r0 =
                planes[0] ? planes[0] + off : padBytes;
            const uint8_t *__restrict r1 =
                planes[1] ? planes[1] + off : padBytes;
            const uint8_t *__restrict r2 =
                planes[2] ? planes[2] + off : padBytes;
            const uint8_t *__restrict r3 =
                planes[3] ? planes[3] + off : padBytes;
            uint32_t *__restrict d = phase + y * l.cols + x0;
            const int64_t n = x1 - x0, step = l.sw * xs[2];
            // Copies, not captures, in the loops: the stores are 32-bit
            // words, the sources restrict pointers.
            sparq::withSimd([=]() SPARQ_SIMD_INLINE {
              const uint32_t fw = flipWord;
              if (step == 1)
                for (int64_t i = 0; i < n; ++i)
                  d[i] = (uint32_t(r0[i]) | uint32_t(r1[i]) << 8 |
                          uint32_t(r2[i]) << 16 | uint32_t(r3[i]) << 24) ^
                         fw;
              else
                for (int64_t i = 0; i < n; ++i)
                  d[i] = (uint32_t(r0[i * step]) | uint32_t(r1[i * step]) << 8 |
                          uint32_t(r2[i * step]) << 16 |
                          uint32_t(r3[i * step]) << 24) ^
                         fw;
            });
          }
        }
    }
  });
}

/// Calls fn(jj, oy, ox, len) for each run of output columns among the
/// block's columns [j0, j0 + cols): column j is output (j / pitch,
/// j % pitch) when j % pitch < ow (the padded width's extra columns are
/// not outputs); jj is the run's first column within the block.
template <typename Fn>
void forEachRun(int64_t j0, int64_t cols, int64_t pitch, int64_t ow,
                const Fn &fn) {
  for (int64_t j = j0, end = j0 + cols; j < end;) {
    int64_t oy = j / pitch, ox = j % pitch;
    int64_t rowEnd = std::min(end, j - ox + pitch);
    if (ox < ow)
      fn(j - j0, oy, ox, std::min(rowEnd, j - ox + ow) - j);
    j = rowEnd;
  }
}

/// Where a convolution's sums go: int32 (`acc`), or requantized to bytes.
struct Sink {
  I32x4 *acc = nullptr;
  bool accumulate = false;
  MemRef<uint8_t, 4> *bytes = nullptr;
  const Requantize *requantize = nullptr;
};

/// The sums of sum over taps of (u - zero) * w, u the input's bytes XOR
/// `flip` (`pad` where a tap is in the padding), into `sink`.
void qconv(MemRef<uint8_t, 4> *x, const sparq::formats::ConvWeightsS8 &w,
           int32_t zero, uint8_t pad, uint8_t flip, const ConvParams &p,
           const Sink &sink) {
  int64_t nb = x->sizes[0], c = x->sizes[1], h = x->sizes[2], wd = x->sizes[3];
  int64_t f = w.filters, kh = w.kh, kw = w.kw;
  const int64_t *osz = sink.acc ? sink.acc->sizes : sink.bytes->sizes;
  const int64_t *ost = sink.acc ? sink.acc->strides : sink.bytes->strides;
  int64_t oh = osz[2], ow = osz[3];
  if (nb == 0 || f == 0 || oh == 0 || ow == 0)
    return;
  if (w.channels != c) {
    std::fprintf(stderr,
                 "sparq: int8 convolution weights packed for %lld channels; "
                 "the input has %lld\n",
                 (long long)w.channels, (long long)c);
    std::abort();
  }
  int64_t lda = w.rowBytes;
  const int8_t *a = w.rows;
  // What each filter's sums lose before the epilogue: zero * sum w (and
  // the requantization's shift).
  std::vector<int32_t> total(f);
  for (int64_t fi = 0; fi < f; ++fi)
    total[fi] =
        zero * w.sums[fi] + (sink.requantize ? sink.requantize->shift[fi] : 0);
  int64_t quads = (c + 3) / 4;
  PhaseLayout layout = phaseLayout(kh, kw, oh, ow, p);
  int64_t n = oh * layout.cols, pitch = layout.cols;
  QuadPanel panel{nullptr, quads, layout.plane, layout.tapOffsets.data(),
                  int64_t(layout.tapOffsets.size())};
  // Kept between calls; named through pointers in the lambdas (other
  // threads have their own).
  static thread_local std::vector<uint8_t> panelBuffer;
  panelBuffer.resize(quads * layout.plane * 4 + kSlack);
  uint8_t *bytes = panelBuffer.data();
  panel.b = bytes;
  const int32_t *totals = total.data();
  int64_t xs[3] = {x->strides[1], x->strides[2], x->strides[3]};
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t *image = x->data() + b * x->strides[0];
    phaseQuads(image, xs, c, h, wd, layout, p, pad, flip, bytes);
    if (sink.acc) {
      int32_t *o = sink.acc->data() + b * ost[0];
      bool accumulate = sink.accumulate;
      gemmBlocks(a, lda, panel, f, n,
                 [&](int64_t r0, int64_t rows, int64_t j0, int64_t cols,
                     const int32_t *sums, int64_t ld) {
                   for (int64_t r = 0; r < rows; ++r) {
                     int64_t fi = r0 + r;
                     forEachRun(
                         j0, cols, pitch, ow,
                         [&](int64_t jj, int64_t oy, int64_t ox, int64_t len) {
                           int32_t *d =
                               o + fi * ost[1] + oy * ost[2] + ox * ost[3];
                           const int32_t *s = sums + r * ld + jj;
                           for (int64_t i = 0; i < len; ++i) {
                             int32_t v = s[i] - totals[fi];
                             d[i * ost[3]] = accumulate ? d[i * ost[3]] + v : v;
                           }
                         });
                   }
                 });
    } else {
      uint8_t *o = sink.bytes->data() + b * ost[0];
      const Requantize &rq = *sink.requantize;
      gemmBlocks(a, lda, panel, f, n,
                 [&](int64_t r0, int64_t rows, int64_t j0, int64_t cols,
                     const int32_t *sums, int64_t) {
                   alignas(64) uint8_t block[kBlockRows * kMaxTileWidth];
                   requantizeBlock(sums, rows, r0, totals, rq, block);
                   for (int64_t r = 0; r < rows; ++r) {
                     int64_t fi = r0 + r;
                     forEachRun(
                         j0, cols, pitch, ow,
                         [&](int64_t jj, int64_t oy, int64_t ox, int64_t len) {
                           const uint8_t *s = block + r * kMaxTileWidth + jj;
                           uint8_t *d =
                               o + fi * ost[1] + oy * ost[2] + ox * ost[3];
                           if (ost[3] == 1)
                             std::memcpy(d, s, len);
                           else
                             for (int64_t i = 0; i < len; ++i)
                               d[i * ost[3]] = s[i];
                         });
                   }
                 });
    }
  }
}
} // namespace

void sparq::kernels::gemmU8S8(const int8_t *a, const uint8_t *b, int64_t m,
                              int64_t n, int64_t k4, int32_t *c, int64_t ldc) {
  int64_t offset = 0;
  QuadPanel panel{b, k4 / 4, n, &offset, 1};
  gemmBlocks(a, k4, panel, m, n,
             [&](int64_t r0, int64_t rows, int64_t j0, int64_t cols,
                 const int32_t *sums, int64_t ld) {
               for (int64_t r = 0; r < rows; ++r)
                 std::memcpy(c + (r0 + r) * ldc + j0, sums + r * ld,
                             cols * sizeof(int32_t));
             });
}

namespace {
/// The weights packed now, for the calls that take them unpacked.
std::vector<uint8_t> packNow(I8x4 *w) {
  return sparq::formats::packConvWeightsS8(w->data(), w->strides, w->sizes[0],
                                           w->sizes[1], w->sizes[2],
                                           w->sizes[3]);
}
sparq::formats::ConvWeightsS8 viewOf(const std::vector<uint8_t> &blob) {
  return sparq::formats::viewConvWeightsS8(blob.data(), blob.size());
}
} // namespace

void sparq::kernels::qconv2dNchwU8S8(U8x4 *x, I8x4 *w, I32x4 *out,
                                     int32_t xZero, const ConvParams &p) {
  Sink sink;
  sink.acc = out;
  sink.accumulate = p.accumulate;
  qconv(x, viewOf(packNow(w)), xZero, uint8_t(xZero), 0, p, sink);
}

// x + 128 as uint8 is x's bits with the sign bit flipped: the padding's
// byte is padValue's flipped, and the input's unless it is biased already.
void sparq::kernels::qconv2dNchwS8S8Packed(I8x4 *x,
                                           const formats::ConvWeightsS8 &w,
                                           I32x4 *out, int32_t padValue,
                                           const ConvParams &p, bool biased) {
  Sink sink;
  sink.acc = out;
  sink.accumulate = p.accumulate;
  qconv(reinterpret_cast<MemRef<uint8_t, 4> *>(x), w, 128,
        uint8_t(int8_t(padValue)) ^ 0x80, biased ? 0 : 0x80, p, sink);
}

void sparq::kernels::qconv2dNchwS8S8(I8x4 *x, I8x4 *w, I32x4 *out,
                                     int32_t padValue, const ConvParams &p,
                                     bool biased) {
  qconv2dNchwS8S8Packed(x, viewOf(packNow(w)), out, padValue, p, biased);
}

void sparq::kernels::qconv2dNchwS8S8Requantized(
    I8x4 *x, const formats::ConvWeightsS8 &w, I8x4 *out, int32_t padValue,
    const ConvParams &p, bool biased, const Requantize &r) {
  Sink sink;
  sink.bytes = reinterpret_cast<MemRef<uint8_t, 4> *>(out);
  sink.requantize = &r;
  qconv(reinterpret_cast<MemRef<uint8_t, 4> *>(x), w, 128,
        uint8_t(int8_t(padValue)) ^ 0x80, biased ? 0 : 0x80, p, sink);
}

namespace {
/// acc[0..n) += s[0..n) * w: one long vectorized run.
SPARQ_SIMD_INLINE inline void multiplyAdd(float *__restrict acc,
                                          const float *__restrict s, float w,
                                          int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    acc[i] += s[i] * w;
}

/// Planes [q0, q1) of qdepthwiseNchwS8S8Requantized, inlined into each SIMD
/// level's copy; plain parameters, so that the byte stores alias nothing
/// the loops read. Each plane is first copied padded as floats (x, or the
/// pad value; `values` holds a dense plane's floats on the way) into phase
/// planes of the stride (PhaseLayout, one channel),
/// so that every tap is one contiguous run over all outputs (computed on
/// the phase planes' width; the extra columns are dropped). The sums are
/// float multiply-adds of integers, exact while below 2^24 (taps * 128 *
/// 128 < 2^24: KH * KW < 1024), so every level and order gives the int32
/// sums.
SPARQ_SIMD_INLINE inline void
depthwisePlanes(const MemRef<uint8_t, 4> &x, const MemRef<int8_t, 3> &w,
                const MemRef<uint8_t, 4> &out, float pad, uint8_t flip,
                const ConvParams &p, const PhaseLayout &l, const Requantize &r,
                int64_t q0, int64_t q1, float *__restrict plane,
                float *__restrict values, float *__restrict acc,
                uint8_t *__restrict bytes) {
  const int64_t c = x.sizes[1], h = x.sizes[2], wd = x.sizes[3];
  const int64_t kh = w.sizes[1], kw = w.sizes[2];
  const int64_t oh = out.sizes[2], ow = out.sizes[3], n = oh * l.cols;
  const int64_t xs2 = x.strides[2], xs3 = x.strides[3];
  constexpr float kRound = 12582912.0f; // rounds half to even
  const float lo = r.lo, hi = r.hi;
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t ci = q % c;
    const uint8_t *src =
        x.aligned + x.offset + q / c * x.strides[0] + ci * x.strides[1];
    for (int64_t i = 0; i < l.plane; ++i)
      plane[i] = pad;
    // A dense input plane converts to floats in one long run first (rows
    // are short: per-row conversions would run their scalar tails); the
    // phase rows then copy floats.
    const bool dense = xs3 == 1 && xs2 == wd;
    if (dense)
      for (int64_t i = 0; i < h * wd; ++i)
        values[i] = float(int8_t(src[i] ^ flip));
    for (int64_t py = 0; py < l.sh; ++py)
      for (int64_t px = 0; px < l.sw; ++px) {
        if (!l.used[py * l.sw + px])
          continue;
        // Columns x whose input column x * sw + px - pl is in [0, wd).
        int64_t x0 = (std::max<int64_t>(0, p.padLeft - px) + l.sw - 1) / l.sw;
        int64_t last = wd - 1 + p.padLeft - px;
        int64_t x1 = last < 0 ? x0 : std::min(l.cols, last / l.sw + 1);
        int64_t step = l.sw * xs3;
        for (int64_t y = 0; y < l.rows; ++y) {
          int64_t iy = y * l.sh + py - p.padTop;
          if (iy < 0 || iy >= h || x1 <= x0)
            continue;
          const uint8_t *__restrict row =
              src + iy * xs2 + (x0 * l.sw + px - p.padLeft) * xs3;
          float *__restrict d =
              plane + (py * l.sw + px) * l.phaseWords + y * l.cols + x0;
          // Constant steps, so that the loads vectorize.
          if (dense) {
            const float *__restrict v =
                values + iy * wd + x0 * l.sw + px - p.padLeft;
            if (l.sw == 1)
              std::memcpy(d, v, (x1 - x0) * sizeof(float));
            else
              for (int64_t i = 0; i < x1 - x0; ++i)
                d[i] = v[i * l.sw];
          } else if (step == 1)
            for (int64_t i = 0; i < x1 - x0; ++i)
              d[i] = float(int8_t(row[i] ^ flip));
          else if (step == 2)
            for (int64_t i = 0; i < x1 - x0; ++i)
              d[i] = float(int8_t(row[2 * i] ^ flip));
          else
            for (int64_t i = 0; i < x1 - x0; ++i)
              d[i] = float(int8_t(row[i * step] ^ flip));
        }
      }
    for (int64_t i = 0; i < n; ++i)
      acc[i] = 0.0f;
    const int8_t *wc = w.aligned + w.offset + ci * w.strides[0];
    for (int64_t ky = 0; ky < kh; ++ky)
      for (int64_t kx = 0; kx < kw; ++kx)
        multiplyAdd(acc, plane + l.tapOffsets[ky * kw + kx],
                    float(wc[ky * w.strides[1] + kx * w.strides[2]]), n);
    // All n at once (one long vectorized run), then the rows' outputs
    // copied out. acc - shift is exact in float (integers below 2^24).
    const float shift = float(r.shift[ci]);
    const float scale = r.scale[ci], offset = r.offset[ci];
    for (int64_t i = 0; i < n; ++i) {
      float v = (acc[i] - shift) * scale + offset;
      v = std::min(std::max(v, lo), hi);
      bytes[i] = uint8_t(int32_t((v + kRound) - kRound));
    }
    uint8_t *o =
        out.aligned + out.offset + q / c * out.strides[0] + ci * out.strides[1];
    const int64_t ds = out.strides[3];
    for (int64_t oy = 0; oy < oh; ++oy) {
      const uint8_t *__restrict b = bytes + oy * l.cols;
      uint8_t *__restrict d = o + oy * out.strides[2];
      if (ds == 1)
        std::memcpy(d, b, ow);
      else
        for (int64_t ox = 0; ox < ow; ++ox)
          d[ox * ds] = b[ox];
    }
  }
}
} // namespace

void sparq::kernels::qdepthwiseNchwS8S8Requantized(
    I8x4 *x, MemRef<int8_t, 3> *w, I8x4 *out, int32_t padValue,
    const ConvParams &p, bool biased, const Requantize &r) {
  auto *bytes = reinterpret_cast<MemRef<uint8_t, 4> *>(x);
  auto *o = reinterpret_cast<MemRef<uint8_t, 4> *>(out);
  int64_t planes = x->sizes[0] * x->sizes[1];
  int64_t oh = out->sizes[2], ow = out->sizes[3];
  if (planes == 0 || oh <= 0 || ow <= 0)
    return;
  PhaseLayout layout = phaseLayout(w->sizes[1], w->sizes[2], oh, ow, p);
  // Input bytes are x + 128 (biased) or x: the sign flip recovers x.
  uint8_t flip = biased ? 0x80 : 0;
  int64_t grain = std::max<int64_t>(1, 8192 / (oh * ow));
  parallelFor(planes, grain, [&](int64_t q0, int64_t q1) {
    std::vector<float> plane(layout.plane), acc(oh * layout.cols),
        values(x->sizes[2] * x->sizes[3]);
    std::vector<uint8_t> row(oh * layout.cols);
    sparq::withSimd([&]() SPARQ_SIMD_INLINE {
      depthwisePlanes(*bytes, *w, *o, float(padValue), flip, p, layout, r, q0,
                      q1, plane.data(), values.data(), acc.data(), row.data());
    });
  });
}

namespace {
/// The Requantize of a call's per-channel arguments and bounds.
Requantize requantizeOf(MemRef<int32_t, 1> *shift, F32x1 *scale, F32x1 *offset,
                        int64_t lo, int64_t hi) {
  return {shift->data(), scale->data(), offset->data(), float(lo), float(hi)};
}

/// The view of a blob of packed weights the compiler made; a blob that does
/// not check out is a compiler bug, reported before anything reads it.
sparq::formats::ConvWeightsS8 packedWeights(MemRef<uint8_t, 1> *blob) {
  try {
    return sparq::formats::viewConvWeightsS8(blob->data(), blob->sizes[0]);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "sparq: %s\n", e.what());
    std::abort();
  }
}
} // namespace

extern "C" {
// Input, weight, output; then the padding's value, whether the input is
// biased (uint8 x + 128), strides (h, w), dilations (h, w), padding (top,
// left), accumulate.
void _mlir_ciface_sparq_conv2d_nchw_s8s8_i32(I8x4 *in, I8x4 *w, I32x4 *out,
                                             int64_t padValue, int64_t biased,
                                             int64_t sh, int64_t sw, int64_t dh,
                                             int64_t dw, int64_t pt, int64_t pl,
                                             int64_t acc) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, 0, 0);
  qconv2dNchwS8S8(in, w, out, int32_t(padValue), p, biased != 0);
}

// A grouped convolution on [N, G, C, H, W] views (weights [G, F, C, KH, KW],
// sums [N, G, F, OH, OW]): the plain one on each group's channels, in
// order; then as sparq_conv2d_nchw_s8s8_i32.
void _mlir_ciface_sparq_grouped_conv2d_nchw_s8s8_i32(
    MemRef<int8_t, 5> *in, MemRef<int8_t, 5> *w, MemRef<int32_t, 5> *out,
    int64_t padValue, int64_t biased, int64_t sh, int64_t sw, int64_t dh,
    int64_t dw, int64_t pt, int64_t pl, int64_t acc) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, 0, 0);
  for (int64_t g = 0; g < w->sizes[0]; ++g) {
    I8x4 x = sliceOf(*in, 1, g), wg = sliceOf(*w, 0, g);
    I32x4 o = sliceOf(*out, 1, g);
    qconv2dNchwS8S8(&x, &wg, &o, int32_t(padValue), p, biased != 0);
  }
}

// Input, the packed weights (formats/ConvWeightsS8.h, made at compile
// time), output (int32); then as sparq_conv2d_nchw_s8s8_i32.
void _mlir_ciface_sparq_packed_conv2d_nchw_s8s8_i32(
    I8x4 *in, MemRef<uint8_t, 1> *blob, I32x4 *out, int64_t padValue,
    int64_t biased, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt,
    int64_t pl, int64_t acc) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, 0, 0);
  qconv2dNchwS8S8Packed(in, packedWeights(blob), out, int32_t(padValue), p,
                        biased != 0);
}

// Input, the packed weights, output (bytes), the requantization's shift,
// scale and offset per output channel; then the padding's value, biased,
// strides, dilations, padding, and the clamp's bounds.
void _mlir_ciface_sparq_packed_conv2d_nchw_s8s8_requant(
    I8x4 *in, MemRef<uint8_t, 1> *blob, I8x4 *out, MemRef<int32_t, 1> *shift,
    F32x1 *scale, F32x1 *offset, int64_t padValue, int64_t biased, int64_t sh,
    int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t lo,
    int64_t hi) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, 0, 0, 0);
  Requantize r = requantizeOf(shift, scale, offset, lo, hi);
  qconv2dNchwS8S8Requantized(in, packedWeights(blob), out, int32_t(padValue), p,
                             biased != 0, r);
}

// Input, weights [C, KH, KW], output (bytes), the requantization's shift,
// scale and offset per channel; then the padding's value, biased, strides,
// dilations, padding, and the clamp's bounds.
void _mlir_ciface_sparq_depthwise_nchw_s8s8_requant(
    I8x4 *in, MemRef<int8_t, 3> *w, I8x4 *out, MemRef<int32_t, 1> *shift,
    F32x1 *scale, F32x1 *offset, int64_t padValue, int64_t biased, int64_t sh,
    int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t lo,
    int64_t hi) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, 0, 0, 0);
  Requantize r = requantizeOf(shift, scale, offset, lo, hi);
  qdepthwiseNchwS8S8Requantized(in, w, out, int32_t(padValue), p, biased != 0,
                                r);
}
}

void sparq::kernels::forEachQuantizedKernel(
    const std::function<void(const char *, void *)> &fn) {
  fn("_mlir_ciface_sparq_conv2d_nchw_s8s8_i32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_conv2d_nchw_s8s8_i32));
  fn("_mlir_ciface_sparq_grouped_conv2d_nchw_s8s8_i32",
     reinterpret_cast<void *>(
         &_mlir_ciface_sparq_grouped_conv2d_nchw_s8s8_i32));
  fn("_mlir_ciface_sparq_packed_conv2d_nchw_s8s8_i32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_packed_conv2d_nchw_s8s8_i32));
  fn("_mlir_ciface_sparq_packed_conv2d_nchw_s8s8_requant",
     reinterpret_cast<void *>(
         &_mlir_ciface_sparq_packed_conv2d_nchw_s8s8_requant));
  fn("_mlir_ciface_sparq_depthwise_nchw_s8s8_requant",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_depthwise_nchw_s8s8_requant));
}
