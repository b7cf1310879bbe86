//===- QuantizedConv.cpp - integer convolution (u8 x s8 -> i32) -----------===//

#include "runtime/kernels/QuantizedConv.h"
#include "runtime/formats/Simd.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <cstring>
#include <vector>

using namespace sparq::kernels;

namespace {
/// Bytes B may be read past its last column: tiles load whole vectors.
constexpr int64_t kSlack = 256;

/// The portable tile: rows [r0, r1) x columns [j0, j1), one output at a
/// time over the quads.
void gemmTilePortable(const int8_t *a, const uint8_t *b, int64_t n, int64_t k4,
                      int64_t r0, int64_t r1, int64_t j0, int64_t j1,
                      int32_t *c, int64_t ldc) {
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t *ar = a + r * k4;
    for (int64_t j = j0; j < j1; ++j) {
      int32_t s = 0;
      for (int64_t q = 0; q < k4 / 4; ++q) {
        const uint8_t *bq = b + (q * n + j) * 4;
        s += int32_t(bq[0]) * ar[4 * q] + int32_t(bq[1]) * ar[4 * q + 1] +
             int32_t(bq[2]) * ar[4 * q + 2] + int32_t(bq[3]) * ar[4 * q + 3];
      }
      c[r * ldc + j] = s;
    }
  }
}

/// Row k of the im2col matrix of one image: x[c, oy*sh + ky*dh - pt,
/// ox*sw + kx*dw - pl] for k = (c*KH + ky)*KW + kx at column oy*OW + ox,
/// XOR `flip` (0x80 takes int8 to uint8 + 128); `pad` in the padding.
void im2colRow(const uint8_t *x, const int64_t *xs, int64_t h, int64_t w,
               int64_t kh, int64_t kw, int64_t oh, int64_t ow,
               const ConvParams &p, uint8_t pad, uint8_t flip, int64_t k,
               uint8_t *row) {
  int64_t ci = k / (kh * kw), ky = k / kw % kh, kx = k % kw;
  const uint8_t *plane = x + ci * xs[0];
  int64_t xoff = kx * p.dilationW - p.padLeft, sw = p.strideW;
  // Output columns whose input column is inside [0, w).
  int64_t ox0 = xoff >= 0 ? 0 : std::min(ow, (-xoff + sw - 1) / sw);
  int64_t ox1 =
      w - 1 - xoff < 0 ? ox0 : std::clamp((w - 1 - xoff) / sw + 1, ox0, ow);
  int64_t step = sw * xs[2];
  // One dispatch for the whole row of k: output rows are short (7 bytes at
  // 7x7), so per-row overheads would dominate.
  // Byte stores may alias anything, the lambda's captures included: the
  // loops read copies, and restrict pointers, or they do not vectorize.
  const int64_t sh = p.strideH, dh = p.dilationH, pt = p.padTop;
  const int64_t rs = xs[1], cs = xs[2];
  sparq::withSimd([=]() SPARQ_SIMD_INLINE {
    for (int64_t oy = 0; oy < oh; ++oy) {
      uint8_t *__restrict d = row + oy * ow;
      int64_t iy = oy * sh + ky * dh - pt;
      if (iy < 0 || iy >= h) {
        for (int64_t ox = 0; ox < ow; ++ox)
          d[ox] = pad;
        continue;
      }
      const uint8_t *__restrict src = plane + iy * rs + xoff * cs;
      for (int64_t ox = 0; ox < ox0; ++ox)
        d[ox] = pad;
      if (step == 1)
        for (int64_t ox = ox0; ox < ox1; ++ox)
          d[ox] = src[ox] ^ flip;
      else
        for (int64_t ox = ox0; ox < ox1; ++ox)
          d[ox] = src[ox * step] ^ flip;
      for (int64_t ox = ox1; ox < ow; ++ox)
        d[ox] = pad;
    }
  });
}

/// im2col of one image into quads: byte t of quad (q, column n) is row
/// 4q + t of the im2col matrix (im2colRow), 0 for rows past K. Rows are
/// made four at a time and interleaved as 32-bit words, which vectorizes.
void im2colQuads(const uint8_t *x, const int64_t *xs, int64_t c, int64_t h,
                 int64_t w, int64_t kh, int64_t kw, int64_t oh, int64_t ow,
                 const ConvParams &p, uint8_t pad, uint8_t flip, int64_t k4,
                 uint8_t *quads) {
  int64_t n = oh * ow, k = c * kh * kw;
  parallelFor(k4 / 4, std::max<int64_t>(1, (int64_t(1) << 14) / (4 * n)),
              [&](int64_t q0, int64_t q1) {
                std::vector<uint8_t> rows(4 * n);
                for (int64_t q = q0; q < q1; ++q) {
                  for (int t = 0; t < 4; ++t) {
                    if (4 * q + t < k)
                      im2colRow(x, xs, h, w, kh, kw, oh, ow, p, pad, flip,
                                4 * q + t, rows.data() + t * n);
                    else
                      std::memset(rows.data() + t * n, 0, n);
                  }
                  const uint8_t *__restrict r0 = rows.data();
                  const uint8_t *__restrict r1 = r0 + n;
                  const uint8_t *__restrict r2 = r1 + n;
                  const uint8_t *__restrict r3 = r2 + n;
                  uint32_t *__restrict dst =
                      reinterpret_cast<uint32_t *>(quads + q * n * 4);
                  sparq::withSimd([=]() SPARQ_SIMD_INLINE {
                    for (int64_t j = 0; j < n; ++j) {
                      dst[j] = uint32_t(r0[j]) | uint32_t(r1[j]) << 8 |
                               uint32_t(r2[j]) << 16 | uint32_t(r3[j]) << 24;
                    }
                  });
                }
              });
}
} // namespace

