//===- QuantizedConv.h - integer convolution (u8 x s8 -> i32) ---*- C++ -*-===//
//
// The integer convolution of QDQ and QLinearConv models: uint8 activations
// with a zero point, int8 weights (symmetric, as onnxruntime's quantizer
// makes them), exact int32 sums. The GEMM multiplies groups of four
// consecutive k (the layout of AVX-512 VNNI's vpdpbusd, which multiplies
// four u8 by four s8 and adds them into one int32 lane); AVX2 widens to 16
// bits and uses vpmaddwd, the portable level plain loops. All exact, so
// every level and thread count gives the same sums.
//
// No im2col: the input is copied once, padded, with four channels
// interleaved per 32-bit word, split into phase planes by the stride (one
// plane at stride 1, four at stride 2), and each tap of the filter is a
// fixed offset into its phase plane (outputs are computed on the planes'
// width; the extra columns are dropped). The sums either land in int32 or
// are requantized to bytes in the same pass (the QDQ epilogue: scale,
// offset, clamp, round half to even), while the block is in cache.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_QUANTIZEDCONV_H
#define SPARQ_RUNTIME_KERNELS_QUANTIZEDCONV_H

#include "runtime/formats/ConvWeightsS8.h"
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
/// with x + 128 (a sign flip of its bits) and 128 * sum w taken off. With
/// `biased`, x holds x + 128 as uint8 already (the source of the sign flip
/// the QDQ import puts before the conv).
void qconv2dNchwS8S8(I8x4 *x, I8x4 *w, I32x4 *out, int32_t padValue,
                     const ConvParams &p, bool biased = false);

/// qconv2dNchwS8S8 on weights packed already (formats/ConvWeightsS8.h): the
/// int32 sums of a conv whose output no QuantizeLinear takes (a
/// MatMulInteger's, ConvInteger's).
void qconv2dNchwS8S8Packed(I8x4 *x, const formats::ConvWeightsS8 &w, I32x4 *out,
                           int32_t padValue, const ConvParams &p, bool biased);

/// The requantization that follows a QDQ convolution, per output channel f:
/// out = round-half-even(clamp(float(sum - shift[f]) * scale[f] + offset[f],
/// lo, hi)) as a byte (lo and hi integers within uint8's or int8's range).
struct Requantize {
  const int32_t *shift;
  const float *scale, *offset;
  float lo, hi;
};

/// qconv2dNchwS8S8 with its sums requantized by `r` into bytes, the
/// weights packed already (formats/ConvWeightsS8.h).
void qconv2dNchwS8S8Requantized(I8x4 *x, const formats::ConvWeightsS8 &w,
                                I8x4 *out, int32_t padValue,
                                const ConvParams &p, bool biased,
                                const Requantize &r);

/// The depthwise form: out[N, C, OH, OW] = the requantized (by `r`, per
/// channel) sum over taps of x * w[c], x int8 (or biased uint8) with taps in
/// the padding reading `padValue`, w[C, KH, KW] int8. Exact int32 sums.
void qdepthwiseNchwS8S8Requantized(I8x4 *x, MemRef<int8_t, 3> *w, I8x4 *out,
                                   int32_t padValue, const ConvParams &p,
                                   bool biased, const Requantize &r);

/// The B operand of the integer GEMM: uint8 quads, tap by tap. Row k =
/// (t * quads + q) * 4 + i of B at column j is byte i of the 4-byte word at
/// b + (q * quadStride + j + tapOffsets[t]) * 4: a convolution's phase
/// planes have one offset per filter tap; a plain matrix is one tap at
/// offset 0 (quadStride = its columns).
struct QuadPanel {
  const uint8_t *b;
  int64_t quads, quadStride;
  const int64_t *tapOffsets;
  int64_t taps;
};

/// The integer GEMM behind them, exposed for tests and benchmarks:
/// C[M, N] = A[M, K4] * B, A int8 row-major with K4 (a multiple of 4)
/// columns, B uint8 in quads, the 4 bytes of k = 4q..4q+3 of column n at
/// b[(q * n_total + n) * 4] (readable up to 256 bytes past its end); C
/// int32 with row stride ldc, overwritten.
void gemmU8S8(const int8_t *a, const uint8_t *b, int64_t m, int64_t n,
              int64_t k4, int32_t *c, int64_t ldc);

/// Symbols of the integer kernels for the JIT, as forEachHostKernel.
void forEachQuantizedKernel(
    const std::function<void(const char *, void *)> &fn);

// Tiles: `rows` rows of A (row stride lda = taps * quads * 4) times columns
// [j0, j0 + cols) of the panel into c (row stride ldc; c[0] is column j0).
// They read whole vectors: the panel must be readable 64 columns past j0.
namespace avx512vnni {
/// Up to 64 columns.
void gemmU8S8Tile(const int8_t *a, int64_t lda, const QuadPanel &p,
                  int64_t rows, int64_t j0, int64_t cols, int32_t *c,
                  int64_t ldc);
} // namespace avx512vnni
namespace avx2 {
/// Up to 16 columns.
void gemmU8S8Tile(const int8_t *a, int64_t lda, const QuadPanel &p,
                  int64_t rows, int64_t j0, int64_t cols, int32_t *c,
                  int64_t ldc);
} // namespace avx2

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_QUANTIZEDCONV_H
