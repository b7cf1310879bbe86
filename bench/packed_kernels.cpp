//===- packed_kernels.cpp - packed-weight kernels against dense BLAS ------===//
//
// Google Benchmark, one process, side by side:
//   - memory bandwidth, STREAM triad style (a = b + s * c), and reading
//     alone (a sum), the ceiling for matrix-vector products;
//   - 90%-sparse GEMM and 1x1 conv (CSR) against dense sgemm (OpenBLAS);
//   - ternary, int4-group and 4-bit codebook GEMV against fp32 sgemv, with
//     bytes/s counted on the packed bytes; act_bits:8 runs them on int8
//     activations (Layout::actBits).
// Everything runs on SPARQ_BENCH_THREADS threads (default 1), OpenBLAS and
// the packed kernels' pool alike, so that the ratios compare kernels.
//
//   build/bin/sparq-bench-kernels --benchmark_min_time=0.5
//   SPARQ_BENCH_THREADS=2 build/bin/sparq-bench-kernels ...
//   SPARQ_SIMD=avx2 build/bin/sparq-bench-kernels ...   (avx512: no VNNI;
//   portable); with OPENBLAS_CORETYPE=Haswell, OpenBLAS's AVX2 kernels too
//
// For ratios on a shared machine, repeat with random interleaving and let
// bench/bandwidth_ratios.py read the JSON (bench/RESULTS.md, session 10).
//
//===----------------------------------------------------------------------===//

#include "runtime/formats/Packed.h"
#include "runtime/formats/Pruning.h"
#include "runtime/formats/Quantize.h"
#include "runtime/formats/Simd.h"
#include "runtime/kernels/DenseGemm.h"
#include "runtime/kernels/HostKernels.h"
#include "runtime/kernels/PackedKernels.h"
#include "runtime/kernels/QuantizedConv.h"
#include "runtime/kernels/ThreadPool.h"

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);

using namespace sparq;

namespace {

std::vector<float> randomWeights(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> w(n);
  for (float &x : w)
    x = d(rng);
  return w;
}

// Arrays well beyond the last-level cache (32 MiB here).
constexpr int64_t kStreamElems = int64_t(1) << 24; // 64 MiB per array
constexpr size_t kStreamWorkingSet = 2 * 3 * kStreamElems * sizeof(float);

void BM_StreamTriad(benchmark::State &state) {
  std::vector<float> a(kStreamElems), b(kStreamElems, 1.0f),
      c(kStreamElems, 2.0f);
  for (auto _ : state) {
    // On the same threads as the kernels: the bandwidth they can have.
    kernels::parallelFor(kStreamElems, 1 << 16, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i)
        a[i] = b[i] + 3.0f * c[i];
    });
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * kStreamElems * 3 * 4);
}
BENCHMARK(BM_StreamTriad)->Unit(benchmark::kMillisecond);

/// The sum of n words, in enough lanes to vectorize without reassociating
/// floats: a read-only stream, as a GEMV's weight is.
uint32_t sumWords(const uint32_t *__restrict p, int64_t n) {
  uint32_t s = 0;
  sparq::withSimd([&]() SPARQ_SIMD_INLINE {
    for (int64_t i = 0; i < n; ++i)
      s += p[i];
  });
  return s;
}

// Read-only bandwidth over the triad's 192 MiB. A GEMV only reads, and on
// some machines reading alone goes slower than the triad's count of bytes
// (which leaves out the write-allocate reads of `a`): this is the ceiling a
// GEMV can reach there.
void BM_StreamRead(benchmark::State &state) {
  std::vector<uint32_t> a(3 * kStreamElems, 1);
  for (auto _ : state) {
    std::atomic<uint32_t> sum{0};
    kernels::parallelFor(3 * kStreamElems, 1 << 16,
                         [&](int64_t b0, int64_t b1) {
                           sum += sumWords(a.data() + b0, b1 - b0);
                         });
    benchmark::DoNotOptimize(sum.load());
  }
  state.SetBytesProcessed(state.iterations() * 3 * kStreamElems * 4);
}
BENCHMARK(BM_StreamRead)->Unit(benchmark::kMillisecond);

// --- Sparse GEMM: W[M, K] (90% sparse) x X[K, N] --------------------------

constexpr int64_t kM = 1024, kK = 1024, kN = 256;

