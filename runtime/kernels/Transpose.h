//===- Transpose.h - matrix transpose for weights and GEMM operands -*- C++
//-*-===//
//
// The one transpose of the importer (ONNX MatMul weights to output-major),
// the GEMM's panels (panelsF32) and denseGemm's B^T: 32 x 32 tiles, so that
// both sides stay in L1, and 8 x 8 blocks of 4-byte elements in registers at
// AVX2 and above (element by element, a tile's stores each hit another
// page: the importer spent 1.5 s of a 216 M decoder's compile there). It
// copies bits only, so its results are the same at every SIMD level and
// thread count.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_TRANSPOSE_H
#define SPARQ_RUNTIME_KERNELS_TRANSPOSE_H

#include <cstddef>
#include <cstdint>

namespace sparq::kernels {

/// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols, elements of
/// `elemBytes` bytes (1, 2, 4 or 8); strides in elements. With `threads`,
/// split by tiles of src's rows over the kernels' thread pool.
void transpose(const void *src, int64_t lds, void *dst, int64_t ldd,
               int64_t rows, int64_t cols, int elemBytes, bool threads = true);

/// Transposes the rows x cols matrix at `data` (dense, elements of
/// `elemBytes` bytes) into cols x rows in the same memory, with at most
/// `scratchBytes` of scratch: a weight the importer owns is stored
/// output-major without a second copy of it (a 32000 x 1024 LM head is
/// 125 MiB). Splits one dimension into c parts (c divides it, the matrix / c
/// fits the scratch): each part is transposed through the scratch, and the
/// parts' rows are interleaved by following the permutation's cycles.
/// Returns false, changing nothing, where no such split exists.
bool transposeInPlace(void *data, int64_t rows, int64_t cols, int elemBytes,
                      size_t scratchBytes);

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_TRANSPOSE_H
