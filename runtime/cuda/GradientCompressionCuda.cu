//===- GradientCompressionCuda.cu - DGC's local work on a GPU -------------===//
//
// The CPU's steps (runtime/kernels/GradientCompression.cpp) as CUDA kernels
// and CUB device algorithms. Where the CPU uses nth_element, the GPU sorts
// with CUB's radix sort, which is stable: equal magnitudes keep their
// positions' order, so ties go to the earlier position on both.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/GradientCompressionCuda.h"
#include "runtime/formats/GradientMessage.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cub/device/device_select.cuh>
#include <cuda_runtime.h>
#include <thrust/iterator/counting_iterator.h>

#include <cfloat>
#include <cmath>
#include <string>

namespace formats = sparq::formats;
namespace kernels = sparq::kernels;
using sparq::gpu::CudaError;

namespace {

#define SPARQ_CUDA_CHECK(call)                                                 \
  do {                                                                         \
    cudaError_t err_ = (call);                                                 \
    if (err_ != cudaSuccess)                                                   \
      throw CudaError(std::string(#call) + ": " + cudaGetErrorString(err_));   \
  } while (0)

/// Device memory freed in stream order when it goes out of scope.
template <typename T> struct DeviceArray {
  T *data = nullptr;
  cudaStream_t stream;
  DeviceArray(size_t count, cudaStream_t s) : stream(s) {
    if (count)
      SPARQ_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void **>(&data),
                                       count * sizeof(T), stream));
  }
  ~DeviceArray() {
    if (data)
      cudaFreeAsync(data, stream);
  }
  DeviceArray(const DeviceArray &) = delete;
  DeviceArray &operator=(const DeviceArray &) = delete;
};

/// Runs a CUB algorithm twice: once to size its scratch space, once to work.
template <typename Algorithm>
void withScratch(cudaStream_t stream, Algorithm algorithm) {
  size_t size = 0;
  SPARQ_CUDA_CHECK(algorithm(nullptr, size));
  DeviceArray<uint8_t> scratch(size ? size : 1, stream);
  SPARQ_CUDA_CHECK(algorithm(scratch.data, size));
}

template <typename T> T readBack(const T *device, cudaStream_t stream) {
  T value;
  SPARQ_CUDA_CHECK(cudaMemcpyAsync(&value, device, sizeof(T),
                                   cudaMemcpyDeviceToHost, stream));
  SPARQ_CUDA_CHECK(cudaStreamSynchronize(stream));
  return value;
}

unsigned blocksFor(int64_t n) {
  return unsigned(std::min<int64_t>((n + 255) / 256, 65535));
}

constexpr int kThreads = 256;

#define GRID_STRIDE(i, n)                                                      \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n);    \
       i += int64_t(gridDim.x) * blockDim.x)

/// u = m*u + g; v += u, each rounded (no FMA), as the CPU does.
__global__ void accumulate(float *u, float *v, const float *g, int64_t n,
                           float m) {
  GRID_STRIDE(i, n) {
    float x = __fadd_rn(__fmul_rn(m, u[i]), g[i]);
    u[i] = x;
    if (v)
      v[i] = __fadd_rn(v[i], x);
  }
}

__device__ float magnitude(float x) {
  x = fabsf(x);
  return isnan(x) ? 0.0f : x;
}

__global__ void takeSample(const float *v, int64_t n, int64_t samples,
                           uint64_t seed, float *out) {
  GRID_STRIDE(j, samples) {
    out[j] = magnitude(v[kernels::samplePosition(j, n, samples, seed)]);
  }
}

/// *thr = max(sorted[rank - 1], the smallest denormal): zeros never pass.
__global__ void setThreshold(const float *sorted, int64_t rank, float *thr) {
  *thr = fmaxf(sorted[rank - 1], FLT_TRUE_MIN);
}

struct AtLeast {
  const float *v;
  const float *thr;
  __device__ bool operator()(int64_t i) const { return fabsf(v[i]) >= *thr; }
};

/// keys[i] = |v[p]| (NaN: 0), values[i] = p, for p = pos[i] (or i).
__global__ void magnitudes(const float *v, const int64_t *pos, int64_t count,
                           float *keys, int64_t *values) {
  GRID_STRIDE(i, count) {
    int64_t p = pos ? pos[i] : i;
    keys[i] = magnitude(v[p]);
    values[i] = p;
  }
}

