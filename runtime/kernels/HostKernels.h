//===- HostKernels.h - library kernels the host code calls -----*- C++ -*-===//
//
// Dense f32 GEMM and convolution, where a tuned library (OpenBLAS) beats the
// loops MLIR generates, and depthwise convolution. The host lowering replaces
// linalg named ops by calls to these (pass sparq-host-library-calls); the JIT
// resolves them through registerHostKernels. Each accumulates into its output,
// as the linalg op it replaces does.
//
//===----------------------------------------------------------------------===//
#ifndef SPARQ_RUNTIME_KERNELS_HOSTKERNELS_H
#define SPARQ_RUNTIME_KERNELS_HOSTKERNELS_H

#include "runtime/kernels/MemRef.h"

#include <functional>

namespace sparq::kernels {

using F32x1 = MemRef<float, 1>;
using F32x2 = MemRef<float, 2>;
using F32x3 = MemRef<float, 3>;
using F32x4 = MemRef<float, 4>;

/// C[M,N] += A[M,K] * B[K,N].
void matmulF32(F32x2 *a, F32x2 *b, F32x2 *c);
/// C[M,N] += A[M,K] * B, B laid out in panels [ceil(N/64), K, 64] by
/// panelsF32 (DenseGemm.h): a constant B, laid out at compile time.
void matmulF32Panels(F32x2 *a, F32x3 *panels, F32x2 *c);
/// C[b] += A[b] * B[b] for every batch b.
void batchMatmulF32(F32x3 *a, F32x3 *b, F32x3 *c);
/// How a convolution call reads its input and writes its output.
struct ConvParams {
  int64_t strideH = 1, strideW = 1, dilationH = 1, dilationW = 1;
  /// Zero padding before the input (top, left); the padding after it is
  /// implied by the output size. The input is read as if padded.
  int64_t padTop = 0, padLeft = 0;
  /// out += conv (true) or out = conv (false: out's contents are ignored).
  bool accumulate = true;
  /// The result is clamped to [lo, hi] (ReLU, ReLU6); +-inf for none.
  float lo, hi;
  /// Added to every output of a channel (the folded bias), or null.
  const float *bias = nullptr;
};

/// ConvParams from the scalar arguments of a conv call (C interface order).
ConvParams convParams(int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                      int64_t padTop, int64_t padLeft, int64_t accumulate,
                      float lo, float hi);

/// The bias argument of a conv call: null when empty (no bias), else its
/// `channels` floats.
const float *biasOf(F32x1 *bias, int64_t channels);

/// out[N,F,OH,OW] (+)= conv(in[N,C,H,W], w[F,C,KH,KW]) by im2col + sgemm.
void conv2dNchwF32(F32x4 *in, F32x4 *w, F32x4 *out, const ConvParams &p);
/// conv2dNchwF32 with the weights as F contiguous rows w[F, C*KH*KW].
void conv2dNchwF32Rows(F32x4 *in, const float *w, int64_t f, int64_t kh,
                       int64_t kw, F32x4 *out, const ConvParams &p);
/// The GEMM of an im2col convolution: out[F, n] (+)= bias + W[F, K] *
/// cols[K, n] (bias per row, may be null), `cols` with row stride ldCols,
/// `out` with row stride ldOut, the result clamped to [lo, hi].
using ConvGemm = std::function<void(
    const float *cols, int64_t ldCols, float *out, int64_t ldOut, int64_t n,
    bool accumulate, const float *bias, float lo, float hi)>;
/// Adds bias[r] to row r of rows x cols floats (row stride rowStride), or
/// writes it there when `overwrite`.
void addRowBias(float *o, int64_t rows, int64_t rowStride, int64_t cols,
                const float *bias, bool overwrite);
/// Clamps rows x cols floats (row stride rowStride) to [lo, hi].
void clampRows(float *o, int64_t rows, int64_t rowStride, int64_t cols,
               float lo, float hi);
/// A convolution with F filters of KHxKW as im2col + `mm`, one image at a
/// time; shared by the dense and the compressed kernels.
void convIm2col(F32x4 *in, int64_t f, int64_t kh, int64_t kw, F32x4 *out,
                const ConvParams &p, const ConvGemm &mm);
/// The same convolution (dense weights w[F, C*KH*KW], row-major) without
/// im2col: the padded input split once into stride phases, every tap a
/// shifted view of one (ConvPhaseGemm.cpp). Runs where convPhaseGemmPays.
void convPhaseGemm(F32x4 *in, const float *w, int64_t f, int64_t kh, int64_t kw,
                   F32x4 *out, const ConvParams &p);
/// The GEMM of a phase-split convolution: result[F, cols] = W[F, K] * B,
/// B's row p the `cols` floats at planes + rows[p] (ConvPhaseGemm.cpp).
using PhaseGemm = std::function<void(const float *planes, const int64_t *rows,
                                     int64_t cols, float *result)>;
/// convPhaseGemm with any GEMM `mm` (the packed kernels'); with the dense
/// weights `denseW`, rows that fill whole vectors run straight into `out`.
void convPhases(F32x4 *in, int64_t f, int64_t kh, int64_t kw, F32x4 *out,
                const ConvParams &p, const PhaseGemm &mm,
                const float *denseW = nullptr);
/// Whether convPhaseGemm runs here (AVX-512) and beats im2col: the columns
/// it computes and drops stay few, and the convolution is not a 1x1 one
/// that reads its input in place.
bool convPhaseGemmPays(int64_t kh, int64_t kw, int64_t oh, int64_t ow,
                       const ConvParams &p);
/// out[N,C,OH,OW] (+)= depthwise conv(in[N,C,H,W], w[C,KH,KW]).
void depthwiseConv2dNchwF32(F32x4 *in, MemRef<float, 3> *w, F32x4 *out,
                            const ConvParams &p);
/// out[N,C,OH,OW] = max over each KHxKW window of in[N,C,H,W] (strides,
/// dilations and padding of `p`; taps in the padding are skipped, as if it
/// held -inf), or max(out, that) when p.accumulate. A NaN in a window gives
/// NaN. The bias and clamp of `p` are ignored.
void maxPool2dNchwF32(F32x4 *in, int64_t kh, int64_t kw, F32x4 *out,
                      const ConvParams &p);
/// The same on uint8 and int8 (a QDQ model's activations: max commutes
/// with dequantizing); the padding holds 0 and -128.
void maxPool2dNchwU8(MemRef<uint8_t, 4> *in, int64_t kh, int64_t kw,
                     MemRef<uint8_t, 4> *out, const ConvParams &p);
void maxPool2dNchwS8(MemRef<int8_t, 4> *in, int64_t kh, int64_t kw,
                     MemRef<int8_t, 4> *out, const ConvParams &p);

/// Threads the library kernels use: the pool every kernel runs on
/// (ThreadPool.h; default SPARQ_NUM_THREADS, else 2). Results do not depend
/// on it.
void setNumThreads(int threads);

/// Calls `fn(symbol, address)` for every symbol the generated host code
/// needs from the runtime: the kernels (dense and packed, PackedKernels.h), by
/// the C-interface names the lowering emits (`_mlir_ciface_sparq_...`), and
/// `malloc`/`free` (BufferCache.h).
void forEachHostKernel(const std::function<void(const char *, void *)> &fn);

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_HOSTKERNELS_H
