//===- HostKernels.cpp - library kernels the host code calls --------------===//

#include "runtime/kernels/HostKernels.h"
#include "runtime/kernels/BevPool.h"
#include "runtime/kernels/BufferCache.h"
#include "runtime/kernels/Correlation.h"
#include "runtime/kernels/DataDependent.h"
#include "runtime/kernels/DenseGemm.h"
#include "runtime/kernels/Depthwise.h"
#include "runtime/kernels/PackedKernels.h"
#include "runtime/kernels/QuantizedConv.h"
#include "runtime/kernels/QuantizedElementwise.h"
#include "runtime/kernels/RoiAlign.h"
#include "runtime/kernels/ThreadPool.h"
#include "runtime/kernels/TopKRanks.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstring>
#include <vector>

using namespace sparq::kernels;

namespace {

/// Leading dimension of a 2-D row-major view, or -1 if it is not one.
int64_t leadingDim(int64_t rowStride, int64_t colStride, int64_t cols) {
  if (colStride != 1 && cols != 1)
    return -1;
  return std::max<int64_t>(rowStride, std::max<int64_t>(cols, 1));
}

/// C (+)= A * B on raw strided 2-D views, through sgemm when the views are
/// row-major, else by loops. `accumulate` false overwrites C.
void gemm(const float *a, int64_t as0, int64_t as1, const float *b, int64_t bs0,
          int64_t bs1, float *c, int64_t cs0, int64_t cs1, int64_t m, int64_t n,
          int64_t k, bool accumulate = true) {
  if (m == 0 || n == 0)
    return;
  int64_t lda = leadingDim(as0, as1, k), ldb = leadingDim(bs0, bs1, n),
          ldc = leadingDim(cs0, cs1, n);
  // B may be a transposed view (weights stored output-major).
  bool transB = ldb < 0 && leadingDim(bs1, bs0, k) > 0;
  if (transB)
    ldb = leadingDim(bs1, bs0, k);
  if (k > 0 && lda > 0 && ldb > 0 && ldc > 0)
    return denseGemm(a, lda, b, ldb, transB, m, n, k, c, ldc, accumulate);
  if (!accumulate)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        c[i * cs0 + j * cs1] = 0.0f;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) {
      float av = a[i * as0 + p * as1];
      for (int64_t j = 0; j < n; ++j)
        c[i * cs0 + j * cs1] += av * b[p * bs0 + j * bs1];
    }
}

} // namespace

void sparq::kernels::matmulF32(F32x2 *a, F32x2 *b, F32x2 *c) {
  gemm(a->data(), a->strides[0], a->strides[1], b->data(), b->strides[0],
       b->strides[1], c->data(), c->strides[0], c->strides[1], c->sizes[0],
       c->sizes[1], a->sizes[1]);
}

void sparq::kernels::matmulF32Panels(F32x2 *a, F32x3 *panels, F32x2 *c) {
  int64_t m = c->sizes[0], n = c->sizes[1], k = a->sizes[1];
  int64_t lda = leadingDim(a->strides[0], a->strides[1], k),
          ldc = leadingDim(c->strides[0], c->strides[1], n);
  const float *p = panels->data();
  if (m == 0 || n == 0)
    return;
  if (lda > 0 && ldc > 0)
    return gemmF32Panels(a->data(), lda, p, m, n, k, c->data(), ldc,
                         /*accumulate=*/true);
  // Strided views of A or C: by loops.
  const float *av = a->data();
  float *cv = c->data();
  int64_t width = panels->sizes[2];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t q = 0; q < k; ++q) {
      float x = av[i * a->strides[0] + q * a->strides[1]];
      for (int64_t j = 0; j < n; ++j)
        cv[i * c->strides[0] + j * c->strides[1]] +=
            x * p[(j / width * k + q) * width + j % width];
    }
}

