//===- SparqDialect.h - sparq dialect ---------------------------*- C++ -*-===//
#ifndef SPARQ_DIALECTS_SPARQDIALECT_H
#define SPARQ_DIALECTS_SPARQDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/TensorEncoding.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <cstdint>
#include <vector>

#include "dialects/SparqDialect.h.inc"
#include "dialects/SparqEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/SparqAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialects/SparqOps.h.inc"

namespace mlir::sparq {
/// The matrix a weight of `shape` is compressed as: [shape[0],
/// prod(shape[1:])] (output channels by inputs; a conv's [K, C*R*S]),
/// except rank 3, a recurrent layer's directions stacked ([D, G*H, I] of
/// sparq.lstm/gru/rnn): [D*G*H, I], each direction's rows a block of it.
inline std::pair<int64_t, int64_t> weightMatrixShape(ArrayRef<int64_t> shape) {
  if (shape.empty())
    return {0, 0};
  int64_t rows = shape[0], cols = 1;
  size_t lead = shape.size() == 3 ? 2 : 1;
  for (size_t i = 1; i < shape.size(); ++i)
    (i < lead ? rows : cols) *= shape[i];
  return {rows, cols};
}
} // namespace mlir::sparq

#endif // SPARQ_DIALECTS_SPARQDIALECT_H
