//===- HostLibraryCalls.cpp - linalg named ops to host kernel calls -------===//
//
// Runs on bufferized IR. Besides replacing the op by a call, a convolution
// call absorbs what bufferization left around it when the pattern is plain:
// - the zero padding of its input (alloc + fill + copy into a subview): the
//   kernel reads the unpadded source as if padded;
// - the zero fill of its output right before it: the kernel overwrites;
// - a broadcast of a per-channel bias into its output right before it (a
//   folded BatchNormalization, a Conv's bias): the kernel starts from the
//   bias and overwrites;
// - an in-place clamp (ReLU/ReLU6) right after it: the kernel clamps.
// Each saves a full pass over an activation tensor.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"

#include <cmath>

namespace mlir::sparq {
#define GEN_PASS_DEF_HOSTLIBRARYCALLS
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;

namespace {

/// A memref of `rank` elements with dynamic sizes, strides and offset: the
/// type every kernel parameter has, so one declaration fits every call.
MemRefType anyMemRef(int64_t rank, Type elem) {
  SmallVector<int64_t> dyn(rank, ShapedType::kDynamic);
  auto layout =
      StridedLayoutAttr::get(elem.getContext(), ShapedType::kDynamic, dyn);
  return MemRefType::get(dyn, elem, layout);
}

bool allF32Memrefs(Operation *op) {
  return llvm::all_of(op->getOperands(), [](Value v) {
    auto t = dyn_cast<MemRefType>(v.getType());
    return t && t.getElementType().isF32();
  });
}

/// Declares (once) and calls `name` with `memrefs` cast to the generic kernel
/// type of their element type, followed by `scalars` (i64 or f32
/// constants); erases `op`.
void replaceWithCall(Operation *op, StringRef name, ValueRange memrefs,
                     ArrayRef<TypedAttr> scalars) {
  OpBuilder b(op);
  Location loc = op->getLoc();
  auto module = op->getParentOfType<ModuleOp>();
  SmallVector<Value> args;
  SmallVector<Type> argTypes;
  for (Value v : memrefs) {
    auto mt = cast<MemRefType>(v.getType());
    auto t = anyMemRef(mt.getRank(), mt.getElementType());
    args.push_back(b.create<memref::CastOp>(loc, t, v));
    argTypes.push_back(t);
  }
  for (TypedAttr s : scalars) {
    args.push_back(b.create<arith::ConstantOp>(loc, s));
    argTypes.push_back(s.getType());
  }
  if (!module.lookupSymbol<func::FuncOp>(name)) {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    auto decl =
        mb.create<func::FuncOp>(loc, name, mb.getFunctionType(argTypes, {}));
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

/// The buffer `op` fills with a constant zero (linalg.fill, or a linalg.map /
/// linalg.generic without inputs yielding 0), else null.
Value zeroFilled(Operation *op) {
  auto isZero = [](Value v) {
    FloatAttr f;
    return matchPattern(v, m_Constant(&f)) && f.getValue().isZero();
  };
  if (auto fill = dyn_cast<linalg::FillOp>(op))
    return isZero(fill.getInputs()[0]) ? fill.getOutputs()[0] : Value();
  if (auto map = dyn_cast<linalg::MapOp>(op)) {
    auto yield = cast<linalg::YieldOp>(map.getMapper().front().getTerminator());
    if (map.getInputs().empty() && isZero(yield.getOperand(0)))
      return map.getInit();
  }
  if (auto gen = dyn_cast<linalg::GenericOp>(op)) {
    auto yield = cast<linalg::YieldOp>(gen.getBody()->getTerminator());
    if (gen.getInputs().empty() && gen.getOutputs().size() == 1 &&
        gen.getNumReductionLoops() == 0 && isZero(yield.getOperand(0)) &&
        gen.getIndexingMapsArray()[0].isIdentity())
      return gen.getOutputs()[0];
  }
  return Value();
}

/// The per-channel bias `op` broadcasts into `out` ([N, C, H, W] from a
/// contiguous [1, C, 1, 1]), collapsed to [C] before `op`; else null.
Value biasBroadcastInto(Operation *op, Value out) {
  auto gen = dyn_cast<linalg::GenericOp>(op);
  if (!gen || gen.getInputs().size() != 1 || gen.getOutputs().size() != 1 ||
      gen.getOutputs()[0] != out || gen.getNumReductionLoops() != 0)
    return {};
  auto yield = cast<linalg::YieldOp>(gen.getBody()->getTerminator());
  if (yield.getOperand(0) != gen.getBody()->getArgument(0))
    return {};
  Value bias = gen.getInputs()[0];
  auto type = dyn_cast<MemRefType>(bias.getType());
  auto maps = gen.getIndexingMapsArray();
  if (!type || type.getRank() != 4 || !type.getLayout().isIdentity() ||
      type.getShape()[0] != 1 || type.getShape()[2] != 1 ||
      type.getShape()[3] != 1 || !maps[1].isIdentity() ||
      maps[0].getNumResults() != 4)
    return {};
  // Channel from the output's channel; every other index is the single 0.
  MLIRContext *ctx = op->getContext();
  if (maps[0].getResult(1) != getAffineDimExpr(1, ctx))
    return {};
  for (unsigned i : {0u, 2u, 3u}) {
    AffineExpr e = maps[0].getResult(i);
    if (e != getAffineConstantExpr(0, ctx) && e != getAffineDimExpr(i, ctx))
      return {};
  }
  OpBuilder b(op);
  return b.create<memref::CollapseShapeOp>(
      op->getLoc(), bias, ArrayRef<ReassociationIndices>{{0, 1, 2, 3}});
}

/// A convolution call being assembled.
struct ConvCall {
  Value input, output, bias;
  int64_t padTop = 0, padLeft = 0;
  bool accumulate = true;
  float lo = -INFINITY, hi = INFINITY;
  SmallVector<Operation *> dead;
};

/// Input is an alloc that is zero-filled, gets the source copied into its
/// interior, and is read by `conv` only: read the source with padding.
void foldPadding(Operation *conv, ConvCall &call) {
  auto alloc = call.input.getDefiningOp<memref::AllocOp>();
  if (!alloc)
    return;
  Operation *fill = nullptr, *dealloc = nullptr;
  memref::SubViewOp sub;
  Operation *copy = nullptr;
  for (Operation *user : alloc->getUsers()) {
    if (user == conv)
      continue;
    if (isa<memref::DeallocOp>(user) && !dealloc) {
      dealloc = user;
    } else if (zeroFilled(user) == alloc.getResult() && !fill) {
      fill = user;
    } else if (auto s = dyn_cast<memref::SubViewOp>(user); s && !sub) {
      sub = s;
    } else {
      return;
    }
  }
  if (!fill || !sub || !sub->hasOneUse())
    return;
  copy = *sub->getUsers().begin();
  Value source;
  if (auto c = dyn_cast<memref::CopyOp>(copy); c && c.getTarget() == sub)
    source = c.getSource();
  if (!source || copy->getBlock() != conv->getBlock() ||
      !copy->isBeforeInBlock(conv))
    return;
  // The source must not be touched between the copy and the conv.
  for (Operation *op = copy->getNextNode(); op != conv; op = op->getNextNode())
    if (llvm::is_contained(op->getOperands(), source))
      return;
  ArrayRef<int64_t> offsets = sub.getStaticOffsets();
  if (offsets.size() != 4 || offsets[0] != 0 || offsets[1] != 0 ||
      ShapedType::isDynamic(offsets[2]) || ShapedType::isDynamic(offsets[3]) ||
      !llvm::all_of(sub.getStaticStrides(), [](int64_t s) { return s == 1; }))
    return;
  call.input = source;
  call.padTop = offsets[2];
  call.padLeft = offsets[3];
  call.dead.append({copy, sub, fill});
  if (dealloc)
    call.dead.push_back(dealloc);
  call.dead.push_back(alloc);
}

/// `op` copies a buffer that holds zeros at that point into `out`: a shared
/// zero-filled init that bufferization copied for each consumer. The source
/// must be zero-filled before `op` and written by nothing else before it.
bool holdsZerosCopiedTo(Operation *op, Value out) {
  auto copy = dyn_cast<memref::CopyOp>(op);
  if (!copy || copy.getTarget() != out)
    return false;
  Value src = copy.getSource();
  bool filled = false;
  for (Operation *user : src.getUsers()) {
    if (user->getBlock() != op->getBlock())
      return false;
    if (zeroFilled(user) == src && user->isBeforeInBlock(op)) {
      filled = true;
      continue;
    }
    bool readOnly = isa<memref::DeallocOp>(user) ||
                    (isa<memref::CopyOp>(user) &&
                     cast<memref::CopyOp>(user).getSource() == src);
    // Anything else may write the buffer: fine only after `op`.
    if (!readOnly && !op->isBeforeInBlock(user))
      return false;
  }
  return filled;
}

/// The output was zero-filled, or filled with the broadcast of a bias, just
/// before: the kernel overwrites it (starting from the bias).
void foldZeroInit(Operation *conv, Value out, ConvCall &call) {
  for (Operation *op = conv->getPrevNode(); op; op = op->getPrevNode()) {
    if (llvm::is_contained(call.dead, op) ||
        isa<arith::ConstantOp, memref::AllocOp, memref::SubViewOp,
            memref::CollapseShapeOp, memref::ExpandShapeOp, memref::CastOp>(op))
      continue;
    if (zeroFilled(op) == out || holdsZerosCopiedTo(op, out)) {
      call.accumulate = false;
      call.dead.push_back(op);
    } else if (Value bias = biasBroadcastInto(op, out)) {
      call.bias = bias;
      call.accumulate = false;
      call.dead.push_back(op);
    }
    return;
  }
}

/// A clamp of the output right after: the kernel clamps. In place, or into
/// another buffer when the kernel overwrites and nothing else reads `out`:
/// then the kernel writes the clamp's buffer directly.
void foldClamp(Operation *conv, Value out, ConvCall &call) {
  auto gen = dyn_cast_or_null<linalg::GenericOp>(conv->getNextNode());
  if (!gen || gen.getInputs().size() != 1 || gen.getOutputs().size() != 1 ||
      gen.getInputs()[0] != out || gen.getNumReductionLoops() != 0 ||
      !llvm::all_of(gen.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isIdentity(); }))
    return;
  Block *body = gen.getBody();
  Value v = body->getArgument(0);
  float lo = -INFINITY, hi = INFINITY;
  for (Operation &op : body->without_terminator()) {
    FloatAttr c;
    if (op.getNumOperands() != 2 || op.getOperand(0) != v ||
        !matchPattern(op.getOperand(1), m_Constant(&c)))
      return;
    float cv = c.getValueAsDouble();
    if (isa<arith::MaximumFOp>(op))
      lo = std::max(lo, cv), hi = std::max(hi, cv);
    else if (isa<arith::MinimumFOp>(op))
      hi = std::min(hi, cv), lo = std::min(lo, cv);
    else
      return;
    v = op.getResult(0);
  }
  if (body->getTerminator()->getOperand(0) != v || v == body->getArgument(0))
    return;
  Value target = gen.getOutputs()[0];
  SmallVector<Operation *> outDead;
  if (target != out) {
    auto alloc = out.getDefiningOp<memref::AllocOp>();
    if (call.accumulate || !alloc || target == call.input ||
        target.getType() != out.getType())
      return;
    for (Operation *user : out.getUsers()) {
      if (user == conv || user == gen.getOperation() ||
          llvm::is_contained(call.dead, user))
        continue;
      if (!isa<memref::DeallocOp>(user))
        return;
      outDead.push_back(user);
    }
    outDead.push_back(alloc);
    call.output = target;
  }
  call.lo = lo;
  call.hi = hi;
  call.dead.push_back(gen);
  call.dead.append(outDead);
}

/// The packed bytes behind a weight operand: a memref.get_global of a
/// placeholder sparq-pack-weights made, as a get_global of the blob global
/// inserted before `user`; else null.
Value packedBlob(Value weight, Operation *user) {
  auto get = weight.getDefiningOp<memref::GetGlobalOp>();
  if (!get)
    return {};
  auto module = user->getParentOfType<ModuleOp>();
  auto global = module.lookupSymbol<memref::GlobalOp>(get.getNameAttr());
  auto blobName = global
                      ? global->getAttrOfType<FlatSymbolRefAttr>("sparq.packed")
                      : FlatSymbolRefAttr();
  if (!blobName)
    return {};
  auto blob = module.lookupSymbol<memref::GlobalOp>(blobName);
  OpBuilder b(user);
  return b.create<memref::GetGlobalOp>(user->getLoc(), blob.getType(),
                                       blob.getSymName());
}

template <typename ConvOp> void rewriteConv(ConvOp conv, StringRef name) {
  Value out = conv.getOutputs()[0];
  ConvCall call;
  call.input = conv.getInputs()[0];
  foldPadding(conv, call);
  foldZeroInit(conv, out, call);
  foldClamp(conv, out, call);
  auto s = attrValues(conv.getStrides()), d = attrValues(conv.getDilations());
  Builder b(conv.getContext());
  SmallVector<TypedAttr> scalars;
  if (!call.bias) {
    // No bias: an empty one.
    OpBuilder ob(conv);
    call.bias = ob.create<memref::AllocaOp>(
        conv.getLoc(), MemRefType::get({0}, ob.getF32Type()));
  }
  SmallVector<Value> memrefs = {call.input, conv.getInputs()[1],
                                call.output ? call.output : out, call.bias};
  if (Value blob = packedBlob(conv.getInputs()[1], conv)) {
    // The filter is packed: the call takes the blob and the kernel size.
    auto fs = cast<MemRefType>(conv.getInputs()[1].getType()).getShape();
    memrefs = {blob, call.input, call.output ? call.output : out, call.bias};
    scalars.push_back(b.getI64IntegerAttr(fs[2]));
    scalars.push_back(b.getI64IntegerAttr(fs[3]));
    name = "sparq_packed_conv2d_nchw_f32";
  }
  for (int64_t v : {s[0], s[1], d[0], d[1], call.padTop, call.padLeft,
                    int64_t(call.accumulate)})
    scalars.push_back(b.getI64IntegerAttr(v));
  scalars.push_back(b.getF32FloatAttr(call.lo));
  scalars.push_back(b.getF32FloatAttr(call.hi));
  replaceWithCall(conv, name, memrefs, scalars);
  // Users first: allocs go last in `dead`.
  for (Operation *op : call.dead)
    op->erase();
}

/// C += A * B^T: a packed linear call when B is packed, else the dense
/// matmul on a transposed view of B (sgemm reads it transposed).
void rewriteMatmulTransposeB(Operation *op) {
  Value a = op->getOperand(0), bm = op->getOperand(1), c = op->getOperand(2);
  if (Value blob = packedBlob(bm, op)) {
    Builder b(op->getContext());
    replaceWithCall(op, "sparq_packed_linear_f32", {blob, a, c},
                    {b.getI64IntegerAttr(1)});
    return;
  }
  OpBuilder b(op);
  auto perm = AffineMapAttr::get(
      AffineMap::getPermutationMap(ArrayRef<unsigned>{1, 0}, b.getContext()));
  Value bt = b.create<memref::TransposeOp>(op->getLoc(), bm, perm);
  replaceWithCall(op, "sparq_matmul_f32", {a, bt, c}, {});
}

/// Placeholders of packed weights must all be gone: a use left means an op
/// without a packed kernel reads it.
LogicalResult dropPlaceholders(ModuleOp module) {
  SmallVector<memref::GetGlobalOp> gets;
  module.walk([&](memref::GetGlobalOp g) { gets.push_back(g); });
  for (memref::GetGlobalOp g : gets)
    if (g->use_empty())
      g->erase();
  SymbolTableCollection symbols;
  SymbolUserMap users(symbols, module);
  for (auto global :
       llvm::make_early_inc_range(module.getOps<memref::GlobalOp>())) {
    if (!global->hasAttr("sparq.packed"))
      continue;
    if (!users.getUsers(global).empty())
      return global.emitError()
             << "packed weight of layer " << global->getAttr("sparq.layer")
             << " is read by an op without a packed kernel";
    global->erase();
  }
  return success();
}

struct HostLibraryCallsPass
    : mlir::sparq::impl::HostLibraryCallsBase<HostLibraryCallsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<linalg::MatmulOp, linalg::MatmulTransposeBOp,
              linalg::BatchMatmulOp, linalg::Conv2DNchwFchwOp,
              linalg::DepthwiseConv2DNchwChwOp>(op) &&
          allF32Memrefs(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (isa<linalg::MatmulOp>(op))
        replaceWithCall(op, "sparq_matmul_f32", op->getOperands(), {});
      else if (isa<linalg::MatmulTransposeBOp>(op))
        rewriteMatmulTransposeB(op);
      else if (isa<linalg::BatchMatmulOp>(op))
        replaceWithCall(op, "sparq_batch_matmul_f32", op->getOperands(), {});
      else if (auto conv = dyn_cast<linalg::Conv2DNchwFchwOp>(op))
        rewriteConv(conv, "sparq_conv2d_nchw_f32");
      else if (auto conv = dyn_cast<linalg::DepthwiseConv2DNchwChwOp>(op))
        rewriteConv(conv, "sparq_depthwise_conv2d_nchw_f32");
    }
    if (failed(dropPlaceholders(getOperation())))
      return signalPassFailure();
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
  }
};

} // namespace
