//===- SparqDialect.cpp - sparq dialect registration ----------------------===//

#include "dialects/SparqDialect.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::sparq;

#include "dialects/SparqDialect.cpp.inc"
#include "dialects/SparqEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/SparqAttrs.cpp.inc"

void SparqDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/SparqAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/SparqOps.cpp.inc"
      >();
}
