//===- gemv_baselines_cuda.cu - the GPU peers of sparq's packed GEMVs -----===//
//
// What the cuda target's packed GEMV kernels are compared with, measured
// with CUDA events (median of 50): cuBLAS fp16 GEMV (cublasGemmEx, FP32
// accumulation) at ROWS x COLS, and cuSPARSE CSR SpMV (f32 values, int32
// indices) at 70, 90 and 95% sparsity; each with its bandwidth on the bytes
// it must read, and a device-to-device copy's for reference. sparq's own
// figures come from the packages scripts/make_gpu_bench.py writes, run by
// sparq_run --repeat (scripts/device_check.sh runs both). Without a GPU it
// says why and exits 0.
//
//   build/bin/sparq-bench-gemv-baselines [ROWS COLS]
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/GradientCompressionCuda.h"

#include "bench/CudaTiming.h"
#include <cublas_v2.h>
#include <cuda_fp16.h>

#include <cuda_runtime.h>
#include <cusparse.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

using sparq::bench::medianMs;
using sparq::bench::upload;

int main(int argc, char **argv) {
  std::string why;
  if (!sparq::gpu::deviceAvailable(&why)) {
    std::printf("skipped: no CUDA device here (%s)\n", why.c_str());
    return 0;
  }
  int rows = argc > 2 ? std::atoi(argv[1]) : 8192;
  int cols = argc > 2 ? std::atoi(argv[2]) : 8192;
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  size_t copyBytes = size_t(1) << 30;
  void *src, *dst;
  cudaMalloc(&src, copyBytes);
  cudaMalloc(&dst, copyBytes);
  float copyMs = medianMs(20, [&] {
    cudaMemcpyAsync(dst, src, copyBytes, cudaMemcpyDeviceToDevice);
  });
  cudaFree(src);
  cudaFree(dst);
  double copyGBs = 2.0 * copyBytes / copyMs / 1e6;
  std::printf("GPU: %s\ndevice copy: %.0f GB/s (read + write)\n", prop.name,
              copyGBs);
  std::printf("| kernel | %dx%d | ms | GB/s on its bytes | share of copy |\n"
              "|---|---:|---:|---:|---:|\n",
              rows, cols);
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(cols);
  for (float &v : x)
    v = u(rng);
  float *dx = upload(x), *dy = nullptr;
  cudaMalloc(&dy, rows * sizeof(float));
  auto report = [&](const char *what, double bytes, float ms) {
    double gbs = bytes / ms / 1e6;
    std::printf("| %s | | %.4f | %.0f | %.0f%% |\n", what, ms, gbs,
                100 * gbs / copyGBs);
  };
  { // cuBLAS fp16 GEMV: y = W x, W [rows, cols] row-major fp16.
    std::vector<__half> w(size_t(rows) * cols), xh(cols), yh(rows);
    for (auto &v : w)
      v = __float2half(u(rng) * 0.01f);
    for (int i = 0; i < cols; ++i)
      xh[i] = __float2half(x[i]);
    __half *dw = upload(w), *dxh = upload(xh), *dyh = upload(yh);
    cublasHandle_t h;
    cublasCreate(&h);
    const float one = 1.0f, zero = 0.0f;
    float ms = medianMs(50, [&] {
      // Column-major: y^T = x^T W^T, W^T is [cols, rows] with ld cols.
      cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, 1, cols, &one, dw,
                   CUDA_R_16F, cols, dxh, CUDA_R_16F, cols, &zero, dyh,
                   CUDA_R_16F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    });
    report("cuBLAS fp16 GEMV", double(w.size()) * 2 + cols * 2 + rows * 2, ms);
    cublasDestroy(h);
    cudaFree(dw);
    cudaFree(dxh);
    cudaFree(dyh);
  }
  for (double sparsity : {0.7, 0.9, 0.95}) { // cuSPARSE CSR SpMV
    std::bernoulli_distribution keep(1 - sparsity);
    std::vector<int> ptr(rows + 1, 0), col;
    std::vector<float> val;
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c)
        if (keep(rng)) {
          col.push_back(c);
          val.push_back(u(rng));
        }
      ptr[r + 1] = int(col.size());
    }
    int *dptr = upload(ptr), *dcol = upload(col);
    float *dval = upload(val);
    cusparseHandle_t h;
    cusparseCreate(&h);
    cusparseSpMatDescr_t a;
    cusparseDnVecDescr_t vx, vy;
    cusparseCreateCsr(&a, rows, cols, int64_t(val.size()), dptr, dcol, dval,
                      CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                      CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F);
    cusparseCreateDnVec(&vx, cols, dx, CUDA_R_32F);
    cusparseCreateDnVec(&vy, rows, dy, CUDA_R_32F);
    const float one = 1.0f, zero = 0.0f;
    size_t wsBytes = 0;
    cusparseSpMV_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, a, vx,
                            &zero, vy, CUDA_R_32F, CUSPARSE_SPMV_ALG_DEFAULT,
                            &wsBytes);
    void *ws = nullptr;
    cudaMalloc(&ws, wsBytes ? wsBytes : 1);
    float ms = medianMs(50, [&] {
      cusparseSpMV(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, a, vx, &zero, vy,
                   CUDA_R_32F, CUSPARSE_SPMV_ALG_DEFAULT, ws);
    });
    char what[64];
    std::snprintf(what, sizeof what, "cuSPARSE CSR SpMV, %.0f%% sparse",
                  100 * sparsity);
    report(what,
           double(val.size()) * 8 + (rows + 1) * 4.0 + cols * 4 + rows * 4, ms);
    cusparseDestroySpMat(a);
    cusparseDestroyDnVec(vx);
    cusparseDestroyDnVec(vy);
    cusparseDestroy(h);
    for (void *p : {(void *)dptr, (void *)dcol, (void *)dval, ws})
      cudaFree(p);
  }
  return sparq::bench::exitStatus();
}
