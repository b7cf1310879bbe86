//===- GradientMessage.h - a DGC sparse gradient on the wire ----*- C++ -*-===//
//
// What a worker sends in Deep Gradient Compression: the entries it selected
// from a flat gradient, as f32 values with 16-bit relative indices (the
// number of positions skipped since the previous entry, as ESE and EIE store
// their weights). A gap longer than 65535 takes a filler entry of value 0.
// Six bytes an entry instead of eight with absolute 32-bit indices: at DGC's
// 0.1% density the mean gap is about 1000, so fillers are rare.
//
// Layout (host byte order; sparq's hosts are little-endian):
//   uint32 entries, uint32 0, f32 values[entries], uint16 skips[entries],
// padded to a multiple of 4 bytes.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_FORMATS_GRADIENTMESSAGE_H
#define SPARQ_RUNTIME_FORMATS_GRADIENTMESSAGE_H

#include <cstddef>
#include <cstdint>

namespace sparq::formats {

constexpr int64_t kGradientMaxSkip = 65535;

/// Entries (fillers included) needed for these strictly ascending positions.
int64_t gradientMessageEntries(const int64_t *positions, int64_t count);

/// Bytes of a message of `entries` entries.
size_t gradientMessageBytes(int64_t entries);

/// Writes the message of values[i] at positions[i] (strictly ascending,
/// non-negative) into out, which holds gradientMessageBytes(
/// gradientMessageEntries(positions, count)) bytes; returns the bytes written.
/// Throws FormatError for positions that are not strictly ascending.
size_t encodeGradientMessage(const int64_t *positions, const float *values,
                             int64_t count, uint8_t *out);

/// dst[p] += value for every entry of the message in msg[0, bytes). Throws
/// FormatError naming the problem if the message is truncated or addresses
/// a position at or past n.
void addGradientMessage(const uint8_t *msg, size_t bytes, float *dst,
                        int64_t n);

} // namespace sparq::formats

#endif // SPARQ_RUNTIME_FORMATS_GRADIENTMESSAGE_H
