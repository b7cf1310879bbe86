//===- Depthwise.h - depthwise convolution planes, by instruction set -----===//
//
// Internal to the kernels: HostKernels.cpp's depthwiseConv2dNchwF32 calls
// the AVX-512 plane (DepthwiseAvx512.cpp) or the AVX2 one
// (DepthwiseAvx2.cpp) at those SIMD levels, its portable loops otherwise.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_DEPTHWISE_H
#define SPARQ_RUNTIME_KERNELS_DEPTHWISE_H

#include "runtime/kernels/HostKernels.h"

namespace sparq::kernels::avx512 {
/// For each of `planes` planes (inPlaneStride / outPlaneStride floats
/// apart, kernels wk[plane][KH * KW], biases bias[plane] or none):
/// out[OH, OW] (+)= the plane x[H, W] convolved with its kernel (rows of x
/// and out `rowStride` / `outRowStride` apart, columns contiguous); strides
/// (p.strideW) 1 or 2, any dilation and padding.
void depthwisePlanes(const float *x, int64_t inPlaneStride, int64_t h,
                     int64_t w, int64_t rowStride, const float *wk, int64_t kh,
                     int64_t kw, float *out, int64_t outPlaneStride, int64_t oh,
                     int64_t ow, int64_t outRowStride, const ConvParams &p,
                     const float *bias, int64_t planes);
} // namespace sparq::kernels::avx512

namespace sparq::kernels::avx2 {
/// avx512::depthwisePlanes's contract, with AVX2 + FMA.
void depthwisePlanes(const float *x, int64_t inPlaneStride, int64_t h,
                     int64_t w, int64_t rowStride, const float *wk, int64_t kh,
                     int64_t kw, float *out, int64_t outPlaneStride, int64_t oh,
                     int64_t ow, int64_t outRowStride, const ConvParams &p,
                     const float *bias, int64_t planes);
} // namespace sparq::kernels::avx2

#endif // SPARQ_RUNTIME_KERNELS_DEPTHWISE_H
