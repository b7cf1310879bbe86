//===- PackedGemvSimd.h - SIMD GEMV kernels on packed codes -----*- C++ -*-===//
//
// Matrix-vector products on packed weights, vectorized by hand for AVX-512
// (PackedGemvAvx512.cpp) and AVX2 (PackedGemvAvx2.cpp): what the compiler
// does not find on its own (lane masks from 2-bit codes, nibble unpacking,
// 16-entry table lookups in registers). Call a namespace's kernels only when
// its available() says the CPU has the features. Each adds W * x into y.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_PACKEDGEMVSIMD_H
#define SPARQ_RUNTIME_KERNELS_PACKEDGEMVSIMD_H

#include <cstdint>

namespace sparq::kernels::avx512 {

bool available();

/// Ternary codes, `words` uint32 per row; x padded to words * 16 floats;
/// scales are (Wp, Wn) pairs: one for the layer, or one per row.
void ternaryGemv(const uint32_t *codes, int64_t rows, int64_t words,
                 const float *xPadded, const float *scales, bool perRow,
                 float *y);

/// Int4 groups: xe/xo are the even/odd elements of x, xsum the sum of x
/// over each group; zeros null for symmetric (zero 8).
void int4Gemv(const uint8_t *codes, int64_t rows, int64_t cols, int64_t group,
              const float *scales, const uint8_t *zeros, const float *xe,
              const float *xo, const float *xsum, float *y);

/// 4-bit codebook indices into `table` (16 floats).
void codebook4Gemv(const uint8_t *codes, int64_t rows, int64_t cols,
                   const float *table, const float *xe, const float *xo,
                   float *y);

} // namespace sparq::kernels::avx512

/// The same kernels for AVX2 + FMA (PackedGemvAvx2.cpp), 8 lanes wide.
namespace sparq::kernels::avx2 {
bool available();
void ternaryGemv(const uint32_t *codes, int64_t rows, int64_t words,
                 const float *xPadded, const float *scales, bool perRow,
                 float *y);
void int4Gemv(const uint8_t *codes, int64_t rows, int64_t cols, int64_t group,
              const float *scales, const uint8_t *zeros, const float *xe,
              const float *xo, const float *xsum, float *y);
void codebook4Gemv(const uint8_t *codes, int64_t rows, int64_t cols,
                   const float *table, const float *xe, const float *xo,
                   float *y);
} // namespace sparq::kernels::avx2

#endif // SPARQ_RUNTIME_KERNELS_PACKEDGEMVSIMD_H
