//===- HostDataDependent.cpp - data-dependent ops to host kernel calls ----===//
//
// sparq.nonzero, sparq.non_max_suppression and sparq.unique become calls of
// the kernels in runtime/kernels/DataDependent.h: each fills buffers sized
// at the op's bound and returns the count of valid entries, the op's
// `count` result.
//
//===----------------------------------------------------------------------===//

#include "dialects/SparqDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_HOSTDATADEPENDENT
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

Value countOf(OpBuilder &b, Location loc, Value i64) {
  return b.create<arith::IndexCastOp>(loc, b.getIndexType(), i64);
}

/// The one element of a one-element tensor of any rank.
Value onlyElement(OpBuilder &b, Location loc, Value t) {
  auto type = cast<RankedTensorType>(t.getType());
  SmallVector<Value> zeros(type.getRank(),
                           b.create<arith::ConstantIndexOp>(loc, 0));
  return b.create<tensor::ExtractOp>(loc, t, zeros);
}

void lower(NonZeroOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  Type i1 = b.getI1Type(), i64 = b.getI64Type();
  auto maskType = cast<RankedTensorType>(op.getMask().getType());
  int64_t rank = maskType.getRank();
  // The mask flat, and its extents as data.
  SmallVector<ReassociationIndices> all(1);
  for (int64_t a = 0; a < rank; ++a)
    all[0].push_back(a);
  Value flat = op.getMask();
  if (rank != 1)
    flat = b.create<tensor::CollapseShapeOp>(loc, flat, all);
  SmallVector<Value> extents;
  for (int64_t a = 0; a < rank; ++a)
    extents.push_back(b.create<arith::IndexCastOp>(
        loc, i64, b.create<tensor::DimOp>(loc, op.getMask(), a)));
  Value shape = b.create<tensor::FromElementsOp>(loc, extents);
  HostKernelResults r = callHostKernel(
      b, loc, "sparq_nonzero",
      {anyMemRef(1, i1), anyMemRef(1, i64), anyMemRef(2, i64)}, {flat, shape},
      {cast<RankedTensorType>(op.getResult().getType())}, {},
      IntegerType::get(ctx, 64));
  op.getResult().replaceAllUsesWith(r.outputs[0]);
  op.getCount().replaceAllUsesWith(countOf(b, loc, r.result));
  op.erase();
}

void lower(NonMaxSuppressionOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  Type f32 = b.getF32Type(), i64 = b.getI64Type();
  HostKernelResults r = callHostKernel(
      b, loc, "sparq_non_max_suppression",
      {anyMemRef(3, f32), anyMemRef(3, f32), anyMemRef(2, i64), i64, f32, f32,
       i64, i64},
      {op.getBoxes(), op.getScores()},
      {cast<RankedTensorType>(op.getResult().getType())},
      {onlyElement(b, loc, op.getMaxOutput()),
       onlyElement(b, loc, op.getIouThreshold()),
       onlyElement(b, loc, op.getScoreThreshold()),
       b.create<arith::ConstantIntOp>(loc, op.getHasScoreThreshold(), 64),
       b.create<arith::ConstantIntOp>(loc, op.getCenterPointBox(), 64)},
      i64);
  op.getResult().replaceAllUsesWith(r.outputs[0]);
  op.getCount().replaceAllUsesWith(countOf(b, loc, r.result));
  op.erase();
}

void lower(UniqueOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  Type i64 = b.getI64Type();
  auto type = cast<RankedTensorType>(op.getInput().getType());
  Type elem = type.getElementType();
  auto indexType = cast<RankedTensorType>(op.getIndices().getType());
  HostKernelResults r = callHostKernel(
      b, loc, elem.isF32() ? "sparq_unique_f32" : "sparq_unique_i64",
      {anyMemRef(3, elem), anyMemRef(3, elem), anyMemRef(1, i64),
       anyMemRef(1, i64), anyMemRef(1, i64), i64},
      {op.getInput()}, {type, indexType, indexType, indexType},
      {b.create<arith::ConstantIntOp>(loc, op.getSorted(), 64)}, i64);
  op.getUnique().replaceAllUsesWith(r.outputs[0]);
  op.getIndices().replaceAllUsesWith(r.outputs[1]);
  op.getInverse().replaceAllUsesWith(r.outputs[2]);
  op.getCounts().replaceAllUsesWith(r.outputs[3]);
  op.getCount().replaceAllUsesWith(countOf(b, loc, r.result));
  op.erase();
}

struct HostDataDependentPass
    : mlir::sparq::impl::HostDataDependentBase<HostDataDependentPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<NonZeroOp, NonMaxSuppressionOp, UniqueOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (auto nz = dyn_cast<NonZeroOp>(op))
        lower(nz);
      else if (auto nms = dyn_cast<NonMaxSuppressionOp>(op))
        lower(nms);
      else
        lower(cast<UniqueOp>(op));
    }
  }
};

} // namespace