void sparq::kernels::batchMatmulF32(F32x3 *a, F32x3 *b, F32x3 *c) {
  for (int64_t i = 0; i < c->sizes[0]; ++i)
    gemm(a->data() + i * a->strides[0], a->strides[1], a->strides[2],
         b->data() + i * b->strides[0], b->strides[1], b->strides[2],
         c->data() + i * c->strides[0], c->strides[1], c->strides[2],
         c->sizes[1], c->sizes[2], a->sizes[2]);
}

void sparq::kernels::clampRows(float *o, int64_t rows, int64_t rowStride,
                               int64_t cols, float lo, float hi) {
  if (lo == -INFINITY && hi == INFINITY)
    return;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      o[r * rowStride + j] = std::min(std::max(o[r * rowStride + j], lo), hi);
}

void sparq::kernels::addRowBias(float *o, int64_t rows, int64_t rowStride,
                                int64_t cols, const float *bias,
                                bool overwrite) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      o[r * rowStride + j] =
          (overwrite ? 0.0f : o[r * rowStride + j]) + bias[r];
}

void sparq::kernels::conv2dNchwF32(F32x4 *in, F32x4 *w, F32x4 *out,
                                   const ConvParams &p) {
  int64_t c = in->sizes[1], f = w->sizes[0], kh = w->sizes[2], kw = w->sizes[3],
          k = c * kh * kw;
  const float *wdata = w->data();
  bool wContiguous = w->strides[3] == 1 && w->strides[2] == kw &&
                     w->strides[1] == kh * kw && w->strides[0] == k;
  std::vector<float> wPacked;
  if (!wContiguous) {
    wPacked.resize(f * k);
    for (int64_t fi = 0; fi < f; ++fi)
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            wPacked[((fi * c + ci) * kh + y) * kw + x] =
                wdata[fi * w->strides[0] + ci * w->strides[1] +
                      y * w->strides[2] + x * w->strides[3]];
    wdata = wPacked.data();
  }
  conv2dNchwF32Rows(in, wdata, f, kh, kw, out, p);
}

void sparq::kernels::conv2dNchwF32Rows(F32x4 *in, const float *w, int64_t f,
                                       int64_t kh, int64_t kw, F32x4 *out,
                                       const ConvParams &p) {
  if (convPhaseGemmPays(kh, kw, out->sizes[2], out->sizes[3], p))
    return convPhaseGemm(in, w, f, kh, kw, out, p);
  int64_t k = in->sizes[1] * kh * kw;
  convIm2col(in, f, kh, kw, out, p,
             [&](const float *bmat, int64_t bs0, float *o, int64_t ldo,
                 int64_t cols, bool accumulate, const float *bias, float lo,
                 float hi) {
               denseGemm(w, k, bmat, bs0, false, f, cols, k, o, ldo, accumulate,
                         bias, lo, hi);
             });
}

