//===- TestData.h - inputs shared by the kernel unit tests ------*- C++ -*-===//

#ifndef SPARQ_TEST_UNIT_TESTDATA_H
#define SPARQ_TEST_UNIT_TESTDATA_H

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

} // namespace sparq::test

#endif // SPARQ_TEST_UNIT_TESTDATA_H
