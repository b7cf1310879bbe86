//===- SizeMath.h - Overflow-checked arithmetic on sizes --------*- C++ -*-===//
//
// Part of sparq. Plain C++17.
//
// Sizes, offsets, strides, pads and element counts read from a model, an
// input file or a flag are hostile: near 2^63 their products and sums
// overflow, which is undefined behaviour, not an error. Every such
// computation goes through a SizeMath: each step checks (the compilers'
// __builtin_*_overflow), and after a chain of steps the caller asks ok() once
// and reports the attribute that was out of range.
//
//   SizeMath m;
//   int64_t full = m.add(m.mul(stride, m.sub(in, 1)), kernel);
//   if (!m.ok())
//     return ctx.error() << "strides " << ... << " overflow";
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_IO_SIZEMATH_H
#define SPARQ_RUNTIME_IO_SIZEMATH_H

#include <cstdint>

namespace sparq {

class SizeMath {
public:
  int64_t add(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? fail() : r;
  }
  int64_t sub(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_sub_overflow(a, b, &r) ? fail() : r;
  }
  int64_t mul(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? fail() : r;
  }
  /// a / b rounded toward zero; a zero divisor (or INT64_MIN / -1) fails.
  int64_t div(int64_t a, int64_t b) {
    if (b == 0 || (b == -1 && a == INT64_MIN))
      return fail();
    return a / b;
  }
  /// a / b rounded up, for a >= 0 and b > 0 (output sizes of windows).
  int64_t ceilDiv(int64_t a, int64_t b) {
    if (b <= 0 || a < 0)
      return fail();
    return a / b + (a % b != 0);
  }
  /// The product of `dims`; a negative dimension fails too.
  template <typename Range> int64_t product(const Range &dims) {
    int64_t r = 1;
    for (int64_t d : dims)
      r = d < 0 ? fail() : mul(r, d);
    return r;
  }
  /// Whether every step so far stayed in range.
  bool ok() const { return !failed; }

private:
  int64_t fail() {
    failed = true;
    return 0;
  }
  bool failed = false;
};

} // namespace sparq

#endif // SPARQ_RUNTIME_IO_SIZEMATH_H