void sparq::kernels::gemmU8S8(const int8_t *a, const uint8_t *b, int64_t m,
                              int64_t n, int64_t k4, int32_t *c, int64_t ldc) {
  SimdLevel level = simdLevel();
  auto tile = level == SimdLevel::Avx512Vnni ? &avx512vnni::gemmU8S8Tile
              : level >= SimdLevel::Avx2     ? &avx2::gemmU8S8Tile
                                             : &gemmTilePortable;
  int64_t width = level == SimdLevel::Avx512Vnni ? 64 : 16;
  constexpr int64_t kRowsPerUnit = 24;
  int64_t colTiles = (n + width - 1) / width;
  int64_t rowUnits = (m + kRowsPerUnit - 1) / kRowsPerUnit;
  // Column tile by column tile, down the rows: a tile's quads stay in L1/L2.
  parallelFor(colTiles * rowUnits, 1, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      int64_t j0 = u / rowUnits * width, r0 = u % rowUnits * kRowsPerUnit;
      tile(a, b, n, k4, r0, std::min(m, r0 + kRowsPerUnit), j0,
           std::min(n, j0 + width), c, ldc);
    }
  });
}

namespace {
/// out (+)= sum over taps of (u - xZero) * w, u the input's bytes XOR
/// `flip`, `pad` (a uint8) where a tap is in the padding.
void qconv(MemRef<uint8_t, 4> *x, I8x4 *w, I32x4 *out, int32_t xZero,
           uint8_t pad, uint8_t flip, const ConvParams &p) {
  int64_t nb = x->sizes[0], c = x->sizes[1], h = x->sizes[2], wd = x->sizes[3];
  int64_t f = w->sizes[0], kh = w->sizes[2], kw = w->sizes[3];
  int64_t oh = out->sizes[2], ow = out->sizes[3], n = oh * ow;
  int64_t k = c * kh * kw, k4 = (k + 3) / 4 * 4;
  // The weights as rows of K4 bytes, and each row's sum: sum (u - z) * w =
  // sum u * w - z * sum w.
  std::vector<int8_t> a(f * k4, 0);
  std::vector<int32_t> wsum(f, 0);
  bool contiguous = w->strides[3] == 1 && w->strides[2] == kw &&
                    w->strides[1] == kh * kw && w->strides[0] == k;
  for (int64_t fi = 0; fi < f; ++fi) {
    int8_t *row = a.data() + fi * k4;
    if (contiguous)
      std::memcpy(row, w->data() + fi * k, k);
    else
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx)
            row[(ci * kh + ky) * kw + kx] =
                w->data()[fi * w->strides[0] + ci * w->strides[1] +
                          ky * w->strides[2] + kx * w->strides[3]];
    int32_t sum = 0;
    for (int64_t kk = 0; kk < k; ++kk)
      sum += row[kk];
    wsum[fi] = sum;
  }
  // Kept between calls; named through pointers in the lambdas (other
  // threads have their own).
  static thread_local std::vector<uint8_t> quadBuffer;
  static thread_local std::vector<int32_t> accBuffer;
  quadBuffer.resize(k4 * n + kSlack);
  accBuffer.resize(f * n);
  uint8_t *quads = quadBuffer.data();
  int32_t *acc = accBuffer.data();
  const int32_t *sums = wsum.data();
  int64_t xs[3] = {x->strides[1], x->strides[2], x->strides[3]};
  for (int64_t b = 0; b < nb; ++b) {
    im2colQuads(x->data() + b * x->strides[0], xs, c, h, wd, kh, kw, oh, ow, p,
                pad, flip, k4, quads);
    gemmU8S8(a.data(), quads, f, n, k4, acc, n);
    int32_t *o = out->data() + b * out->strides[0];
    parallelFor(f, std::max<int64_t>(1, 4096 / n), [&](int64_t f0, int64_t f1) {
      for (int64_t fi = f0; fi < f1; ++fi) {
        int32_t shift = xZero * sums[fi];
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            int32_t &d = o[fi * out->strides[1] + oy * out->strides[2] +
                           ox * out->strides[3]];
            int32_t v = acc[fi * n + oy * ow + ox] - shift;
            d = p.accumulate ? d + v : v;
          }
      }
    });
  }
}
} // namespace

void sparq::kernels::qconv2dNchwU8S8(U8x4 *x, I8x4 *w, I32x4 *out,
                                     int32_t xZero, const ConvParams &p) {
  qconv(x, w, out, xZero, uint8_t(xZero), 0, p);
}

void sparq::kernels::qconv2dNchwS8S8(I8x4 *x, I8x4 *w, I32x4 *out,
                                     int32_t padValue, const ConvParams &p) {
  // x + 128 as uint8 is x's bits with the sign bit flipped.
  auto *bytes = reinterpret_cast<MemRef<uint8_t, 4> *>(x);
  qconv(bytes, w, out, 128, uint8_t(int8_t(padValue)) ^ 0x80, 0x80, p);
}

extern "C" {
// Input, weight, output; then the padding's value, strides (h, w),
// dilations (h, w), padding (top, left), accumulate.
void _mlir_ciface_sparq_conv2d_nchw_s8s8_i32(I8x4 *in, I8x4 *w, I32x4 *out,
                                             int64_t padValue, int64_t sh,
                                             int64_t sw, int64_t dh, int64_t dw,
                                             int64_t pt, int64_t pl,
                                             int64_t acc) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, 0, 0);
  qconv2dNchwS8S8(in, w, out, int32_t(padValue), p);
}
}

void sparq::kernels::forEachQuantizedKernel(
    const std::function<void(const char *, void *)> &fn) {
  fn("_mlir_ciface_sparq_conv2d_nchw_s8s8_i32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_conv2d_nchw_s8s8_i32));
}
