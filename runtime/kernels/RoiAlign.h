//===- RoiAlign.h - ONNX RoiAlign on the host -------------------*- C++ -*-===//
//
// What sparq.roi_align lowers to (its description in dialects/SparqOps.td
// is the definition): per region, channel and bin, the average or maximum
// of bilinear samples. Regions run on the kernels' threads; each output is
// computed by one thread in a fixed order, so the result does not depend on
// the thread count.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_ROIALIGN_H
#define SPARQ_RUNTIME_KERNELS_ROIALIGN_H

#include "runtime/kernels/MemRef.h"

#include <cstdint>

namespace sparq::kernels {

struct RoiAlignParams {
  int64_t outH = 1, outW = 1, samplingRatio = 0;
  float spatialScale = 1.0f;
  bool halfPixel = true, max = false;
};

/// x [N, C, H, W], rois [R, 4] (x1, y1, x2, y2), batch [R], out
/// [R, C, outH, outW], all row-major. Returns false (out untouched) if a
/// batch index is outside [0, N).
bool roiAlign(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
              const float *rois, const int64_t *batch, int64_t r,
              const RoiAlignParams &p, float *out);

} // namespace sparq::kernels

extern "C" {
/// sparq.roi_align on the host: mode 1 is max; a batch index out of range
/// is reported on stderr and its regions are 0.
void _mlir_ciface_sparq_roi_align(sparq::kernels::MemRef<float, 4> *x,
                                  sparq::kernels::MemRef<float, 2> *rois,
                                  sparq::kernels::MemRef<int64_t, 1> *batch,
                                  sparq::kernels::MemRef<float, 4> *out,
                                  int64_t outH, int64_t outW,
                                  int64_t samplingRatio, float spatialScale,
                                  int64_t halfPixel, int64_t max);
}

#endif // SPARQ_RUNTIME_KERNELS_ROIALIGN_H
