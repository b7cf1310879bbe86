//===- Loss.cpp - ONNX NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss -===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

/// NLL of `logProb` [N, C, d...] at `target` [N, d...] with optional class
/// `weight` [C]: per element -logProb[n, t, d...] * w[t] (0 where t is
/// ignore_index), then the node's reduction (none, sum, mean = sum / sum of
/// the weights used).
LogicalResult nllCore(NodeContext &ctx, Value logProb, Value target,
                      io::DType targetType, Value weight) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  auto lt = cast<RankedTensorType>(logProb.getType());
  auto tt = cast<RankedTensorType>(target.getType());
  Type elem = lt.getElementType();
  int64_t rank = tt.getRank();
  // Input [N, C, d...] against target [N, d...]: N and every d must agree.
  bool match = rank >= 1 && lt.getRank() == rank + 1 &&
               lt.getDimSize(0) == tt.getDimSize(0);
  for (int64_t d = 1; match && d < rank; ++d)
    match = lt.getDimSize(d + 1) == tt.getDimSize(d);
  if (!match)
    return ctx.error() << "input " << shapeStr(lt.getShape()) << " and target "
                       << shapeStr(tt.getShape())
                       << " do not match (expected [N, C, d...] and [N, d...])";
  if (weight) {
    auto wt = cast<RankedTensorType>(weight.getType());
    if (wt.getRank() != 1 || wt.getDimSize(0) != lt.getDimSize(1))
      return ctx.error() << "weight " << shapeStr(wt.getShape())
                         << " is not [C] for input " << shapeStr(lt.getShape());
  }
  std::string reduction = ctx.attrString("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return ctx.error() << "unknown reduction '" << reduction << "'";
  std::optional<int64_t> ignore;
  if (ctx.hasAttr("ignore_index"))
    ignore = ctx.attrInt("ignore_index", 0);
  auto shape = tt.getShape();
  Value lossInit = emptyTensor(b, loc, shape, elem);
  Value wInit = emptyTensor(b, loc, shape, elem);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  auto op = b.create<linalg::GenericOp>(
      loc, TypeRange{lossInit.getType(), wInit.getType()}, ValueRange{target},
      ValueRange{lossInit, wInit}, ArrayRef<AffineMap>{id, id, id},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value t = castScalar(nb, nl, a[0], targetType, io::DType::I64);
        Value zero = scalarConstant(nb, nl, elem, 0);
        Value valid = nb.create<arith::ConstantIntOp>(nl, 1, 1);
        if (ignore)
          valid = nb.create<arith::CmpIOp>(
              nl, arith::CmpIPredicate::ne, t,
              nb.create<arith::ConstantIntOp>(nl, *ignore, 64));
        // Ignored targets may lie outside [0, C): read class 0 instead.
        Value safe = nb.create<arith::SelectOp>(
            nl, valid, t, nb.create<arith::ConstantIntOp>(nl, 0, 64));
        Value ti = nb.create<arith::IndexCastOp>(nl, nb.getIndexType(), safe);
        SmallVector<Value> at = {nb.create<linalg::IndexOp>(nl, 0), ti};
        for (int64_t d = 1; d < rank; ++d)
          at.push_back(nb.create<linalg::IndexOp>(nl, d));
        Value lp = nb.create<tensor::ExtractOp>(nl, logProb, at);
        Value w = weight ? nb.create<tensor::ExtractOp>(nl, weight, ValueRange{ti})
                               .getResult()
                         : scalarConstant(nb, nl, elem, 1);
        w = nb.create<arith::SelectOp>(nl, valid, w, zero);
        Value loss = nb.create<arith::MulFOp>(
            nl, nb.create<arith::NegFOp>(nl, lp), w);
        nb.create<linalg::YieldOp>(nl, ValueRange{loss, w});
      });
  Value loss = op.getResult(0), w = op.getResult(1);
  if (reduction == "none") {
    ctx.setOutput(0, loss, ctx.dtype(0));
    return success();
  }
  SmallVector<int64_t> all;
  for (int64_t d = 0; d < rank; ++d)
    all.push_back(d);
  auto add = [](OpBuilder &nb, Location nl, Value e, Value acc) {
    return nb.create<arith::AddFOp>(nl, e, acc).getResult();
  };
  Value sum = buildReduction(b, loc, loss, all, false, 0, add);
  if (reduction == "mean") {
    Value wsum = buildReduction(b, loc, w, all, false, 0, add);
    sum = buildElementwise(b, loc, ValueRange{sum, wsum}, {}, elem,
                           [](OpBuilder &nb, Location nl, ValueRange a) {
                             return nb.create<arith::DivFOp>(nl, a[0], a[1])
                                 .getResult();
                           });
  }
  ctx.setOutput(0, sum, ctx.dtype(0));
  return success();
}

LogicalResult buildNll(NodeContext &ctx) {
  if (!isFloat(ctx.dtype(0)) || isFloat(ctx.dtype(1)))
    return ctx.error() << "expects float input and integer target";
  return nllCore(ctx, ctx.value(0), ctx.value(1), ctx.dtype(1),
                 ctx.hasInput(2) ? ctx.value(2) : Value());
}

LogicalResult buildSoftmaxCrossEntropy(NodeContext &ctx) {
  if (!isFloat(ctx.dtype(0)) || isFloat(ctx.dtype(1)))
    return ctx.error() << "expects float scores and integer labels";
  if (ctx.rank(0) < 2)
    return ctx.error() << "expects scores of rank >= 2";
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  auto shape = ctx.shape(0);
  Type elem = ctx.elementType(ctx.dtype(0));
  // log_softmax over the class axis 1, stabilized by the max.
  auto maxF = [](OpBuilder &nb, Location nl, Value e, Value acc) {
    return nb.create<arith::MaximumFOp>(nl, e, acc).getResult();
  };
  auto add = [](OpBuilder &nb, Location nl, Value e, Value acc) {
    return nb.create<arith::AddFOp>(nl, e, acc).getResult();
  };
  Value mx = buildReduction(b, loc, x, {1}, true, -INFINITY, maxF);
  Value e = buildElementwise(b, loc, ValueRange{x, mx}, shape, elem,
                             [](OpBuilder &nb, Location nl, ValueRange a) {
                               Value d = nb.create<arith::SubFOp>(nl, a[0], a[1]);
                               return nb.create<math::ExpOp>(nl, d).getResult();
                             });
  Value sum = buildReduction(b, loc, e, {1}, true, 0, add);
  Value logProb = buildElementwise(
      b, loc, ValueRange{x, mx, sum}, shape, elem,
      [](OpBuilder &nb, Location nl, ValueRange a) {
        Value d = nb.create<arith::SubFOp>(nl, a[0], a[1]);
        return nb.create<arith::SubFOp>(nl, d, nb.create<math::LogOp>(nl, a[2]))
            .getResult();
      });
  if (failed(nllCore(ctx, logProb, ctx.value(1), ctx.dtype(1),
                     ctx.hasInput(2) ? ctx.value(2) : Value())))
    return failure();
  if (ctx.wantsOutput(1))
    ctx.setOutput(1, logProb, ctx.dtype(0));
  return success();
}

} // namespace

void onnx_import::registerLossOps(OpTable &t) {
  t["NegativeLogLikelihoodLoss"] = buildNll;
  t["SoftmaxCrossEntropyLoss"] = buildSoftmaxCrossEntropy;
}
