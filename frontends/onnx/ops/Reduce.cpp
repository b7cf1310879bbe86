//===- Reduce.cpp - ONNX reductions, arg-reductions and scans -------------===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

enum class Red { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

/// The reduced axes: the `axes` input (ReduceSum from opset 13, the others
/// from 18) or attribute; empty means all unless noop_with_empty_axes.
FailureOr<SmallVector<int64_t>> reduceAxes(NodeContext &ctx, bool &noop) {
  int64_t rank = ctx.rank(0);
  bool axesInput = ctx.node.op_type() == "ReduceSum" ? ctx.opset >= 13
                                                     : ctx.opset >= 18;
  std::vector<int64_t> axes;
  if (axesInput) {
    if (ctx.hasInput(1)) {
      auto a = ctx.constInts(1, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
  } else {
    axes = ctx.attrInts("axes");
  }
  noop = axes.empty() && ctx.attrInt("noop_with_empty_axes", 0);
  SmallVector<int64_t> out;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i)
      out.push_back(i);
    return out;
  }
  for (int64_t a : axes) {
    int64_t n = normalizeAxis(a, rank);
    if (n < 0) {
      ctx.error() << "axis " << a << " is out of range for rank " << rank;
      return failure();
    }
    if (!llvm::is_contained(out, n))
      out.push_back(n);
  }
  llvm::sort(out);
  return out;
}

template <Red K> LogicalResult buildReduce(NodeContext &ctx) {
  bool noop = false;
  auto axes = reduceAxes(ctx, noop);
  if (failed(axes))
    return failure();
  io::DType dt = ctx.dtype(0);
  bool fl = isFloat(dt), uns = isUnsigned(dt);
  if (!fl && (K == Red::Mean || K == Red::L2 || K == Red::LogSum ||
              K == Red::LogSumExp))
    return ctx.error() << "expects a float input";
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  if (noop) {
    ctx.setOutput(0, x, dt, ctx.shape(0));
    return success();
  }
  bool keep = ctx.attrInt("keepdims", 1);
  std::vector<int64_t> outShape;
  for (int64_t i = 0; i < ctx.rank(0); ++i) {
    bool reduced = llvm::is_contained(*axes, i);
    if (reduced && isRunTimeDim(ctx.shape(0)[i]) && K != Red::Sum &&
        K != Red::Max && K != Red::Min)
      return ctx.error() << "reducing run-time axis " << i << " ("
                         << ctx.dims().str(ctx.shape(0)[i])
                         << ") is not supported yet";
    if (!reduced || keep)
      outShape.push_back(reduced ? 1 : ctx.shape(0)[i]);
  }
  Type elem = ctx.elementType(dt);
  auto add = [](OpBuilder &nb, Location nl, Value e, Value acc) {
    return addS(nb, nl, e, acc);
  };
  Value r;
  int64_t count = 1;
  for (int64_t a : *axes)
    count *= ctx.shape(0)[a];
  switch (K) {
  case Red::Sum:
  case Red::Mean:
    r = buildReduction(b, loc, x, *axes, keep, 0, add);
    break;
  case Red::Max:
    r = buildReduction(b, loc, x, *axes, keep,
                       fl ? -INFINITY : (uns ? 0 : -INFINITY),
                       [&](OpBuilder &nb, Location nl, Value e, Value acc) {
                         return maxS(nb, nl, e, acc, uns);
                       });
    break;
  case Red::Min:
    if (uns) {
      r = buildReduction(b, loc, x, *axes, keep, -1,
                         [&](OpBuilder &nb, Location nl, Value e, Value acc) {
                           return minS(nb, nl, e, acc, true);
                         });
    } else {
      r = buildReduction(b, loc, x, *axes, keep, INFINITY,
                         [&](OpBuilder &nb, Location nl, Value e, Value acc) {
                           return minS(nb, nl, e, acc, false);
                         });
    }
    break;
  case Red::Prod:
    r = buildReduction(b, loc, x, *axes, keep, 1,
                       [](OpBuilder &nb, Location nl, Value e, Value acc) {
                         return mulS(nb, nl, e, acc);
                       });
    break;
  case Red::L1:
    r = buildReduction(b, loc, x, *axes, keep, 0, add,
                       [&](OpBuilder &nb, Location nl, Value e) -> Value {
                         if (fl)
                           return nb.create<math::AbsFOp>(nl, e);
                         if (uns)
                           return e;
                         return nb.create<math::AbsIOp>(nl, e);
                       });
    break;
  case Red::L2:
  case Red::SumSquare:
    r = buildReduction(b, loc, x, *axes, keep, 0, add,
                       [](OpBuilder &nb, Location nl, Value e) {
                         return mulS(nb, nl, e, e);
                       });
    break;
  case Red::LogSum:
    r = buildReduction(b, loc, x, *axes, keep, 0, add);
    break;
  case Red::LogSumExp: {
    // log(sum(exp(x - m))) + m with m the max, for range.
    Value m = buildReduction(b, loc, x, *axes, true, -INFINITY,
                             [](OpBuilder &nb, Location nl, Value e, Value acc) {
                               return nb.create<arith::MaximumFOp>(nl, e, acc)
                                   .getResult();
                             });
    // Guard -inf maxima (all -inf rows) so x - m stays finite.
    auto xs = ctx.shape(0);
    Value e = buildElementwise(b, loc, ValueRange{x, m}, xs, elem,
                               [](OpBuilder &nb, Location nl, ValueRange a) {
                                 Value d = nb.create<arith::SubFOp>(nl, a[0], a[1]);
                                 return nb.create<math::ExpOp>(nl, d).getResult();
                               });
    Value s = buildReduction(b, loc, e, *axes, true, 0, add);
    auto ks = cast<RankedTensorType>(s.getType()).getShape();
    r = buildElementwise(b, loc, ValueRange{s, m}, ks, elem,
                         [](OpBuilder &nb, Location nl, ValueRange a) {
                           Value l = nb.create<math::LogOp>(nl, a[0]);
                           return nb.create<arith::AddFOp>(nl, l, a[1])
                               .getResult();
                         });
    if (!keep) {
      std::vector<int64_t> out;
      for (int64_t i = 0; i < ctx.rank(0); ++i)
        if (!llvm::is_contained(*axes, i))
          out.push_back(xs[i]);
      r = reshapeTensor(b, loc, r, out);
    }
    break;
  }
  }
  auto rs = cast<RankedTensorType>(r.getType()).getShape();
  if (K == Red::Mean)
    r = buildElementwise(b, loc, r, rs, elem,
                         [&](OpBuilder &nb, Location nl, ValueRange a) {
                           return nb.create<arith::DivFOp>(
                                      nl, a[0],
                                      scalarConstant(nb, nl, elem, count))
                               .getResult();
                         });
  else if (K == Red::L2)
    r = buildElementwise(b, loc, r, rs, elem,
                         [&](OpBuilder &nb, Location nl, ValueRange a) {
                           return nb.create<math::SqrtOp>(nl, a[0]).getResult();
                         });
  else if (K == Red::LogSum)
    r = buildElementwise(b, loc, r, rs, elem,
                         [&](OpBuilder &nb, Location nl, ValueRange a) {
                           return nb.create<math::LogOp>(nl, a[0]).getResult();
                         });
  ctx.setOutput(0, r, dt, outShape);
  return success();
}

/// ArgMax/ArgMin: one reduction carrying (best value, best index).
template <bool IsMax> LogicalResult buildArgReduce(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  bool keep = ctx.attrInt("keepdims", 1);
  bool last = ctx.attrInt("select_last_index", 0);
  io::DType dt = ctx.dtype(0);
  bool fl = isFloat(dt), uns = isUnsigned(dt);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = ctx.elementType(dt);
  MLIRContext *mctx = b.getContext();
  const auto &xs = ctx.shape(0);
  std::vector<int64_t> out;
  SmallVector<AffineExpr> oe;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis) {
      out.push_back(xs[i]);
      oe.push_back(getAffineDimExpr(i, mctx));
    }
  double init = IsMax ? -INFINITY : INFINITY;
  if (uns)
    init = IsMax ? 0 : -1;
  Value best = filledTensor(b, loc, out, elem, init);
  Value bestIdx = filledTensor(b, loc, out, b.getI64Type(), -1);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, mctx),
                                 AffineMap::get(rank, 0, oe, mctx),
                                 AffineMap::get(rank, 0, oe, mctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  iters[axis] = utils::IteratorType::reduction;
  auto op = b.create<linalg::GenericOp>(
      loc, TypeRange{best.getType(), bestIdx.getType()}, ValueRange{ctx.value(0)},
      ValueRange{best, bestIdx}, maps, iters,
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value x = a[0], cur = a[1], curIdx = a[2];
        Value i = nb.create<arith::IndexCastOp>(
            nl, nb.getI64Type(), nb.create<linalg::IndexOp>(nl, axis));
        Value better;
        if (fl) {
          auto strict = IsMax ? arith::CmpFPredicate::OGT
                              : arith::CmpFPredicate::OLT;
          auto loose = IsMax ? arith::CmpFPredicate::OGE
                             : arith::CmpFPredicate::OLE;
          better = nb.create<arith::CmpFOp>(nl, last ? loose : strict, x, cur);
        } else {
          arith::CmpIPredicate p;
          if (IsMax)
            p = uns ? (last ? arith::CmpIPredicate::uge
                            : arith::CmpIPredicate::ugt)
                    : (last ? arith::CmpIPredicate::sge
                            : arith::CmpIPredicate::sgt);
          else
            p = uns ? (last ? arith::CmpIPredicate::ule
                            : arith::CmpIPredicate::ult)
                    : (last ? arith::CmpIPredicate::sle
                            : arith::CmpIPredicate::slt);
          better = nb.create<arith::CmpIOp>(nl, p, x, cur);
        }
        // The first element always wins, so all-equal rows give index 0.
        Value first = nb.create<arith::CmpIOp>(
            nl, arith::CmpIPredicate::slt, curIdx,
            nb.create<arith::ConstantIntOp>(nl, 0, 64));
        better = nb.create<arith::OrIOp>(nl, better, first);
        Value v = nb.create<arith::SelectOp>(nl, better, x, cur);
        Value vi = nb.create<arith::SelectOp>(nl, better, i, curIdx);
        nb.create<linalg::YieldOp>(nl, ValueRange{v, vi});
      });
  Value r = op.getResult(1);
  if (keep) {
    out = xs;
    out[axis] = 1;
    r = reshapeTensor(b, loc, r, out);
  }
  ctx.setOutput(0, r, io::DType::I64, out);
  return success();
}

