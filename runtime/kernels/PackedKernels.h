//===- PackedKernels.h - kernels on compressed weights ----------*- C++ -*-===//
//
// Matrix products whose weight stays in its packed form (runtime/formats):
// sparse formats walk their non-zeros, quantized ones decode codes in
// registers. Where a format has no direct kernel for a shape (a quantized
// weight times a wide matrix), rows are decoded a few at a time into a small
// buffer and multiplied by sgemm; the weight is never expanded whole.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_PACKEDKERNELS_H
#define SPARQ_RUNTIME_KERNELS_PACKEDKERNELS_H

#include "runtime/formats/Packed.h"
#include "runtime/formats/Simd.h"
#include "runtime/kernels/HostKernels.h"

namespace sparq::kernels {

/// Y[rows, n] (+)= W[rows, cols] * X[cols, n]; X and Y row-major with row
/// strides ldx, ldy.
void packedSpmm(const formats::PackedView &w, const float *x, int64_t ldx,
                float *y, int64_t ldy, int64_t n, bool accumulate);

/// y[rows] (+)= W[rows, cols] * x[cols].
void packedGemv(const formats::PackedView &w, const float *x, float *y,
                bool accumulate);

/// Y[m, rows] (+)= A[m, cols] * W^T: a linear layer on m rows of A (row
/// stride lda), the output with row stride ldy.
void packedLinear(const formats::PackedView &w, const float *a, int64_t lda,
                  float *y, int64_t ldy, int64_t m, bool accumulate);

/// out[N,K,OH,OW] (+)= conv(in, W) for a packed W[K, C*KH*KW]: im2col and
/// packedSpmm.
void packedConv2dNchwF32(const formats::PackedView &w, F32x4 *in, F32x4 *out,
                         int64_t kh, int64_t kw, const ConvParams &p);

/// The instruction set kernels run at (runtime/formats/Simd.h): the packed
/// GEMVs, the dense GEMM, depthwise planes and every loop vectorized by
/// withSimd. Avx512Vnni: the GEMVs on int8 activations.
using sparq::limitSimd;
using sparq::SimdLevel;
using sparq::simdLevel;

/// Symbols of the packed kernels for the JIT, as forEachHostKernel.
void forEachPackedKernel(const std::function<void(const char *, void *)> &fn);

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_PACKEDKERNELS_H