/// *first = the first i < count with keys[i] < the smallest denormal
/// (keys sorted descending; *first starts at count).
__global__ void firstZero(const float *keys, int64_t count,
                          unsigned long long *first) {
  GRID_STRIDE(i, count) {
    if (keys[i] < FLT_TRUE_MIN && (i == 0 || keys[i - 1] >= FLT_TRUE_MIN))
      *first = (unsigned long long)i;
  }
}

__global__ void gather(const float *v, const int64_t *pos, int64_t count,
                       int64_t offset, int64_t *allPos, float *allVal) {
  GRID_STRIDE(i, count) {
    allPos[i] = offset + pos[i];
    allVal[i] = v[pos[i]];
  }
}

__global__ void clearAt(float *u, float *v, const int64_t *pos, int64_t count) {
  GRID_STRIDE(i, count) {
    if (u)
      u[pos[i]] = 0;
    v[pos[i]] = 0;
  }
}

__device__ int64_t skipBefore(const int64_t *pos, int64_t i) {
  return pos[i] - (i ? pos[i - 1] : -1) - 1;
}

/// Entries each selected value takes: itself and its fillers.
__global__ void entriesOf(const int64_t *pos, int64_t count, int64_t *out) {
  GRID_STRIDE(i, count) {
    out[i] = 1 + skipBefore(pos, i) / (formats::kGradientMaxSkip + 1);
  }
}

__global__ void writeEntries(const int64_t *pos, const float *val,
                             const int64_t *start, int64_t count,
                             int64_t entries, uint8_t *message) {
  float *vals = reinterpret_cast<float *>(message + 8);
  uint16_t *skips = reinterpret_cast<uint16_t *>(message + 8 + 4 * entries);
  GRID_STRIDE(i, count) {
    int64_t skip = skipBefore(pos, i), e = start[i];
    for (; skip > formats::kGradientMaxSkip;
         skip -= formats::kGradientMaxSkip + 1, ++e) {
      vals[e] = 0.0f;
      skips[e] = uint16_t(formats::kGradientMaxSkip);
    }
    vals[e] = val[i];
    skips[e] = uint16_t(skip);
  }
}

__global__ void stepsOf(const uint8_t *message, int64_t entries,
                        int64_t *steps) {
  const uint8_t *skips = message + 8 + 4 * entries;
  GRID_STRIDE(e, entries) {
    uint16_t skip;
    memcpy(&skip, skips + 2 * e, 2);
    steps[e] = int64_t(skip) + 1;
  }
}

/// out[pos] += value; the first entry past n is recorded in *bad.
__global__ void addEntries(const uint8_t *message, const int64_t *position,
                           int64_t entries, float *out, int64_t n,
                           unsigned long long *bad) {
  const uint8_t *vals = message + 8;
  GRID_STRIDE(e, entries) {
    int64_t p = position[e] - 1;
    if (p >= n) {
      atomicMin(bad, (unsigned long long)e);
      continue;
    }
    float x;
    memcpy(&x, vals + 4 * e, 4);
    out[p] += x;
  }
}

int bitsFor(int64_t n) {
  int bits = 1;
  while (bits < 63 && (int64_t(1) << bits) < n)
    ++bits;
  return bits;
}

/// Sorts positions ascending in place.
void sortPositions(DeviceArray<int64_t> &pos, int64_t count, int64_t n,
                   cudaStream_t stream) {
  DeviceArray<int64_t> sorted(count, stream);
  int bits = bitsFor(n);
  withScratch(stream, [&](void *scratch, size_t &size) {
    return cub::DeviceRadixSort::SortKeys(scratch, size, pos.data, sorted.data,
                                          count, 0, bits, stream);
  });
  std::swap(pos.data, sorted.data);
}

/// The k positions of largest |v| among `pos` (count of them, ascending):
/// a stable sort by magnitude, the first k, back in position order.
void keepLargest(const float *v, int64_t n, DeviceArray<int64_t> &pos,
                 int64_t &count, int64_t k, cudaStream_t stream) {
  if (count <= k)
    return;
  DeviceArray<float> keys(count, stream), keysOut(count, stream);
  DeviceArray<int64_t> values(count, stream);
  magnitudes<<<blocksFor(count), kThreads, 0, stream>>>(v, pos.data, count,
                                                        keys.data, values.data);
  withScratch(stream, [&](void *scratch, size_t &size) {
    return cub::DeviceRadixSort::SortPairsDescending(
        scratch, size, keys.data, keysOut.data, values.data, pos.data, count, 0,
        32, stream);
  });
  count = k;
  sortPositions(pos, count, n, stream);
}

