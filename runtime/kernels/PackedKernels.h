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

/// Instruction sets of the hand-vectorized GEMV kernels, picked at run time.
/// Avx512Vnni: AVX-512 with VBMI and VNNI, for the GEMVs on int8
/// activations.
enum class SimdLevel { Portable, Avx2, Avx512, Avx512Vnni };

/// Caps the instruction set the hand-vectorized kernels (packed GEMVs, the
/// dense convolution GEMM, depthwise planes) use at `max`: tests and
/// benchmarks exercise every level a machine has. Returns the level they use
/// now.
SimdLevel limitSimd(SimdLevel max);
/// The level they use now: what the CPU has, capped by limitSimd.
SimdLevel simdLevel();

/// Symbols of the packed kernels for the JIT, as forEachHostKernel.
void forEachPackedKernel(const std::function<void(const char *, void *)> &fn);

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_PACKEDKERNELS_H
