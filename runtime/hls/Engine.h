//===- Engine.h - the ESE-style sparse engine: model and numerics -*- C++
//-*-===//
//
// What the hls target builds (targets/hls) is an engine of P processing
// elements in the style of ESE: PE p owns rows p, p+P, ... of every weight
// matrix, stored as interleaved CSC with 4-bit relative indices and 12-bit
// fixed-point (or 4-bit codebook) values, exactly as runtime/formats packs
// them. EngineModel describes a compiled model for it; this library is the
// engine's definition: the weights' conversion, the fixed-point reference
// (runReference, which the emitted C++ must match bit for bit) and the
// cycle model (CycleModel.h).
//
// Numerics (docs/hls.md):
//   activations  int16 with `actFrac` fraction bits (Q5.10 by default);
//   weights      12-bit codes with `frac` fraction bits, per matrix;
//   products     summed exactly in int64 (frac + actFrac fraction bits),
//                rounded half up to actFrac, saturated to int16;
//   sigmoid/tanh 2048-entry tables over [-8, 8), steps of 1/128.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_HLS_ENGINE_H
#define SPARQ_RUNTIME_HLS_ENGINE_H

#include "runtime/formats/Layout.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sparq::hls {

/// Bits of a stored weight value (1 sign + 11) and of an activation.
constexpr unsigned kWeightBits = 12;
constexpr int kDefaultActFrac = 10;
/// The activation tables: 2^kTableBits entries over [-8, 8).
constexpr unsigned kTableBits = 11;
constexpr int kTableFrac = 7; // input steps of 2^-7

enum class Act : uint8_t { None, Relu, Sigmoid, Tanh };
const char *actName(Act a);

/// One weight matrix as the engine stores it: an interleaved-CSC blob of
/// runtime/formats (formats::pack) with fixed-point or 4-bit codebook
/// values. `frac`: fraction bits of its values in the datapath (a
/// codebook's centroids are rounded to 12 bits at it: `table`).
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> blob;
  int frac = 0;
  std::vector<int16_t> table; // codebook: centroid codes
  /// Stored entries per PE (padding included): the work of each PE.
  std::vector<int64_t> peEntries;
  int64_t nonzeros = 0;
};

/// Packs w[rows, cols] for `pes` PEs. `layout` is the weight's own
/// encoding: a 4-bit codebook stays one (its centroids rounded to 12 bits);
/// fixed point of 12 bits keeps its fraction bits; anything else becomes
/// 12-bit fixed point with the most fraction bits that hold max|w|. Throws
/// formats::FormatError.
Matrix makeMatrix(const float *w, int64_t rows, int64_t cols, unsigned pes,
                  const formats::Layout &layout);

struct Layer {
  enum Kind : uint8_t { Dense, Lstm } kind = Dense;
  std::string node; // the ONNX node
  /// Dense: y = act(W x + bias). Lstm (ONNX gates i, o, f, c; peepholes
  /// i, o, f): W [4H, I], R [4H, H], bias [8H] (Wb, Rb), peepholes [3H].
  Matrix w, r;
  std::vector<int16_t> bias, peepholes;
  Act act = Act::None;
  int32_t clip = -1; // Lstm: |pre-activation| bound at actFrac; -1 none
  int64_t inputs = 0, outputs = 0;
};

struct EngineModel {
  int actFrac = kDefaultActFrac;
  unsigned pes = 32;
  /// The input is `steps` vectors of `inputs` (an LSTM's sequence, or an
  /// FC stack's batch); each layer maps every step's vector.
  int64_t steps = 1, inputs = 0, outputs = 0;
  std::vector<Layer> layers;
};

/// round(v * 2^frac), saturated to int16.
int16_t quantize(double v, int frac);
/// (a + 2^(s-1)) >> s for s > 0 (round half up), a for s = 0.
inline int64_t roundShift(int64_t a, int s) {
  return s > 0 ? (a + (int64_t(1) << (s - 1))) >> s : a;
}
inline int16_t saturate16(int64_t v) {
  return int16_t(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

/// The table of `a` (Sigmoid or Tanh) for activations with `frac` fraction
/// bits: entry i is f at the middle of [ (i - 1024) / 128, (i - 1023) / 128 ).
std::vector<int16_t> activationTable(Act a, int frac);
/// The entry of `table` that x (at `frac`, >= kTableFrac) falls in.
inline int16_t lookUp(const std::vector<int16_t> &table, int16_t x, int frac) {
  int64_t i =
      (int64_t(x) >> (frac - kTableFrac)) + (int64_t(1) << (kTableBits - 1));
  i = i < 0 ? 0 : i >= int64_t(table.size()) ? int64_t(table.size()) - 1 : i;
  return table[i];
}

/// Runs the model on `input` (steps x inputs activations) with plain loops
/// over the matrices decoded by formats::decodeRows: the engine's meaning,
/// which the emitted code must reproduce exactly. Returns steps x outputs.
std::vector<int16_t> runReference(const EngineModel &m,
                                  const std::vector<int16_t> &input);

} // namespace sparq::hls

#endif // SPARQ_RUNTIME_HLS_ENGINE_H
