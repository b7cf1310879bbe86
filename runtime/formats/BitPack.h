//===- BitPack.h - little-endian bit streams --------------------*- C++ -*-===//
//
// Codes narrower than a byte (2-bit ternary, 4-bit indices, 12-bit fixed
// point, ...) are packed LSB-first: code i of width w occupies bits
// [i*w, (i+1)*w) of the byte stream. 2-bit codes packed this way are exactly
// "16 codes per little-endian uint32".
//
// Plain C++ that CUDA device code can call too: the cuda target copies this
// file into packages whose kernels read bit-packed codes.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_FORMATS_BITPACK_H
#define SPARQ_RUNTIME_FORMATS_BITPACK_H

#include <cstdint>

#ifdef __CUDACC__
#define SPARQ_HOST_DEVICE __host__ __device__
#else
#define SPARQ_HOST_DEVICE
#endif

namespace sparq::formats {

SPARQ_HOST_DEVICE inline uint64_t bytesForBits(uint64_t bits) {
  return (bits + 7) / 8;
}

SPARQ_HOST_DEVICE inline void writeBits(uint8_t *buf, uint64_t bitPos,
                                        unsigned width, uint32_t value) {
  for (unsigned done = 0; done < width;) {
    uint64_t byte = (bitPos + done) / 8;
    unsigned shift = (bitPos + done) % 8;
    unsigned take = width - done < 8 - shift ? width - done : 8 - shift;
    uint8_t part = (value >> done) & ((1u << take) - 1);
    buf[byte] = static_cast<uint8_t>(
        (buf[byte] & ~(((1u << take) - 1) << shift)) | (part << shift));
    done += take;
  }
}

SPARQ_HOST_DEVICE inline uint32_t readBits(const uint8_t *buf, uint64_t bitPos,
                                           unsigned width) {
  uint32_t value = 0;
  for (unsigned done = 0; done < width;) {
    uint64_t byte = (bitPos + done) / 8;
    unsigned shift = (bitPos + done) % 8;
    unsigned take = width - done < 8 - shift ? width - done : 8 - shift;
    value |= static_cast<uint32_t>((buf[byte] >> shift) & ((1u << take) - 1))
             << done;
    done += take;
  }
  return value;
}

} // namespace sparq::formats

#endif // SPARQ_RUNTIME_FORMATS_BITPACK_H