/// selectLargest on the GPU: positions (ascending) into `pos`, their count.
int64_t selectLargest(const float *v, int64_t n, int64_t k,
                      const kernels::SelectOptions &options,
                      DeviceArray<int64_t> &pos, cudaStream_t stream) {
  if (k <= 0 || n <= 0)
    return 0;
  kernels::SamplePlan plan = kernels::samplePlan(n, k, options);
  if (plan.samples) {
    DeviceArray<float> sample(plan.samples, stream),
        sorted(plan.samples, stream), thr(1, stream);
    takeSample<<<blocksFor(plan.samples), kThreads, 0, stream>>>(
        v, n, plan.samples, options.seed, sample.data);
    withScratch(stream, [&](void *scratch, size_t &size) {
      return cub::DeviceRadixSort::SortKeysDescending(
          scratch, size, sample.data, sorted.data, plan.samples, 0, 32, stream);
    });
    setThreshold<<<1, 1, 0, stream>>>(sorted.data, plan.rank, thr.data);
    DeviceArray<int64_t> found(n, stream), count(1, stream);
    withScratch(stream, [&](void *scratch, size_t &size) {
      return cub::DeviceSelect::If(
          scratch, size, thrust::counting_iterator<int64_t>(0), found.data,
          count.data, n, AtLeast{v, thr.data}, stream);
    });
    int64_t above = readBack(count.data, stream);
    if (above >= (1.0 - options.tolerance) * double(k)) {
      std::swap(pos.data, found.data);
      keepLargest(v, n, pos, above, k, stream);
      return above;
    }
  }
  // Exact: every magnitude sorted (stable), the first k, zeros dropped.
  DeviceArray<float> keys(n, stream), keysOut(n, stream);
  DeviceArray<int64_t> values(n, stream), order(n, stream);
  DeviceArray<unsigned long long> first(1, stream);
  magnitudes<<<blocksFor(n), kThreads, 0, stream>>>(v, nullptr, n, keys.data,
                                                    values.data);
  withScratch(stream, [&](void *scratch, size_t &size) {
    return cub::DeviceRadixSort::SortPairsDescending(
        scratch, size, keys.data, keysOut.data, values.data, order.data, n, 0,
        32, stream);
  });
  int64_t kk = std::min(k, n);
  unsigned long long none = kk;
  SPARQ_CUDA_CHECK(cudaMemcpyAsync(first.data, &none, sizeof none,
                                   cudaMemcpyHostToDevice, stream));
  firstZero<<<blocksFor(kk), kThreads, 0, stream>>>(keysOut.data, kk,
                                                    first.data);
  int64_t count = int64_t(readBack(first.data, stream));
  std::swap(pos.data, order.data);
  sortPositions(pos, count, n, stream);
  return count;
}

} // namespace

bool sparq::gpu::deviceAvailable(std::string *why) {
  int devices = 0;
  cudaError_t err = cudaGetDeviceCount(&devices);
  if (err != cudaSuccess || devices == 0) {
    if (why)
      *why = err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device";
    cudaGetLastError(); // clear it
    return false;
  }
  return true;
}

size_t
sparq::gpu::messageCapacity(const std::vector<kernels::GradientPart> &parts) {
  int64_t entries = 1, end = 0;
  for (const kernels::GradientPart &p : parts) {
    if (p.v)
      entries += std::min(p.k, p.n);
    end = std::max(end, p.offset + p.n);
  }
  return formats::gradientMessageBytes(entries +
                                       end / (formats::kGradientMaxSkip + 1));
}

