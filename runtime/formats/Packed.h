//===- Packed.h - a compressed weight as one self-describing blob -*- C++
//-*-===//
//
// pack() turns a dense row-major matrix and a Layout into bytes: a fixed
// header followed by 64-byte aligned sections. The compiler embeds these bytes
// in the executable; kernels read them in place through PackedView (weights
// are never expanded to dense when loaded); decodeRows() is the reference
// decoder every test and fallback path uses.
//
// Sections, by format:
//   Ptr     CSR row pointers (rows+1), CSC column pointers (cols+1), BCSR
//           block-row pointers (rows/R+1), interleaved CSC: per PE (cols+1)
//           offsets into the entry streams. uint32.
//   Index   CSR/CSC/BCSR: column (row, block column) indices, uint16 when the
//           indexed dimension is <= 65536 else uint32. N:M: ceil(log2 M)-bit
//           positions. Interleaved CSC: `indexBits`-bit zero runs.
//   Values  f32, or codes: ternary 2 bits (0: 0, 1: +Wp, 2: -Wn), int/codebook
//           `bits` bits, fixed 1+m+n bits. Dense layouts pad every row to a
//           byte, except ternary and 4-bit codes: rows of uint32 words (16
//           or 8 codes each), stored in row tiles (see tiledWordIndex).
//   Table   codebook centroids, f32[2^bits].
//   Scales  int: f32 per group (group-major with tiled codes: see
//           scaleIndex); ternary per-channel: (Wp, Wn) per row.
//   Zeros   int asymmetric: uint8 zero point per group, as the scales.
//
// Quantization happens here: ternary codes follow the sign of each value with
// Wp/Wn read from the values (a ternarized weight packs losslessly); codebook
// tables are the distinct values (at most 2^bits); int groups are quantized
// with the AWQ formula; fixed point rounds to the nearest step.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_FORMATS_PACKED_H
#define SPARQ_RUNTIME_FORMATS_PACKED_H

#include "runtime/formats/Layout.h"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace sparq::formats {

/// Thrown by pack() for a layout or data it cannot store, and by
/// PackedView for bytes that are not a valid blob.
struct FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum Section : unsigned {
  Ptr,
  Index,
  Values,
  Table,
  Scales,
  Zeros,
  kNumSections
};

struct Header {
  char magic[4];
  uint32_t version;
  Layout layout;
  int64_t rows, cols;
  int64_t entries;  // stored entries (BCSR: blocks; icsc: incl. padding)
  int64_t nonzeros; // true non-zero values
  float wp, wn;     // per-layer ternary scales
  uint64_t offset[kNumSections], size[kNumSections];
};

constexpr uint32_t kBlobVersion = 4; // 2: ternary words in row tiles;
                                     // 3: 4-bit codes too; 4: actBits
constexpr uint64_t kSectionAlign = 64;

/// Packs w[rows, cols] (row-major). Throws FormatError naming the problem.
std::vector<uint8_t> pack(const float *w, int64_t rows, int64_t cols,
                          const Layout &layout);

/// Read-only view of a blob; checks the header and section bounds.
class PackedView {
public:
  PackedView(const uint8_t *data, size_t size);
  /// Trusts `data` (a blob the compiler embedded); no size to check against.
  explicit PackedView(const uint8_t *data);

  const Header &header() const { return *h; }
  const Layout &layout() const { return h->layout; }
  int64_t rows() const { return h->rows; }
  int64_t cols() const { return h->cols; }

  template <typename T> const T *section(Section s) const {
    return reinterpret_cast<const T *>(base + h->offset[s]);
  }
  uint64_t sectionBytes(Section s) const { return h->size[s]; }
  /// Bytes of all sections: what the weight costs in memory, header aside.
  uint64_t payloadBytes() const;
  /// Index width in bytes for CSR/CSC/BCSR (2 or 4).
  unsigned indexBytes() const;

private:
  void check(size_t size) const;
  const uint8_t *base;
  const Header *h;
};

/// Bits of an N:M slot's position: ceil(log2 M), at least 1.
unsigned nmIndexBits(int64_t m);

/// Bytes of one stored row of a dense quantized layout (rows of tiled
/// codes are padded to whole uint32 words, others to a byte).
uint64_t denseRowBytes(const Layout &layout, int64_t cols);

/// Codes per uint32 word where a dense layout stores its rows as words in
/// row tiles (see tiledWordIndex): 16 for ternary (2 bits), 8 for 4-bit
/// codes (int4, 4-bit codebooks and fixed point); 0 where rows are plain
/// bit strings padded to a byte.
int64_t codesPerWord(const Layout &layout);

/// Rows per tile of a tiled dense layout's words.
constexpr int64_t kTileRows = 16;

/// Index among the uint32 words of a tiled dense layout (`rows` rows of
/// `words` words) of row r's word k. Rows are grouped in tiles of kTileRows
/// (the last tile holds what is left) and a tile is stored word by word: one
/// 64-byte load gives the same word of 16 rows, which is what the GEMVs'
/// table lookups run across. No padding: rows * words words.
inline int64_t tiledWordIndex(int64_t rows, int64_t words, int64_t r,
                              int64_t k) {
  int64_t t0 = r - r % kTileRows;
  int64_t tileRows = rows - t0 < kTileRows ? rows - t0 : kTileRows;
  return t0 * words + k * tileRows + (r - t0);
}

/// Index of row r's group g among an int layout's per-group scales and zero
/// points (`groups` per row): row-major, or, where the codes are tiled
/// words, group-major (g * rows + r): the GEMV finishes a group for row
/// after row, and reads them in order.
int64_t scaleIndex(const Layout &layout, int64_t rows, int64_t groups,
                   int64_t r, int64_t g);

/// Decodes rows [r0, r1) into out[(r1-r0) * cols].
void decodeRows(const PackedView &v, int64_t r0, int64_t r1, float *out);

/// Dequantizes one stored value code (quantized layouts; not int groups).
float codeValue(const PackedView &v, uint32_t code, int64_t row);

} // namespace sparq::formats

#endif // SPARQ_RUNTIME_FORMATS_PACKED_H
