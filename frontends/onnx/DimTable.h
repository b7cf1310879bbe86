//===- DimTable.h - run-time dimensions while importing ---------*- C++ -*-===//
//
// The importer keeps shapes as int64 vectors. A run-time dimension is an id
// in that vector (a large negative number, never a valid extent nor MLIR's
// kDynamic) naming an interned linear expression over the model's symbols
// (io::DimExpr), so that two tensors whose extents are both `past + seq`
// carry the same id and broadcast, concatenate or multiply as equals.
//
// The table also gives each id its SSA index value, computed once at the top
// of the function from `tensor.dim` of the inputs: builders size their
// results with it. Builders take OpBuilders and int shapes, not the
// importer, so the table of the import in progress is reachable as
// DimTable::active() (one import at a time per thread).
//
//===----------------------------------------------------------------------===//
#ifndef SPARQ_FRONTENDS_ONNX_DIMTABLE_H
#define SPARQ_FRONTENDS_ONNX_DIMTABLE_H

#include "runtime/io/RunTimeDims.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <map>
#include <string>
#include <vector>

namespace sparq::onnx_import {

/// Ids of run-time dimensions count down from here.
inline constexpr int64_t kFirstDimId = -(int64_t(1) << 40);

class DimTable {
public:
  /// Adds a symbol; returns its index.
  int addSymbol(io::DimSymbol symbol);
  /// Adds a symbol an op computes (`value`, an index defined mid-function)
  /// with the largest value it can take; returns its id as a shape entry.
  int64_t addComputedSymbol(std::string name, int64_t bound, mlir::Value value);
  /// min(d, k) for a run-time `d` (its first k entries, a Slice [0:k] or a
  /// TopK along it): a computed symbol, valued at `b`; returns its id.
  int64_t addMinSymbol(mlir::OpBuilder &b, mlir::Location loc, int64_t d,
                       int64_t k);
  /// The values of the computed symbols, in symbol order.
  llvm::SmallVector<mlir::Value> computedValues() const;
  const std::vector<io::DimSymbol> &symbols() const { return syms; }
  /// Its SSA value (an index), set by the importer at the function's entry.
  void bindSymbol(int symbol, mlir::Value value) { symValues[symbol] = value; }
  /// Reads `symbol` from another input (axis -1: a scalar's value).
  void setSource(int symbol, int input, int axis) {
    syms[symbol].input = input;
    syms[symbol].axis = axis;
  }
  /// Where derived values are computed: before `anchor`, at the top of the
  /// function, after every symbol's value.
  void setAnchor(mlir::Operation *anchor) { this->anchor = anchor; }

  /// The shape entry for `e`: its value if constant (or -1 if negative,
  /// which is not an extent), else the id of the interned expression.
  int64_t dimOf(const io::DimExpr &e);
  /// The expression of a shape entry (a constant for a static extent).
  io::DimExpr exprOf(int64_t d) const;
  /// The largest value `d` takes (its bound from the symbols' bounds; a
  /// negative coefficient counts the symbol as 0).
  int64_t bound(int64_t d) const;
  /// "past + seq" or "16".
  std::string str(int64_t d) const;
  std::string shapeStr(llvm::ArrayRef<int64_t> shape) const;
  /// `shape` with every run-time dim at its bound.
  std::vector<int64_t> boundShape(llvm::ArrayRef<int64_t> shape) const;
  io::SymbolicShape symbolicShape(llvm::ArrayRef<int64_t> shape) const;

  /// The value of `d` as an index (materialized once, at the function's top;
  /// at `b` if it reads a computed symbol).
  mlir::Value value(mlir::OpBuilder &b, mlir::Location loc, int64_t d);
  /// Static extents as attributes, run-time ones as values.
  mlir::OpFoldResult size(mlir::OpBuilder &b, mlir::Location loc, int64_t d);

  /// Whether `d` is an id of this table. A hostile model's shapes hold any
  /// negative number: only ids the table gave out are run-time dims.
  bool isId(int64_t d) const {
    return d <= kFirstDimId && d != mlir::ShapedType::kDynamic &&
           kFirstDimId - d < static_cast<int64_t>(exprs.size());
  }

  /// The table of the import running on this thread (or null).
  static DimTable *active();
  class Scope {
  public:
    explicit Scope(DimTable &t);
    ~Scope();

  private:
    DimTable *previous;
  };

private:
  std::vector<io::DimSymbol> syms;
  std::map<int, mlir::Value> symValues;
  std::vector<io::DimExpr> exprs;
  std::map<io::DimExpr, int64_t> ids;
  std::map<int64_t, mlir::Value> values;
  mlir::Operation *anchor = nullptr;
};

/// Whether `d` is a run-time dim of the import running on this thread.
inline bool isRunTimeDim(int64_t d) {
  DimTable *t = d <= kFirstDimId ? DimTable::active() : nullptr;
  return t && t->isId(d);
}
inline bool hasRunTimeDims(llvm::ArrayRef<int64_t> shape) {
  return llvm::any_of(shape, isRunTimeDim);
}
/// `shape` as an MLIR tensor shape: run-time dims become kDynamic.
llvm::SmallVector<int64_t> mlirShape(llvm::ArrayRef<int64_t> shape);

} // namespace sparq::onnx_import

#endif // SPARQ_FRONTENDS_ONNX_DIMTABLE_H