void sparq::kernels::convIm2col(F32x4 *in, int64_t f, int64_t kh, int64_t kw,
                                F32x4 *out, const ConvParams &p,
                                const ConvGemm &mm) {
  int64_t n = in->sizes[0], c = in->sizes[1], h = in->sizes[2],
          wd = in->sizes[3];
  int64_t oh = out->sizes[2], ow = out->sizes[3];
  int64_t k = c * kh * kw, cols = oh * ow;
  int64_t sh = p.strideH, sw = p.strideW, dh = p.dilationH, dw = p.dilationW;
  bool pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && p.padTop == 0 &&
                   p.padLeft == 0 && h == oh && wd == ow;
  // Kept between calls: a fresh multi-megabyte buffer per convolution costs
  // an mmap and page faults each time.
  static thread_local std::vector<float> colBuf;
  for (int64_t b = 0; b < n; ++b) {
    const float *x = in->data() + b * in->strides[0];
    const float *bmat;
    int64_t bs0;
    if (pointwise && in->strides[3] == 1 && in->strides[2] == wd) {
      // A 1x1 convolution is a GEMM over the input as is.
      bmat = x;
      bs0 = in->strides[1];
    } else {
      // im2col: rows (c, ky, kx), columns (oy, ox); taps that fall in the
      // padding read as zeros.
      colBuf.resize(k * cols);
      float *colData = colBuf.data();
      int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / (k / c * cols));
      parallelFor(c, grain, [&](int64_t c0, int64_t c1) {
        for (int64_t ci = c0; ci < c1; ++ci)
          for (int64_t y = 0; y < kh; ++y)
            for (int64_t xk = 0; xk < kw; ++xk) {
              float *row = colData + ((ci * kh + y) * kw + xk) * cols;
              int64_t xoff = xk * dw - p.padLeft;
              // Output columns whose input column is inside [0, wd).
              int64_t ox0 = xoff >= 0 ? 0 : (-xoff + sw - 1) / sw;
              int64_t ox1 =
                  wd - 1 - xoff < 0
                      ? 0
                      : std::min<int64_t>(ow, (wd - 1 - xoff) / sw + 1);
              ox0 = std::min(ox0, ox1);
              for (int64_t oy = 0; oy < oh; ++oy) {
                float *dst = row + oy * ow;
                int64_t iy = oy * sh + y * dh - p.padTop;
                if (iy < 0 || iy >= h) {
                  std::memset(dst, 0, ow * sizeof(float));
                  continue;
                }
                const float *src =
                    x + ci * in->strides[1] + iy * in->strides[2];
                std::fill(dst, dst + ox0, 0.0f);
                std::fill(dst + ox1, dst + ow, 0.0f);
                int64_t step = sw * in->strides[3];
                const float *s0 = src + (ox0 * sw + xoff) * in->strides[3];
                if (step == 1)
                  std::memcpy(dst + ox0, s0, (ox1 - ox0) * sizeof(float));
                else
                  for (int64_t ox = ox0; ox < ox1; ++ox)
                    dst[ox] = s0[(ox - ox0) * step];
              }
            }
      });
      bmat = colBuf.data();
      bs0 = cols;
    }
    float *o = out->data() + b * out->strides[0];
    // out[F, OH*OW] (+)= W[F, K] * cols[K, OH*OW].
    bool oContiguous = out->strides[3] == 1 && out->strides[2] == ow;
    if (oContiguous) {
      mm(bmat, bs0, o, out->strides[1], cols, p.accumulate, p.bias, p.lo, p.hi);
    } else {
      std::vector<float> tmp(f * cols, 0.0f);
      mm(bmat, bs0, tmp.data(), cols, cols, false, p.bias, -INFINITY, INFINITY);
      for (int64_t fi = 0; fi < f; ++fi)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            float &r = o[fi * out->strides[1] + oy * out->strides[2] +
                         ox * out->strides[3]];
            float v = (p.accumulate ? r : 0.0f) + tmp[(fi * oh + oy) * ow + ox];
            r = std::min(std::max(v, p.lo), p.hi);
          }
    }
  }
}

