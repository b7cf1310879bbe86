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

/// im2col of one image into quads: byte k % 4 of quad (k / 4, column n) is
/// x[c, oy*sh + ky*dh - pt, ox*sw + kx*dw - pl] for k = (c*KH + ky)*KW + kx,
/// n = oy*OW + ox; xZero where that is in the padding, 0 for k >= K.
void im2colQuads(const uint8_t *x, const int64_t *xs, int64_t c, int64_t h,
                 int64_t w, int64_t kh, int64_t kw, int64_t oh, int64_t ow,
                 const ConvParams &p, uint8_t xZero, int64_t k4,
                 uint8_t *quads) {
  int64_t n = oh * ow, k = c * kh * kw;
  parallelFor(k4 / 4, std::max<int64_t>(1, (int64_t(1) << 14) / (4 * n)),
              [&](int64_t q0, int64_t q1) {
                for (int64_t kk = 4 * q0; kk < 4 * q1; ++kk) {
                  uint8_t *dst = quads + (kk / 4) * n * 4 + kk % 4;
                  if (kk >= k) {
                    for (int64_t j = 0; j < n; ++j)
                      dst[4 * j] = 0;
                    continue;
                  }
                  int64_t ci = kk / (kh * kw), ky = kk / kw % kh, kx = kk % kw;
                  const uint8_t *plane = x + ci * xs[0];
                  for (int64_t oy = 0; oy < oh; ++oy) {
                    int64_t iy = oy * p.strideH + ky * p.dilationH - p.padTop;
                    uint8_t *d = dst + 4 * oy * ow;
                    if (iy < 0 || iy >= h) {
                      for (int64_t ox = 0; ox < ow; ++ox)
                        d[4 * ox] = xZero;
                      continue;
                    }
                    const uint8_t *row = plane + iy * xs[1];
                    for (int64_t ox = 0; ox < ow; ++ox) {
                      int64_t ix =
                          ox * p.strideW + kx * p.dilationW - p.padLeft;
                      d[4 * ox] = ix >= 0 && ix < w ? row[ix * xs[2]] : xZero;
                    }
                  }
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

void sparq::kernels::qconv2dNchwU8S8(U8x4 *x, I8x4 *w, I32x4 *out,
                                     int32_t xZero, const ConvParams &p) {
  int64_t nb = x->sizes[0], c = x->sizes[1], h = x->sizes[2], wd = x->sizes[3];
  int64_t f = w->sizes[0], kh = w->sizes[2], kw = w->sizes[3];
  int64_t oh = out->sizes[2], ow = out->sizes[3], n = oh * ow;
  int64_t k = c * kh * kw, k4 = (k + 3) / 4 * 4;
  // The weights as rows of K4 bytes, and each row's sum: sum (x - z) * w =
  // sum x * w - z * sum w.
  std::vector<int8_t> a(f * k4, 0);
  std::vector<int32_t> wsum(f, 0);
  for (int64_t fi = 0; fi < f; ++fi)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t ky = 0; ky < kh; ++ky)
        for (int64_t kx = 0; kx < kw; ++kx) {
          int8_t v = w->data()[fi * w->strides[0] + ci * w->strides[1] +
                               ky * w->strides[2] + kx * w->strides[3]];
          a[fi * k4 + (ci * kh + ky) * kw + kx] = v;
          wsum[fi] += v;
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
                uint8_t(xZero), k4, quads);
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
