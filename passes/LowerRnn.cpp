//===- LowerRnn.cpp - sparq.lstm to linalg + scf --------------------------===//

#include "dialects/SparqDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_LOWERRNN
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

Value zeros(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Type elem) {
  Value empty = b.create<tensor::EmptyOp>(loc, shape, elem);
  Value zero = b.create<arith::ConstantOp>(loc, b.getZeroAttr(elem));
  return b.create<linalg::FillOp>(loc, zero, empty).getResult(0);
}

/// lhs [M, K] x rhs [K, N] -> [M, N].
Value matmul(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  auto lt = cast<RankedTensorType>(lhs.getType());
  auto rt = cast<RankedTensorType>(rhs.getType());
  Value init = zeros(b, loc, {lt.getDimSize(0), rt.getDimSize(1)},
                     lt.getElementType());
  return b.create<linalg::MatmulOp>(loc, ValueRange{lhs, rhs}, init)
      .getResult(0);
}

Value transpose2d(OpBuilder &b, Location loc, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  Value init = b.create<tensor::EmptyOp>(
      loc, ArrayRef<int64_t>{t.getDimSize(1), t.getDimSize(0)},
      t.getElementType());
  return b.create<linalg::TransposeOp>(loc, v, init, ArrayRef<int64_t>{1, 0})
      .getResult()[0];
}

/// Rank-reducing slice of `src` at `offsets` with `sizes` (unit dims of
/// `sizes` that are not in `resultShape` are dropped).
Value slice(OpBuilder &b, Location loc, Value src,
            ArrayRef<OpFoldResult> offsets, ArrayRef<int64_t> sizes,
            ArrayRef<int64_t> resultShape) {
  auto st = cast<RankedTensorType>(src.getType());
  SmallVector<OpFoldResult> sizeAttrs, strides(sizes.size(), b.getIndexAttr(1));
  for (int64_t s : sizes)
    sizeAttrs.push_back(b.getIndexAttr(s));
  auto resultType = RankedTensorType::get(resultShape, st.getElementType());
  return b.create<tensor::ExtractSliceOp>(loc, resultType, src, offsets,
                                          sizeAttrs, strides);
}

Value insert(OpBuilder &b, Location loc, Value src, Value dest,
             ArrayRef<OpFoldResult> offsets, ArrayRef<int64_t> sizes) {
  SmallVector<OpFoldResult> sizeAttrs, strides(sizes.size(), b.getIndexAttr(1));
  for (int64_t s : sizes)
    sizeAttrs.push_back(b.getIndexAttr(s));
  return b.create<tensor::InsertSliceOp>(loc, src, dest, offsets, sizeAttrs,
                                         strides);
}

Value sigmoid(OpBuilder &b, Location loc, Value x) {
  Value one = b.create<arith::ConstantOp>(loc, b.getFloatAttr(x.getType(), 1));
  Value e = b.create<math::ExpOp>(loc, b.create<arith::NegFOp>(loc, x));
  return b.create<arith::DivFOp>(loc, one, b.create<arith::AddFOp>(loc, one, e));
}

