//===- CudaTiming.h - timing and uploads for the GPU benchmarks -*- C++ -*-===//
#ifndef SPARQ_BENCH_CUDATIMING_H
#define SPARQ_BENCH_CUDATIMING_H

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

namespace sparq::bench {

/// Median milliseconds of `runs` runs of `body` on the default stream
/// (CUDA events), after one run to warm up.
inline float medianMs(int runs, const std::function<void()> &body) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  body();
  std::vector<float> ms;
  for (int i = 0; i < runs; ++i) {
    cudaEventRecord(a);
    body();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/// A device copy of `v`.
template <typename T> T *upload(const std::vector<T> &v) {
  T *d = nullptr;
  cudaMalloc(&d, v.size() * sizeof(T));
  cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  return d;
}

/// 0, or 1 after printing the last CUDA error: a benchmark's exit status.
inline int exitStatus() {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess)
    return 0;
  std::printf("error: %s\n", cudaGetErrorString(err));
  return 1;
}

} // namespace sparq::bench

#endif // SPARQ_BENCH_CUDATIMING_H
