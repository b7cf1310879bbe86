//===- DenseGemm.h - dense f32 GEMM of convolutions and MatMuls -*- C++ -*-===//
//
// The dense f32 GEMM: C[M, N] (+)= A[M, K] * B[K, N]. For a convolution A is
// the weights and B the im2col columns (or the input of a 1x1 convolution);
// for a MatMul or Linear A is the activations and B the weights, as laid out
// at compile time in panels of 64 columns (panelsF32). Unlike sgemm it packs
// neither operand on each call (only the last, partial 64 columns of B),
// wakes its threads once, and applies a clamp (ReLU, ReLU6) as it stores.
// One tile per SIMD level: AVX-512, AVX2 + FMA, portable C++. Threads split
// the output into tiles, never K, so results do not depend on the thread
// count.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_DENSEGEMM_H
#define SPARQ_RUNTIME_KERNELS_DENSEGEMM_H

#include <cmath>
#include <cstdint>
#include <vector>

namespace sparq::kernels {

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

/// Rows of A up to which denseGemm runs a product with B^T as GEMVs on B's
/// rows; with more, it transposes B first (sparq-host-library-calls then
/// stores a constant B transposed at compile time instead).
constexpr int64_t kGemvRows = 4;

/// C[M, N] (+)= bias + A[M, K] * op(B), op(B) = B ([K, N]) or B^T (B
/// [N, K]), all row-major, bias per row or null; clamped to [lo, hi]. On the
/// kernels' threads, each output's sum in the same order however they split
/// the work: gemmF32, or GEMVs for up to kGemvRows rows times B^T.
void denseGemm(const float *a, int64_t lda, const float *b, int64_t ldb,
               bool transB, int64_t m, int64_t n, int64_t k, float *c,
               int64_t ldc, bool accumulate, const float *bias = nullptr,
               float lo = -INFINITY, float hi = INFINITY);

/// y[m] (+)= W[m, k] * x[k], W row-major with row stride ldw: a batch-1
/// linear layer, on the kernels' threads. Every row's sum is done in the same
/// order however the rows are split (unlike sgemv's), so results do not
/// depend on the thread count.
void gemvF32(const float *w, int64_t ldw, int64_t m, int64_t k, const float *x,
             float *y, bool accumulate);

/// B [K, N] (or B^T [N, K] with `transposed`) laid out as gemmF32Panels
/// reads it: ceil(N / 64) panels of K rows of 64 floats, columns [64 t,
/// 64 t + 64) in panel t, the last zero-padded. A tile then reads its
/// columns of B as one stream, not a row at a time on another page; a
/// constant B is laid out so at compile time (sparq-host-library-calls).
std::vector<float> panelsF32(const float *b, int64_t ldb, bool transposed,
                             int64_t k, int64_t n);

/// gemmF32 on B laid out by panelsF32. The tiles sum every output in the
/// same order as gemmF32's: the results are the same, bit for bit.
void gemmF32Panels(const float *a, int64_t lda, const float *panels, int64_t m,
                   int64_t n, int64_t k, float *c, int64_t ldc, bool accumulate,
                   const float *bias = nullptr, float lo = -INFINITY,
                   float hi = INFINITY);

/// One tile of gemmF32 (avx512::gemmTile's contract) at the SIMD level in
/// use: AVX-512, else AVX2.
void gemmTileF32(const float *a, int64_t lda, const float *b, int64_t ldb,
                 const int64_t *bRows, int64_t k, int rows, int cols, float *c,
                 int64_t ldc, bool accumulate, const float *bias, float lo,
                 float hi, const float *bLast = nullptr);

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

namespace portable {
/// avx512::gemmTile's contract in plain C++.
void gemmTile(const float *a, int64_t lda, const float *b, int64_t ldb,
              const int64_t *bRows, int64_t k, int rows, int cols, float *c,
              int64_t ldc, bool accumulate, const float *bias, float lo,
              float hi, const float *bLast = nullptr);
} // namespace portable

namespace avx2 {
/// avx512::gemmTile's contract, on AVX2 + FMA (strips of 16 columns).
void gemmTile(const float *a, int64_t lda, const float *b, int64_t ldb,
              const int64_t *bRows, int64_t k, int rows, int cols, float *c,
              int64_t ldc, bool accumulate, const float *bias, float lo,
              float hi, const float *bLast = nullptr);
} // namespace avx2

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_DENSEGEMM_H
