//===- QuantizedElementwise.cpp - QDQ elementwise ops on bytes ------------===//
//
// Built without FMA contraction (CMakeLists.txt): every SIMD level, and the
// generated code these kernels replace, compute the same products and sums.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/QuantizedElementwise.h"
#include "runtime/formats/Simd.h"
#include "runtime/kernels/MemRef.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>

using namespace sparq::kernels;

namespace {
template <bool Unsigned> inline int32_t widen(uint8_t v) {
  return Unsigned ? int32_t(v) : int32_t(int8_t(v));
}

/// Elements [i0, i1); plain parameters so that the byte stores alias
/// nothing the loop reads.
template <bool UA, bool UB>
SPARQ_SIMD_INLINE inline void
addRange(const uint8_t *__restrict a, const uint8_t *__restrict b,
         uint8_t *__restrict out, int64_t i0, int64_t i1, int32_t za,
         int32_t zb, float sa, float sb, float offset, float lo, float hi) {
  // Adding and subtracting 1.5 * 2^23 rounds to an integer, half to even
  // (|y| <= 255 after the clamp, which the integer bounds make exact).
  constexpr float kRound = 12582912.0f;
  for (int64_t i = i0; i < i1; ++i) {
    float t = float(widen<UA>(a[i]) - za) * sa;
    float u = float(widen<UB>(b[i]) - zb) * sb;
    float y = std::min(std::max(t + u + offset, lo), hi);
    out[i] = uint8_t(int32_t((y + kRound) - kRound));
  }
}

template <bool UA, bool UB>
void addAll(const uint8_t *a, const uint8_t *b, uint8_t *out, int64_t n,
            const QuantizedAdd &q) {
  parallelFor(n, 1 << 14, [&](int64_t i0, int64_t i1) {
    sparq::withSimd([&]() SPARQ_SIMD_INLINE {
      addRange<UA, UB>(a, b, out, i0, i1, q.zeroA, q.zeroB, q.scaleA, q.scaleB,
                       q.offset, q.lo, q.hi);
    });
  });
}
} // namespace

void sparq::kernels::quantizedAdd(const uint8_t *a, const uint8_t *b,
                                  uint8_t *out, int64_t n,
                                  const QuantizedAdd &q) {
  if (q.unsignedA)
    q.unsignedB ? addAll<true, true>(a, b, out, n, q)
                : addAll<true, false>(a, b, out, n, q);
  else
    q.unsignedB ? addAll<false, true>(a, b, out, n, q)
                : addAll<false, false>(a, b, out, n, q);
}

extern "C" {
// a, b, out (contiguous bytes); then the zero points of a and b, whether
// each is uint8, the scales of a and b, the offset, and the bounds.
void _mlir_ciface_sparq_qadd_i8(MemRef<uint8_t, 1> *a, MemRef<uint8_t, 1> *b,
                                MemRef<uint8_t, 1> *out, int64_t zeroA,
                                int64_t zeroB, int64_t unsignedA,
                                int64_t unsignedB, float scaleA, float scaleB,
                                float offset, int64_t lo, int64_t hi) {
  QuantizedAdd q{int32_t(zeroA), int32_t(zeroB), unsignedA != 0,
                 unsignedB != 0, scaleA,         scaleB,
                 offset,         float(lo),      float(hi)};
  quantizedAdd(a->data(), b->data(), out->data(), out->sizes[0], q);
}
}

void sparq::kernels::forEachQuantizedElementwiseKernel(
    const std::function<void(const char *, void *)> &fn) {
  fn("_mlir_ciface_sparq_qadd_i8",
     reinterpret_cast<void *>(&_mlir_ciface_sparq_qadd_i8));
}
