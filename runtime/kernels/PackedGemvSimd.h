//===- PackedGemvSimd.h - SIMD table sums over packed codes -----*- C++ -*-===//
//
// The inner loop of the matrix-vector products on dense ternary and 4-bit
// weights, vectorized by hand for AVX-512 (PackedGemvAvx512.cpp) and AVX2
// (PackedGemvAvx2.cpp): what the compiler does not find on its own. Those
// weights store their rows as 32-bit words in tiles of 16 rows
// (formats::tiledWordIndex), so one 64-byte load gives the same word of 16
// rows. Each 4-bit slot of a word (a pair of ternary codes, or one 4-bit
// code) indexes a 16-entry table built from x by the caller: what that
// slot's code adds to the row (e.g. code * x[col]). One permute looks the
// slot up for 16 rows at once, so the work per weight is a fraction of an
// instruction. PackedKernels.cpp calls a namespace's kernel only at its
// SIMD level (runtime/formats/Simd.h).
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_PACKEDGEMVSIMD_H
#define SPARQ_RUNTIME_KERNELS_PACKEDGEMVSIMD_H

#include <cstdint>

namespace sparq::kernels {
/// Rows of a tile of codes (formats::kTileRows).
constexpr int64_t kCodeTile = 16;

/// What each slot's tables are: one table of 16 floats; two (32 floats, the
/// second summed apart); or one table whose entry q is q * entry 1 (int4's
/// q * x), which a kernel may multiply out instead of looking up.
enum class SlotTables { One, Two, Linear };

/// Bytes of one word's int8 tables (activations quantized to int8): One,
/// 128: the 16 entries of slots 0, 2, 4, 6, then of slots 1, 3, 5, 7; Two,
/// 256: the first table's 128, then the second's; Linear, 8: entry 1 (x) of
/// slots 0, 2, 4, 6, 1, 3, 5, 7, entry q being q * entry 1.
constexpr int64_t int8TableBytes(SlotTables kind) {
  return kind == SlotTables::Two ? 256 : kind == SlotTables::One ? 128 : 8;
}

/// An int4 GEMV's group epilogue, which the int8 kernel can apply itself
/// where each group (slab) ends: y[r] += scale[g * rows + r] * (sum -
/// zero[g * rows + r] * xsum[g]), zero 8 where zeros is null. A tile's 16
/// scales and zeros lie side by side (formats::scaleIndex), so this costs a
/// few instructions per tile and group, and the sums never go to memory.
struct GroupEpilogue {
  const float *scales;
  const uint8_t *zeros; // null: symmetric
  const float *xsum;    // per group, the sum of x as quantized
  int64_t rows;
  float *y;
};
} // namespace sparq::kernels

// Both namespaces declare:
//
//   /// For the full tiles [t0, t1) of `codes` (`words` words per row), adds
//   /// up the table entries that words [k0, k1) select: word k's slot j
//   /// (bits 4j...4j+3) indexes tables[((k - k0) * 8 + j) * T + 0...15]
//   /// (T = 32 with SlotTables::Two, whose entry 16 + index goes to second
//   /// sums, else 16). Words k with the same k / slabWords make one slab
//   /// of sums (an int4 group), the first slab being k0's: row i of tile t
//   /// adds into sums[s * (t1 - t0) * T + (t - t0) * T + i] (+ 16 for the
//   /// second).
//   void tileTableSums(const uint32_t *codes, int64_t words, int64_t t0,
//                      int64_t t1, int64_t k0, int64_t k1,
//                      const float *tables, SlotTables kind,
//                      int64_t slabWords, float *sums);

namespace sparq::kernels::avx512 {
void tileTableSums(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                   int64_t k0, int64_t k1, const float *tables, SlotTables kind,
                   int64_t slabWords, float *sums);
} // namespace sparq::kernels::avx512

/// AVX-512 with VBMI and VNNI, on int8 tables (int8TableBytes per word,
/// word k's at tables + (k - k0) * int8TableBytes(kind)): tileTableSums,
/// but each block of blockWords words (k / blockWords, the block of x's
/// scale) sums exactly in int32 and adds to the f32 sums times
/// scales[k / blockWords]. With `epilogue` (SlotTables::Linear, k0 and k1
/// at ends of slabs or k1 == words), each slab's sums go into y through it
/// instead of into `sums`.
namespace sparq::kernels::avx512vnni {
void tileTableSums(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                   int64_t k0, int64_t k1, const int8_t *tables,
                   SlotTables kind, int64_t slabWords, int64_t blockWords,
                   const float *scales, float *sums,
                   const GroupEpilogue *epilogue = nullptr);
} // namespace sparq::kernels::avx512vnni

/// AVX2 + FMA, 8 lanes wide (half a tile at a time).
namespace sparq::kernels::avx2 {
void tileTableSums(const uint32_t *codes, int64_t words, int64_t t0, int64_t t1,
                   int64_t k0, int64_t k1, const float *tables, SlotTables kind,
                   int64_t slabWords, float *sums);
} // namespace sparq::kernels::avx2

#endif // SPARQ_RUNTIME_KERNELS_PACKEDGEMVSIMD_H
