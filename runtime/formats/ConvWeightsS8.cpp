//===- ConvWeightsS8.cpp - int8 conv weights as the integer GEMM reads ----===//

#include "runtime/formats/ConvWeightsS8.h"
#include "runtime/formats/Packed.h"

#include <cstring>

using namespace sparq::formats;

namespace {
constexpr int64_t kMagic = 0x38535643'71726170; // "parqCVS8"
constexpr int64_t kHeaderBytes = 64;

int64_t rowBytesOf(int64_t c, int64_t kh, int64_t kw) {
  return kh * kw * ((c + 3) / 4) * 4;
}

int64_t sumsOffset(int64_t f, int64_t rowBytes) {
  return kHeaderBytes + (f * rowBytes + 63) / 64 * 64;
}
} // namespace

std::vector<uint8_t> sparq::formats::packConvWeightsS8(const int8_t *w,
                                                       const int64_t strides[4],
                                                       int64_t f, int64_t c,
                                                       int64_t kh, int64_t kw) {
  int64_t quads = (c + 3) / 4, lda = rowBytesOf(c, kh, kw);
  std::vector<uint8_t> blob(sumsOffset(f, lda) + 4 * f, 0);
  int64_t header[8] = {kMagic, f, c, kh, kw, lda, 0, 0};
  std::memcpy(blob.data(), header, sizeof(header));
  int8_t *rows = reinterpret_cast<int8_t *>(blob.data() + kHeaderBytes);
  std::vector<int32_t> sums(f, 0);
  for (int64_t fi = 0; fi < f; ++fi) {
    int8_t *row = rows + fi * lda;
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t ky = 0; ky < kh; ++ky)
        for (int64_t kx = 0; kx < kw; ++kx) {
          int8_t v = w[fi * strides[0] + ci * strides[1] + ky * strides[2] +
                       kx * strides[3]];
          int64_t k = ((ky * kw + kx) * quads + ci / 4) * 4 + ci % 4;
          row[k] = v;
          sums[fi] += v;
        }
  }
  std::memcpy(blob.data() + sumsOffset(f, lda), sums.data(), 4 * f);
  return blob;
}

ConvWeightsS8 sparq::formats::viewConvWeightsS8(const uint8_t *blob,
                                                size_t size) {
  int64_t header[8];
  if (size < sizeof(header))
    throw FormatError("int8 conv weights: blob too short");
  std::memcpy(header, blob, sizeof(header));
  ConvWeightsS8 v;
  v.filters = header[1], v.channels = header[2], v.kh = header[3],
  v.kw = header[4], v.rowBytes = header[5];
  if (header[0] != kMagic || v.filters < 0 || v.channels < 0 || v.kh < 0 ||
      v.kw < 0 || v.rowBytes != rowBytesOf(v.channels, v.kh, v.kw) ||
      header[6] != 0 || header[7] != 0)
    throw FormatError("int8 conv weights: bad header");
  if (size_t(sumsOffset(v.filters, v.rowBytes) + 4 * v.filters) != size)
    throw FormatError("int8 conv weights: size does not match the header");
  v.rows = reinterpret_cast<const int8_t *>(blob + kHeaderBytes);
  v.sums = reinterpret_cast<const int32_t *>(blob +
                                             sumsOffset(v.filters, v.rowBytes));
  return v;
}
