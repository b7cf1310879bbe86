//===- Simd.cpp - the instruction set the host code runs at ---------------===//

#include "runtime/formats/Simd.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using sparq::SimdLevel;

namespace {
SimdLevel detect() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  // __builtin_cpu_supports takes literals only.
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
              __builtin_cpu_supports("bmi2");
  bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512cd") &&
                __builtin_cpu_supports("avx512dq") &&
                __builtin_cpu_supports("avx512vl");
  bool vnni = avx512 && __builtin_cpu_supports("avx512vbmi") &&
              __builtin_cpu_supports("avx512vnni");
  return vnni     ? SimdLevel::Avx512Vnni
         : avx512 ? SimdLevel::Avx512
         : avx2   ? SimdLevel::Avx2
                  : SimdLevel::Portable;
#else
  return SimdLevel::Portable;
#endif
}

/// SPARQ_SIMD from the environment: the cap at start-up.
SimdLevel initialCap() {
  const char *env = std::getenv("SPARQ_SIMD");
  if (!env || !*env)
    return SimdLevel::Avx512Vnni;
  for (SimdLevel l : {SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512,
                      SimdLevel::Avx512Vnni})
    if (std::strcmp(env, sparq::simdName(l)) == 0)
      return l;
  std::fprintf(stderr,
               "sparq: ignoring SPARQ_SIMD=%s (expected portable, avx2, "
               "avx512 or avx512vnni)\n",
               env);
  return SimdLevel::Avx512Vnni;
}

std::atomic<SimdLevel> &cap() {
  static std::atomic<SimdLevel> c{initialCap()};
  return c;
}
} // namespace

SimdLevel sparq::detectedSimd() {
  static const SimdLevel level = detect();
  return level;
}

SimdLevel sparq::simdLevel() { return std::min(detectedSimd(), cap().load()); }

SimdLevel sparq::limitSimd(SimdLevel max) {
  cap().store(max);
  return simdLevel();
}

const char *sparq::simdName(SimdLevel level) {
  switch (level) {
  case SimdLevel::Portable:
    return "portable";
  case SimdLevel::Avx2:
    return "avx2";
  case SimdLevel::Avx512:
    return "avx512";
  case SimdLevel::Avx512Vnni:
    return "avx512vnni";
  }
  return "portable";
}