std::vector<float> sparseWeight(int64_t rows, int64_t cols, double ratio) {
  std::vector<float> w = randomWeights(rows * cols, 1);
  formats::PruneSpec spec;
  spec.ratio = ratio;
  formats::applyMask(w.data(),
                     formats::pruneMask(w.data(), {rows, cols, 1, 1}, spec));
  return w;
}

void BM_DenseSgemm(benchmark::State &state) {
  std::vector<float> w = sparseWeight(kM, kK, 0.9),
                     x = randomWeights(kK * kN, 2), y(kM * kN);
  for (auto _ : state)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kM, kN, kK, 1.0f,
                w.data(), kK, x.data(), kN, 0.0f, y.data(), kN);
  state.SetItemsProcessed(state.iterations() * kM * kN * kK);
}
BENCHMARK(BM_DenseSgemm)->Unit(benchmark::kMillisecond);

void BM_SparseGemm90(benchmark::State &state) {
  std::vector<float> w = sparseWeight(kM, kK, 0.9),
                     x = randomWeights(kK * kN, 2), y(kM * kN);
  formats::Layout l;
  l.format = formats::Format::CSR;
  std::vector<uint8_t> blob = formats::pack(w.data(), kM, kK, l);
  formats::PackedView v(blob.data(), blob.size());
  for (auto _ : state)
    kernels::packedSpmm(v, x.data(), kN, y.data(), kN, kN, false);
  // Dense-equivalent multiply-adds, so items/s compare with sgemm.
  state.SetItemsProcessed(state.iterations() * kM * kN * kK);
}
BENCHMARK(BM_SparseGemm90)->Unit(benchmark::kMillisecond);

// --- 1x1 convolution, 256 -> 256 channels on 56x56 --------------------------

constexpr int64_t kC = 256, kHW = 56;

void conv1x1(benchmark::State &state, bool packed) {
  std::vector<float> w = sparseWeight(kC, kC, 0.9),
                     x = randomWeights(kC * kHW * kHW, 3), y(kC * kHW * kHW);
  kernels::F32x4 in{x.data(),
                    x.data(),
                    0,
                    {1, kC, kHW, kHW},
                    {kC * kHW * kHW, kHW * kHW, kHW, 1}};
  kernels::F32x4 out{y.data(),
                     y.data(),
                     0,
                     {1, kC, kHW, kHW},
                     {kC * kHW * kHW, kHW * kHW, kHW, 1}};
  kernels::F32x4 wm{w.data(), w.data(), 0, {kC, kC, 1, 1}, {kC, 1, 1, 1}};
  kernels::ConvParams p;
  p.accumulate = false;
  p.lo = -INFINITY;
  p.hi = INFINITY;
  formats::Layout l;
  l.format = formats::Format::CSR;
  std::vector<uint8_t> blob = formats::pack(w.data(), kC, kC, l);
  formats::PackedView v(blob.data(), blob.size());
  for (auto _ : state) {
    if (packed)
      kernels::packedConv2dNchwF32(v, &in, &out, 1, 1, p);
    else
      kernels::conv2dNchwF32(&in, &wm, &out, p);
  }
  state.SetItemsProcessed(state.iterations() * kC * kC * kHW * kHW);
}
void BM_DenseConv1x1(benchmark::State &s) { conv1x1(s, false); }
void BM_SparseConv1x1_90(benchmark::State &s) { conv1x1(s, true); }
BENCHMARK(BM_DenseConv1x1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SparseConv1x1_90)->Unit(benchmark::kMillisecond);

// --- Dense convolution GEMM: out[M, N] = W[M, K] * cols[K, N] ------------
// ResNet-18's 3x3 convolutions (M filters, K = 9 C, N = output pixels):
// sgemm against DenseGemm's gemmF32, multiply-adds per second.

