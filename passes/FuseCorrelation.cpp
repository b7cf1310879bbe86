//===- FuseCorrelation.cpp - PatchNet's patchwise correlation -------------===//
//
// PyTorch exports PatchNet's normalized patchwise correlation as
//
//   corr   = Conv(search, patches, stride s)        patches computed
//   energy = Conv(search * search, ones, stride s)  one output channel
//   result = corr / sqrt(energy + eps)              broadcast over patches
//
// which imports as two linalg.conv_2d_nchw_fchw, elementwise generics and a
// division generic. This pass finds the division and walks back through
// that chain, checking each step, and replaces it by one sparq.correlation
// on the search region and the patches. Anything else is left as it is.
//
//===----------------------------------------------------------------------===//

#include "dialects/ConstantData.h"
#include "dialects/SparqDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Verifier.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_FUSECORRELATION
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

/// A generic with only parallel loops, one result and a body of one op
/// (then a yield): that op, else null.
Operation *singleBodyOp(linalg::GenericOp g) {
  if (!g || g.getNumResults() != 1 ||
      g.getNumParallelLoops() != g.getNumLoops())
    return nullptr;
  Block &body = g.getRegion().front();
  if (body.getOperations().size() != 2)
    return nullptr;
  Operation *op = &body.front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  return yield.getOperand(0) == op->getResult(0) ? op : nullptr;
}

/// The tensor operand of `g` whose block argument is `v`, if `v` is one
/// and it is read at the output's index.
Value identityInput(linalg::GenericOp g, Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || arg.getOwner() != &g.getRegion().front() ||
      arg.getArgNumber() >= g.getNumDpsInputs())
    return nullptr;
  OpOperand *in = g.getDpsInputOperand(arg.getArgNumber());
  if (!g.getMatchingIndexingMap(in).isIdentity())
    return nullptr;
  return in->get();
}

/// A constant scalar `v` of a body: a constant, or the block argument of a
/// rank-0 or splat constant input.
std::optional<float> scalarConstant(linalg::GenericOp g, Value v) {
  FloatAttr f;
  if (matchPattern(v, m_Constant(&f)))
    return float(f.getValueAsDouble());
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || arg.getOwner() != &g.getRegion().front() ||
      arg.getArgNumber() >= g.getNumDpsInputs())
    return std::nullopt;
  auto c = g.getDpsInputOperand(arg.getArgNumber())
               ->get()
               .getDefiningOp<arith::ConstantOp>();
  auto dense = c ? dyn_cast<DenseElementsAttr>(c.getValue()) : nullptr;
  if (!dense || !dense.isSplat() || !dense.getElementType().isF32())
    return std::nullopt;
  return dense.getSplatValue<float>();
}

/// A convolution with dilation 1, equal strides and a zero-filled init: its
/// stride, else 0.
int64_t plainConvStride(linalg::Conv2DNchwFchwOp c) {
  if (!c)
    return 0;
  SmallVector<int64_t> s(c.getStrides().getValues<int64_t>());
  SmallVector<int64_t> d(c.getDilations().getValues<int64_t>());
  if (s[0] != s[1] || d[0] != 1 || d[1] != 1)
    return 0;
  auto fill = c.getDpsInitOperand(0)->get().getDefiningOp<linalg::FillOp>();
  FloatAttr zero;
  if (!fill || !matchPattern(fill.getInputs()[0], m_Constant(&zero)) ||
      !zero.getValue().isZero())
    return 0;
  return s[0];
}

struct Chain {
  linalg::Conv2DNchwFchwOp corr, energy;
  Value search, patches;
  int64_t stride = 0;
  float eps = 0;
  /// The ops between the energy and the division, for the report's bytes.
  SmallVector<Operation *> steps;
};

/// `v` = sqrt(energy + eps): a sqrt generic, after an add of a constant
/// generic or not (eps 0). Fills in the energy convolution.
bool matchNorm(Value v, Chain &c) {
  auto gs = v.getDefiningOp<linalg::GenericOp>();
  auto sqrt = dyn_cast_or_null<math::SqrtOp>(singleBodyOp(gs));
  Value x = sqrt ? identityInput(gs, sqrt.getOperand()) : nullptr;
  if (!x)
    return false;
  c.steps.push_back(gs);
  auto ga = x.getDefiningOp<linalg::GenericOp>();
  if (auto add = dyn_cast_or_null<arith::AddFOp>(singleBodyOp(ga)))
    for (int i = 0; i < 2; ++i) {
      Value e = identityInput(ga, add->getOperand(i));
      std::optional<float> eps = scalarConstant(ga, add->getOperand(1 - i));
      if (e && eps) {
        x = e;
        c.eps = *eps;
        c.steps.push_back(ga);
        break;
      }
    }
  c.energy = x.getDefiningOp<linalg::Conv2DNchwFchwOp>();
  return c.energy && c.eps >= 0;
}

