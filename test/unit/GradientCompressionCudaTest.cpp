//===- GradientCompressionCudaTest.cpp - DGC on a GPU against the CPU -----===//
//
// The GPU must send the bytes the CPU sends for the same gradients, and
// leave u and v the same: built where nvcc is, run where a GPU is (skipped,
// with the reason, elsewhere).
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/GradientCompressionCuda.h"
#include "runtime/formats/GradientMessage.h"
#include "runtime/kernels/GradientCompression.h"
#include "test/unit/RequireGpu.h"
#include "test/unit/TestData.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>

using namespace sparq;

namespace {

template <typename T> struct OnDevice {
  T *data = nullptr;
  size_t count;
  explicit OnDevice(const std::vector<T> &host) : count(host.size()) {
    EXPECT_EQ(cudaMalloc(&data, count * sizeof(T) + 1), cudaSuccess);
    cudaMemcpy(data, host.data(), count * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~OnDevice() { cudaFree(data); }
  std::vector<T> host() const {
    std::vector<T> out(count);
    cudaMemcpy(out.data(), data, count * sizeof(T), cudaMemcpyDeviceToHost);
    return out;
  }
};

/// One part's host state.
struct Part {
  std::vector<float> u, v, g;
  int64_t k;
  bool sparse;
};

/// Runs compressGradients on the CPU and the GPU from the same state and
/// expects the same message, u and v.
void expectSameAsCpu(std::vector<Part> parts, float momentum) {
  std::vector<kernels::GradientPart> cpu, gpu;
  std::vector<std::unique_ptr<OnDevice<float>>> held;
  int64_t offset = 0;
  uint64_t seed = 11;
  for (Part &p : parts) {
    kernels::GradientPart c;
    c.u = p.u.data();
    c.v = p.sparse ? p.v.data() : nullptr;
    c.g = p.g.data();
    c.n = p.g.size();
    c.k = p.k;
    c.offset = offset;
    c.seed = seed++;
    offset += c.n;
    kernels::GradientPart d = c;
    for (float **slot : {&d.u, &d.v}) {
      if (!*slot)
        continue;
      held.push_back(std::make_unique<OnDevice<float>>(
          std::vector<float>(*slot, *slot + c.n)));
      *slot = held.back()->data;
    }
    held.push_back(std::make_unique<OnDevice<float>>(p.g));
    d.g = held.back()->data;
    cpu.push_back(c);
    gpu.push_back(d);
  }
  std::vector<uint8_t> expected = kernels::compressGradients(cpu, momentum);
  size_t capacity = gpu::messageCapacity(gpu);
  ASSERT_GE(capacity, expected.size());
  OnDevice<uint8_t> message(std::vector<uint8_t>(capacity, 0xAB));
  size_t bytes = gpu::compressGradients(gpu, momentum, {}, message.data,
                                        capacity, nullptr);
  ASSERT_EQ(bytes, expected.size());
  std::vector<uint8_t> got = message.host();
  got.resize(bytes);
  EXPECT_EQ(got, expected) << "the GPU's message differs from the CPU's";
  // u and v after masking, bit for bit.
  for (size_t i = 0; i < parts.size(); ++i) {
    std::vector<float> u(cpu[i].n), v(cpu[i].n);
    cudaMemcpy(u.data(), gpu[i].u, u.size() * 4, cudaMemcpyDeviceToHost);
    EXPECT_EQ(std::memcmp(u.data(), cpu[i].u, u.size() * 4), 0) << "u " << i;
    if (!cpu[i].v)
      continue;
    cudaMemcpy(v.data(), gpu[i].v, v.size() * 4, cudaMemcpyDeviceToHost);
    EXPECT_EQ(std::memcmp(v.data(), cpu[i].v, v.size() * 4), 0) << "v " << i;
  }
}

Part part(int64_t n, int64_t k, unsigned seed, bool sparse = true) {
  return {test::randomVector(n, seed), test::randomVector(n, seed + 1),
          test::randomVector(n, seed + 2), k, sparse};
}

TEST(GradientCompressionCuda, SendsWhatTheCpuSends) {
  REQUIRE_GPU();
  // Sampled and trimmed (large), exact (small), dense (a bias).
  expectSameAsCpu({part(3000000, 3000, 1), part(5000, 50, 4),
                   part(64, 0, 7, false), part(600000, 600, 10)},
                  0.9f);
}

TEST(GradientCompressionCuda, LongGapsTakeFillersAsOnTheCpu) {
  REQUIRE_GPU();
  Part p = part(400000, 100, 13);
  // Mostly zeros: the selection runs out of non-zeros and gaps pass 65535.
  for (size_t i = 0; i < p.g.size(); ++i)
    if (i % 97000)
      p.u[i] = p.v[i] = p.g[i] = 0;
  expectSameAsCpu({p}, 0.5f);
}

TEST(GradientCompressionCuda, AddsMessagesAsTheCpu) {
  REQUIRE_GPU();
  int64_t n = 200000;
  std::vector<int64_t> a = {3, 70000, 199999}, b = {0, 3, 150000};
  std::vector<float> va = {1.5f, -2.0f, 3.0f}, vb = {0.25f, 4.0f, -1.0f};
  size_t row = formats::gradientMessageBytes(8);
  std::vector<uint8_t> rows(2 * row, 0);
  formats::encodeGradientMessage(a.data(), va.data(), 3, rows.data());
  formats::encodeGradientMessage(b.data(), vb.data(), 3, rows.data() + row);
  std::vector<float> expected = test::randomVector(n, 3);
  OnDevice<float> out(expected);
  for (int w = 0; w < 2; ++w)
    formats::addGradientMessage(rows.data() + w * row, row, expected.data(), n);
  OnDevice<uint8_t> messages(rows);
  gpu::addGradientMessages(messages.data, 2, row, out.data, n, nullptr);
  std::vector<float> got = out.host();
  EXPECT_EQ(std::memcmp(got.data(), expected.data(), n * 4), 0);
  // A position past the gradient is an error, as on the CPU.
  EXPECT_THROW(gpu::addGradientMessages(messages.data, 1, row, out.data, 199999,
                                        nullptr),
               gpu::CudaError);
}

} // namespace