namespace {
/// One output row of a depthwise convolution with a KHxKW kernel known at
/// compile time, for output columns [ox0, ox1) whose taps are all inside the
/// input row: the taps accumulate in a register and the row is stored once,
/// so the loop over ox vectorizes (contiguous loads for stride 1).
template <int KH, int KW, int S>
__attribute__((always_inline)) inline void
depthwiseRow(const float *__restrict x, int64_t rowStride,
             const float *__restrict w, float *__restrict dst, int64_t ox0,
             int64_t ox1, int64_t dh, int64_t dw, bool accumulate, float bias,
             float lo, float hi) {
  // Chunks of output columns accumulate tap by tap in a local buffer: each
  // tap is one contiguous (S = 1) multiply-add loop that vectorizes.
  constexpr int64_t kChunk = 64;
  alignas(64) float acc[kChunk];
  for (int64_t c0 = ox0; c0 < ox1; c0 += kChunk) {
    int64_t len = std::min(kChunk, ox1 - c0);
    for (int64_t j = 0; j < len; ++j)
      acc[j] = (accumulate ? dst[c0 + j] : 0.0f) + bias;
    for (int ky = 0; ky < KH; ++ky)
      for (int kx = 0; kx < KW; ++kx) {
        const float *__restrict r = x + ky * dh * rowStride + kx * dw + c0 * S;
        float wv = w[ky * KW + kx];
        for (int64_t j = 0; j < len; ++j)
          acc[j] += wv * r[j * S];
      }
    for (int64_t j = 0; j < len; ++j) {
      float v = acc[j] < lo ? lo : acc[j];
      dst[c0 + j] = v > hi ? hi : v;
    }
  }
}

/// Images x channels [u0, u1) of a depthwise convolution; inlined into one
/// copy per instruction set (depthwisePlanes).
SPARQ_SIMD_INLINE inline void depthwisePlanesAt(F32x4 *in, MemRef<float, 3> *w,
                                                F32x4 *out, const ConvParams &p,
                                                int64_t u0, int64_t u1) {
  int64_t c = in->sizes[1], h = in->sizes[2], wd = in->sizes[3];
  int64_t kh = w->sizes[1], kw = w->sizes[2];
  int64_t oh = out->sizes[2], ow = out->sizes[3];
  int64_t sh = p.strideH, sw = p.strideW, dh = p.dilationH, dw = p.dilationW;
  int64_t is2 = in->strides[2], is3 = in->strides[3], os3 = out->strides[3];
  bool unit = is3 == 1 && os3 == 1 && w->strides[2] == 1 && w->strides[1] == kw;
  // Output columns whose every tap is inside the input: the fast path.
  int64_t ox0 = std::min<int64_t>(ow, (p.padLeft + sw - 1) / sw);
  int64_t lastTap = (kw - 1) * dw - p.padLeft;
  int64_t ox1 =
      wd - 1 - lastTap < 0
          ? ox0
          : std::max(ox0, std::min<int64_t>(ow, (wd - 1 - lastTap) / sw + 1));
  SimdLevel level = simdLevel();
  bool fast = unit && w->strides[0] == kh * kw && (sw == 1 || sw == 2) &&
              level >= SimdLevel::Avx2;
  auto planes = level >= SimdLevel::Avx512 ? &avx512::depthwisePlanes
                                           : &avx2::depthwisePlanes;
  if (fast) {
    // Runs of channels within one image: the scratch plane and the tap
    // offsets are set up once per run.
    for (int64_t u = u0; u < u1;) {
      int64_t b = u / c, ci = u % c, run = std::min(u1 - u, c - ci);
      planes(in->data() + b * in->strides[0] + ci * in->strides[1],
             in->strides[1], h, wd, is2, w->data() + ci * kh * kw, kh, kw,
             out->data() + b * out->strides[0] + ci * out->strides[1],
             out->strides[1], oh, ow, out->strides[2], p,
             p.bias ? p.bias + ci : nullptr, run);
      u += run;
    }
    return;
  }
  for (int64_t u = u0; u < u1; ++u) {
    int64_t b = u / c, ci = u % c;
    const float *x = in->data() + b * in->strides[0] + ci * in->strides[1];
    const float *wk = w->data() + ci * w->strides[0];
    float bias = p.bias ? p.bias[ci] : 0.0f;
    float *o = out->data() + b * out->strides[0] + ci * out->strides[1];
    for (int64_t oy = 0; oy < oh; ++oy) {
      float *dst = o + oy * out->strides[2];
      int64_t iy0 = oy * sh - p.padTop;
      bool rowsInside = iy0 >= 0 && iy0 + (kh - 1) * dh < h;
      // Slow path: any column, taps checked against the borders.
      auto general = [&](int64_t from, int64_t to) SPARQ_SIMD_INLINE {
        for (int64_t ox = from; ox < to; ++ox) {
          float acc = (p.accumulate ? dst[ox * os3] : 0.0f) + bias;
          for (int64_t y = 0; y < kh; ++y) {
            int64_t iy = iy0 + y * dh;
            if (iy < 0 || iy >= h)
              continue;
            for (int64_t xk = 0; xk < kw; ++xk) {
              int64_t ix = ox * sw + xk * dw - p.padLeft;
              if (ix < 0 || ix >= wd)
                continue;
              acc += wk[y * w->strides[1] + xk * w->strides[2]] *
                     x[iy * is2 + ix * is3];
            }
          }
          dst[ox * os3] = std::min(std::max(acc, p.lo), p.hi);
        }
      };
      if (!(unit && rowsInside && kh == 3 && kw == 3 && (sw == 1 || sw == 2))) {
        general(0, ow);
        continue;
      }
      general(0, ox0);
      const float *src = x + iy0 * is2 - p.padLeft;
      if (sw == 1)
        depthwiseRow<3, 3, 1>(src, is2, wk, dst, ox0, ox1, dh, dw, p.accumulate,
                              bias, p.lo, p.hi);
      else
        depthwiseRow<3, 3, 2>(src, is2, wk, dst, ox0, ox1, dh, dw, p.accumulate,
                              bias, p.lo, p.hi);
      general(ox1, ow);
    }
  }
}

void depthwisePlanes(F32x4 *in, MemRef<float, 3> *w, F32x4 *out,
                     const ConvParams &p, int64_t u0, int64_t u1) {
  sparq::withSimd(
      [&]() SPARQ_SIMD_INLINE { depthwisePlanesAt(in, w, out, p, u0, u1); });
}
} // namespace

