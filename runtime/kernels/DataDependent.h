//===- DataDependent.h - ops whose output size depends on data --*- C++ -*-===//
//
// What sparq.nonzero, sparq.non_max_suppression and sparq.unique lower to
// (their descriptions in dialects/SparqOps.td are the definitions). Each
// writes into outputs sized at a compile-time bound and returns how many
// entries are valid: the compiled code slices that many (docs/design.md,
// "Data-dependent sizes"). They run on one thread, in a fixed order.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_DATADEPENDENT_H
#define SPARQ_RUNTIME_KERNELS_DATADEPENDENT_H

#include "runtime/kernels/MemRef.h"

#include <cstdint>

namespace sparq::kernels {

/// Coordinates of the non-zero bytes of `mask` (row-major, `shape` of
/// `rank` axes) into `out` [rank, bound]: column j is the j-th non-zero.
/// Returns how many (at most `bound`; the rest of `out` is zeros).
int64_t nonZero(const uint8_t *mask, const int64_t *shape, int64_t rank,
                int64_t *out, int64_t bound);

struct NmsParams {
  int64_t maxOutput = 0;
  float iouThreshold = 0, scoreThreshold = 0;
  bool hasScoreThreshold = false, centerPointBox = false;
};

/// ONNX NonMaxSuppression: boxes [b, n, 4], scores [b, c, n]; the kept
/// (batch, class, box) triples into `out` [bound, 3]. Returns how many.
int64_t nonMaxSuppression(const float *boxes, const float *scores, int64_t b,
                          int64_t c, int64_t n, const NmsParams &p,
                          int64_t *out, int64_t bound);

/// ONNX Unique over `x` viewed as [outer, d, inner]: the distinct slices
/// along the middle axis into `y` (same view), with first-occurrence
/// `indices`, `inverse` and `counts` (each [d]). Returns how many.
template <typename T>
int64_t unique(const T *x, int64_t outer, int64_t d, int64_t inner, bool sorted,
               T *y, int64_t *indices, int64_t *inverse, int64_t *counts);

} // namespace sparq::kernels

extern "C" {
int64_t _mlir_ciface_sparq_nonzero(sparq::kernels::MemRef<uint8_t, 1> *mask,
                                   sparq::kernels::MemRef<int64_t, 1> *shape,
                                   sparq::kernels::MemRef<int64_t, 2> *out);
int64_t _mlir_ciface_sparq_non_max_suppression(
    sparq::kernels::MemRef<float, 3> *boxes,
    sparq::kernels::MemRef<float, 3> *scores,
    sparq::kernels::MemRef<int64_t, 2> *out, int64_t maxOutput,
    float iouThreshold, float scoreThreshold, int64_t hasScoreThreshold,
    int64_t centerPointBox);
int64_t _mlir_ciface_sparq_unique_f32(
    sparq::kernels::MemRef<float, 3> *x, sparq::kernels::MemRef<float, 3> *y,
    sparq::kernels::MemRef<int64_t, 1> *indices,
    sparq::kernels::MemRef<int64_t, 1> *inverse,
    sparq::kernels::MemRef<int64_t, 1> *counts, int64_t sorted);
int64_t
_mlir_ciface_sparq_unique_i64(sparq::kernels::MemRef<int64_t, 3> *x,
                              sparq::kernels::MemRef<int64_t, 3> *y,
                              sparq::kernels::MemRef<int64_t, 1> *indices,
                              sparq::kernels::MemRef<int64_t, 1> *inverse,
                              sparq::kernels::MemRef<int64_t, 1> *counts,
                              int64_t sorted);
}

#endif // SPARQ_RUNTIME_KERNELS_DATADEPENDENT_H