/// The energy convolution reads the search region squared through a box
/// of ones the size of a patch, at the correlation's stride.
bool matchEnergy(Chain &c) {
  if (plainConvStride(c.energy) != c.stride)
    return false;
  Value ones = c.energy.getDpsInputOperand(1)->get();
  auto onesConst = ones.getDefiningOp<arith::ConstantOp>();
  auto dense =
      onesConst ? dyn_cast<DenseElementsAttr>(onesConst.getValue()) : nullptr;
  auto pt = cast<RankedTensorType>(c.patches.getType());
  auto ot = cast<RankedTensorType>(ones.getType());
  if (!dense || !dense.isSplat() || !dense.getElementType().isF32() ||
      dense.getSplatValue<float>() != 1.0f || ot.getDimSize(0) != 1 ||
      ot.getShape().drop_front() != pt.getShape().drop_front())
    return false;
  auto sq =
      c.energy.getDpsInputOperand(0)->get().getDefiningOp<linalg::GenericOp>();
  auto mul = dyn_cast_or_null<arith::MulFOp>(singleBodyOp(sq));
  if (!mul)
    return false;
  Value a = identityInput(sq, mul.getLhs()),
        b = identityInput(sq, mul.getRhs());
  c.steps.push_back(c.energy);
  c.steps.push_back(sq);
  return a && a == b && a == c.search;
}

struct FuseCorrelationPass
    : mlir::sparq::impl::FuseCorrelationBase<FuseCorrelationPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> divisions;
    getOperation().walk([&](linalg::GenericOp g) {
      if (isa_and_nonnull<arith::DivFOp>(singleBodyOp(g)))
        divisions.push_back(g);
    });
    for (linalg::GenericOp g : divisions)
      fuse(g);
  }

  void fuse(linalg::GenericOp g) {
    auto div = cast<arith::DivFOp>(singleBodyOp(g));
    Chain c;
    Value corr = identityInput(g, div.getLhs());
    c.corr = corr ? corr.getDefiningOp<linalg::Conv2DNchwFchwOp>() : nullptr;
    c.stride = plainConvStride(c.corr);
    if (!c.stride)
      return;
    c.search = c.corr.getDpsInputOperand(0)->get();
    c.patches = c.corr.getDpsInputOperand(1)->get();
    // Weights are constants; patches are computed from the template.
    if (c.patches.getDefiningOp<arith::ConstantOp>())
      return;
    // The norm, broadcast over the patches: [N, 1, OH, OW] at (n, 0, y, x).
    auto arg = dyn_cast<BlockArgument>(div.getRhs());
    if (!arg || arg.getOwner() != &g.getRegion().front() ||
        arg.getArgNumber() >= g.getNumDpsInputs())
      return;
    OpOperand *normIn = g.getDpsInputOperand(arg.getArgNumber());
    auto nt = cast<RankedTensorType>(normIn->get().getType());
    auto ct = cast<RankedTensorType>(corr.getType());
    AffineMap map = g.getMatchingIndexingMap(normIn);
    MLIRContext *ctx = &getContext();
    AffineMap broadcast =
        AffineMap::get(4, 0,
                       {getAffineDimExpr(0, ctx), getAffineConstantExpr(0, ctx),
                        getAffineDimExpr(2, ctx), getAffineDimExpr(3, ctx)},
                       ctx);
    if (nt.getRank() != 4 || nt.getDimSize(1) != 1 || map != broadcast ||
        cast<RankedTensorType>(g.getResult(0).getType()) != ct)
      return;
    if (!matchNorm(normIn->get(), c) || !matchEnergy(c))
      return;

    OpBuilder b(g);
    Location loc = b.getFusedLoc({c.corr.getLoc(), g.getLoc()});
    auto op = b.create<CorrelationOp>(loc, ct, c.search, c.patches,
                                      b.getI64IntegerAttr(c.stride),
                                      b.getF32FloatAttr(c.eps));
    if (failed(mlir::verify(op))) {
      op.erase();
      return;
    }
    // The tensors the chain computed that the op does not: the squared
    // search, the energy and its steps, the raw correlation.
    int64_t unfused = ct.getNumElements() * 4;
    for (Operation *s : c.steps)
      unfused +=
          cast<RankedTensorType>(s->getResult(0).getType()).getNumElements() *
          4;
    op->setAttr("sparq.unfused_bytes", b.getI64IntegerAttr(unfused));
    g.getResult(0).replaceAllUsesWith(op.getResult());
    // The chain, newest first, where nothing else reads it.
    SmallVector<Operation *> dead = {g, c.corr};
    dead.append(c.steps.begin(), c.steps.end());
    for (Operation *d : dead)
      if (d->use_empty())
        d->erase();
  }
};

} // namespace
