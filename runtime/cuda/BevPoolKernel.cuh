// BevPoolKernel.cuh - the BEV pooling kernel: runtime/cuda/BevPoolCuda.cu
// launches it, and the cuda target copies this file into every package
// whose model has a sparq.bev_pool (one implementation for both).
//
// Thread t owns channel t % C of interval t / C: consecutive threads read
// consecutive channels of one feature row (coalesced) and write one output
// row ([cells, C]; or one column of [C, cells] when `channelsFirst`), so no
// atomics. Points are summed in plan order with the multiply and
// the add rounded separately (no FMA), as the host kernel does: the result
// equals the host's bit for bit. The plan arrays are those of
// runtime/formats/BevPoolPlan.h; `out` was zeroed for cells without points.
#ifndef SPARQ_BEV_POOL_KERNEL_CUH
#define SPARQ_BEV_POOL_KERNEL_CUH

#include <cstdint>

__global__ void sparq_bev_pool_kernel(
    const int32_t *__restrict__ depthIndex,
    const int32_t *__restrict__ featIndex, const int32_t *__restrict__ start,
    const int32_t *__restrict__ cell, const float *__restrict__ depth,
    const float *__restrict__ feat, int64_t channels, int64_t intervals,
    int64_t cells, int channelsFirst, float *__restrict__ out) {
  int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= intervals * channels)
    return;
  int64_t i = t / channels, c = t - i * channels;
  float acc = 0.0f;
  for (int32_t k = start[i], end = start[i + 1]; k < end; ++k)
    acc = __fadd_rn(
        acc, __fmul_rn(__ldg(depth + depthIndex[k]),
                       __ldg(feat + int64_t(featIndex[k]) * channels + c)));
  out[channelsFirst ? c * cells + cell[i] : int64_t(cell[i]) * channels + c] =
      acc;
}

#endif // SPARQ_BEV_POOL_KERNEL_CUH