LogicalResult buildCumSum(NodeContext &ctx) {
  auto axisV = ctx.constInt(1, "axis");
  if (failed(axisV))
    return failure();
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(*axisV, rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  bool exclusive = ctx.attrInt("exclusive", 0), reverse = ctx.attrInt("reverse", 0);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  io::DType dt = ctx.dtype(0);
  Type elem = ctx.elementType(dt);
  MLIRContext *mctx = b.getContext();
  // out[.., i, ..] = sum_j x[.., j, ..] over the j the mode selects; the
  // extra loop j is a reduction.
  const auto &xs = ctx.shape(0);
  SmallVector<AffineExpr> xe, oe;
  for (int64_t i = 0; i < rank; ++i) {
    oe.push_back(getAffineDimExpr(i, mctx));
    xe.push_back(getAffineDimExpr(i == axis ? rank : i, mctx));
  }
  Value acc = filledTensor(b, loc, xs, elem, 0);
  SmallVector<AffineMap> maps = {AffineMap::get(rank + 1, 0, xe, mctx),
                                 AffineMap::get(rank + 1, 0, oe, mctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  iters.push_back(utils::IteratorType::reduction);
  auto op = b.create<linalg::GenericOp>(
      loc, TypeRange{acc.getType()}, ValueRange{ctx.value(0)}, ValueRange{acc},
      maps, iters, [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value i = nb.create<linalg::IndexOp>(nl, axis);
        Value j = nb.create<linalg::IndexOp>(nl, rank);
        arith::CmpIPredicate p =
            reverse ? (exclusive ? arith::CmpIPredicate::sgt
                                 : arith::CmpIPredicate::sge)
                    : (exclusive ? arith::CmpIPredicate::slt
                                 : arith::CmpIPredicate::sle);
        Value in = nb.create<arith::CmpIOp>(nl, p, j, i);
        Value s = addS(nb, nl, a[1], a[0]);
        nb.create<linalg::YieldOp>(
            nl, Value(nb.create<arith::SelectOp>(nl, in, s, a[1])));
      });
  ctx.setOutput(0, op.getResult(0), dt);
  return success();
}

} // namespace

void onnx_import::registerReduceOps(OpTable &t) {
  t["ReduceSum"] = buildReduce<Red::Sum>;
  t["ReduceMean"] = buildReduce<Red::Mean>;
  t["ReduceMax"] = buildReduce<Red::Max>;
  t["ReduceMin"] = buildReduce<Red::Min>;
  t["ReduceProd"] = buildReduce<Red::Prod>;
  t["ReduceL1"] = buildReduce<Red::L1>;
  t["ReduceL2"] = buildReduce<Red::L2>;
  t["ReduceLogSum"] = buildReduce<Red::LogSum>;
  t["ReduceLogSumExp"] = buildReduce<Red::LogSumExp>;
  t["ReduceSumSquare"] = buildReduce<Red::SumSquare>;
  t["ArgMax"] = buildArgReduce<true>;
  t["ArgMin"] = buildArgReduce<false>;
  t["CumSum"] = buildCumSum;
}