size_t sparq::gpu::compressGradients(
    const std::vector<kernels::GradientPart> &parts, float momentum,
    const kernels::SelectOptions &options, uint8_t *message, size_t capacity,
    void *streamHandle) {
  cudaStream_t stream = static_cast<cudaStream_t>(streamHandle);
  int64_t budget = 0;
  for (const kernels::GradientPart &p : parts)
    if (p.v)
      budget += std::min(p.k, p.n);
  DeviceArray<int64_t> allPos(budget, stream);
  DeviceArray<float> allVal(budget, stream);
  int64_t count = 0;
  for (const kernels::GradientPart &p : parts) {
    if (p.g)
      accumulate<<<blocksFor(p.n), kThreads, 0, stream>>>(p.u, p.v, p.g, p.n,
                                                          momentum);
    if (!p.v)
      continue;
    kernels::SelectOptions o = options;
    o.seed = p.seed;
    DeviceArray<int64_t> pos(0, stream);
    int64_t picked = selectLargest(p.v, p.n, p.k, o, pos, stream);
    if (picked) {
      gather<<<blocksFor(picked), kThreads, 0, stream>>>(
          p.v, pos.data, picked, p.offset, allPos.data + count,
          allVal.data + count);
      clearAt<<<blocksFor(picked), kThreads, 0, stream>>>(p.u, p.v, pos.data,
                                                          picked);
    }
    count += picked;
  }
  int64_t entries = 0;
  DeviceArray<int64_t> perEntry(count, stream), start(count, stream);
  if (count) {
    entriesOf<<<blocksFor(count), kThreads, 0, stream>>>(allPos.data, count,
                                                         perEntry.data);
    withScratch(stream, [&](void *scratch, size_t &size) {
      return cub::DeviceScan::InclusiveSum(scratch, size, perEntry.data,
                                           start.data, count, stream);
    });
    entries = readBack(start.data + count - 1, stream);
    withScratch(stream, [&](void *scratch, size_t &size) {
      return cub::DeviceScan::ExclusiveSum(scratch, size, perEntry.data,
                                           start.data, count, stream);
    });
  }
  size_t bytes = formats::gradientMessageBytes(entries);
  if (bytes > capacity)
    throw CudaError("dgc: a message of " + std::to_string(bytes) +
                    " bytes does not fit the " + std::to_string(capacity) +
                    " given");
  SPARQ_CUDA_CHECK(cudaMemsetAsync(message, 0, bytes, stream));
  uint32_t header = uint32_t(entries);
  SPARQ_CUDA_CHECK(
      cudaMemcpyAsync(message, &header, 4, cudaMemcpyHostToDevice, stream));
  if (count)
    writeEntries<<<blocksFor(count), kThreads, 0, stream>>>(
        allPos.data, allVal.data, start.data, count, entries, message);
  SPARQ_CUDA_CHECK(cudaGetLastError());
  SPARQ_CUDA_CHECK(cudaStreamSynchronize(stream));
  return bytes;
}

void sparq::gpu::addGradientMessages(const uint8_t *messages, int64_t workers,
                                     int64_t bytes, float *out, int64_t n,
                                     void *streamHandle) {
  cudaStream_t stream = static_cast<cudaStream_t>(streamHandle);
  for (int64_t w = 0; w < workers; ++w) {
    const uint8_t *message = messages + w * bytes;
    if (bytes < 8)
      throw CudaError("gradient message: " + std::to_string(bytes) +
                      " bytes, shorter than its 8-byte header");
    int64_t entries =
        readBack(reinterpret_cast<const uint32_t *>(message), stream);
    if (formats::gradientMessageBytes(entries) > size_t(bytes))
      throw CudaError("gradient message: " + std::to_string(entries) +
                      " entries do not fit in " + std::to_string(bytes) +
                      " bytes");
    if (!entries)
      continue;
    DeviceArray<int64_t> steps(entries, stream), position(entries, stream);
    DeviceArray<unsigned long long> bad(1, stream);
    unsigned long long none = entries;
    SPARQ_CUDA_CHECK(cudaMemcpyAsync(bad.data, &none, sizeof none,
                                     cudaMemcpyHostToDevice, stream));
    stepsOf<<<blocksFor(entries), kThreads, 0, stream>>>(message, entries,
                                                         steps.data);
    withScratch(stream, [&](void *scratch, size_t &size) {
      return cub::DeviceScan::InclusiveSum(scratch, size, steps.data,
                                           position.data, entries, stream);
    });
    addEntries<<<blocksFor(entries), kThreads, 0, stream>>>(
        message, position.data, entries, out, n, bad.data);
    unsigned long long first = readBack(bad.data, stream);
    if (first != (unsigned long long)entries)
      throw CudaError("gradient message: entry " + std::to_string(first) +
                      " past the gradient's " + std::to_string(n) + " values");
  }
  SPARQ_CUDA_CHECK(cudaGetLastError());
}
