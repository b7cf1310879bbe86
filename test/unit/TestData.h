//===- TestData.h - helpers shared by the kernel unit tests -----*- C++ -*-===//

#ifndef SPARQ_TEST_UNIT_TESTDATA_H
#define SPARQ_TEST_UNIT_TESTDATA_H

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
