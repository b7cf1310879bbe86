//===- HostRoiAlign.cpp - sparq.roi_align to a host kernel call -----------===//

#include "dialects/SparqDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_HOSTROIALIGN
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

struct HostRoiAlignPass
    : mlir::sparq::impl::HostRoiAlignBase<HostRoiAlignPass> {
  void runOnOperation() override {
    SmallVector<RoiAlignOp> ops;
    getOperation().walk([&](RoiAlignOp op) { ops.push_back(op); });
    if (ops.empty())
      return;
    MLIRContext *ctx = &getContext();
    Type f32 = Float32Type::get(ctx), i64 = IntegerType::get(ctx, 64);
    SmallVector<Type> params{anyMemRef(4, f32),
                             anyMemRef(2, f32),
                             anyMemRef(1, i64),
                             anyMemRef(4, f32),
                             i64,
                             i64,
                             i64,
                             f32,
                             i64,
                             i64};
    for (RoiAlignOp op : ops) {
      OpBuilder b(op);
      Location loc = op.getLoc();
      auto int64 = [&](int64_t v) {
        return b.create<arith::ConstantIntOp>(loc, v, 64).getResult();
      };
      Value scale = b.create<arith::ConstantFloatOp>(loc, op.getSpatialScale(),
                                                     b.getF32Type());
      // The number of regions may be known only at run time.
      auto type = cast<RankedTensorType>(op.getType());
      SmallVector<Value> dynamic;
      if (type.isDynamicDim(0))
        dynamic.push_back(b.create<tensor::DimOp>(loc, op.getRois(), 0));
      Value result =
          callHostKernel(
              b, loc, "sparq_roi_align", params,
              {op.getX(), op.getRois(), op.getBatchIndices()}, {type},
              {int64(op.getOutputHeight()), int64(op.getOutputWidth()),
               int64(op.getSamplingRatio()), scale, int64(op.getHalfPixel()),
               int64(op.getMode() == "max")},
              Type(), dynamic)
              .outputs.front();
      op.replaceAllUsesWith(result);
      op.erase();
    }
  }
};

} // namespace