DepthwiseScratch sparq::kernels::depthwiseScratch(int64_t h, int64_t w,
                                                  int64_t kh, int64_t kw,
                                                  int64_t oh, int64_t ow,
                                                  const ConvParams &p,
                                                  int64_t lanes) {
  int64_t sh = p.strideH, sw = p.strideW, dh = p.dilationH, dw = p.dilationW;
  auto lines = [&](int64_t n) { return (n + lanes - 1) / lanes * lanes; };
  int64_t ph = (oh - 1) * sh + (kh - 1) * dh + 1;
  int64_t pw = (ow - 1) * sw + (kw - 1) * dw + 1;
  DepthwiseScratch s;
  s.half = lines((pw + 1) / 2);
  s.ld = (sw == 2 ? 2 * s.half : lines(pw)) + lanes;
  static thread_local std::vector<float> scratch;
  static thread_local std::array<int64_t, 8> zeroedFor{};
  std::array<int64_t, 8> geometry = {ph,       s.ld,      h,  w,
                                     p.padTop, p.padLeft, sw, lanes};
  if (geometry != zeroedFor) {
    scratch.assign(ph * s.ld + 2 * lanes, 0.0f);
    zeroedFor = geometry;
  }
  s.pad = scratch.data() +
          (-(reinterpret_cast<uintptr_t>(scratch.data()) / sizeof(float)) &
           (lanes - 1));
  s.off.resize(kh * kw);
  for (int64_t ky = 0; ky < kh; ++ky)
    for (int64_t kx = 0; kx < kw; ++kx) {
      int64_t q = kx * dw; // the tap's padded column
      s.off[ky * kw + kx] =
          ky * dh * s.ld + (sw == 2 ? (q & 1) * s.half + q / 2 : q);
    }
  s.r0 = std::max<int64_t>(0, p.padTop);
  s.r1 = std::min<int64_t>(ph, p.padTop + h);
  s.c0 = std::max<int64_t>(0, p.padLeft);
  s.c1 = std::min<int64_t>(pw, p.padLeft + w);
  return s;
}

void sparq::kernels::depthwiseConv2dNchwF32(F32x4 *in, MemRef<float, 3> *w,
                                            F32x4 *out, const ConvParams &p) {
  int64_t planes = in->sizes[0] * in->sizes[1];
  int64_t work = out->sizes[2] * out->sizes[3] * w->sizes[1] * w->sizes[2];
  parallelFor(
      planes, std::max<int64_t>(1, (int64_t(1) << 14) / (work + 1)),
      [&](int64_t u0, int64_t u1) { depthwisePlanes(in, w, out, p, u0, u1); });
}

