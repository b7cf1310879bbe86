//===- TestData.h - helpers shared by the kernel unit tests -----*- C++ -*-===//

#ifndef SPARQ_TEST_UNIT_TESTDATA_H
#define SPARQ_TEST_UNIT_TESTDATA_H

#include "runtime/formats/Pruning.h"
#include "runtime/formats/Quantize.h"
#include "runtime/kernels/HostKernels.h"
#include "runtime/kernels/PackedKernels.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace sparq::test {

/// A dense (row-major) memref descriptor of `v` with `sizes`, as the
/// generated code passes one to a kernel.
template <typename T, int R>
kernels::MemRef<T, R> denseMemRef(std::vector<T> &v,
                                  std::array<int64_t, R> sizes) {
  int64_t s[R];
  for (int i = 0; i < R; ++i)
    s[i] = sizes[i];
  return kernels::rowMajor(v.data(), s);
}

/// n floats uniform in [-1, 1), the same for the same seed.
inline std::vector<float> randomVector(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

/// A normal(0, 1) weight that `l` stores: pruned to `density` at the
/// layout's granularity (N:M, BCSR blocks, else elements), then ternarized
/// (threshold t, per row where Wp/Wn are) or shared into a codebook as the
/// layout needs.
inline std::vector<float> weightFor(const formats::Layout &l, int64_t rows,
                                    int64_t cols, double density,
                                    std::mt19937 &rng, double t = 0.05) {
  using namespace formats;
  std::normal_distribution<float> d(0, 1);
  std::vector<float> w(rows * cols);
  for (float &x : w)
    x = d(rng);
  PruneSpec spec;
  spec.ratio = 1 - density;
  if (l.format == Format::NM) {
    spec.granularity = Granularity::NM;
    spec.n = l.n;
    spec.m = l.m;
  } else if (l.format == Format::BCSR) {
    spec.granularity = Granularity::Block;
    spec.blockRows = l.blockRows;
    spec.blockCols = l.blockCols;
  }
  applyMask(w.data(), pruneMask(w.data(), {rows, cols, 1, 1}, spec));
  if (l.quant == Quant::Ternary) {
    if (l.perChannel)
      for (int64_t r = 0; r < rows; ++r)
        ternarize(w.data() + r * cols, cols, t);
    else
      ternarize(w.data(), w.size(), t);
  } else if (l.quant == Quant::Codebook) {
    shareWeights(w.data(), w.size(), (1 << l.bits) - (l.isSparse() ? 1 : 0),
                 l.isSparse());
  }
  return w;
}

/// Every SIMD level this machine has (formats/Simd.h), from the widest
/// down: an AVX-512 machine runs the AVX2 and portable paths too.
inline std::vector<SimdLevel> simdLevels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel l : {SimdLevel::Avx512Vnni, SimdLevel::Avx512, SimdLevel::Avx2,
                      SimdLevel::Portable})
    if (l <= detectedSimd())
      levels.push_back(l);
  return levels;
}

/// Runs `body` at every level of simdLevels() (the portable one calls
/// OpenBLAS where a kernel falls back on it), then lifts the cap.
template <typename Body> void atEveryLevel(Body body) {
  for (SimdLevel level : simdLevels()) {
    SimdLevel got = limitSimd(level);
    EXPECT_EQ(got, level);
    SCOPED_TRACE(std::string("SIMD level ") + simdName(got));
    body();
  }
  limitSimd(SimdLevel::Avx512Vnni);
}

/// Runs `run`, which returns a kernel's outputs, on 1, 2, 3 and 4 threads:
/// every run must give the first one's outputs bit for bit (each output's
/// sums in the same order however the work is split). Back to 2 threads
/// after.
template <typename Run> void expectSameOnEveryThreadCount(Run run) {
  std::vector<float> first;
  for (int threads : {1, 2, 3, 4}) {
    kernels::setNumThreads(threads);
    std::vector<float> got = run();
    if (threads == 1) {
      first = got;
      continue;
    }
    ASSERT_EQ(got.size(), first.size());
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(std::memcmp(&got[i], &first[i], sizeof(float)), 0)
          << "output " << i << " on " << threads << " threads: " << got[i]
          << ", on one: " << first[i];
  }
  kernels::setNumThreads(2);
}

} // namespace sparq::test

#endif // SPARQ_TEST_UNIT_TESTDATA_H
