//===- Passes.h - sparq passes ----------------------------------*- C++ -*-===//
#ifndef SPARQ_PASSES_PASSES_H
#define SPARQ_PASSES_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace sparq::io {
class WeightsBlob;
} // namespace sparq::io

namespace mlir::sparq {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// A memref of `rank` elements with dynamic sizes, strides and offset: the
/// type of every host kernel's memref parameter, so one declaration fits
/// every call (sparq-host-library-calls, sparq-host-bev-pool).
MemRefType anyMemRef(int64_t rank, Type elem);

/// Before bufferization, the tensor a host kernel call computes: declares
/// `name` (once per module, with the C interface) taking `params`, calls it
/// at `b` on read-only buffers of `inputs`, a new 64-byte aligned buffer
/// of `outType` and then `scalars` (memrefs cast to their parameter
/// types), and returns the output buffer as a tensor.
Value hostKernelCall(OpBuilder &b, Location loc, StringRef name,
                     ArrayRef<Type> params, ValueRange inputs,
                     RankedTensorType outType, ValueRange scalars);

/// The tensors and the returned scalar of a kernel call with several
/// outputs.
struct HostKernelResults {
  SmallVector<Value> outputs;
  Value result;
};
/// hostKernelCall with several output buffers (`outTypes`, their dynamic
/// extents `dynamicSizes` in order) and, when `resultType` is given, the
/// kernel's return value: a data-dependent op's count.
HostKernelResults callHostKernel(OpBuilder &b, Location loc, StringRef name,
                                 ArrayRef<Type> params, ValueRange inputs,
                                 ArrayRef<RankedTensorType> outTypes,
                                 ValueRange scalars, Type resultType = {},
                                 ValueRange dynamicSizes = {});

/// The symbols sparq-externalize-weights defines: the pointer the loader
/// sets to the weights payload, and the payload's size and digest.
inline constexpr const char *kWeightsSymbol = "__sparq_weights";
inline constexpr const char *kWeightsSizeSymbol = "__sparq_weights_size";
inline constexpr const char *kWeightsDigestSymbol = "__sparq_weights_digest";

/// sparq-externalize-weights with the blob kept by the caller: appends the
/// module's large constants to `blob` (see the pass's description).
LogicalResult externalizeWeights(ModuleOp module,
                                 ::sparq::io::WeightsBlob &blob,
                                 int64_t minBytes = 256);

} // namespace mlir::sparq

#endif // SPARQ_PASSES_PASSES_H
