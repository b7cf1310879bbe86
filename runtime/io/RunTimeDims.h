//===- RunTimeDims.h - dimensions known only when a model runs --*- C++ -*-===//
//
// Part of sparq. Plain C++17.
//
// A model compiled with run-time dimensions (`--dynamic seq<=128`) has
// symbols: named dimensions of its inputs, each with a compile-time upper
// bound. Every other run-time extent in the model (a KV cache after a
// Concat, past + new tokens) is a linear function of them, a DimExpr. The
// importer builds these, the compiled model's specs carry them, and the
// runtime evaluates them on the shapes of the inputs it is given: output
// shapes before the call, bounds checked before any kernel runs.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_IO_RUNTIMEDIMS_H
#define SPARQ_RUNTIME_IO_RUNTIMEDIMS_H

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sparq::io {

/// A named run-time dimension and where it is read from.
struct DimSymbol {
  std::string name;
  /// Largest value the compiled model accepts.
  int64_t bound = 0;
  /// The input and axis that carry it; axis -1: the value of a scalar
  /// int64 input (a KV cache's length, see KvCacheSpec). Input -1: a
  /// count the model computes (NonZero's, NonMaxSuppression's), known
  /// after the call (docs/design.md, "Data-dependent sizes").
  int input = 0, axis = 0;

  bool computed() const { return input < 0; }
};

/// constant + sum(coeff * symbol): terms sorted by symbol, no zero coeffs.
struct DimExpr {
  int64_t constant = 0;
  std::vector<std::pair<int, int64_t>> terms;

  static DimExpr ofConstant(int64_t c) { return {c, {}}; }
  static DimExpr ofSymbol(int s) { return {0, {{s, 1}}}; }
  bool isConstant() const { return terms.empty(); }
  /// The symbol itself (1 * s + 0), if that is what this is.
  std::optional<int> asSymbol() const;
  bool operator==(const DimExpr &o) const {
    return constant == o.constant && terms == o.terms;
  }
  bool operator<(const DimExpr &o) const {
    return constant != o.constant ? constant < o.constant : terms < o.terms;
  }
  /// Sums and scalings; false on int64 overflow.
  bool add(const DimExpr &o, int64_t scale = 1);
  bool scale(int64_t k);
  /// The value for symbol values `values` (by symbol index); false on
  /// overflow.
  bool evaluate(const std::vector<int64_t> &values, int64_t &out) const;
  /// "past + seq + 1" with the symbols' names.
  std::string str(const std::vector<DimSymbol> &symbols) const;
};

/// A tensor's shape with run-time dims: static extents, or expressions.
struct SymbolicShape {
  /// Static extents; a run-time axis holds its upper bound.
  std::vector<int64_t> bounds;
  /// Per axis: the expression of a run-time axis; empty when all static.
  std::vector<std::optional<DimExpr>> dims;
};

/// A KV cache kept in place (ImportOptions::kvCacheInPlace): the model's
/// `past` input is a buffer of `capacity` along `axis`, holding `length`
/// entries (the scalar input `lengthInput`, the symbol `symbol`); the graph's
/// `present` output, past and new entries, is that buffer's first
/// `appended` entries after a call, the new ones written in place.
struct KvCacheSpec {
  int input = 0, lengthInput = 0, axis = 0, symbol = 0;
  int64_t capacity = 0;
  std::string outputName;
  DimExpr appended;
};

/// Binds the symbols from the shapes of the inputs (computed symbols to
/// their bounds, which is what output buffers are allocated for)
/// (`inputShapes[i]` of the input whose spec is `specs[i]`) and the values of
/// scalar inputs
/// (`scalars[i]`, null if not a scalar int64): each run-time axis must match
/// its expression and stay within its bound. Fills `values` (by symbol) or
/// an error naming the input and axis.
bool bindSymbols(const std::vector<DimSymbol> &symbols,
                 const std::vector<std::string> &inputNames,
                 const std::vector<SymbolicShape> &specs,
                 const std::vector<std::vector<int64_t>> &inputShapes,
                 const std::vector<const int64_t *> &scalars,
                 std::vector<int64_t> &values, std::string &error);
/// Whether an extent of `spec` reads a symbol the model computes (its size
/// is known only after the call).
bool readsComputed(const SymbolicShape &spec,
                   const std::vector<DimSymbol> &symbols);
/// The extents of `spec` for bound symbol `values`.
bool evaluateShape(const SymbolicShape &spec,
                   const std::vector<int64_t> &values,
                   std::vector<int64_t> &out, std::string &error);

} // namespace sparq::io

#endif // SPARQ_RUNTIME_IO_RUNTIMEDIMS_H
