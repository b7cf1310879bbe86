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

#include <cstdint>
#include <vector>

namespace sparq::kernels {
/// The zero-bordered scratch plane both SIMD levels copy each input plane
/// into, so that every tap of every output is a unit-stride vector load: the
/// padded plane's rows an output reads, its columns a tap reads (for stride
/// 2, even columns then odd ones, `half` floats on), rows `ld` floats apart
/// plus `lanes` so that the last vectors of a row may read past it, rows
/// starting on `lanes`-float boundaries. One per thread, zeroed only when
/// its geometry changes: every plane's copy writes the same elements, so
/// the zeros around them survive from plane to plane and call to call.
struct DepthwiseScratch {
  float *pad;
  int64_t ld, half;
  /// Each tap's offset from its output's first tap.
  std::vector<int64_t> off;
  /// Input rows that land in the plane, and their padded columns.
  int64_t r0, r1, c0, c1;
};
DepthwiseScratch depthwiseScratch(int64_t h, int64_t w, int64_t kh, int64_t kw,
                                  int64_t oh, int64_t ow, const ConvParams &p,
                                  int64_t lanes);
} // namespace sparq::kernels

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