void denseConvGemm(benchmark::State &state, bool own) {
  int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  std::vector<float> w = randomWeights(m * k, 8), b = randomWeights(k * n, 9),
                     c(m * n);
  for (auto _ : state) {
    if (own)
      kernels::gemmF32(w.data(), k, b.data(), n, m, n, k, c.data(), n, false,
                       nullptr, -INFINITY, INFINITY);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f,
                  w.data(), k, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetItemsProcessed(state.iterations() * m * n * k);
}
void BM_ConvGemmSgemm(benchmark::State &s) { denseConvGemm(s, false); }
void BM_ConvGemmOwn(benchmark::State &s) { denseConvGemm(s, true); }
#define SPARQ_CONV_SHAPES                                                      \
  Args({64, 576, 3136})                                                        \
      ->Args({128, 1152, 784})                                                 \
      ->Args({256, 2304, 196})                                                 \
      ->Args({512, 4608, 49})                                                  \
      ->Unit(benchmark::kMillisecond)                                          \
      ->UseRealTime()
BENCHMARK(BM_ConvGemmSgemm)->SPARQ_CONV_SHAPES;
BENCHMARK(BM_ConvGemmOwn)->SPARQ_CONV_SHAPES;

// The same shapes on integers: int8 weights times uint8 columns in quads
// (QuantizedConv.h), the GEMM of a quantized (QDQ) convolution.
void BM_ConvGemmU8S8(benchmark::State &state) {
  int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  std::vector<int8_t> a(m * k, 3);
  std::vector<uint8_t> b(k * n + 256, 7);
  std::vector<int32_t> c(m * n);
  for (auto _ : state) {
    kernels::gemmU8S8(a.data(), b.data(), m, n, k, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetItemsProcessed(state.iterations() * m * n * k);
}
BENCHMARK(BM_ConvGemmU8S8)->SPARQ_CONV_SHAPES;
// MobileNetV2's 1x1 convolutions: expansions (small K, large outputs) and
// projections (large K, few filters), early and late; then ResNet-50's
// bottleneck 1x1s at 56x56, 28x28 and 7x7.
#define SPARQ_POINTWISE_SHAPES                                                 \
  Args({96, 16, 12544})                                                        \
      ->Args({256, 64, 3136})                                                  \
      ->Args({64, 256, 3136})                                                  \
      ->Args({512, 128, 784})                                                  \
      ->Args({2048, 512, 49})                                                  \
      ->Args({144, 24, 3136})                                                  \
      ->Args({24, 144, 3136})                                                  \
      ->Args({32, 192, 784})                                                   \
      ->Args({960, 160, 49})                                                   \
      ->Args({160, 960, 49})                                                   \
      ->Unit(benchmark::kMicrosecond)                                          \
      ->UseRealTime()
void BM_PointwiseGemmSgemm(benchmark::State &s) { denseConvGemm(s, false); }
void BM_PointwiseGemmOwn(benchmark::State &s) { denseConvGemm(s, true); }
BENCHMARK(BM_PointwiseGemmSgemm)->SPARQ_POINTWISE_SHAPES;
BENCHMARK(BM_PointwiseGemmOwn)->SPARQ_POINTWISE_SHAPES;

// --- GEMV on 8192 x 8192: fp32 (256 MiB) vs packed
// ----------------------------

constexpr int64_t kRows = 8192, kCols = 8192;

void BM_DenseSgemv(benchmark::State &state) {
  std::vector<float> w = randomWeights(kRows * kCols, 4),
                     x = randomWeights(kCols, 5), y(kRows);
  for (auto _ : state)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, kRows, kCols, 1.0f, w.data(),
                kCols, x.data(), 1, 0.0f, y.data(), 1);
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}
BENCHMARK(BM_DenseSgemv)->Unit(benchmark::kMillisecond);

void packedGemv(benchmark::State &state, formats::Layout l,
                void (*prepare)(std::vector<float> &)) {
  std::vector<float> w = randomWeights(kRows * kCols, 4),
                     x = randomWeights(kCols, 5), y(kRows);
  if (prepare)
    prepare(w);
  std::vector<uint8_t> blob = formats::pack(w.data(), kRows, kCols, l);
  std::vector<float>().swap(w);
  // A packed weight of 16-35 MiB would stay in the 32 MiB last-level cache
  // from one iteration to the next; the iterations take turns over copies
  // of it, as many as hold twice STREAM's 192 MiB, so each reads memory.
  size_t copies = (kStreamWorkingSet + blob.size() - 1) / blob.size();
  std::vector<std::vector<uint8_t>> blobs(copies, blob);
  std::vector<formats::PackedView> views;
  for (const auto &b : blobs)
    views.emplace_back(b.data(), b.size());
  size_t turn = 0;
  // The cost of the activations' int8 tables is in the time.
  for (auto _ : state) {
    kernels::packedGemv(views[turn], x.data(), y.data(), false);
    turn = (turn + 1) % copies;
  }
  state.SetBytesProcessed(state.iterations() * views[0].payloadBytes());
  state.counters["packed_MiB"] = views[0].payloadBytes() / 1048576.0;
}

void BM_TernaryGemv(benchmark::State &state) {
  formats::Layout l;
  l.quant = formats::Quant::Ternary;
  l.actBits = unsigned(state.range(0));
  packedGemv(state, l, [](std::vector<float> &w) {
    formats::ternarize(w.data(), w.size(), 0.05);
  });
}
BENCHMARK(BM_TernaryGemv)
    ->ArgName("act_bits")
    ->Arg(0)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond);

/// AWQ-style int4: groups of 128 inputs, a zero point each.
formats::Layout int4Groups() {
  formats::Layout l;
  l.quant = formats::Quant::Int;
  l.bits = 4;
  l.group = 128;
  l.zeroPoints = true;
  return l;
}

void BM_Int4Gemv(benchmark::State &state) {
  formats::Layout l = int4Groups();
  l.actBits = unsigned(state.range(0));
  packedGemv(state, l, nullptr);
}
BENCHMARK(BM_Int4Gemv)
    ->ArgName("act_bits")
    ->Arg(0)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond);

