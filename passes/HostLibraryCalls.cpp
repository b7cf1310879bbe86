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

#include "dialects/ConstantData.h"
#include "passes/Passes.h"
#include "runtime/formats/ConvWeightsS8.h"
#include "runtime/kernels/DenseGemm.h"

#include "mlir/Analysis/FlatLinearValueConstraints.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#include <array>
#include <cmath>
#include <cstring>
#include <optional>

namespace mlir::sparq {
#define GEN_PASS_DEF_HOSTLIBRARYCALLS
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using mlir::sparq::anyMemRef;
using mlir::sparq::constantAttr;
using mlir::sparq::constantBytes;
using mlir::sparq::isSplatConstant;
using mlir::sparq::releaseConstant;

MemRefType mlir::sparq::anyMemRef(int64_t rank, Type elem) {
  SmallVector<int64_t> dyn(rank, ShapedType::kDynamic);
  auto layout =
      StridedLayoutAttr::get(elem.getContext(), ShapedType::kDynamic, dyn);
  return MemRefType::get(dyn, elem, layout);
}

Value mlir::sparq::hostKernelCall(OpBuilder &b, Location loc, StringRef name,
                                  ArrayRef<Type> params, ValueRange inputs,
                                  RankedTensorType outType,
                                  ValueRange scalars) {
  return callHostKernel(b, loc, name, params, inputs, {outType}, scalars)
      .outputs.front();
}

mlir::sparq::HostKernelResults mlir::sparq::callHostKernel(
    OpBuilder &b, Location loc, StringRef name, ArrayRef<Type> params,
    ValueRange inputs, ArrayRef<RankedTensorType> outTypes, ValueRange scalars,
    Type resultType, ValueRange dynamicSizes) {
  auto module =
      b.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
  if (!module.lookupSymbol<func::FuncOp>(name)) {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    SmallVector<Type> results;
    if (resultType)
      results.push_back(resultType);
    auto decl =
        mb.create<func::FuncOp>(loc, name, mb.getFunctionType(params, results));
    decl.setPrivate();
    decl->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
  }
  SmallVector<Value> args;
  for (Value t : inputs) {
    auto type = dyn_cast<RankedTensorType>(t.getType());
    if (!type) { // a buffer already
      args.push_back(t);
      continue;
    }
    args.push_back(b.create<bufferization::ToMemrefOp>(
        loc, MemRefType::get(type.getShape(), type.getElementType()), t,
        /*read_only=*/true));
  }
  SmallVector<Value> outs;
  for (RankedTensorType outType : outTypes) {
    // The dynamic extents of every output, in order.
    int64_t dyn = outType.getNumDynamicDims();
    outs.push_back(b.create<memref::AllocOp>(
        loc, MemRefType::get(outType.getShape(), outType.getElementType()),
        dynamicSizes.take_front(dyn), b.getI64IntegerAttr(64)));
    dynamicSizes = dynamicSizes.drop_front(dyn);
    args.push_back(outs.back());
  }
  for (auto [v, t] : llvm::zip(args, params))
    v = b.create<memref::CastOp>(loc, t, v);
  args.append(scalars.begin(), scalars.end());
  auto call = b.create<func::CallOp>(
      loc, name, resultType ? TypeRange{resultType} : TypeRange{}, args);
  HostKernelResults r;
  for (auto [out, outType] : llvm::zip(outs, outTypes))
    r.outputs.push_back(b.create<bufferization::ToTensorOp>(
        loc, outType, out, /*restrict=*/true, /*writable=*/true));
  if (resultType)
    r.result = call.getResult(0);
  return r;
}

namespace {

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

/// The buffer `op` fills with a constant that `matches` accepts
/// (linalg.fill, or a linalg.map / linalg.generic without inputs yielding
/// it), else null.
Value filledBy(Operation *op, function_ref<bool(Value)> matches) {
  if (auto fill = dyn_cast<linalg::FillOp>(op))
    return matches(fill.getInputs()[0]) ? fill.getOutputs()[0] : Value();
  if (auto map = dyn_cast<linalg::MapOp>(op)) {
    auto yield = cast<linalg::YieldOp>(map.getMapper().front().getTerminator());
    if (map.getInputs().empty() && matches(yield.getOperand(0)))
      return map.getInit();
  }
  if (auto gen = dyn_cast<linalg::GenericOp>(op)) {
    auto yield = cast<linalg::YieldOp>(gen.getBody()->getTerminator());
    if (gen.getInputs().empty() && gen.getOutputs().size() == 1 &&
        gen.getNumReductionLoops() == 0 && matches(yield.getOperand(0)) &&
        gen.getIndexingMapsArray()[0].isIdentity())
      return gen.getOutputs()[0];
  }
  return Value();
}

/// The buffer `op` fills with the constant `value` (a float, or an integer
/// of that value), else null. Zero matches either sign.
Value filledWith(Operation *op, float value) {
  return filledBy(op, [&](Value v) {
    IntegerAttr i;
    if (matchPattern(v, m_Constant(&i)))
      return double(i.getValue().getSExtValue()) == double(value);
    FloatAttr f;
    if (!matchPattern(v, m_Constant(&f)))
      return false;
    return value == 0.0f ? f.getValue().isZero()
                         : f.getValueAsDouble() == double(value);
  });
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
  bool accumulate = true, clamped = false;
  float lo = -INFINITY, hi = INFINITY;
  SmallVector<Operation *> dead;
};

/// Input is an alloc that is filled with `padValue` (zero for a
/// convolution, -inf for a max pool), gets the source copied into its
/// interior, and is read by `conv` only: read the source with padding.
/// With `anyIntPad`, any integer constant fills the padding, and it lands
/// there (an integer convolution's zero point).
void foldPadding(Operation *conv, ConvCall &call, float padValue = 0.0f,
                 std::optional<int64_t> *anyIntPad = nullptr) {
  std::optional<int64_t> intPad;
  auto isPadFill = [&](Operation *op) {
    if (!anyIntPad)
      return filledWith(op, padValue);
    return filledBy(op, [&](Value v) {
      IntegerAttr i;
      if (!matchPattern(v, m_Constant(&i)))
        return false;
      intPad = i.getValue().getSExtValue();
      return true;
    });
  };
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
    } else if (!fill && isPadFill(user) == alloc.getResult()) {
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
  // The source must not be touched between the copy and the conv; a
  // dealloc of it there moves after the conv.
  SmallVector<Operation *> frees;
  for (Operation *op = copy->getNextNode(); op != conv; op = op->getNextNode())
    if (llvm::is_contained(op->getOperands(), source)) {
      if (!isa<memref::DeallocOp>(op))
        return;
      frees.push_back(op);
    }
  for (Operation *free : frees)
    free->moveAfter(conv);
  ArrayRef<int64_t> offsets = sub.getStaticOffsets();
  if (offsets.size() != 4 || offsets[0] != 0 || offsets[1] != 0 ||
      ShapedType::isDynamic(offsets[2]) || ShapedType::isDynamic(offsets[3]) ||
      !llvm::all_of(sub.getStaticStrides(), [](int64_t s) { return s == 1; }))
    return;
  call.input = source;
  if (anyIntPad)
    *anyIntPad = intPad;
  call.padTop = offsets[2];
  call.padLeft = offsets[3];
  call.dead.append({copy, sub, fill});
  if (dealloc)
    call.dead.push_back(dealloc);
  call.dead.push_back(alloc);
}

/// `op` copies a buffer that holds `value` everywhere at that point into
/// `out`: a shared init that bufferization copied for each consumer. The
/// source must be filled before `op` and written by nothing else before it.
bool holdsFillCopiedTo(Operation *op, Value out, float value) {
  auto copy = dyn_cast<memref::CopyOp>(op);
  if (!copy || copy.getTarget() != out)
    return false;
  Value src = copy.getSource();
  bool filled = false;
  for (Operation *user : src.getUsers()) {
    if (user->getBlock() != op->getBlock())
      return false;
    if (filledWith(user, value) == src && user->isBeforeInBlock(op)) {
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

/// The output was filled with the reduction's `identity` (0 for a
/// convolution, -inf for a max pool) just before, or, where the kernel takes
/// a bias, with the broadcast of a bias: the kernel overwrites it (starting
/// from the bias).
void foldInit(Operation *reduction, Value out, ConvCall &call, float identity,
              bool takesBias) {
  // Ops that write no buffer are stepped over; among them the get_global
  // of a packed weight's placeholder, right before its conv.
  for (Operation *op = reduction->getPrevNode(); op; op = op->getPrevNode()) {
    if (llvm::is_contained(call.dead, op) ||
        isa<arith::ConstantOp, memref::AllocOp, memref::GetGlobalOp,
            memref::SubViewOp, memref::CollapseShapeOp, memref::ExpandShapeOp,
            memref::CastOp>(op))
      continue;
    if (filledWith(op, identity) == out ||
        holdsFillCopiedTo(op, out, identity)) {
      call.accumulate = false;
      call.dead.push_back(op);
    } else if (Value bias = takesBias ? biasBroadcastInto(op, out) : Value()) {
      call.bias = bias;
      call.accumulate = false;
      call.dead.push_back(op);
    }
    return;
  }
}

/// `v` and the views of it (casts, subviews, reshapes), transitively.
SmallVector<Value> aliasesOf(Value v) {
  SmallVector<Value> all = {v};
  for (size_t i = 0; i < all.size(); ++i)
    for (Operation *user : all[i].getUsers())
      if (auto view = dyn_cast<ViewLikeOpInterface>(user);
          (view && view.getViewSource() == all[i]) || isa<memref::CastOp>(user))
        all.push_back(user->getResult(0));
  return all;
}

/// The first op after `from` in its block that takes `v`, or a view of it,
/// as an operand; null if none.
Operation *nextUser(Operation *from, Value v) {
  SmallVector<Value> aliases = aliasesOf(v);
  for (Operation *op = from->getNextNode(); op; op = op->getNextNode()) {
    bool uses = false;
    op->walk([&](Operation *inner) {
      for (Value operand : inner->getOperands())
        uses |= llvm::is_contained(aliases, operand);
    });
    if (uses)
      return op;
  }
  return nullptr;
}

/// The bounds of a chain of maximumf/minimumf with constants applied to
/// `v` in `body` up to its yield, as [lo, hi]; false if the chain is
/// anything else. An empty chain is (-inf, inf).
bool clampChain(Block *body, Value v, float &lo, float &hi) {
  lo = -INFINITY, hi = INFINITY;
  for (Operation *op = v.getDefiningOp() ? v.getDefiningOp()->getNextNode()
                                         : &body->front();
       op != body->getTerminator(); op = op->getNextNode()) {
    FloatAttr c;
    if (op->getNumOperands() != 2 || op->getOperand(0) != v ||
        !matchPattern(op->getOperand(1), m_Constant(&c)))
      return false;
    float cv = c.getValueAsDouble();
    if (isa<arith::MaximumFOp>(op))
      lo = std::max(lo, cv), hi = std::max(hi, cv);
    else if (isa<arith::MinimumFOp>(op))
      hi = std::min(hi, cv), lo = std::min(lo, cv);
    else
      return false;
    v = op->getResult(0);
  }
  return body->getTerminator()->getOperand(0) == v;
}

/// Whether `op` takes exactly `a` and `b`, in either order.
bool operandsAre(Operation *op, Value a, Value b) {
  return op->getNumOperands() == 2 &&
         ((op->getOperand(0) == a && op->getOperand(1) == b) ||
          (op->getOperand(0) == b && op->getOperand(1) == a));
}

/// An elementwise linalg.generic: identity maps, no reductions, one output.
bool isElementwise(linalg::GenericOp gen, unsigned inputs) {
  return gen && gen.getInputs().size() == inputs &&
         gen.getOutputs().size() == 1 && gen.getNumReductionLoops() == 0 &&
         llvm::all_of(gen.getIndexingMapsArray(),
                      [](AffineMap m) { return m.isIdentity(); });
}

/// The next op reading the output is a clamp of it (ReLU/ReLU6): the
/// kernel clamps. In place, or into another buffer when the kernel
/// overwrites and nothing else reads `out`: then the kernel writes the
/// clamp's buffer directly.
void foldClamp(Operation *conv, Value out, ConvCall &call) {
  auto gen = dyn_cast_or_null<linalg::GenericOp>(nextUser(conv, out));
  if (!isElementwise(gen, 1) || gen.getInputs()[0] != out)
    return;
  Block *body = gen.getBody();
  float lo, hi;
  if (body->front().hasTrait<OpTrait::IsTerminator>() ||
      !clampChain(body, body->getArgument(0), lo, hi))
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
    // The kernel writes the clamp's buffer: it must exist before the call,
    // and nothing in between may touch it.
    auto targetAlloc = target.getDefiningOp<memref::AllocOp>();
    bool allocatedAfter = targetAlloc &&
                          targetAlloc->getBlock() == conv->getBlock() &&
                          conv->isBeforeInBlock(targetAlloc);
    if (allocatedAfter)
      targetAlloc->moveBefore(conv);
    else if (nextUser(conv, target) != gen.getOperation())
      return;
    outDead.push_back(alloc);
    call.output = target;
  }
  call.lo = lo;
  call.hi = hi;
  call.clamped = true;
  call.dead.push_back(gen);
  call.dead.append(outDead);
}

/// Where the uses of `v` and its views lie relative to `op` (in `op`'s
/// block): every use before or at `op`, or for each use after it
/// `laterUse(use)` holds; the uses after it land in `later`.
bool usesAfter(Value v, Operation *op, function_ref<bool(Operation *)> laterUse,
               SmallVectorImpl<Operation *> &later) {
  for (Value a : aliasesOf(v))
    for (Operation *user : a.getUsers()) {
      Operation *at = op->getBlock()->findAncestorOpInBlock(*user);
      if (!at)
        return false;
      if (at == op || at->isBeforeInBlock(op))
        continue;
      if (!laterUse(user))
        return false;
      later.push_back(user);
    }
  return true;
}

/// The next op reading the output adds it to another buffer `r` of its
/// shape, then maybe clamps (a residual connection): when `r` dies there,
/// the kernel accumulates into `r` and clamps, and `r` takes the sum's
/// place. Saves a pass over both tensors.
void foldResidual(Operation *conv, Value out, ConvCall &call) {
  if (call.accumulate || call.output || call.clamped)
    return;
  auto gen = dyn_cast_or_null<linalg::GenericOp>(nextUser(conv, out));
  if (!isElementwise(gen, 2))
    return;
  Block *body = gen.getBody();
  auto add = dyn_cast<arith::AddFOp>(body->front());
  if (!add || !llvm::is_contained(gen.getInputs(), out) ||
      !operandsAre(add, body->getArgument(0), body->getArgument(1)))
    return;
  unsigned outArg = gen.getInputs()[0] == out ? 0 : 1;
  Value r = gen.getInputs()[1 - outArg], sum = gen.getOutputs()[0];
  float lo, hi;
  if (r == out || r.getType() != out.getType() ||
      sum.getType() != out.getType() ||
      !clampChain(body, add.getResult(), lo, hi))
    return;
  // `r`: a temporary of this block, not read by the conv, not touched
  // between the conv and the add, and freed after the add (unless the sum
  // is written into it).
  auto rAlloc = r.getDefiningOp<memref::AllocOp>();
  auto outAlloc = out.getDefiningOp<memref::AllocOp>();
  Block *block = conv->getBlock();
  if (!rAlloc || !outAlloc || rAlloc->getBlock() != block ||
      outAlloc->getBlock() != block ||
      llvm::is_contained(conv->getOperands(), r) || r == call.input ||
      nextUser(conv, r) != gen.getOperation())
    return;
  // After the add: `r` only freed (unless it holds the sum), the conv's own
  // buffer likewise (unless it holds the sum).
  SmallVector<Operation *> rLater, outLater;
  if (!usesAfter(
          r, gen,
          [&](Operation *op) { return sum == r || isa<memref::DeallocOp>(op); },
          rLater) ||
      !usesAfter(
          out, gen,
          [&](Operation *op) {
            return sum == out || isa<memref::DeallocOp>(op);
          },
          outLater))
    return;
  // A separate sum buffer: an allocation only this add writes before.
  if (sum != r && sum != out) {
    auto sumAlloc = sum.getDefiningOp<memref::AllocOp>();
    if (!sumAlloc || sumAlloc->getBlock() != block)
      return;
    for (Value a : aliasesOf(sum))
      for (Operation *user : a.getUsers()) {
        Operation *at = block->findAncestorOpInBlock(*user);
        if (!at || (at != gen.getOperation() && at->isBeforeInBlock(gen)))
          return;
      }
  }
  // Commit: `r` holds the sum from the conv on.
  if (sum != r) {
    for (Operation *d : rLater)
      d->erase();
    sum.replaceUsesWithIf(r, [&](OpOperand &use) {
      Operation *at = block->findAncestorOpInBlock(*use.getOwner());
      return at && gen->isBeforeInBlock(at);
    });
  }
  call.dead.push_back(gen);
  if (sum != out)
    call.dead.append(outLater); // its deallocs
  call.dead.push_back(outAlloc);
  if (sum != r && sum != out)
    call.dead.push_back(sum.getDefiningOp());
  call.output = r;
  call.accumulate = true;
  call.lo = lo;
  call.hi = hi;
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
  foldInit(conv, out, call, 0.0f, /*takesBias=*/true);
  foldClamp(conv, out, call);
  foldResidual(conv, out, call);
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

/// The input of an integer conv is the sign flip (x XOR 0x80: uint8 to
/// int8 minus 128, as the QDQ import writes it) of a buffer, into a
/// temporary only the conv reads: the kernel reads the uint8 buffer as
/// biased input instead. True when folded.
bool foldSignFlip(Operation *conv, ConvCall &call) {
  auto alloc = call.input.getDefiningOp<memref::AllocOp>();
  if (!alloc)
    return false;
  linalg::GenericOp flip;
  SmallVector<Operation *> dead;
  for (Operation *user : alloc->getUsers()) {
    if (user == conv || llvm::is_contained(call.dead, user))
      continue;
    if (isa<memref::DeallocOp>(user)) {
      dead.push_back(user);
      continue;
    }
    auto gen = dyn_cast<linalg::GenericOp>(user);
    if (flip || !isElementwise(gen, 1) || gen.getOutputs()[0] != call.input ||
        gen->getBlock() != conv->getBlock() || !gen->isBeforeInBlock(conv))
      return false;
    flip = gen;
  }
  if (!flip)
    return false;
  // The body: yield xori(in, 0x80), the constant inside or outside.
  Block *body = flip.getBody();
  auto xorOp =
      body->getTerminator()->getOperand(0).getDefiningOp<arith::XOrIOp>();
  if (!xorOp || xorOp->getBlock() != body)
    return false;
  Value in = body->getArgument(0);
  Value other = xorOp.getLhs() == in   ? xorOp.getRhs()
                : xorOp.getRhs() == in ? xorOp.getLhs()
                                       : Value();
  IntegerAttr mask;
  if (!other || !matchPattern(other, m_Constant(&mask)) ||
      (mask.getValue().getSExtValue() & 0xFF) != 0x80 ||
      !llvm::all_of(body->getOperations(), [&](Operation &op) {
        return &op == xorOp.getOperation() || isa<arith::ConstantOp>(op) ||
               op.hasTrait<OpTrait::IsTerminator>();
      }))
    return false;
  Value source = flip.getInputs()[0];
  // Between the flip and the conv the source may be read, not written;
  // a dealloc of it there moves after the conv.
  SmallVector<Value> views = aliasesOf(source);
  SmallVector<Operation *> frees;
  for (Operation *op = flip->getNextNode(); op != conv;
       op = op->getNextNode()) {
    bool uses = false;
    op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        uses |= llvm::is_contained(views, v);
    });
    if (!uses || isa<ViewLikeOpInterface, memref::CastOp>(op))
      continue;
    if (isa<memref::DeallocOp>(op)) {
      frees.push_back(op);
      continue;
    }
    auto dps = dyn_cast<DestinationStyleOpInterface>(op);
    auto copy = dyn_cast<memref::CopyOp>(op);
    bool writes = copy  ? llvm::is_contained(views, copy.getTarget())
                  : dps ? llvm::any_of(dps.getDpsInits(),
                                       [&](Value v) {
                                         return llvm::is_contained(views, v);
                                       })
                        : true;
    if (writes)
      return false;
  }
  for (Operation *free : frees)
    free->moveAfter(conv);
  call.input = source;
  call.dead.push_back(flip);
  call.dead.append(dead);
  call.dead.push_back(alloc);
  return true;
}

/// A constant global of `values` read before `at`: the kernels' per-channel
/// parameters.
template <typename T>
Value constantArray(Operation *at, StringRef name, Type elem,
                    ArrayRef<T> values) {
  auto module = at->getParentOfType<ModuleOp>();
  auto type = MemRefType::get({int64_t(values.size())}, elem);
  auto data = DenseElementsAttr::get(
      RankedTensorType::get(type.getShape(), elem), values);
  std::string symbol = name.str();
  for (int i = 0; module.lookupSymbol(symbol); ++i)
    symbol = (name + Twine(i)).str();
  OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
  auto global = mb.create<memref::GlobalOp>(
      at->getLoc(), symbol, mb.getStringAttr("private"), type, data,
      /*constant=*/true, mb.getI64IntegerAttr(64));
  OpBuilder b(at);
  return b.create<memref::GetGlobalOp>(at->getLoc(), type, global.getSymName());
}

/// The next op reading the sums requantizes them (an elementwise generic
/// marked sparq.requantize = {bounds, shift, scale, offset} by the QDQ
/// import, reading the sums): the kernel requantizes and writes the bytes;
/// the sums' buffer goes. The parameters come from the attribute (the op's
/// constant operands may have been folded into its body); `params` gets
/// them as globals, per channel.
bool foldRequantize(Operation *conv, Value out, ConvCall &call,
                    SmallVectorImpl<Value> &params) {
  if (call.accumulate)
    return false;
  auto gen = dyn_cast_or_null<linalg::GenericOp>(nextUser(conv, out));
  auto attrs = gen ? gen->getAttrOfType<DictionaryAttr>("sparq.requantize")
                   : DictionaryAttr();
  auto bounds = attrs ? attrs.getAs<DenseI64ArrayAttr>("bounds") : nullptr;
  auto shift = attrs ? attrs.getAs<DenseI32ArrayAttr>("shift") : nullptr;
  auto scale = attrs ? attrs.getAs<DenseF32ArrayAttr>("scale") : nullptr;
  auto offset = attrs ? attrs.getAs<DenseF32ArrayAttr>("offset") : nullptr;
  auto outType = cast<MemRefType>(out.getType());
  int64_t f = outType.getShape()[1];
  if (!bounds || bounds.size() != 2 || !shift || shift.size() != f || !scale ||
      scale.size() != f || !offset || offset.size() != f ||
      gen.getInputs().empty() || gen.getInputs()[0] != out ||
      gen.getOutputs().size() != 1 || gen.getNumReductionLoops() != 0 ||
      !gen.getIndexingMapsArray()[0].isIdentity() ||
      !gen.getIndexingMapsArray().back().isIdentity() ||
      llvm::count(gen->getOperands(), out) != 1)
    return false;
  Value target = gen.getOutputs()[0];
  auto targetType = dyn_cast<MemRefType>(target.getType());
  if (!targetType || targetType.getShape() != outType.getShape() ||
      !targetType.getElementType().isInteger(8))
    return false;
  // The sums' buffer: a temporary nothing else reads.
  auto alloc = out.getDefiningOp<memref::AllocOp>();
  if (!alloc)
    return false;
  SmallVector<Operation *> outDead;
  for (Operation *user : alloc->getUsers()) {
    if (user == conv || user == gen.getOperation() ||
        llvm::is_contained(call.dead, user))
      continue;
    if (!isa<memref::DeallocOp>(user))
      return false;
    outDead.push_back(user);
  }
  auto targetAlloc = target.getDefiningOp<memref::AllocOp>();
  if (targetAlloc && targetAlloc->getBlock() == conv->getBlock() &&
      conv->isBeforeInBlock(targetAlloc))
    targetAlloc->moveBefore(conv);
  else if (nextUser(conv, target) != gen.getOperation())
    return false;
  Builder b(conv->getContext());
  params.push_back(constantArray(conv, "__sparq_requant_shift", b.getI32Type(),
                                 shift.asArrayRef()));
  params.push_back(constantArray(conv, "__sparq_requant_scale", b.getF32Type(),
                                 scale.asArrayRef()));
  params.push_back(constantArray(conv, "__sparq_requant_offset", b.getF32Type(),
                                 offset.asArrayRef()));
  call.output = target;
  call.lo = float(bounds[0]);
  call.hi = float(bounds[1]);
  call.dead.push_back(gen);
  call.dead.append(outDead);
  call.dead.push_back(alloc);
  return true;
}

/// The global and initial value of a constant memref.global that `v` reads
/// (memref.get_global); null ones when `v` is no such read.
std::pair<memref::GlobalOp, ElementsAttr> constantGlobal(Value v) {
  auto get = v.getDefiningOp<memref::GetGlobalOp>();
  auto module = get ? get->getParentOfType<ModuleOp>() : ModuleOp();
  auto global =
      get ? module.lookupSymbol<memref::GlobalOp>(get.getNameAttr()) : nullptr;
  if (!global || !global.getConstant() ||
      !constantBytes(global.getInitialValueAttr()))
    return {};
  return {global, cast<ElementsAttr>(global.getInitialValueAttr())};
}

/// Erases `get` when nothing reads it, and its global when nothing else
/// does: a weight whose packed or transposed copy replaced it.
void eraseIfDead(memref::GetGlobalOp get) {
  if (!get || !get->use_empty())
    return;
  auto module = get->getParentOfType<ModuleOp>();
  auto global = module.lookupSymbol<memref::GlobalOp>(get.getNameAttr());
  get->erase();
  if (global && SymbolTable::symbolKnownUseEmpty(global, module)) {
    // Bufferization gives each constant one global: its data goes with it.
    std::optional<Attribute> value = global.getInitialValue();
    global->erase();
    if (value)
      releaseConstant(*value);
  }
}

/// The int8 weights of `conv`, a constant global, packed for the integer
/// kernel (formats/ConvWeightsS8.h) into a global of their own, read
/// before `conv`; null when the weights are not a constant global.
Value packedIntConvWeights(linalg::Conv2DNchwFchwOp conv) {
  auto [global, values] = constantGlobal(conv.getInputs()[1]);
  auto module = conv->getParentOfType<ModuleOp>();
  auto type = cast<MemRefType>(conv.getInputs()[1].getType());
  if (!values || !values.getElementType().isInteger(8) ||
      !type.hasStaticShape())
    return {};
  ArrayRef<char> raw = *constantBytes(values);
  std::vector<int8_t> w(values.getNumElements());
  if (isSplatConstant(values))
    std::fill(w.begin(), w.end(), int8_t(raw[0]));
  else
    std::memcpy(w.data(), raw.data(), w.size());
  ArrayRef<int64_t> shape = type.getShape();
  int64_t strides[4] = {shape[1] * shape[2] * shape[3], shape[2] * shape[3],
                        shape[3], 1};
  std::vector<uint8_t> blob = ::sparq::formats::packConvWeightsS8(
      w.data(), strides, shape[0], shape[1], shape[2], shape[3]);
  MLIRContext *ctx = conv.getContext();
  auto bytesType =
      MemRefType::get({int64_t(blob.size())}, IntegerType::get(ctx, 8));
  ElementsAttr data = constantAttr(
      RankedTensorType::get(bytesType.getShape(), bytesType.getElementType()),
      std::move(blob));
  OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
  std::string name = (global.getSymName() + "_s8conv").str();
  for (int i = 0; module.lookupSymbol(name); ++i)
    name = (global.getSymName() + "_s8conv" + Twine(i)).str();
  auto packed = mb.create<memref::GlobalOp>(
      conv.getLoc(), name, mb.getStringAttr("private"), bytesType, data,
      /*constant=*/true, mb.getI64IntegerAttr(64));
  OpBuilder b(conv);
  return b.create<memref::GetGlobalOp>(conv.getLoc(), bytesType,
                                       packed.getSymName());
}

/// An int8 x int8 -> int32 convolution (the QDQ import's): a call that
/// reads the input's padding (its zero point) implicitly, and the uint8
/// source of its sign flip; overwrites an output zeroed just before, or
/// requantizes into the bytes of the generic that follows.
void rewriteIntConv(linalg::Conv2DNchwFchwOp conv) {
  Value out = conv.getOutputs()[0];
  ConvCall call;
  call.input = conv.getInputs()[0];
  std::optional<int64_t> pad;
  foldPadding(conv, call, 0.0f, &pad);
  bool biased = foldSignFlip(conv, call);
  foldInit(conv, out, call, 0.0f, /*takesBias=*/false);
  SmallVector<Value> params;
  // Constant weights are packed now, not on every call.
  Value weights = packedIntConvWeights(conv);
  bool requantized =
      weights && !call.accumulate && foldRequantize(conv, out, call, params);
  auto s = attrValues(conv.getStrides()), d = attrValues(conv.getDilations());
  Builder b(conv.getContext());
  SmallVector<TypedAttr> scalars = {b.getI64IntegerAttr(pad.value_or(0)),
                                    b.getI64IntegerAttr(biased)};
  for (int64_t v : {s[0], s[1], d[0], d[1], call.padTop, call.padLeft})
    scalars.push_back(b.getI64IntegerAttr(v));
  // The plain weights go when nothing else reads them.
  if (weights)
    if (auto get = conv.getInputs()[1].getDefiningOp<memref::GetGlobalOp>())
      call.dead.push_back(get);
  if (requantized) {
    scalars.push_back(b.getI64IntegerAttr(int64_t(call.lo)));
    scalars.push_back(b.getI64IntegerAttr(int64_t(call.hi)));
    replaceWithCall(
        conv, "sparq_packed_conv2d_nchw_s8s8_requant",
        {call.input, weights, call.output, params[0], params[1], params[2]},
        scalars);
  } else if (weights) {
    scalars.push_back(b.getI64IntegerAttr(call.accumulate));
    replaceWithCall(conv, "sparq_packed_conv2d_nchw_s8s8_i32",
                    {call.input, weights, out}, scalars);
  } else {
    scalars.push_back(b.getI64IntegerAttr(call.accumulate));
    replaceWithCall(conv, "sparq_conv2d_nchw_s8s8_i32",
                    {call.input, conv.getInputs()[1], out}, scalars);
  }
  for (Operation *op : call.dead) {
    if (auto get = dyn_cast<memref::GetGlobalOp>(op)) {
      eraseIfDead(get);
      continue;
    }
    op->erase();
  }
}

/// An int8 depthwise convolution (the QDQ import's): when the requantization
/// after it folds in, a call that reads the input's padding and the uint8
/// source of its sign flip, and writes the bytes. Otherwise the op stays
/// (generated loops).
void rewriteIntDepthwise(linalg::DepthwiseConv2DNchwChwOp conv) {
  Value out = conv.getOutputs()[0];
  ConvCall call;
  call.input = conv.getInputs()[0];
  std::optional<int64_t> pad;
  // Folds are committed only with the call: check first on a copy.
  ConvCall trial = call;
  foldInit(conv, out, trial, 0.0f, /*takesBias=*/false);
  SmallVector<Value> params;
  if (trial.accumulate)
    return;
  auto gen = dyn_cast_or_null<linalg::GenericOp>(nextUser(conv, out));
  // The kernel sums in float, exactly below 2^24: fewer than 1024 taps.
  auto wShape = cast<MemRefType>(conv.getInputs()[1].getType()).getShape();
  if (!gen || !gen->hasAttr("sparq.requantize") ||
      ShapedType::isDynamic(wShape[1]) || ShapedType::isDynamic(wShape[2]) ||
      wShape[1] * wShape[2] >= 1024)
    return;
  foldPadding(conv, call, 0.0f, &pad);
  bool biased = foldSignFlip(conv, call);
  foldInit(conv, out, call, 0.0f, /*takesBias=*/false);
  if (!foldRequantize(conv, out, call, params))
    return;
  auto s = attrValues(conv.getStrides()), d = attrValues(conv.getDilations());
  Builder b(conv.getContext());
  SmallVector<TypedAttr> scalars = {b.getI64IntegerAttr(pad.value_or(0)),
                                    b.getI64IntegerAttr(biased)};
  for (int64_t v : {s[0], s[1], d[0], d[1], call.padTop, call.padLeft,
                    int64_t(call.lo), int64_t(call.hi)})
    scalars.push_back(b.getI64IntegerAttr(v));
  replaceWithCall(conv, "sparq_depthwise_nchw_s8s8_requant",
                  {call.input, conv.getInputs()[1], call.output, params[0],
                   params[1], params[2]},
                  scalars);
  for (Operation *op : call.dead)
    op->erase();
}

bool isIntDepthwise(Operation *op) {
  auto elem = [&](unsigned i) {
    auto t = dyn_cast<MemRefType>(op->getOperand(i).getType());
    return t ? t.getElementType() : Type();
  };
  return isa<linalg::DepthwiseConv2DNchwChwOp>(op) && elem(0) && elem(1) &&
         elem(2) && elem(0).isInteger(8) && elem(1).isInteger(8) &&
         elem(2).isInteger(32);
}

/// A grouped convolution (conv_2d_ngchw_gfchw on [N, G, C/G, H, W] views,
/// ops/NeuralNet.cpp): one call, whose kernel runs the plain convolution on
/// each group. Its input comes padded and its output initialized (bias or
/// zeros, through the views): the kernel accumulates.
void rewriteGroupedConv(linalg::Conv2DNgchwGfchwOp conv) {
  Builder b(conv.getContext());
  auto s = attrValues(conv.getStrides()), d = attrValues(conv.getDilations());
  Value in = conv.getInputs()[0], w = conv.getInputs()[1],
        out = conv.getOutputs()[0];
  SmallVector<TypedAttr> scalars;
  if (cast<MemRefType>(in.getType()).getElementType().isF32()) {
    OpBuilder ob(conv);
    Value noBias = ob.create<memref::AllocaOp>(
        conv.getLoc(), MemRefType::get({0}, ob.getF32Type()));
    for (int64_t v :
         {s[0], s[1], d[0], d[1], int64_t(0), int64_t(0), int64_t(1)})
      scalars.push_back(b.getI64IntegerAttr(v));
    scalars.push_back(b.getF32FloatAttr(-INFINITY));
    scalars.push_back(b.getF32FloatAttr(INFINITY));
    replaceWithCall(conv, "sparq_grouped_conv2d_nchw_f32", {in, w, out, noBias},
                    scalars);
    return;
  }
  // int8 x int8 -> int32: no padding to read (it is in the input), plain
  // int8 input (no sign flip folded).
  for (int64_t v : {int64_t(0), int64_t(0), s[0], s[1], d[0], d[1], int64_t(0),
                    int64_t(0), int64_t(1)})
    scalars.push_back(b.getI64IntegerAttr(v));
  replaceWithCall(conv, "sparq_grouped_conv2d_nchw_s8s8_i32", {in, w, out},
                  scalars);
}

/// A grouped convolution a kernel runs: f32, or int8 x int8 -> int32.
bool isGroupedConv(Operation *op) {
  if (!isa<linalg::Conv2DNgchwGfchwOp>(op))
    return false;
  auto elem = [&](unsigned i) {
    auto t = dyn_cast<MemRefType>(op->getOperand(i).getType());
    return t ? t.getElementType() : Type();
  };
  if (!elem(0) || !elem(1) || !elem(2))
    return false;
  return allF32Memrefs(op) || (elem(0).isInteger(8) && elem(1).isInteger(8) &&
                               elem(2).isInteger(32));
}

bool isIntConv(Operation *op) {
  auto elem = [&](unsigned i) {
    auto t = dyn_cast<MemRefType>(op->getOperand(i).getType());
    return t ? t.getElementType() : Type();
  };
  return isa<linalg::Conv2DNchwFchwOp>(op) && elem(0) && elem(1) && elem(2) &&
         elem(0).isInteger(8) && elem(1).isInteger(8) && elem(2).isInteger(32);
}

/// `e` as sum_i coefficient[i] * d_i over `dims` dimensions (no constant
/// term, no division or modulo), else nothing.
std::optional<SmallVector<int64_t>> linearCoefficients(AffineExpr e,
                                                       unsigned dims) {
  // Flattened: the dims' coefficients, then one column per floor division
  // or modulo, then the constant.
  SmallVector<int64_t> flat;
  if (failed(getFlattenedAffineExpr(e, dims, 0, &flat)) ||
      flat.size() != dims + 1 || flat.back() != 0)
    return std::nullopt;
  flat.pop_back();
  return flat;
}

/// The strides and dilations of a 2-D NCHW max pool written as a
/// linalg.generic (as the ONNX importer writes MaxPool): loops (n, c, oy,
/// ox, ky, kx), reading x[n, c, oy*sh + ky*dh, ox*sw + kx*dw] and a [KH, KW]
/// operand for the window's shape, max-reducing into out[n, c, oy, ox].
/// On f32 (maximumf), uint8 (maxui on i8) or int8 (maxsi on i8): `kind`.
enum class PoolKind { F32, U8, S8 };
struct MaxPool {
  std::array<int64_t, 4> window; // sh, sw, dh, dw
  PoolKind kind;
};
std::optional<MaxPool> maxPoolWindow(linalg::GenericOp gen) {
  bool bytes = llvm::all_of(gen->getOperands(), [](Value v) {
    auto t = dyn_cast<MemRefType>(v.getType());
    return t && t.getElementType().isInteger(8);
  });
  if (gen.getInputs().size() != 2 || gen.getOutputs().size() != 1 ||
      gen.getNumLoops() != 6 || gen.getNumReductionLoops() != 2 ||
      !(allF32Memrefs(gen) || bytes))
    return std::nullopt;
  auto iters = gen.getIteratorTypesArray();
  for (int i = 0; i < 6; ++i)
    if ((iters[i] == utils::IteratorType::reduction) != (i >= 4))
      return std::nullopt;
  MLIRContext *ctx = gen.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  auto maps = gen.getIndexingMapsArray();
  if (maps[1] != AffineMap::get(6, 0, {d(4), d(5)}, ctx) ||
      maps[2] != AffineMap::get(6, 0, {d(0), d(1), d(2), d(3)}, ctx) ||
      maps[0].getNumResults() != 4 || maps[0].getResult(0) != d(0) ||
      maps[0].getResult(1) != d(1))
    return std::nullopt;
  // Height: oy * sh + ky * dh; width: ox * sw + kx * dw.
  std::array<int64_t, 4> window; // sh, sw, dh, dw
  for (int i = 0; i < 2; ++i) {
    auto c = linearCoefficients(maps[0].getResult(2 + i), 6);
    if (!c)
      return std::nullopt;
    for (int j = 0; j < 6; ++j)
      if ((j == 2 + i || j == 4 + i) ? (*c)[j] < 1 : (*c)[j] != 0)
        return std::nullopt;
    window[i] = (*c)[2 + i];
    window[2 + i] = (*c)[4 + i];
  }
  // The body: yield max(x, out), either order.
  Block *body = gen.getBody();
  Operation *max = &body->front();
  PoolKind kind = isa<arith::MaximumFOp>(max) ? PoolKind::F32
                  : isa<arith::MaxUIOp>(max)  ? PoolKind::U8
                                              : PoolKind::S8;
  if (!isa<arith::MaximumFOp, arith::MaxUIOp, arith::MaxSIOp>(max) ||
      (kind == PoolKind::F32) == bytes ||
      body->getTerminator()->getOperand(0) != max->getResult(0) ||
      !operandsAre(max, body->getArgument(0), body->getArgument(2)))
    return std::nullopt;
  return MaxPool{window, kind};
}

/// A max pool: a call that reads its input's padding (-inf, or the least
/// uint8 or int8) implicitly and overwrites an output filled with it just
/// before.
void rewriteMaxPool(linalg::GenericOp gen, const MaxPool &pool) {
  const std::array<int64_t, 4> &window = pool.window;
  float lowest = pool.kind == PoolKind::F32  ? -INFINITY
                 : pool.kind == PoolKind::U8 ? 0.0f
                                             : -128.0f;
  Value out = gen.getOutputs()[0];
  ConvCall call;
  call.input = gen.getInputs()[0];
  foldPadding(gen, call, lowest);
  foldInit(gen, out, call, lowest, /*takesBias=*/false);
  // The window operand only gives the shape: its buffer goes with the op.
  Value windowBuf = gen.getInputs()[1];
  if (auto alloc = windowBuf.getDefiningOp<memref::AllocOp>();
      alloc && llvm::all_of(alloc->getUsers(), [&](Operation *user) {
        return user == gen.getOperation() || isa<memref::DeallocOp>(user);
      })) {
    for (Operation *user : alloc->getUsers())
      if (user != gen.getOperation())
        call.dead.push_back(user);
    call.dead.push_back(alloc);
  }
  auto shape = cast<MemRefType>(windowBuf.getType()).getShape();
  Builder b(gen.getContext());
  SmallVector<TypedAttr> scalars;
  for (int64_t v :
       {shape[0], shape[1], window[0], window[1], window[2], window[3],
        call.padTop, call.padLeft, int64_t(call.accumulate)})
    scalars.push_back(b.getI64IntegerAttr(v));
  StringRef name = pool.kind == PoolKind::F32  ? "sparq_maxpool2d_nchw_f32"
                   : pool.kind == PoolKind::U8 ? "sparq_maxpool2d_nchw_u8"
                                               : "sparq_maxpool2d_nchw_s8";
  replaceWithCall(gen, name, {call.input, out}, scalars);
  for (Operation *op : call.dead)
    op->erase();
}

/// TopK's O(n^2) ranks (marked sparq.topk_ranks by the importer, float32,
/// 1-D or 2-D) become the sorting kernel (runtime/kernels/TopKRanks.h).
void rewriteTopKRanks(linalg::GenericOp gen) {
  OpBuilder b(gen);
  Location loc = gen.getLoc();
  SmallVector<Value> views = {gen.getInputs()[0], gen.getOutputs()[0]};
  for (Value &v : views) {
    auto type = cast<MemRefType>(v.getType());
    if (type.getRank() == 1) // [n] as [1, n]
      v = b.create<memref::ExpandShapeOp>(
          loc, ArrayRef<int64_t>{1, type.getDimSize(0)}, v,
          ArrayRef<ReassociationIndices>{{0, 1}});
  }
  bool largest = gen->getAttrOfType<BoolAttr>("sparq.topk_ranks").getValue();
  replaceWithCall(gen, "sparq_topk_ranks_f32", views,
                  {b.getI64IntegerAttr(largest)});
}

/// An elementwise generic marked sparq.qadd by the QDQ import (the Add of a
/// residual connection on uint8/int8, requantized) on contiguous buffers of
/// one shape: a call of the threaded byte kernel, on them flattened.
void rewriteQuantizedAdd(linalg::GenericOp gen) {
  auto attrs = gen->getAttrOfType<DictionaryAttr>("sparq.qadd");
  auto zeros = attrs ? attrs.getAs<DenseI64ArrayAttr>("zeros") : nullptr;
  auto uns = attrs ? attrs.getAs<DenseI64ArrayAttr>("unsigned") : nullptr;
  auto scales = attrs ? attrs.getAs<DenseF32ArrayAttr>("scales") : nullptr;
  auto bounds = attrs ? attrs.getAs<DenseI64ArrayAttr>("bounds") : nullptr;
  if (!zeros || zeros.size() != 2 || !uns || uns.size() != 2 || !scales ||
      scales.size() != 3 || !bounds || bounds.size() != 2 ||
      !isElementwise(gen, 2))
    return;
  SmallVector<Value> flat;
  for (Value v : gen->getOperands()) {
    auto t = dyn_cast<MemRefType>(v.getType());
    if (!t || !t.getElementType().isInteger(8) || !t.hasStaticShape() ||
        !t.getLayout().isIdentity() ||
        t.getShape() !=
            cast<MemRefType>(gen->getOperand(0).getType()).getShape())
      return;
  }
  OpBuilder b(gen);
  for (Value v : gen->getOperands()) {
    ReassociationIndices all;
    for (int64_t i = 0; i < cast<MemRefType>(v.getType()).getRank(); ++i)
      all.push_back(i);
    flat.push_back(b.create<memref::CollapseShapeOp>(
        gen.getLoc(), v, ArrayRef<ReassociationIndices>{all}));
  }
  replaceWithCall(gen, "sparq_qadd_i8", flat,
                  {b.getI64IntegerAttr(zeros[0]), b.getI64IntegerAttr(zeros[1]),
                   b.getI64IntegerAttr(uns[0]), b.getI64IntegerAttr(uns[1]),
                   b.getF32FloatAttr(scales[0]), b.getF32FloatAttr(scales[1]),
                   b.getF32FloatAttr(scales[2]), b.getI64IntegerAttr(bounds[0]),
                   b.getI64IntegerAttr(bounds[1])});
}

/// A constant f32 global B [N, K] read by `op` as the dense GEMM's panels of
/// B^T (kernels::panelsF32: [ceil(N/64), K, 64]), laid out at compile time
/// in a global of its own, read before `op`; null when B is not such a
/// global.
Value panelledConstant(Value bm, Operation *op) {
  auto [global, values] = constantGlobal(bm);
  auto module = op->getParentOfType<ModuleOp>();
  auto type = cast<MemRefType>(bm.getType());
  if (!values || !values.getElementType().isF32() || !type.hasStaticShape() ||
      type.getRank() != 2 || !type.getLayout().isIdentity())
    return {};
  int64_t n = type.getShape()[0], k = type.getShape()[1];
  const auto *in =
      reinterpret_cast<const float *>(constantBytes(values)->data());
  std::vector<float> splat;
  if (isSplatConstant(values)) {
    splat.assign(n * k, in[0]);
    in = splat.data();
  }
  std::vector<float> panels =
      ::sparq::kernels::panelsF32(in, k, /*transposed=*/true, k, n);
  int64_t width = ::sparq::kernels::avx512::kTileCols;
  auto pType = MemRefType::get({int64_t(panels.size()) / (k * width), k, width},
                               type.getElementType());
  ElementsAttr data = constantAttr(
      RankedTensorType::get(pType.getShape(), pType.getElementType()),
      std::move(panels));
  OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
  std::string name = (global.getSymName() + "_panels").str();
  for (int i = 0; module.lookupSymbol(name); ++i)
    name = (global.getSymName() + "_panels" + Twine(i)).str();
  auto kn = mb.create<memref::GlobalOp>(
      op->getLoc(), name, mb.getStringAttr("private"), pType, data,
      /*constant=*/true, mb.getI64IntegerAttr(64));
  OpBuilder b(op);
  return b.create<memref::GetGlobalOp>(op->getLoc(), pType, kn.getSymName());
}

/// C += A * B^T: a packed linear call when B is packed. Else the dense
/// matmul: on a transposed view of B for a few rows (GEMVs on B's rows),
/// on B^T laid out in panels at compile time for more when B is a constant
/// (the kernel would transpose it on every call), else on the view.
void rewriteMatmulTransposeB(Operation *op) {
  Value a = op->getOperand(0), bm = op->getOperand(1), c = op->getOperand(2);
  if (Value blob = packedBlob(bm, op)) {
    Builder b(op->getContext());
    replaceWithCall(op, "sparq_packed_linear_f32", {blob, a, c},
                    {b.getI64IntegerAttr(1)});
    return;
  }
  auto aType = cast<MemRefType>(a.getType());
  if (!aType.isDynamicDim(0) &&
      aType.getDimSize(0) > ::sparq::kernels::kGemvRows)
    if (Value panels = panelledConstant(bm, op)) {
      replaceWithCall(op, "sparq_matmul_f32_panels", {a, panels, c}, {});
      eraseIfDead(bm.getDefiningOp<memref::GetGlobalOp>());
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
      if ((isa<linalg::MatmulOp, linalg::MatmulTransposeBOp,
               linalg::BatchMatmulOp, linalg::Conv2DNchwFchwOp,
               linalg::DepthwiseConv2DNchwChwOp>(op) &&
           allF32Memrefs(op)) ||
          isIntConv(op) || isIntDepthwise(op) || isGroupedConv(op))
        ops.push_back(op);
    });
    SmallVector<std::pair<linalg::GenericOp, MaxPool>> pools;
    getOperation().walk([&](linalg::GenericOp gen) {
      if (auto pool = maxPoolWindow(gen))
        pools.push_back({gen, *pool});
    });
    for (Operation *op : ops) {
      if (isa<linalg::MatmulOp>(op))
        replaceWithCall(op, "sparq_matmul_f32", op->getOperands(), {});
      else if (isa<linalg::MatmulTransposeBOp>(op))
        rewriteMatmulTransposeB(op);
      else if (isa<linalg::BatchMatmulOp>(op))
        replaceWithCall(op, "sparq_batch_matmul_f32", op->getOperands(), {});
      else if (isGroupedConv(op))
        rewriteGroupedConv(cast<linalg::Conv2DNgchwGfchwOp>(op));
      else if (isIntConv(op))
        rewriteIntConv(cast<linalg::Conv2DNchwFchwOp>(op));
      else if (isIntDepthwise(op))
        rewriteIntDepthwise(cast<linalg::DepthwiseConv2DNchwChwOp>(op));
      else if (auto conv = dyn_cast<linalg::Conv2DNchwFchwOp>(op))
        rewriteConv(conv, "sparq_conv2d_nchw_f32");
      else if (auto conv = dyn_cast<linalg::DepthwiseConv2DNchwChwOp>(op))
        rewriteConv(conv, "sparq_depthwise_conv2d_nchw_f32");
    }
    for (auto &[gen, pool] : pools)
      rewriteMaxPool(gen, pool);
    SmallVector<linalg::GenericOp> adds;
    getOperation().walk([&](linalg::GenericOp gen) {
      if (gen->hasAttr("sparq.qadd"))
        adds.push_back(gen);
    });
    SmallVector<linalg::GenericOp> ranks;
    getOperation().walk([&](linalg::GenericOp gen) {
      auto in = dyn_cast<MemRefType>(gen.getInputs()[0].getType());
      if (gen->hasAttr("sparq.topk_ranks") && in && in.hasStaticShape() &&
          in.getElementType().isF32())
        ranks.push_back(gen);
    });
    for (linalg::GenericOp gen : ranks)
      rewriteTopKRanks(gen);
    for (linalg::GenericOp gen : adds)
      rewriteQuantizedAdd(gen);
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