namespace {
/// max that keeps a NaN from either side (as arith.maximumf does).
inline float maxOf(float a, float b) { return a > b || a != a ? a : b; }
inline uint8_t maxOf(uint8_t a, uint8_t b) { return a > b ? a : b; }
inline int8_t maxOf(int8_t a, int8_t b) { return a > b ? a : b; }

/// Planes [q0, q1) of a max pool over elements of type T (its padding, the
/// identity of max, `lowest`), inlined into each SIMD level's copy. Its
/// parameters are plain locals: byte stores could alias a lambda's
/// captures, which would keep the loops from vectorizing.
template <typename T>
SPARQ_SIMD_INLINE inline void
maxPoolPlanes(const MemRef<T, 4> &in, int64_t kh, int64_t kw,
              const MemRef<T, 4> &out, const ConvParams &p, T lowest,
              int64_t q0, int64_t q1, T *__restrict row) {
  const int64_t c = in.sizes[1], h = in.sizes[2], w = in.sizes[3];
  const int64_t oh = out.sizes[2], ow = out.sizes[3];
  const int64_t is0 = in.strides[0], is1 = in.strides[1], is2 = in.strides[2],
                is3 = in.strides[3];
  const int64_t os0 = out.strides[0], os1 = out.strides[1],
                os2 = out.strides[2], os3 = out.strides[3];
  const int64_t sh = p.strideH, sw = p.strideW, dh = p.dilationH,
                dw = p.dilationW, pt = p.padTop, pl = p.padLeft;
  const bool acc = p.accumulate;
  const T *inData = in.aligned + in.offset;
  T *outData = out.aligned + out.offset;
  for (int64_t q = q0; q < q1; ++q) {
    const T *x = inData + q / c * is0 + q % c * is1;
    T *o = outData + q / c * os0 + q % c * os1;
    for (int64_t oy = 0; oy < oh; ++oy) {
      T *__restrict d = o + oy * os2;
      for (int64_t ox = 0; ox < ow; ++ox)
        row[ox] = acc ? d[ox * os3] : lowest;
      for (int64_t ky = 0; ky < kh; ++ky) {
        int64_t iy = oy * sh + ky * dh - pt;
        if (iy < 0 || iy >= h)
          continue;
        const T *src = x + iy * is2;
        for (int64_t kx = 0; kx < kw; ++kx) {
          // Outputs whose tap column is inside [0, w).
          int64_t off = kx * dw - pl;
          int64_t ox0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
          int64_t ox1 =
              w - 1 - off < 0 ? 0 : std::min(ow, (w - 1 - off) / sw + 1);
          const T *__restrict s = src + off * is3;
          if (is3 == 1 && sw == 1)
            for (int64_t ox = ox0; ox < ox1; ++ox)
              row[ox] = maxOf(s[ox], row[ox]);
          else
            for (int64_t ox = ox0; ox < ox1; ++ox)
              row[ox] = maxOf(s[ox * sw * is3], row[ox]);
        }
      }
      for (int64_t ox = 0; ox < ow; ++ox)
        d[ox * os3] = row[ox];
    }
  }
}

template <typename T>
void maxPool2dNchw(MemRef<T, 4> *in, int64_t kh, int64_t kw, MemRef<T, 4> *out,
                   const ConvParams &p, T lowest) {
  int64_t planes = in->sizes[0] * in->sizes[1];
  int64_t plane = out->sizes[2] * out->sizes[3];
  int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, plane));
  parallelFor(planes, grain, [&](int64_t q0, int64_t q1) {
    std::vector<T> row(out->sizes[3]);
    sparq::withSimd([&]() SPARQ_SIMD_INLINE {
      maxPoolPlanes<T>(*in, kh, kw, *out, p, lowest, q0, q1, row.data());
    });
  });
}
} // namespace

void sparq::kernels::maxPool2dNchwF32(F32x4 *in, int64_t kh, int64_t kw,
                                      F32x4 *out, const ConvParams &p) {
  maxPool2dNchw<float>(in, kh, kw, out, p, -INFINITY);
}

