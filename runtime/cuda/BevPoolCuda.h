//===- BevPoolCuda.h - BEV pooling on a GPU ---------------------*- C++ -*-===//
//
// kernels::bevPool for tensors in GPU memory, over the same plan bytes
// (runtime/formats/BevPoolPlan.h) uploaded as they are. One thread per
// (interval, channel): each owns its output, so no atomics, and sums its
// cell's points in plan order with the multiply and the add rounded
// separately (no FMA), as the host kernel does: the GPU's output equals the
// host's bit for bit (test/unit/BevPoolCudaTest.cpp). No CUDA types here:
// the stream is a cudaStream_t passed as void*.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_CUDA_BEVPOOLCUDA_H
#define SPARQ_RUNTIME_CUDA_BEVPOOLCUDA_H

#include "runtime/formats/BevPoolPlan.h"

#include <cstddef>
#include <cstdint>

namespace sparq::gpu {

/// The plan whose bytes `hostBytes` (read with formats::readBevPoolPlan)
/// were copied to `deviceBytes`: its arrays point into device memory.
formats::BevPoolPlanView planOnDevice(const formats::BevPoolPlanView &host,
                                      const uint8_t *hostBytes,
                                      const uint8_t *deviceBytes);

/// out[cells, C] (channelsFirst: [C, cells]) = the sum over each cell's
/// points of depth[depthIndex] * feat[featIndex * C + c]; `plan` from
/// planOnDevice, depth, feat and out in device memory. Queued on `stream`.
void bevPool(const formats::BevPoolPlanView &plan, const float *depth,
             const float *feat, int64_t channels, float *out,
             bool channelsFirst, void *stream);

} // namespace sparq::gpu

#endif // SPARQ_RUNTIME_CUDA_BEVPOOLCUDA_H
