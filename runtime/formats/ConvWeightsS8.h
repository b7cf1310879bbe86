//===- ConvWeightsS8.h - int8 conv weights for the GEMM ---------*- C++ -*-===//
//
// The int8 convolution kernel (kernels/QuantizedConv.h) multiplies rows of
// filter weights by groups of four consecutive k of its input. Its weights,
// reordered into those rows, with each row's sum (the zero point's share:
// sum (u - z) * w = sum u * w - z * sum w), are one blob: the compiler packs
// a QDQ model's constant weights at compile time, the kernel packs others
// at run time; both through packConvWeightsS8.
//
// Blob: a 64-byte header (int64: magic, filters, channels, kh, kw,
// rowBytes, 0, 0), the rows (filters x rowBytes, padded to 64 bytes), then
// the sums (int32 per filter). A row is tap-major, four channels per quad
// (the kernel reads each tap's channels from its input's phase planes):
// k = ((ky * kw + kx) * quads + c / 4) * 4 + c % 4, quads = ceil(C / 4);
// rowBytes = kh * kw * quads * 4, the bytes past C's channels 0.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_FORMATS_CONVWEIGHTSS8_H
#define SPARQ_RUNTIME_FORMATS_CONVWEIGHTSS8_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sparq::formats {

/// A packed blob read in place.
struct ConvWeightsS8 {
  int64_t filters = 0, channels = 0, kh = 0, kw = 0, rowBytes = 0;
  const int8_t *rows = nullptr;
  const int32_t *sums = nullptr;
};

/// Packs w[f, c, kh, kw] (element strides `strides`).
std::vector<uint8_t> packConvWeightsS8(const int8_t *w,
                                       const int64_t strides[4], int64_t f,
                                       int64_t c, int64_t kh, int64_t kw);

/// A view of a blob packConvWeightsS8 made; throws FormatError if `size`
/// bytes at `blob` are not one.
ConvWeightsS8 viewConvWeightsS8(const uint8_t *blob, size_t size);

} // namespace sparq::formats

#endif // SPARQ_RUNTIME_FORMATS_CONVWEIGHTSS8_H