void sparq::kernels::maxPool2dNchwU8(MemRef<uint8_t, 4> *in, int64_t kh,
                                     int64_t kw, MemRef<uint8_t, 4> *out,
                                     const ConvParams &p) {
  maxPool2dNchw<uint8_t>(in, kh, kw, out, p, 0);
}

void sparq::kernels::maxPool2dNchwS8(MemRef<int8_t, 4> *in, int64_t kh,
                                     int64_t kw, MemRef<int8_t, 4> *out,
                                     const ConvParams &p) {
  maxPool2dNchw<int8_t>(in, kh, kw, out, p, -128);
}

const float *sparq::kernels::biasOf(F32x1 *bias, int64_t channels) {
  if (bias->sizes[0] == 0)
    return nullptr;
  // The lowering folds only contiguous biases of the right length.
  assert(bias->sizes[0] == channels && bias->strides[0] == 1);
  (void)channels;
  return bias->data();
}

ConvParams sparq::kernels::convParams(int64_t sh, int64_t sw, int64_t dh,
                                      int64_t dw, int64_t padTop,
                                      int64_t padLeft, int64_t accumulate,
                                      float lo, float hi) {
  ConvParams p;
  p.strideH = sh;
  p.strideW = sw;
  p.dilationH = dh;
  p.dilationW = dw;
  p.padTop = padTop;
  p.padLeft = padLeft;
  p.accumulate = accumulate != 0;
  p.lo = lo;
  p.hi = hi;
  return p;
}

extern "C" {
void _mlir_ciface_sparq_matmul_f32(F32x2 *a, F32x2 *b, F32x2 *c) {
  matmulF32(a, b, c);
}
// B in panels (DenseGemm.h: panelsF32), [ceil(N/64), K, 64].
void _mlir_ciface_sparq_matmul_f32_panels(F32x2 *a, F32x3 *b, F32x2 *c) {
  matmulF32Panels(a, b, c);
}
void _mlir_ciface_sparq_batch_matmul_f32(F32x3 *a, F32x3 *b, F32x3 *c) {
  batchMatmulF32(a, b, c);
}
// After input, filter and output: the bias (per output channel; empty for
// none), then strides (h, w), dilations (h, w), padding (top, left),
// accumulate, clamp (lo, hi); see ConvParams.
void _mlir_ciface_sparq_conv2d_nchw_f32(F32x4 *in, F32x4 *w, F32x4 *out,
                                        F32x1 *bias, int64_t sh, int64_t sw,
                                        int64_t dh, int64_t dw, int64_t pt,
                                        int64_t pl, int64_t acc, float lo,
                                        float hi) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, lo, hi);
  p.bias = biasOf(bias, w->sizes[0]);
  conv2dNchwF32(in, w, out, p);
}
// A grouped convolution on [N, G, C, H, W] views (weights [G, F, C, KH, KW],
// output [N, G, F, OH, OW]): the plain one on each group's channels, the
// groups in order (each splits over the threads as the plain one does);
// then as sparq_conv2d_nchw_f32, the bias per output channel of all groups.
void _mlir_ciface_sparq_grouped_conv2d_nchw_f32(
    MemRef<float, 5> *in, MemRef<float, 5> *w, MemRef<float, 5> *out,
    F32x1 *bias, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt,
    int64_t pl, int64_t acc, float lo, float hi) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, lo, hi);
  int64_t groups = w->sizes[0], perGroup = w->sizes[1];
  const float *b = biasOf(bias, groups * perGroup);
  for (int64_t g = 0; g < groups; ++g) {
    F32x4 x = sliceOf(*in, 1, g), wg = sliceOf(*w, 0, g),
          o = sliceOf(*out, 1, g);
    p.bias = b ? b + g * perGroup : nullptr;
    conv2dNchwF32(&x, &wg, &o, p);
  }
}
// Input, output, then the window (kh, kw), strides (h, w), dilations
// (h, w), padding (top, left), accumulate.
void _mlir_ciface_sparq_maxpool2d_nchw_f32(F32x4 *in, F32x4 *out, int64_t kh,
                                           int64_t kw, int64_t sh, int64_t sw,
                                           int64_t dh, int64_t dw, int64_t pt,
                                           int64_t pl, int64_t acc) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, -INFINITY, INFINITY);
  maxPool2dNchwF32(in, kh, kw, out, p);
}
// The same on uint8 and int8 (quantized activations; the IR's i8 either
// way).
void _mlir_ciface_sparq_maxpool2d_nchw_u8(MemRef<uint8_t, 4> *in,
                                          MemRef<uint8_t, 4> *out, int64_t kh,
                                          int64_t kw, int64_t sh, int64_t sw,
                                          int64_t dh, int64_t dw, int64_t pt,
                                          int64_t pl, int64_t acc) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, 0, 0);
  maxPool2dNchwU8(in, kh, kw, out, p);
}
void _mlir_ciface_sparq_maxpool2d_nchw_s8(MemRef<int8_t, 4> *in,
                                          MemRef<int8_t, 4> *out, int64_t kh,
                                          int64_t kw, int64_t sh, int64_t sw,
                                          int64_t dh, int64_t dw, int64_t pt,
                                          int64_t pl, int64_t acc) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, 0, 0);
  maxPool2dNchwS8(in, kh, kw, out, p);
}
void _mlir_ciface_sparq_depthwise_conv2d_nchw_f32(
    F32x4 *in, F32x3 *w, F32x4 *out, F32x1 *bias, int64_t sh, int64_t sw,
    int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t acc, float lo,
    float hi) {
  ConvParams p = convParams(sh, sw, dh, dw, pt, pl, acc, lo, hi);
  p.bias = biasOf(bias, w->sizes[0]);
  depthwiseConv2dNchwF32(in, w, out, p);
}
}

