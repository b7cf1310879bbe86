//===- TopKRanks.h - TopK's ranks by sorting --------------------*- C++ -*-===//
//
// The importer builds TopK as ranks and a scatter: rank[i] counts the
// elements that beat element i (larger, or equal and earlier; smaller for
// largest = 0), and each element of rank < k goes to slot rank. The ranks
// are an O(n^2) linalg.generic, marked `sparq.topk_ranks` when its input
// is float32; on the host it becomes this O(n log n) kernel, which gives
// the same ranks: NaN beats nothing and nothing beats it (ordered
// comparisons), so its rank is 0, as the generic computes.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_TOPKRANKS_H
#define SPARQ_RUNTIME_KERNELS_TOPKRANKS_H

#include "runtime/kernels/MemRef.h"

#include <cstdint>

namespace sparq::kernels {

/// ranks[r, i] for each of `rows` rows of `n` values (row-major).
void topKRanks(const float *x, int64_t rows, int64_t n, bool largest,
               int64_t *ranks);

} // namespace sparq::kernels

extern "C" {
void _mlir_ciface_sparq_topk_ranks_f32(
    sparq::kernels::MemRef<float, 2> *x,
    sparq::kernels::MemRef<int64_t, 2> *ranks, int64_t largest);
}

#endif // SPARQ_RUNTIME_KERNELS_TOPKRANKS_H
