//===- HostKernels.cpp - library kernels the host code calls --------------===//

#include "runtime/kernels/HostKernels.h"

#include <cblas.h>

#include <algorithm>
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

/// C += A * B on raw strided 2-D views, through sgemm when the views are
/// row-major, else by loops.
void gemmAccumulate(const float *a, int64_t as0, int64_t as1, const float *b,
                    int64_t bs0, int64_t bs1, float *c, int64_t cs0,
                    int64_t cs1, int64_t m, int64_t n, int64_t k) {
  if (m == 0 || n == 0 || k == 0)
    return;
  int64_t lda = leadingDim(as0, as1, k), ldb = leadingDim(bs0, bs1, n),
          ldc = leadingDim(cs0, cs1, n);
  if (lda > 0 && ldb > 0 && ldc > 0) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a,
                lda, b, ldb, 1.0f, c, ldc);
    return;
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) {
      float av = a[i * as0 + p * as1];
      for (int64_t j = 0; j < n; ++j)
        c[i * cs0 + j * cs1] += av * b[p * bs0 + j * bs1];
    }
}

} // namespace

void sparq::kernels::matmulF32(F32x2 *a, F32x2 *b, F32x2 *c) {
  gemmAccumulate(a->data(), a->strides[0], a->strides[1], b->data(),
                 b->strides[0], b->strides[1], c->data(), c->strides[0],
                 c->strides[1], c->sizes[0], c->sizes[1], a->sizes[1]);
}

void sparq::kernels::batchMatmulF32(F32x3 *a, F32x3 *b, F32x3 *c) {
  for (int64_t i = 0; i < c->sizes[0]; ++i)
    gemmAccumulate(a->data() + i * a->strides[0], a->strides[1], a->strides[2],
                   b->data() + i * b->strides[0], b->strides[1], b->strides[2],
                   c->data() + i * c->strides[0], c->strides[1], c->strides[2],
                   c->sizes[1], c->sizes[2], a->sizes[2]);
}

void sparq::kernels::conv2dNchwF32(F32x4 *in, F32x4 *w, F32x4 *out,
                                   int64_t sh, int64_t sw, int64_t dh,
                                   int64_t dw) {
  int64_t n = in->sizes[0], c = in->sizes[1];
  int64_t f = w->sizes[0], kh = w->sizes[2], kw = w->sizes[3];
  int64_t oh = out->sizes[2], ow = out->sizes[3];
  int64_t k = c * kh * kw, cols = oh * ow;
  const float *wd = w->data();
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
                wd[fi * w->strides[0] + ci * w->strides[1] +
                   y * w->strides[2] + x * w->strides[3]];
    wd = wPacked.data();
  }
  bool pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1;
  std::vector<float> cols_;
  for (int64_t b = 0; b < n; ++b) {
    const float *x = in->data() + b * in->strides[0];
    const float *bmat;
    int64_t bs0;
    if (pointwise && in->strides[3] == 1 && in->strides[2] == in->sizes[3] &&
        in->sizes[2] == oh && in->sizes[3] == ow) {
      // A 1x1 convolution is a GEMM over the input as is.
      bmat = x;
      bs0 = in->strides[1];
    } else {
      // im2col: rows (c, ky, kx), columns (oy, ox).
      cols_.resize(k * cols);
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t xk = 0; xk < kw; ++xk) {
            float *row = cols_.data() + ((ci * kh + y) * kw + xk) * cols;
            for (int64_t oy = 0; oy < oh; ++oy) {
              const float *src = x + ci * in->strides[1] +
                                 (oy * sh + y * dh) * in->strides[2] +
                                 xk * dw * in->strides[3];
              float *dst = row + oy * ow;
              int64_t step = sw * in->strides[3];
              if (step == 1)
                std::memcpy(dst, src, ow * sizeof(float));
              else
                for (int64_t ox = 0; ox < ow; ++ox)
                  dst[ox] = src[ox * step];
            }
          }
      bmat = cols_.data();
      bs0 = cols;
    }
    float *o = out->data() + b * out->strides[0];
    // out[F, OH*OW] += W[F, K] * cols[K, OH*OW].
    bool oContiguous = out->strides[3] == 1 && out->strides[2] == ow;
    if (oContiguous) {
      gemmAccumulate(wd, k, 1, bmat, bs0, 1, o, out->strides[1], 1, f, cols,
                     k);
    } else {
      std::vector<float> tmp(f * cols, 0.0f);
      gemmAccumulate(wd, k, 1, bmat, bs0, 1, tmp.data(), cols, 1, f, cols, k);
      for (int64_t fi = 0; fi < f; ++fi)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox)
            o[fi * out->strides[1] + oy * out->strides[2] +
              ox * out->strides[3]] += tmp[(fi * oh + oy) * ow + ox];
    }
  }
}