void sparq::kernels::forEachHostKernel(
    const std::function<void(const char *, void *)> &fn) {
  // The lowering's malloc/free: large buffers are reused between runs.
  fn("malloc", reinterpret_cast<void *>(&cachedMalloc));
  fn("free", reinterpret_cast<void *>(&cachedFree));
  fn("_mlir_ciface_sparq_matmul_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_matmul_f32));
  fn("_mlir_ciface_sparq_matmul_f32_panels",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_matmul_f32_panels));
  fn("_mlir_ciface_sparq_batch_matmul_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_batch_matmul_f32));
  fn("_mlir_ciface_sparq_conv2d_nchw_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_conv2d_nchw_f32));
  fn("_mlir_ciface_sparq_grouped_conv2d_nchw_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_grouped_conv2d_nchw_f32));
  fn("_mlir_ciface_sparq_depthwise_conv2d_nchw_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_depthwise_conv2d_nchw_f32));
  fn("_mlir_ciface_sparq_maxpool2d_nchw_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_maxpool2d_nchw_f32));
  fn("_mlir_ciface_sparq_maxpool2d_nchw_u8",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_maxpool2d_nchw_u8));
  fn("_mlir_ciface_sparq_maxpool2d_nchw_s8",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_maxpool2d_nchw_s8));
  fn("_mlir_ciface_sparq_bev_pool",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_bev_pool));
  fn("_mlir_ciface_sparq_correlation",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_correlation));
  fn("_mlir_ciface_sparq_roi_align",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_roi_align));
  fn("_mlir_ciface_sparq_topk_ranks_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_topk_ranks_f32));
  fn("_mlir_ciface_sparq_nonzero",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_nonzero));
  fn("_mlir_ciface_sparq_non_max_suppression",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_non_max_suppression));
  fn("_mlir_ciface_sparq_unique_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_unique_f32));
  fn("_mlir_ciface_sparq_unique_i64",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_unique_i64));
  forEachPackedKernel(fn);
  forEachQuantizedKernel(fn);
  forEachQuantizedElementwiseKernel(fn);
}
