//===- ScalarExpr.h - graph IR scalars as C++ or Halide source --*- C++ -*-===//
//
// The targets that write source (cuda: CUDA C++, arm: a Halide generator)
// turn a linalg.generic's body into expressions. This is the one
// translation of arith and math ops, with the spelling each target needs:
// C (plain scalars) or Halide (Halide::Expr, where `?:`, casts and integer
// division are spelled differently), plus the small naming helpers both
// share.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_TARGETS_COMMON_SCALAREXPR_H
#define SPARQ_TARGETS_COMMON_SCALAREXPR_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/Operation.h"

#include <string>

namespace sparq::emit {

enum class Syntax { C, Halide };

/// The ONNX node an op came from (its NameLoc), or "".
std::string nodeOf(mlir::Operation *op);
/// A C identifier from a node name: [A-Za-z0-9_], at most 40 characters, no
/// "__".
std::string identifier(const std::string &s);
/// "4x8x8", or "scalar".
std::string shapeText(llvm::ArrayRef<int64_t> shape);
/// The C type of an element type, or "" if the targets have none for it
/// (index is 64-bit).
std::string cType(mlir::Type t);
/// The Halide type of an element type ("Float(32)"), or "". Index is
/// Int(32), Halide's own index type: shapes are static and fit.
std::string halideType(mlir::Type t);
/// Bytes per element in a buffer (index: 8, i1: 1).
int64_t elementBytes(mlir::Type t);
/// A scalar literal of type `t`.
std::string literal(mlir::Attribute a, mlir::Type t, Syntax syntax = Syntax::C);
/// The expression of `op` (one result, arith or math) applied to the
/// expressions `operands`, or "" for an op not translated.
std::string scalarExpression(mlir::Operation *op,
                             llvm::ArrayRef<std::string> operands,
                             Syntax syntax);

} // namespace sparq::emit

#endif // SPARQ_TARGETS_COMMON_SCALAREXPR_H
