//===- QuantizedElementwise.h - QDQ elementwise ops on bytes ----*- C++ -*-===//
//
// The elementwise ops of QDQ models between their integer convolutions, on
// the uint8/int8 activations themselves: what onnxruntime's QLinearAdd
// does. A residual connection (DequantizeLinear of two activations, Add,
// maybe a Relu, QuantizeLinear) is one pass over bytes on every thread
// instead of a float pass of the generated code.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_QUANTIZEDELEMENTWISE_H
#define SPARQ_RUNTIME_KERNELS_QUANTIZEDELEMENTWISE_H

#include <cstdint>
#include <functional>

namespace sparq::kernels {

/// out = round-half-even(clamp(float(a - zeroA) * scaleA +
/// float(b - zeroB) * scaleB + offset, lo, hi)) per element, a and b read
/// as uint8 or int8 (`unsignedA/B`), out as a byte (lo and hi integers
/// within uint8's or int8's range). The scales are the inputs' over the
/// output's; offset its zero point.
struct QuantizedAdd {
  int32_t zeroA, zeroB;
  bool unsignedA, unsignedB;
  float scaleA, scaleB, offset, lo, hi;
};
void quantizedAdd(const uint8_t *a, const uint8_t *b, uint8_t *out, int64_t n,
                  const QuantizedAdd &q);

/// Symbols of these kernels for the JIT, as forEachHostKernel.
void forEachQuantizedElementwiseKernel(
    const std::function<void(const char *, void *)> &fn);

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_QUANTIZEDELEMENTWISE_H
