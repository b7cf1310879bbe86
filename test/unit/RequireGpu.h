//===- RequireGpu.h - skip a GPU test where there is no GPU -----*- C++ -*-===//
#ifndef SPARQ_TEST_UNIT_REQUIREGPU_H
#define SPARQ_TEST_UNIT_REQUIREGPU_H

#include "runtime/cuda/GradientCompressionCuda.h"

#include <gtest/gtest.h>

#include <string>

/// Skips the test, with the reason, where no CUDA device can be used.
#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    std::string why;                                                           \
    if (!::sparq::gpu::deviceAvailable(&why))                                  \
      GTEST_SKIP() << "no CUDA device here (" << why << ")";                   \
  } while (0)

#endif // SPARQ_TEST_UNIT_REQUIREGPU_H
