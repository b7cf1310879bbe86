//===- BevPoolCuda.cu - BEV pooling on a GPU ------------------------------===//

#include "runtime/cuda/BevPoolCuda.h"
#include "runtime/cuda/BevPoolKernel.cuh"
#include "runtime/cuda/GradientCompressionCuda.h"

#include <cuda_runtime.h>

#include <string>

using sparq::gpu::CudaError;
namespace formats = sparq::formats;

namespace {

void check(cudaError_t err, const char *what) {
  if (err != cudaSuccess)
    throw CudaError(std::string(what) + ": " + cudaGetErrorString(err));
}

} // namespace

formats::BevPoolPlanView
sparq::gpu::planOnDevice(const formats::BevPoolPlanView &host,
                         const uint8_t *hostBytes, const uint8_t *deviceBytes) {
  auto rebase = [&](const int32_t *p) {
    return reinterpret_cast<const int32_t *>(
        deviceBytes + (reinterpret_cast<const uint8_t *>(p) - hostBytes));
  };
  formats::BevPoolPlanView d = host;
  d.depthIndex = rebase(host.depthIndex);
  d.featIndex = rebase(host.featIndex);
  d.start = rebase(host.start);
  d.cell = rebase(host.cell);
  d.order = rebase(host.order);
  return d;
}

void sparq::gpu::bevPool(const formats::BevPoolPlanView &plan,
                         const float *depth, const float *feat,
                         int64_t channels, float *out, bool channelsFirst,
                         void *streamPtr) {
  auto stream = static_cast<cudaStream_t>(streamPtr);
  check(cudaMemsetAsync(out, 0, plan.cells * channels * sizeof(float), stream),
        "cudaMemsetAsync");
  int64_t threads = plan.intervals * channels;
  if (threads == 0)
    return;
  constexpr int kBlock = 256;
  sparq_bev_pool_kernel<<<unsigned((threads + kBlock - 1) / kBlock), kBlock, 0,
                          stream>>>(
      plan.depthIndex, plan.featIndex, plan.start, plan.cell, depth, feat,
      channels, plan.intervals, plan.cells, channelsFirst, out);
  check(cudaGetLastError(), "sparq_bev_pool_kernel launch");
}
