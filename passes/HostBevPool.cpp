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
    const char *name = "sparq_bev_pool";
    SmallVector<Type> params{anyMemRef(1, mb.getF32Type()),
                             anyMemRef(2, mb.getF32Type()), anyMemRef(1, i8),
                             anyMemRef(2, mb.getF32Type()), mb.getI64Type()};
    if (!module.lookupSymbol<func::FuncOp>(name)) {
      auto decl =
          mb.create<func::FuncOp>(loc, name, mb.getFunctionType(params, {}));
      decl.setPrivate();
      decl->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
    }

    OpBuilder b(op);
    auto bufferOf = [&](Value t) -> Value {
      auto type = cast<RankedTensorType>(t.getType());
      Value m = b.create<bufferization::ToMemrefOp>(
          loc, MemRefType::get(type.getShape(), type.getElementType()), t,
          /*read_only=*/true);
      return m;
    };
    Value depth = bufferOf(op.getDepth()), feat = bufferOf(op.getFeatures());
    Value planBuf =
        b.create<memref::GetGlobalOp>(loc, bytesType, global.getSymName());
    Value out = b.create<memref::AllocOp>(
        loc, MemRefType::get(outType.getShape(), outType.getElementType()),
        b.getI64IntegerAttr(64));
    SmallVector<Value> args{depth, feat, planBuf, out};
    for (auto [v, t] : llvm::zip(args, params))
      v = b.create<memref::CastOp>(loc, t, v);
    args.push_back(
        b.create<arith::ConstantIntOp>(loc, op.getChannelsFirst() ? 1 : 0, 64));
    b.create<func::CallOp>(loc, name, TypeRange{}, args);
    Value result = b.create<bufferization::ToTensorOp>(
        loc, outType, out, /*restrict=*/true, /*writable=*/true);
    op.replaceAllUsesWith(result);
    op.erase();
  }
};

} // namespace
