//===- Simd.h - the instruction set the host code runs at -------*- C++ -*-===//
//
// One binary runs on every x86-64 CPU: hand-vectorized kernels and loops the
// compiler vectorizes are each built for several instruction sets, and one
// is picked at run time from what the CPU has, capped by limitSimd. The cap
// is how tests and benchmarks run every level on any machine (an AVX-512
// machine runs the AVX2 and portable paths too), so every level is tested
// wherever the suite runs. SPARQ_SIMD=portable|avx2|avx512|avx512vnni in the
// environment sets the cap at start-up.
//
// Levels and the CPU features each needs:
//   Avx512Vnni  AVX-512 F/BW/VL + VBMI + VNNI (int8-activation GEMVs)
//   Avx512      AVX-512 F/BW/CD/DQ/VL, FMA, BMI2 (x86-64-v4)
//   Avx2        AVX2, FMA, BMI1/2, F16C (x86-64-v3)
//   Portable    the build's baseline (x86-64, or any other architecture)
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_FORMATS_SIMD_H
#define SPARQ_RUNTIME_FORMATS_SIMD_H

namespace sparq {

enum class SimdLevel { Portable, Avx2, Avx512, Avx512Vnni };

/// What this CPU has.
SimdLevel detectedSimd();
/// The level the host code uses now: detectedSimd(), capped by limitSimd.
SimdLevel simdLevel();
/// Caps the level at `max`; returns the level used from now on.
SimdLevel limitSimd(SimdLevel max);
/// "portable", "avx2", "avx512", "avx512vnni".
const char *simdName(SimdLevel level);

// Function attributes: code built for a level whatever the build's baseline.
// ISA flags only (no "arch="), so that a body marked SPARQ_SIMD_INLINE can
// be inlined into them.
#if defined(__x86_64__) && defined(__GNUC__)
#define SPARQ_TARGET_AVX2                                                      \
  __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt")))
#define SPARQ_TARGET_AVX512                                                    \
  __attribute__((target("avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,"    \
                        "fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt")))
#define SPARQ_SIMD_INLINE __attribute__((always_inline))
#else
#define SPARQ_TARGET_AVX2
#define SPARQ_TARGET_AVX512
#define SPARQ_SIMD_INLINE
#endif

namespace detail {
template <typename F> SPARQ_TARGET_AVX512 void atAvx512(const F &body) {
  body();
}
template <typename F> SPARQ_TARGET_AVX2 void atAvx2(const F &body) { body(); }
} // namespace detail

/// Runs `body`, a lambda marked SPARQ_SIMD_INLINE, compiled for simdLevel():
/// the loops in it are vectorized for AVX-512, AVX2 or the baseline. (A
/// lambda's body is compiled once per level where it is inlined.)
///
///   withSimd([&]() SPARQ_SIMD_INLINE {
///     for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
///   });
template <typename F> void withSimd(const F &body) {
  SimdLevel level = simdLevel();
  if (level >= SimdLevel::Avx512)
    return detail::atAvx512(body);
  if (level == SimdLevel::Avx2)
    return detail::atAvx2(body);
  body();
}

} // namespace sparq

#endif // SPARQ_RUNTIME_FORMATS_SIMD_H
