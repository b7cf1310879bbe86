//===- Correlation.h - PatchNet's normalized patchwise correlation -*- C++
//-*-===//
//
// Every patch of a template correlated with every window of a search region
// and divided by the window's norm (sparq.correlation): the windows as the
// columns of one im2col matrix, all patches times it in one GEMM (the dense
// kernels', whose sums do not depend on the thread count), each window's
// energy once for all patches.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_CORRELATION_H
#define SPARQ_RUNTIME_KERNELS_CORRELATION_H

#include "runtime/kernels/MemRef.h"

#include <cstdint>

namespace sparq::kernels {

/// out[n, p, y, x] = sum_{c,i,j} patches[p, c, i, j] * win[c, i, j]
///                   / sqrt(sum_{c,i,j} win[c, i, j]^2 + eps),
/// win = search[n, :, y * stride + i, x * stride + j]; all row-major,
/// search [N, C, H, W], patches [P, C, KH, KW], out [N, P, OH, OW].
void correlation(const float *search, int64_t n, int64_t c, int64_t h,
                 int64_t w, const float *patches, int64_t p, int64_t kh,
                 int64_t kw, int64_t stride, float eps, float *out);

} // namespace sparq::kernels

extern "C" {
/// What sparq.correlation lowers to on the host (memrefs that are not
/// contiguous are copied first).
void _mlir_ciface_sparq_correlation(sparq::kernels::MemRef<float, 4> *search,
                                    sparq::kernels::MemRef<float, 4> *patches,
                                    sparq::kernels::MemRef<float, 4> *out,
                                    int64_t stride, float eps);
}

#endif // SPARQ_RUNTIME_KERNELS_CORRELATION_H
