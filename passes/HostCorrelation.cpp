//===- HostCorrelation.cpp - sparq.correlation to a host kernel call ------===//

#include "dialects/SparqDialect.h"
#include "passes/Passes.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_HOSTCORRELATION
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

struct HostCorrelationPass
    : mlir::sparq::impl::HostCorrelationBase<HostCorrelationPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<CorrelationOp> ops;
    module.walk([&](CorrelationOp op) { ops.push_back(op); });
    if (ops.empty())
      return;
    MLIRContext *ctx = &getContext();
    Type f32 = Float32Type::get(ctx);
    SmallVector<Type> params{anyMemRef(4, f32), anyMemRef(4, f32),
                             anyMemRef(4, f32), IntegerType::get(ctx, 64), f32};
    for (CorrelationOp op : ops) {
      OpBuilder b(op);
      Value stride =
          b.create<arith::ConstantIntOp>(op.getLoc(), op.getStride(), 64);
      Value eps = b.create<arith::ConstantFloatOp>(op.getLoc(), op.getEps(),
                                                   b.getF32Type());
      Value result =
          hostKernelCall(b, op.getLoc(), "sparq_correlation", params,
                         {op.getSearch(), op.getPatches()},
                         cast<RankedTensorType>(op.getType()), {stride, eps});
      op.replaceAllUsesWith(result);
      op.erase();
    }
  }
};

} // namespace
