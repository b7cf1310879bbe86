// sparq_cuda_runtime.h - what every model.cu of the cuda target uses: the
// model's state, the weights file, launches, and the GEMM and convolution
// calls (cuBLAS, cuDNN).
//
// With SPARQ_CUDA_EMULATION defined, the same model.cu compiles with a C++
// compiler for the CPU: device memory is host memory, a launch runs every
// block and thread in order, and GEMM and convolution are plain loops. sparq
// tests the generated kernels' numerics that way where no GPU is; it says
// nothing about CUDA itself (the GPU tests do).
#ifndef SPARQ_CUDA_RUNTIME_H
#define SPARQ_CUDA_RUNTIME_H

#include "sparq_model.h"
#include "sparq_weights.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifdef SPARQ_CUDA_EMULATION
// --- The CPU's stand-ins for what the kernels use -------------------------
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
namespace sparq_emu {
inline dim3 blockIdx, threadIdx, blockDim;
} // namespace sparq_emu
#define blockIdx sparq_emu::blockIdx
#define threadIdx sparq_emu::threadIdx
#define blockDim sparq_emu::blockDim
#define __global__ static
#define __device__ static inline
#define __restrict__ __restrict
template <typename T> inline T __ldg(const T *p) { return *p; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
typedef int cudaStream_t;
#define SPARQ_LAUNCH(kernel, blocks, threads, stream, ...)                     \
  do {                                                                         \
    blockDim.x = (threads);                                                    \
    for (unsigned b_ = 0; b_ < unsigned(blocks); ++b_)                         \
      for (unsigned t_ = 0; t_ < unsigned(threads); ++t_) {                    \
        blockIdx.x = b_;                                                       \
        threadIdx.x = t_;                                                      \
        kernel(__VA_ARGS__);                                                   \
      }                                                                        \
  } while (0)
#else
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#define SPARQ_LAUNCH(kernel, blocks, threads, stream, ...)                     \
  kernel<<<(blocks), (threads), 0, (stream)>>>(__VA_ARGS__)
#endif

// NaN-propagating max/min (arith.maximumf / minimumf), which fmaxf is not.
__device__ float sparq_maximumf(float a, float b) {
  return a != a || b != b ? NAN : (a > b ? a : b);
}
__device__ float sparq_minimumf(float a, float b) {
  return a != a || b != b ? NAN : (a < b ? a : b);
}

namespace sparq_rt {

/// A convolution as the model runs it: NCHW input (already padded),
/// [F, C/groups, KH, KW] filters, NCHW output accumulated into.
struct ConvShape {
  int n, c, h, w, f, kh, kw, sh, sw, dh, dw, groups, oh, ow;
};

struct Model {
  char *weights = nullptr; // the payload of model.weights, on the device
  char *arena = nullptr;   // every tensor, at offsets fixed in model.cu
  void *workspace = nullptr;
  size_t workspaceBytes = 0;
  std::string error;
  /// Milliseconds of the last run between its inputs' and outputs' copies.
  double lastDeviceMs = 0;
#ifndef SPARQ_CUDA_EMULATION
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  cudnnHandle_t dnn = nullptr;
  struct Conv {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t algo;
  };
  std::vector<Conv> convs;
  cudaEvent_t marks[2] = {nullptr, nullptr};
#else
  cudaStream_t stream = 0;
  double marks[2] = {0, 0};
#endif
};

/// Sets `m->error` and returns false.
inline bool fail(Model *m, const std::string &what) {
  m->error = what;
  return false;
}

#ifndef SPARQ_CUDA_EMULATION
#define SPARQ_CHECK(m, call)                                                   \
  do {                                                                         \
    cudaError_t e_ = (call);                                                   \
    if (e_ != cudaSuccess)                                                     \
      return sparq_rt::fail(m, std::string(#call) + ": " +                     \
                                   cudaGetErrorString(e_));                    \
  } while (0)
#define SPARQ_CHECK_BLAS(m, call)                                              \
  do {                                                                         \
    cublasStatus_t e_ = (call);                                                \
    if (e_ != CUBLAS_STATUS_SUCCESS)                                           \
      return sparq_rt::fail(m, std::string(#call) + ": cuBLAS status " +       \
                                   std::to_string(int(e_)));                   \
  } while (0)
#define SPARQ_CHECK_DNN(m, call)                                               \
  do {                                                                         \
    cudnnStatus_t e_ = (call);                                                 \
    if (e_ != CUDNN_STATUS_SUCCESS)                                            \
      return sparq_rt::fail(m, std::string(#call) + ": " +                     \
                                   cudnnGetErrorString(e_));                   \
  } while (0)
#endif

/// Device memory of `bytes`.
inline bool allocate(Model *m, char **p, size_t bytes) {
#ifdef SPARQ_CUDA_EMULATION
  *p = static_cast<char *>(std::calloc(bytes ? bytes : 1, 1));
  return *p || fail(m, "out of memory");
#else
  SPARQ_CHECK(m, cudaMalloc(reinterpret_cast<void **>(p), bytes ? bytes : 1));
  return true;
#endif
}

inline void release(void *p) {
#ifdef SPARQ_CUDA_EMULATION
  std::free(p);
#else
  cudaFree(p);
#endif
}

/// Copies between host and device (or device and device), in stream order.
inline bool copy(Model *m, void *dst, const void *src, size_t bytes) {
#ifdef SPARQ_CUDA_EMULATION
  std::memmove(dst, src, bytes);
  return true;
#else
  SPARQ_CHECK(m,
              cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, m->stream));
  return true;
#endif
}

/// Zeroes `bytes` of device memory, in stream order.
inline bool zero(Model *m, void *p, size_t bytes) {
#ifdef SPARQ_CUDA_EMULATION
  std::memset(p, 0, bytes);
  return true;
#else
  SPARQ_CHECK(m, cudaMemsetAsync(p, 0, bytes, m->stream));
  return true;
#endif
}

/// Reads model.weights (header: "SPARQWT1", version 1, payload bytes,
/// digest) and puts its payload on the device; the code was compiled for
/// one payload, so a size or digest that differs is refused.
inline bool loadWeights(Model *m, const std::string &dir, uint64_t bytes,
                        uint64_t digest) {
  std::vector<char> host;
  std::string error;
  if (!sparq_pkg::readWeights(dir, bytes, digest, host, error))
    return fail(m, error);
  if (!allocate(m, &m->weights, bytes))
    return false;
#ifdef SPARQ_CUDA_EMULATION
  std::memcpy(m->weights, host.data(), bytes);
#else
  SPARQ_CHECK(
      m, cudaMemcpy(m->weights, host.data(), bytes, cudaMemcpyHostToDevice));
#endif
  return true;
}

/// Creates the stream and the library handles; descriptors and algorithms
/// for `count` convolutions; the largest workspace any needs.
inline bool start(Model *m, size_t arenaBytes, const ConvShape *convs,
                  int count) {
  if (!allocate(m, &m->arena, arenaBytes))
    return false;
#ifdef SPARQ_CUDA_EMULATION
  (void)convs;
  (void)count;
  return true;
#else
  SPARQ_CHECK(m, cudaStreamCreate(&m->stream));
  SPARQ_CHECK(m, cudaEventCreate(&m->marks[0]));
  SPARQ_CHECK(m, cudaEventCreate(&m->marks[1]));
  SPARQ_CHECK_BLAS(m, cublasCreate(&m->blas));
  SPARQ_CHECK_BLAS(m, cublasSetStream(m->blas, m->stream));
  // FP32 arithmetic, as the host target: no TF32 tensor cores.
  SPARQ_CHECK_BLAS(m, cublasSetMathMode(m->blas, CUBLAS_PEDANTIC_MATH));
  if (count == 0)
    return true;
  SPARQ_CHECK_DNN(m, cudnnCreate(&m->dnn));
  SPARQ_CHECK_DNN(m, cudnnSetStream(m->dnn, m->stream));
  for (int i = 0; i < count; ++i) {
    const ConvShape &s = convs[i];
    Model::Conv c;
    SPARQ_CHECK_DNN(m, cudnnCreateTensorDescriptor(&c.x));
    SPARQ_CHECK_DNN(m, cudnnCreateTensorDescriptor(&c.y));
    SPARQ_CHECK_DNN(m, cudnnCreateFilterDescriptor(&c.w));
    SPARQ_CHECK_DNN(m, cudnnCreateConvolutionDescriptor(&c.conv));
    SPARQ_CHECK_DNN(m, cudnnSetTensor4dDescriptor(c.x, CUDNN_TENSOR_NCHW,
                                                  CUDNN_DATA_FLOAT, s.n, s.c,
                                                  s.h, s.w));
    SPARQ_CHECK_DNN(m, cudnnSetTensor4dDescriptor(c.y, CUDNN_TENSOR_NCHW,
                                                  CUDNN_DATA_FLOAT, s.n, s.f,
                                                  s.oh, s.ow));
    SPARQ_CHECK_DNN(m, cudnnSetFilter4dDescriptor(c.w, CUDNN_DATA_FLOAT,
                                                  CUDNN_TENSOR_NCHW, s.f,
                                                  s.c / s.groups, s.kh, s.kw));
    SPARQ_CHECK_DNN(m, cudnnSetConvolution2dDescriptor(
                           c.conv, 0, 0, s.sh, s.sw, s.dh, s.dw,
                           CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    SPARQ_CHECK_DNN(m, cudnnSetConvolutionGroupCount(c.conv, s.groups));
    SPARQ_CHECK_DNN(m, cudnnSetConvolutionMathType(c.conv, CUDNN_FMA_MATH));
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    int found = 0;
    SPARQ_CHECK_DNN(m, cudnnGetConvolutionForwardAlgorithm_v7(
                           m->dnn, c.x, c.w, c.conv, c.y, 8, &found, perf));
    // The fastest that cuDNN could run (the list is sorted by time).
    int pick = 0;
    while (pick < found && perf[pick].status != CUDNN_STATUS_SUCCESS)
      ++pick;
    if (pick == found)
      return fail(m, "cuDNN has no algorithm for convolution " +
                         std::to_string(i));
    c.algo = perf[pick].algo;
    size_t ws = 0;
    SPARQ_CHECK_DNN(m, cudnnGetConvolutionForwardWorkspaceSize(
                           m->dnn, c.x, c.w, c.conv, c.y, c.algo, &ws));
    m->workspaceBytes = ws > m->workspaceBytes ? ws : m->workspaceBytes;
    m->convs.push_back(c);
  }
  if (m->workspaceBytes)
    SPARQ_CHECK(m, cudaMalloc(&m->workspace, m->workspaceBytes));
  return true;
#endif
}

inline void stop(Model *m) {
#ifndef SPARQ_CUDA_EMULATION
  for (Model::Conv &c : m->convs) {
    cudnnDestroyTensorDescriptor(c.x);
    cudnnDestroyTensorDescriptor(c.y);
    cudnnDestroyFilterDescriptor(c.w);
    cudnnDestroyConvolutionDescriptor(c.conv);
  }
  if (m->dnn)
    cudnnDestroy(m->dnn);
  if (m->blas)
    cublasDestroy(m->blas);
  if (m->stream)
    cudaStreamDestroy(m->stream);
  for (cudaEvent_t e : m->marks)
    if (e)
      cudaEventDestroy(e);
#endif
  release(m->workspace);
  release(m->arena);
  release(m->weights);
}

/// C[b][M, N] += op(A[b]) op(B[b]) for b < batch, row-major; op(A) is
/// [M, K] (A stored [K, M] when transA), op(B) [K, N] (B stored [N, K]
/// when transB); A, B and C advance by their strides per batch.
inline bool gemm(Model *m, bool transA, bool transB, int M, int N, int K,
                 const float *A, const float *B, float *C, int batch,
                 long long strideA, long long strideB, long long strideC) {
#ifdef SPARQ_CUDA_EMULATION
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        float acc = C[b * strideC + i * N + j];
        for (int k = 0; k < K; ++k)
          acc += A[b * strideA + (transA ? k * M + i : i * K + k)] *
                 B[b * strideB + (transB ? j * K + k : k * N + j)];
        C[b * strideC + i * N + j] = acc;
      }
  return true;
#else
  // Row-major C = A B is column-major C^T = B^T A^T.
  const float one = 1.0f;
  SPARQ_CHECK_BLAS(m, cublasSgemmStridedBatched(
                          m->blas, transB ? CUBLAS_OP_T : CUBLAS_OP_N,
                          transA ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &one, B,
                          transB ? K : N, strideB, A, transA ? M : K, strideA,
                          &one, C, N, strideC, batch));
  return true;
#endif
}

/// y += conv(x, w) for convolution `i` of the model's table `s`.
inline bool conv(Model *m, int i, const ConvShape &s, const float *x,
                 const float *w, float *y) {
#ifdef SPARQ_CUDA_EMULATION
  (void)i;
  int cg = s.c / s.groups, fg = s.f / s.groups;
  for (int n = 0; n < s.n; ++n)
    for (int f = 0; f < s.f; ++f)
      for (int oy = 0; oy < s.oh; ++oy)
        for (int ox = 0; ox < s.ow; ++ox) {
          float *o = y + ((long long)(n * s.f + f) * s.oh + oy) * s.ow + ox;
          float acc = *o;
          int g = f / fg;
          for (int c = 0; c < cg; ++c)
            for (int ky = 0; ky < s.kh; ++ky)
              for (int kx = 0; kx < s.kw; ++kx)
                acc += x[((long long)(n * s.c + g * cg + c) * s.h + oy * s.sh +
                          ky * s.dh) *
                             s.w +
                         ox * s.sw + kx * s.dw] *
                       w[((long long)(f * cg + c) * s.kh + ky) * s.kw + kx];
          *o = acc;
        }
  return true;
#else
  const float one = 1.0f;
  Model::Conv &c = m->convs[i];
  SPARQ_CHECK_DNN(m, cudnnConvolutionForward(m->dnn, &one, c.x, x, c.w, w,
                                             c.conv, c.algo, m->workspace,
                                             m->workspaceBytes, &one, c.y, y));
  return true;
#endif
}

/// Marks the start (0) or the end (1) of the run's device work.
inline bool mark(Model *m, int which) {
#ifdef SPARQ_CUDA_EMULATION
  m->marks[which] = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count();
#else
  SPARQ_CHECK(m, cudaEventRecord(m->marks[which], m->stream));
#endif
  return true;
}

/// Waits for the run, reports a kernel's error, if any, and the time
/// between the marks.
inline bool finish(Model *m) {
#ifndef SPARQ_CUDA_EMULATION
  SPARQ_CHECK(m, cudaGetLastError());
  SPARQ_CHECK(m, cudaStreamSynchronize(m->stream));
  float ms = 0;
  SPARQ_CHECK(m, cudaEventElapsedTime(&ms, m->marks[0], m->marks[1]));
  m->lastDeviceMs = ms;
#else
  m->lastDeviceMs = m->marks[1] - m->marks[0];
#endif
  return true;
}

} // namespace sparq_rt

#endif // SPARQ_CUDA_RUNTIME_H
