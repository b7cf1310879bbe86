//===- SimdClones.h - one binary, SIMD picked at run time -------*- C++ -*-===//
//
// SPARQ_SIMD_CLONES on a function makes GCC compile it for AVX-512
// (x86-64-v4), AVX2 (x86-64-v3) and the baseline, and pick one when the
// program loads: the build stays portable across the CPUs it runs on.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_SIMDCLONES_H
#define SPARQ_RUNTIME_KERNELS_SIMDCLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SPARQ_SIMD_CLONES                                                      \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SPARQ_SIMD_CLONES
#endif

#endif // SPARQ_RUNTIME_KERNELS_SIMDCLONES_H
