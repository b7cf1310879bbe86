//===- QuantizedConv.h - integer convolution (u8 x s8 -> i32) ---*- C++ -*-===//
//
// The integer convolution of QDQ and QLinearConv models: uint8 activations
// with a zero point, int8 weights (symmetric, as onnxruntime's quantizer
// makes them), exact int32 sums. The input is im2col'd into groups of four
// consecutive k per column (the layout of AVX-512 VNNI's vpdpbusd, which
// multiplies four u8 by four s8 and adds them into one int32 lane); AVX2
// widens to 16 bits and uses vpmaddwd, the portable level plain loops. All
// exact, so every level and thread count gives the same sums.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_QUANTIZEDCONV_H
#define SPARQ_RUNTIME_KERNELS_QUANTIZEDCONV_H

#include "runtime/kernels/HostKernels.h"

#include <cstdint>

namespace sparq::kernels {

using U8x4 = MemRef<uint8_t, 4>;
using I8x4 = MemRef<int8_t, 4>;
using I32x4 = MemRef<int32_t, 4>;

/// out[N, F, OH, OW] (+)= sum over taps of (x - xZero) * w, for x[N, C, H, W]
/// uint8 and w[F, C, KH, KW] int8: taps in the padding read as xZero (add
/// nothing). Strides, dilations, padding and accumulate from `p` (its clamp
/// and bias are not used).
void qconv2dNchwU8S8(U8x4 *x, I8x4 *w, I32x4 *out, int32_t xZero,
                     const ConvParams &p);

/// The convolution of int8 x int8 -> int32 as linalg.conv_2d_nchw_fchw on
/// those types defines it (the IR's integer conv, which sparq's QDQ import
/// makes): out[N, F, OH, OW] (+)= sum over taps of x * w, x[N, C, H, W] and
/// w int8, taps in the padding reading `padValue`. Runs on the u8 x s8 GEMM
/// with x + 128 (a sign flip of its bits) and 128 * sum w taken off.
void qconv2dNchwS8S8(I8x4 *x, I8x4 *w, I32x4 *out, int32_t padValue,
                     const ConvParams &p);

/// The integer GEMM behind them, exposed for tests and benchmarks:
/// C[M, N] = A[M, K4] * B, A int8 row-major with K4 (a multiple of 4)
/// columns, B uint8 in quads, the 4 bytes of k = 4q..4q+3 of column n at
/// b[(q * n_total + n) * 4]; C int32 with row stride ldc, overwritten.
void gemmU8S8(const int8_t *a, const uint8_t *b, int64_t m, int64_t n,
              int64_t k4, int32_t *c, int64_t ldc);

/// Symbols of the integer kernels for the JIT, as forEachHostKernel.
void forEachQuantizedKernel(
    const std::function<void(const char *, void *)> &fn);

namespace avx512vnni {
/// Rows [r0, r1) x columns [j0, j1) of gemmU8S8 (j1 - j0 <= 64).
void gemmU8S8Tile(const int8_t *a, const uint8_t *b, int64_t n, int64_t k4,
                  int64_t r0, int64_t r1, int64_t j0, int64_t j1, int32_t *c,
                  int64_t ldc);
} // namespace avx512vnni
namespace avx2 {
/// avx512vnni::gemmU8S8Tile's contract with AVX2 (j1 - j0 <= 16).
void gemmU8S8Tile(const int8_t *a, const uint8_t *b, int64_t n, int64_t k4,
                  int64_t r0, int64_t r1, int64_t j0, int64_t j1, int32_t *c,
                  int64_t ldc);
} // namespace avx2

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_QUANTIZEDCONV_H
