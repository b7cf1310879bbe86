//===- GradientMessage.cpp - a DGC sparse gradient on the wire ------------===//

#include "runtime/formats/GradientMessage.h"
#include "runtime/formats/Packed.h"

#include <cstring>
#include <string>

using namespace sparq::formats;

namespace {
constexpr size_t kHeaderBytes = 8;

/// Fillers needed to bridge `skip` positions.
int64_t fillers(int64_t skip) { return skip / (kGradientMaxSkip + 1); }
} // namespace

int64_t sparq::formats::gradientMessageEntries(const int64_t *positions,
                                               int64_t count) {
  int64_t entries = count, prev = -1;
  for (int64_t i = 0; i < count; ++i) {
    entries += fillers(positions[i] - prev - 1);
    prev = positions[i];
  }
  return entries;
}

size_t sparq::formats::gradientMessageBytes(int64_t entries) {
  size_t bytes = kHeaderBytes + size_t(entries) * 6;
  return (bytes + 3) & ~size_t(3);
}

size_t sparq::formats::encodeGradientMessage(const int64_t *positions,
                                             const float *values, int64_t count,
                                             uint8_t *out) {
  int64_t entries = gradientMessageEntries(positions, count);
  size_t bytes = gradientMessageBytes(entries);
  auto *vals = reinterpret_cast<float *>(out + kHeaderBytes);
  auto *skips = reinterpret_cast<uint16_t *>(vals + entries);
  int64_t e = 0, prev = -1;
  for (int64_t i = 0; i < count; ++i) {
    if (positions[i] <= prev)
      throw FormatError("gradient message: position " +
                        std::to_string(positions[i]) + " after " +
                        std::to_string(prev) + " (not ascending)");
    int64_t skip = positions[i] - prev - 1;
    while (skip > kGradientMaxSkip) {
      vals[e] = 0.0f;
      skips[e++] = uint16_t(kGradientMaxSkip);
      skip -= kGradientMaxSkip + 1;
    }
    vals[e] = values[i];
    skips[e++] = uint16_t(skip);
    prev = positions[i];
  }
  uint32_t header[2] = {uint32_t(entries), 0};
  std::memcpy(out, header, sizeof header);
  std::memset(out + kHeaderBytes + entries * 6, 0,
              bytes - kHeaderBytes - entries * 6);
  return bytes;
}

void sparq::formats::addGradientMessage(const uint8_t *msg, size_t bytes,
                                        float *dst, int64_t n) {
  if (bytes < kHeaderBytes)
    throw FormatError("gradient message: " + std::to_string(bytes) +
                      " bytes, shorter than its 8-byte header");
  uint32_t header[2];
  std::memcpy(header, msg, sizeof header);
  int64_t entries = header[0];
  if (gradientMessageBytes(entries) > bytes)
    throw FormatError("gradient message: " + std::to_string(entries) +
                      " entries do not fit in " + std::to_string(bytes) +
                      " bytes");
  const uint8_t *vals = msg + kHeaderBytes;
  const uint8_t *skips = vals + entries * 4;
  int64_t pos = -1;
  for (int64_t e = 0; e < entries; ++e) {
    float v;
    uint16_t skip;
    std::memcpy(&v, vals + e * 4, 4);
    std::memcpy(&skip, skips + e * 2, 2);
    pos += int64_t(skip) + 1;
    if (pos >= n)
      throw FormatError("gradient message: entry " + std::to_string(e) +
                        " at position " + std::to_string(pos) +
                        " past the gradient's " + std::to_string(n) +
                        " values");
    dst[pos] += v;
  }
}
