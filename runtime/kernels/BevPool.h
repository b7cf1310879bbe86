//===- BevPool.h - BEVFusion's camera-to-BEV pooling ------------*- C++ -*-===//
//
// Lift-splat pooling without the frustum tensor (BEVPoolv2's formulation),
// on a plan of sorted points and cell intervals made once at compile time
// (runtime/formats/BevPoolPlan.h). Each interval belongs to one thread, so
// no atomics, and the points x channels frustum is never built. Sums run in
// point order within a cell: results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_BEVPOOL_H
#define SPARQ_RUNTIME_KERNELS_BEVPOOL_H

#include "runtime/formats/BevPoolPlan.h"
#include "runtime/kernels/MemRef.h"

#include <cstdint>

namespace sparq::kernels {

/// out[cell, c] (channelsLast: [cells, C]; else [C, cells]) = the sum over
/// the cell's points of depth[depthIndex] * feat[featIndex * C + c]; cells
/// without points are 0.
void bevPool(const formats::BevPoolPlanView &plan, const float *depth,
             const float *feat, int64_t channels, float *out,
             bool channelsLast);

} // namespace sparq::kernels

extern "C" {
/// What sparq.bev_pool lowers to on the host: out[cells, C] (or [C, cells]
/// when `channelsFirst`) from depth[N], feat[rows, C] and the plan's bytes
/// (memrefs that are not contiguous are copied first).
void _mlir_ciface_sparq_bev_pool(sparq::kernels::MemRef<float, 1> *depth,
                                 sparq::kernels::MemRef<float, 2> *feat,
                                 sparq::kernels::MemRef<int8_t, 1> *plan,
                                 sparq::kernels::MemRef<float, 2> *out,
                                 int64_t channelsFirst);
}

#endif // SPARQ_RUNTIME_KERNELS_BEVPOOL_H