void BM_Codebook4Gemv(benchmark::State &state) {
  formats::Layout l;
  l.quant = formats::Quant::Codebook;
  l.bits = 4;
  l.actBits = unsigned(state.range(0));
  packedGemv(state, l, [](std::vector<float> &w) {
    formats::shareWeights(w.data(), w.size(), 16, false, 5);
  });
}
BENCHMARK(BM_Codebook4Gemv)
    ->ArgName("act_bits")
    ->Arg(0)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond);

// A decoder's prefill on int4 weights: 16 tokens through an MLP's up
// projection (2816 x 1024, groups of 128, zero points), against the dense
// f32 GEMM on the same weights laid out in panels at compile time (the
// product it decodes to; its weights read 8 times the bytes).
constexpr int64_t kPrefillTokens = 16, kPrefillRows = 2816, kPrefillCols = 1024;

void BM_Int4Prefill(benchmark::State &state) {
  formats::Layout l = int4Groups();
  std::vector<float> w = randomWeights(kPrefillRows * kPrefillCols, 4),
                     a = randomWeights(kPrefillTokens * kPrefillCols, 5),
                     y(kPrefillTokens * kPrefillRows);
  std::vector<uint8_t> blob =
      formats::pack(w.data(), kPrefillRows, kPrefillCols, l);
  formats::PackedView v(blob.data(), blob.size());
  for (auto _ : state)
    kernels::packedLinear(v, a.data(), kPrefillCols, y.data(), kPrefillRows,
                          kPrefillTokens, false);
  state.SetItemsProcessed(state.iterations() * kPrefillTokens * kPrefillRows *
                          kPrefillCols);
}
BENCHMARK(BM_Int4Prefill)->Unit(benchmark::kMillisecond);

void BM_DenseF32Prefill(benchmark::State &state) {
  std::vector<float> w = randomWeights(kPrefillRows * kPrefillCols, 4),
                     a = randomWeights(kPrefillTokens * kPrefillCols, 5),
                     y(kPrefillTokens * kPrefillRows);
  std::vector<float> panels = kernels::panelsF32(
      w.data(), kPrefillCols, /*transposed=*/true, kPrefillCols, kPrefillRows);
  for (auto _ : state)
    kernels::gemmF32Panels(a.data(), kPrefillCols, panels.data(),
                           kPrefillTokens, kPrefillRows, kPrefillCols, y.data(),
                           kPrefillRows, false);
  state.SetItemsProcessed(state.iterations() * kPrefillTokens * kPrefillRows *
                          kPrefillCols);
}
BENCHMARK(BM_DenseF32Prefill)->Unit(benchmark::kMillisecond);

} // namespace

int main(int argc, char **argv) {
  const char *env = std::getenv("SPARQ_BENCH_THREADS");
  int threads = env ? std::max(1, std::atoi(env)) : 1;
  // sparq's kernels as sparq sets them up (OpenBLAS on one thread where its
  // own GEMM runs), then OpenBLAS on the same threads for the baselines.
  // Once set up, the kernels leave OpenBLAS's threads alone.
  kernels::setNumThreads(threads);
  openblas_set_num_threads(threads);
  benchmark::AddCustomContext("threads", std::to_string(threads));
  // SPARQ_SIMD (runtime/formats/Simd.h) caps the kernels' level.
  benchmark::AddCustomContext("simd", simdName(simdLevel()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