struct LowerLstm : OpRewritePattern<LstmOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LstmOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    Type elem = xType.getElementType();
    if (!isa<FloatType>(elem))
      return rewriter.notifyMatchFailure(op, "expects float tensors");
    int64_t seq = xType.getDimSize(0), batch = xType.getDimSize(1),
            in = xType.getDimSize(2), hidden = op.getHiddenSize(),
            dirs = op.getNumDirections();
    std::optional<double> clip;
    if (std::optional<APFloat> c = op.getClip())
      clip = c->convertToDouble();

    auto idx = [&](int64_t v) -> OpFoldResult {
      return rewriter.getIndexAttr(v);
    };
    Value y = rewriter.create<tensor::EmptyOp>(
        loc, ArrayRef<int64_t>{seq, dirs, batch, hidden}, elem);
    Value yh = rewriter.create<tensor::EmptyOp>(
        loc, ArrayRef<int64_t>{dirs, batch, hidden}, elem);
    Value yc = yh;

    // All time steps' input projections at once: [T*B, I] x [I, 4H].
    Value xFlat = rewriter.create<tensor::CollapseShapeOp>(
        loc, op.getInput(), ArrayRef<ReassociationIndices>{{0, 1}, {2}});

    for (int64_t d = 0; d < dirs; ++d) {
      bool reverse = op.getDirection() == RnnDirection::Reverse || d == 1;
      Value w = slice(rewriter, loc, op.getW(), {idx(d), idx(0), idx(0)},
                      {1, 4 * hidden, in}, {4 * hidden, in});
      Value r = slice(rewriter, loc, op.getR(), {idx(d), idx(0), idx(0)},
                      {1, 4 * hidden, hidden}, {4 * hidden, hidden});
      Value wb = slice(rewriter, loc, op.getBias(), {idx(d), idx(0)},
                       {1, 4 * hidden}, {4 * hidden});
      Value rb = slice(rewriter, loc, op.getBias(), {idx(d), idx(4 * hidden)},
                       {1, 4 * hidden}, {4 * hidden});
      Value p = slice(rewriter, loc, op.getPeepholes(), {idx(d), idx(0)},
                      {1, 3 * hidden}, {3 * hidden});
      Value h0 = slice(rewriter, loc, op.getInitialH(),
                       {idx(d), idx(0), idx(0)}, {1, batch, hidden},
                       {batch, hidden});
      Value c0 = slice(rewriter, loc, op.getInitialC(),
                       {idx(d), idx(0), idx(0)}, {1, batch, hidden},
                       {batch, hidden});

      Value xw = matmul(rewriter, loc, xFlat, transpose2d(rewriter, loc, w));
      Value xw3 = rewriter.create<tensor::ExpandShapeOp>(
          loc, RankedTensorType::get({seq, batch, 4 * hidden}, elem), xw,
          ArrayRef<ReassociationIndices>{{0, 1}, {2}});
      Value rT = transpose2d(rewriter, loc, r);

      Value lb = rewriter.create<arith::ConstantIndexOp>(loc, 0);
      Value ub = rewriter.create<arith::ConstantIndexOp>(loc, seq);
      Value step = rewriter.create<arith::ConstantIndexOp>(loc, 1);
      Value last = rewriter.create<arith::ConstantIndexOp>(loc, seq - 1);
      auto loop = rewriter.create<scf::ForOp>(
          loc, lb, ub, step, ValueRange{h0, c0, y},
          [&](OpBuilder &b, Location loc, Value iv, ValueRange iter) {
            Value h = iter[0], c = iter[1], yAcc = iter[2];
            Value t = reverse ? b.create<arith::SubIOp>(loc, last, iv) : iv;
            Value xwT = slice(b, loc, xw3, {t, b.getIndexAttr(0),
                                            b.getIndexAttr(0)},
                              {1, batch, 4 * hidden}, {batch, 4 * hidden});
            Value hr = matmul(b, loc, h, rT);
            auto [hNew, cNew] = cellStep(b, loc, xwT, hr, wb, rb, p, c,
                                         hidden, clip);
            Value yNext = insert(b, loc, hNew, yAcc,
                                 {t, b.getIndexAttr(d), b.getIndexAttr(0),
                                  b.getIndexAttr(0)},
                                 {1, 1, batch, hidden});
            b.create<scf::YieldOp>(loc, ValueRange{hNew, cNew, yNext});
          });
      y = loop.getResult(2);
      // [B, H] -> [1, B, H] slot d of the final states.
      auto expand = [&](Value v) {
        return rewriter.create<tensor::ExpandShapeOp>(
            loc, RankedTensorType::get({1, batch, hidden}, elem), v,
            ArrayRef<ReassociationIndices>{{0, 1}, {2}});
      };
      yh = insert(rewriter, loc, expand(loop.getResult(0)), yh,
                  {idx(d), idx(0), idx(0)}, {1, batch, hidden});
      yc = insert(rewriter, loc, expand(loop.getResult(1)), yc,
                  {idx(d), idx(0), idx(0)}, {1, batch, hidden});
    }
    rewriter.replaceOp(op, {y, yh, yc});
    return success();
  }

  /// One step over [B, H]: the gate pre-activations (order i, o, f, c) are
  /// summed in one op over [B, 4H], sliced per gate (views, no copies), and
  /// the peepholes, new cell and hidden state computed in one fused op.
  static std::pair<Value, Value> cellStep(OpBuilder &b, Location loc, Value xw,
                                          Value hr, Value wb, Value rb, Value p,
                                          Value c, int64_t hidden,
                                          std::optional<double> clip) {
    auto ct = cast<RankedTensorType>(c.getType());
    auto gt = cast<RankedTensorType>(xw.getType());
    MLIRContext *ctx = b.getContext();
    int64_t batch = ct.getDimSize(0);
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
    AffineMap row = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    SmallVector<utils::IteratorType> iters(2, utils::IteratorType::parallel);
    Value gInit = b.create<tensor::EmptyOp>(loc, gt.getShape(),
                                            gt.getElementType());
    Value gates =
        b.create<linalg::GenericOp>(
             loc, TypeRange{gt}, ValueRange{xw, hr, wb, rb}, ValueRange{gInit},
             ArrayRef<AffineMap>{id, id, row, row, id}, iters,
             [](OpBuilder &nb, Location nl, ValueRange a) {
               Value s = nb.create<arith::AddFOp>(nl, a[0], a[1]);
               s = nb.create<arith::AddFOp>(nl, s, a[2]);
               s = nb.create<arith::AddFOp>(nl, s, a[3]);
               nb.create<linalg::YieldOp>(nl, s);
             })
            .getResult(0);
    SmallVector<Value> inputs;
    for (int64_t g = 0; g < 4; ++g)
      inputs.push_back(slice(b, loc, gates,
                             {b.getIndexAttr(0), b.getIndexAttr(g * hidden)},
                             {batch, hidden}, {batch, hidden}));
    for (int64_t k = 0; k < 3; ++k)
      inputs.push_back(slice(b, loc, p, {b.getIndexAttr(k * hidden)},
                             {hidden}, {hidden}));
    inputs.push_back(c);
    SmallVector<AffineMap> maps = {id, id, id, id, row, row, row, id, id, id};
    Value hInit = b.create<tensor::EmptyOp>(loc, ct.getShape(),
                                            ct.getElementType());
    Value cInit = b.create<tensor::EmptyOp>(loc, ct.getShape(),
                                            ct.getElementType());
    auto generic = b.create<linalg::GenericOp>(
        loc, TypeRange{ct, ct}, inputs, ValueRange{hInit, cInit}, maps, iters,
        [&](OpBuilder &b, Location loc, ValueRange a) {
          auto clipped = [&](Value v) -> Value {
            if (!clip)
              return v;
            Value hi = b.create<arith::ConstantOp>(
                loc, b.getFloatAttr(v.getType(), *clip));
            Value lo = b.create<arith::ConstantOp>(
                loc, b.getFloatAttr(v.getType(), -*clip));
            v = b.create<arith::MinimumFOp>(loc, v, hi);
            return b.create<arith::MaximumFOp>(loc, v, lo);
          };
          Value gi = a[0], go = a[1], gf = a[2], gc = a[3];
          Value pi = a[4], po = a[5], pf = a[6], cPrev = a[7];
          auto mul = [&](Value x, Value y) {
            return b.create<arith::MulFOp>(loc, x, y).getResult();
          };
          auto add = [&](Value x, Value y) {
            return b.create<arith::AddFOp>(loc, x, y).getResult();
          };
          Value i = sigmoid(b, loc, clipped(add(gi, mul(pi, cPrev))));
          Value f = sigmoid(b, loc, clipped(add(gf, mul(pf, cPrev))));
          Value cand = b.create<math::TanhOp>(loc, clipped(gc));
          Value cNew = add(mul(f, cPrev), mul(i, cand));
          Value o = sigmoid(b, loc, clipped(add(go, mul(po, cNew))));
          Value hNew = mul(o, b.create<math::TanhOp>(loc, cNew));
          b.create<linalg::YieldOp>(loc, ValueRange{hNew, cNew});
        });
    return {generic.getResult(0), generic.getResult(1)};
  }
};

struct LowerRnnPass : mlir::sparq::impl::LowerRnnBase<LowerRnnPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerLstm>(&getContext());
    if (failed(applyPatternsAndFoldGreedily(getOperation(),
                                            std::move(patterns))))
      return signalPassFailure();
    WalkResult left = getOperation().walk([](LstmOp op) {
      op.emitOpError("could not be lowered");
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
