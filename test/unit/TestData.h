//===- TestData.h - helpers shared by the kernel unit tests -----*- C++ -*-===//

#ifndef SPARQ_TEST_UNIT_TESTDATA_H
#define SPARQ_TEST_UNIT_TESTDATA_H

#include "runtime/formats/Pruning.h"
#include "runtime/formats/Quantize.h"
#include "runtime/kernels/PackedKernels.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace sparq::test {

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

/// Runs `body` with the AVX-512 kernels (where the CPU has them) and with
/// the fallbacks (OpenBLAS, portable loops), then lifts the cap.
template <typename Body> void atEveryLevel(Body body) {
  using kernels::SimdLevel;
  for (SimdLevel level : {SimdLevel::Avx512Vnni, SimdLevel::Portable}) {
    SimdLevel got = kernels::limitSimd(level);
    SCOPED_TRACE(got >= SimdLevel::Avx512 ? "AVX-512 kernels" : "fallbacks");
    body();
  }
  kernels::limitSimd(SimdLevel::Avx512Vnni);
}

} // namespace sparq::test

#endif // SPARQ_TEST_UNIT_TESTDATA_H
