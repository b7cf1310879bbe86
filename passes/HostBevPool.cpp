//===- HostBevPool.cpp - sparq.bev_pool to a host kernel call -------------===//

#include "dialects/ConstantData.h"
#include "dialects/SparqDialect.h"
#include "passes/Passes.h"
#include "runtime/formats/BevPoolPlan.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_HOSTBEVPOOL
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

struct HostBevPoolPass : mlir::sparq::impl::HostBevPoolBase<HostBevPoolPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<BevPoolOp> ops;
    module.walk([&](BevPoolOp op) { ops.push_back(op); });
    int64_t count = 0;
    for (BevPoolOp op : ops)
      lower(module, op, count++);
  }

  void lower(ModuleOp module, BevPoolOp op, int64_t id) {
    MLIRContext *ctx = &getContext();
    auto outType = cast<RankedTensorType>(op.getType());
    std::vector<uint8_t> bytes = op.serializePlan();

    Location loc = op.getLoc();
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    auto i8 = IntegerType::get(ctx, 8);
    auto bytesType = MemRefType::get({int64_t(bytes.size())}, i8);
    auto global = mb.create<memref::GlobalOp>(
        loc, "__sparq_bev_plan_" + std::to_string(id),
        mb.getStringAttr("private"), bytesType,
        constantAttr(RankedTensorType::get(bytesType.getShape(), i8),
                     std::move(bytes)),
        /*constant=*/true, mb.getI64IntegerAttr(64));
    SmallVector<Type> params{anyMemRef(1, mb.getF32Type()),
                             anyMemRef(2, mb.getF32Type()), anyMemRef(1, i8),
                             anyMemRef(2, mb.getF32Type()), mb.getI64Type()};
    OpBuilder b(op);
    Value planBuf =
        b.create<memref::GetGlobalOp>(loc, bytesType, global.getSymName());
    Value channelsFirst =
        b.create<arith::ConstantIntOp>(loc, op.getChannelsFirst() ? 1 : 0, 64);
    Value result = hostKernelCall(b, loc, "sparq_bev_pool", params,
                                  {op.getDepth(), op.getFeatures(), planBuf},
                                  outType, {channelsFirst});
    op.replaceAllUsesWith(result);
    op.erase();
  }
};

} // namespace
