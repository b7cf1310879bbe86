//===- Layout.h - how one weight matrix is stored ---------------*- C++ -*-===//
//
// The plain-C++ twin of `#sparq.encoding`: the storage format of the non-zeros
// and the representation of their values. Every weight is seen as a row-major
// matrix W[rows, cols] with rows = output channels and cols = the input
// dimension (a conv weight [K, C, R, S] is [K, C*R*S]).
//
// This library (runtime/formats) is the one implementation of every format:
// the compiler passes, the host kernels and the Python package all use it.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_FORMATS_LAYOUT_H
#define SPARQ_RUNTIME_FORMATS_LAYOUT_H

#include <cstdint>
#include <string>

namespace sparq::formats {

enum class Format : uint8_t { Dense, CSR, CSC, BCSR, NM, InterleavedCSC };
enum class Quant : uint8_t { None, Ternary, Int, Codebook, Fixed };

struct Layout {
  Format format = Format::Dense;
  // BCSR: block shape. N:M: at most `n` non-zeros in every `m` weights.
  int64_t blockRows = 1, blockCols = 1;
  int64_t n = 0, m = 0;
  // Interleaved CSC: row i belongs to PE i % pes; `indexBits`-bit relative
  // index (zeros before each entry).
  unsigned pes = 1, indexBits = 4;

  Quant quant = Quant::None;
  // Int, codebook: bits per code. Fixed: intBits + fracBits + 1 sign bit.
  unsigned bits = 0;
  int64_t group = 0;       // int: weights per scale along cols; 0 = whole row
  bool zeroPoints = false; // int: asymmetric (AWQ) when true
  bool perChannel = false; // ternary: Wp/Wn per row instead of per layer
  unsigned intBits = 0, fracBits = 0;
  // Activations of the matrix-vector products on this weight: 0 = f32;
  // 8 = int8, quantized per block of columns as the product runs (W2A8,
  // W4A8). Dense ternary, int4 and 4-bit codebook layouts only; products
  // with more than one column (GEMM, convolutions) stay f32.
  unsigned actBits = 0;

  /// Bits of one stored value: 32 (f32), 2 (ternary), `bits` (int,
  /// codebook) or 1 + intBits + fracBits (fixed).
  unsigned valueBits() const;
  bool isSparse() const { return format != Format::Dense; }
};

/// Whether the matrix-vector product on such a weight of `cols` columns runs
/// by table lookups on tiled words (dense ternary; int4 whose groups are
/// whole words; 4-bit codebooks): the products int8 activations need.
bool tableGemv(const Layout &layout, int64_t cols);

/// Empty when `layout` can store a rows x cols matrix, else why not.
std::string checkLayout(const Layout &layout, int64_t rows, int64_t cols);

/// Short human-readable name: "csr", "bcsr4x4", "nm2:4", "icsc32/4b",
/// followed by "+ternary", "+int4g128", "+cb4", "+q3.8".
std::string describe(const Layout &layout);

} // namespace sparq::formats

#endif // SPARQ_RUNTIME_FORMATS_LAYOUT_H