void sparq::kernels::depthwiseConv2dNchwF32(F32x4 *in, MemRef<float, 3> *w,
                                            F32x4 *out, int64_t sh, int64_t sw,
                                            int64_t dh, int64_t dw) {
  int64_t n = in->sizes[0], c = in->sizes[1];
  int64_t kh = w->sizes[1], kw = w->sizes[2];
  int64_t oh = out->sizes[2], ow = out->sizes[3];
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ci = 0; ci < c; ++ci) {
      const float *x = in->data() + b * in->strides[0] + ci * in->strides[1];
      const float *wk = w->data() + ci * w->strides[0];
      float *o = out->data() + b * out->strides[0] + ci * out->strides[1];
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t xk = 0; xk < kw; ++xk) {
          float wv = wk[y * w->strides[1] + xk * w->strides[2]];
          for (int64_t oy = 0; oy < oh; ++oy) {
            const float *src = x + (oy * sh + y * dh) * in->strides[2] +
                               xk * dw * in->strides[3];
            float *dst = o + oy * out->strides[2];
            int64_t is = sw * in->strides[3], os = out->strides[3];
            // The common unit-stride case vectorizes.
            if (is == 1 && os == 1)
              for (int64_t ox = 0; ox < ow; ++ox)
                dst[ox] += wv * src[ox];
            else
              for (int64_t ox = 0; ox < ow; ++ox)
                dst[ox * os] += wv * src[ox * is];
          }
        }
    }
}

void sparq::kernels::setNumThreads(int threads) {
  openblas_set_num_threads(threads);
}

extern "C" {
void _mlir_ciface_sparq_matmul_f32(F32x2 *a, F32x2 *b, F32x2 *c) {
  matmulF32(a, b, c);
}
void _mlir_ciface_sparq_batch_matmul_f32(F32x3 *a, F32x3 *b, F32x3 *c) {
  batchMatmulF32(a, b, c);
}
void _mlir_ciface_sparq_conv2d_nchw_f32(F32x4 *in, F32x4 *w, F32x4 *out,
                                        int64_t sh, int64_t sw, int64_t dh,
                                        int64_t dw) {
  conv2dNchwF32(in, w, out, sh, sw, dh, dw);
}
void _mlir_ciface_sparq_depthwise_conv2d_nchw_f32(F32x4 *in, F32x3 *w,
                                                  F32x4 *out, int64_t sh,
                                                  int64_t sw, int64_t dh,
                                                  int64_t dw) {
  depthwiseConv2dNchwF32(in, w, out, sh, sw, dh, dw);
}
}

void sparq::kernels::forEachHostKernel(
    const std::function<void(const char *, void *)> &fn) {
  fn("_mlir_ciface_sparq_matmul_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_matmul_f32));
  fn("_mlir_ciface_sparq_batch_matmul_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_batch_matmul_f32));
  fn("_mlir_ciface_sparq_conv2d_nchw_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_conv2d_nchw_f32));
  fn("_mlir_ciface_sparq_depthwise_conv2d_nchw_f32",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_depthwise_conv2d_nchw_f32));
}
