//===- HostLibraryCalls.cpp - linalg named ops to host kernel calls -------===//

#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_HOSTLIBRARYCALLS
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;

namespace {

/// A memref of `rank` f32 with dynamic sizes, strides and offset: the type
/// every kernel parameter has, so one declaration fits every call.
MemRefType anyF32(MLIRContext *ctx, int64_t rank) {
  SmallVector<int64_t> dyn(rank, ShapedType::kDynamic);
  auto layout =
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic, dyn);
  return MemRefType::get(dyn, Float32Type::get(ctx), layout);
}

bool allF32Memrefs(Operation *op) {
  return llvm::all_of(op->getOperands(), [](Value v) {
    auto t = dyn_cast<MemRefType>(v.getType());
    return t && t.getElementType().isF32();
  });
}

/// Declares (once) and calls `name` with the op's memrefs cast to the
/// generic kernel type, followed by `extra` i64 arguments.
void replaceWithCall(Operation *op, StringRef name, ArrayRef<int64_t> extra) {
  OpBuilder b(op);
  Location loc = op->getLoc();
  auto module = op->getParentOfType<ModuleOp>();
  SmallVector<Value> args;
  SmallVector<Type> argTypes;
  for (Value v : op->getOperands()) {
    auto t = anyF32(b.getContext(), cast<MemRefType>(v.getType()).getRank());
    args.push_back(b.create<memref::CastOp>(loc, t, v));
    argTypes.push_back(t);
  }
  for (int64_t e : extra) {
    args.push_back(b.create<arith::ConstantIntOp>(loc, e, 64));
    argTypes.push_back(b.getI64Type());
  }
  if (!module.lookupSymbol<func::FuncOp>(name)) {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    auto decl = mb.create<func::FuncOp>(loc, name,
                                        mb.getFunctionType(argTypes, {}));
    decl.setPrivate();
    decl->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
  }
  b.create<func::CallOp>(loc, name, TypeRange{}, args);
  op->erase();
}

SmallVector<int64_t> attrValues(DenseIntElementsAttr attr) {
  SmallVector<int64_t> v;
  for (const APInt &x : attr.getValues<APInt>())
    v.push_back(x.getSExtValue());
  return v;
}

struct HostLibraryCallsPass
    : mlir::sparq::impl::HostLibraryCallsBase<HostLibraryCallsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<linalg::MatmulOp, linalg::BatchMatmulOp, linalg::Conv2DNchwFchwOp,
              linalg::DepthwiseConv2DNchwChwOp>(op) &&
          allF32Memrefs(op))
        ops.push_back(op);
    });
    // Strided copies (tensor.pad, insert_slice) would call MLIR's generic
    // element-by-element memrefCopy; as linalg loops LLVM vectorizes them.
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp op) { copies.push_back(op); });
    for (memref::CopyOp copy : copies) {
      OpBuilder b(copy);
      b.create<linalg::CopyOp>(copy.getLoc(), copy.getSource(),
                               copy.getTarget());
      copy.erase();
    }
    for (Operation *op : ops) {
      if (isa<linalg::MatmulOp>(op)) {
        replaceWithCall(op, "sparq_matmul_f32", {});
      } else if (isa<linalg::BatchMatmulOp>(op)) {
        replaceWithCall(op, "sparq_batch_matmul_f32", {});
      } else if (auto conv = dyn_cast<linalg::Conv2DNchwFchwOp>(op)) {
        auto s = attrValues(conv.getStrides()), d = attrValues(conv.getDilations());
        replaceWithCall(op, "sparq_conv2d_nchw_f32", {s[0], s[1], d[0], d[1]});
      } else if (auto conv = dyn_cast<linalg::DepthwiseConv2DNchwChwOp>(op)) {
        auto s = attrValues(conv.getStrides()), d = attrValues(conv.getDilations());
        replaceWithCall(op, "sparq_depthwise_conv2d_nchw_f32",
                        {s[0], s[1], d[0], d[1]});
      }
    }
  }
};

} // namespace
