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

#endif // SPARQ_DIALECTS_SPARQDIALECT_H
