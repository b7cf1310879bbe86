//===- DenseGemm.h - dense f32 GEMM for convolutions ------------*- C++ -*-===//
//
// The GEMM of dense convolutions: C[M, N] (+)= A[M, K] * B[K, N], with A the
// weights and B the im2col columns (or the input of a 1x1 convolution), both
// row-major and read in place. Unlike sgemm it packs neither operand on each
// call (only the last, partial 32 columns of B), wakes its threads once, and
// applies the convolution's clamp (ReLU, ReLU6) as it stores.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_DENSEGEMM_H
#define SPARQ_RUNTIME_KERNELS_DENSEGEMM_H

#include <cmath>
#include <cstdint>

namespace sparq::kernels {

/// Whether gemmF32 runs: AVX-512 on this CPU and not capped by limitSimd
/// (PackedKernels.h); callers fall back to sgemm.
bool gemmF32Available();

/// C[M, N] (+)= bias + A[M, K] * B[K, N] (bias[M] per row, may be null),
/// every result clamped to [lo, hi]; row strides lda, ldb, ldc; on the
/// kernels' thread pool.
void gemmF32(const float *a, int64_t lda, const float *b, int64_t ldb,
             int64_t m, int64_t n, int64_t k, float *c, int64_t ldc,
             bool accumulate, const float *bias, float lo, float hi);

/// gemmF32 with B's rows anywhere: row p is the n floats at b + bRows[p]
/// (rows may overlap: the shifted views of a convolution without im2col).
void gemmF32Rows(const float *a, int64_t lda, const float *b,
                 const int64_t *bRows, int64_t m, int64_t n, int64_t k,
                 float *c, int64_t ldc, bool accumulate, const float *bias,
                 float lo, float hi);

/// C[M, N] (+)= bias + A[M, K] * op(B), op(B) = B ([K, N]) or B^T (B
/// [N, K]), all row-major, bias per row or null; clamped to [lo, hi]. gemmF32
/// where it runs, else OpenBLAS: either way on the kernels' threads
/// (setNumThreads, HostKernels.h), so that no other threads spin between calls.
void denseGemm(const float *a, int64_t lda, const float *b, int64_t ldb,
               bool transB, int64_t m, int64_t n, int64_t k, float *c,
               int64_t ldc, bool accumulate, const float *bias = nullptr,
               float lo = -INFINITY, float hi = INFINITY);

namespace avx512 {
/// Columns of one tile (kTileVecs vectors of 16), and its most rows.
constexpr int kTileVecs = 4;
constexpr int64_t kTileCols = 16 * kTileVecs, kTileRows = 6;
/// One tile: C[0:rows, 0:cols] (+)= bias + A[0:rows, 0:K] * B[0:K, 0:cols],
/// clamped; rows <= kTileRows, cols <= kTileCols (B is read in whole
/// vectors of 16 whatever cols is). B's row p is at b + p * ldb, or at
/// b + bRows[p] when bRows is not null; with bLast, K is k + 1 and its last
/// row is at bLast (A's rows then hold k + 1 weights).
void gemmTile(const float *a, int64_t lda, const float *b, int64_t ldb,
              const int64_t *bRows, int64_t k, int rows, int cols, float *c,
              int64_t ldc, bool accumulate, const float *bias, float lo,
              float hi, const float *bLast = nullptr);
} // namespace avx512

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_DENSEGEMM_H
