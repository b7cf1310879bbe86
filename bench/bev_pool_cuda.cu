//===- bev_pool_cuda.cu - BEV pooling on a GPU: bandwidth
//------------------===//
//
// gpu::bevPool at nuScenes shapes (bench/BevScene.h) on a 128 and a 256
// grid, timed with CUDA events (median of 50 runs), and its bandwidth on the
// bytes it must move against a device-to-device copy of 1 GiB measured in
// the same run. Prints the GPU's name. Without a GPU it says why and exits 0.
//
//   build/bin/sparq-bench-bev-cuda
//
//===----------------------------------------------------------------------===//

#include "bench/BevScene.h"
#include "runtime/cuda/BevPoolCuda.h"
#include "runtime/cuda/GradientCompressionCuda.h"

#include "bench/CudaTiming.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

using namespace sparq;

using sparq::bench::medianMs;
using sparq::bench::upload;

int main() {
  std::string why;
  if (!gpu::deviceAvailable(&why)) {
    std::printf("skipped: no CUDA device here (%s)\n", why.c_str());
    return 0;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  size_t copyBytes = size_t(1) << 30;
  void *src = nullptr, *dst = nullptr;
  cudaMalloc(&src, copyBytes);
  cudaMalloc(&dst, copyBytes);
  cudaMemset(src, 1, copyBytes);
  float copyMs = medianMs(20, [&] {
    cudaMemcpyAsync(dst, src, copyBytes, cudaMemcpyDeviceToDevice);
  });
  double copyGBs = 2.0 * copyBytes / copyMs / 1e6; // read + write
  cudaFree(src);
  cudaFree(dst);
  std::printf("GPU: %s\ndevice copy: %.0f GB/s (read + write)\n", prop.name,
              copyGBs);
  std::printf(
      "| grid | kept points | ms | GB/s on its bytes | share of copy |\n"
      "|---|---:|---:|---:|---:|\n");
  for (int64_t grid : {128, 256}) {
    bench::Scene s(grid);
    std::vector<uint8_t> bytes = formats::serializeBevPoolPlan(s.plan.view());
    formats::BevPoolPlanView host;
    std::string error;
    if (!formats::readBevPoolPlan(bytes.data(), bytes.size(), host, error)) {
      std::printf("error: %s\n", error.c_str());
      return 1;
    }
    uint8_t *dPlan = upload(bytes);
    float *dDepth = upload(s.depth), *dFeat = upload(s.feat);
    float *dOut = nullptr;
    cudaMalloc(&dOut, grid * grid * bench::kC * sizeof(float));
    formats::BevPoolPlanView plan =
        gpu::planOnDevice(host, bytes.data(), dPlan);
    float ms = medianMs(50, [&] {
      gpu::bevPool(plan, dDepth, dFeat, bench::kC, dOut, false, nullptr);
    });
    double gbs = bench::bytesToMove(s) / ms / 1e6;
    std::printf("| %lld | %zu | %.3f | %.0f | %.0f%% |\n", (long long)grid,
                s.plan.depthIndex.size(), ms, gbs, 100 * gbs / copyGBs);
    for (void *p : {(void *)dPlan, (void *)dDepth, (void *)dFeat, (void *)dOut})
      cudaFree(p);
  }
  return sparq::bench::exitStatus();
}
