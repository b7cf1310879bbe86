//===- LowerRnn.cpp - sparq.lstm to linalg + scf --------------------------===//

#include "dialects/ConstantData.h"
#include "dialects/SparqDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/Matchers.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
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

/// lhs [M, K] x w [N, K]^T -> [M, N]: weights stay output-major, the
/// orientation compression passes and packed kernels work on.
Value matmulTransposeB(OpBuilder &b, Location loc, Value lhs, Value w) {
  auto lt = cast<RankedTensorType>(lhs.getType());
  auto wt = cast<RankedTensorType>(w.getType());
  Value init = zeros(b, loc, {lt.getDimSize(0), wt.getDimSize(0)},
                     lt.getElementType());
  return b.create<linalg::MatmulTransposeBOp>(loc, ValueRange{lhs, w}, init)
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

/// Direction `d` of a [dirs, rows, cols] weight as [rows, cols]: a new
/// constant when the weight is one, else a slice.
Value weightSlice(OpBuilder &b, Location loc, Value all, int64_t d,
                  ArrayRef<int64_t> shape) {
  ElementsAttr attr;
  auto allType = cast<RankedTensorType>(all.getType());
  auto elem = allType.getElementType();
  // A compressed weight's slices keep its encoding: every format stores a
  // direction's rows as it stores the stacked matrix's.
  auto type = RankedTensorType::get(shape, elem, allType.getEncoding());
  std::optional<ArrayRef<char>> raw;
  if (matchPattern(all, m_Constant(&attr)) && (raw = constantBytes(attr))) {
    int64_t n = shape[0] * shape[1];
    if (isSplatConstant(attr))
      return b.create<arith::ConstantOp>(
          loc, type, cast<DenseElementsAttr>(attr).resizeSplat(type));
    int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
    ArrayRef<char> part = raw->slice(d * n * bytes, n * bytes);
    return b.create<arith::ConstantOp>(
        loc, type,
        constantAttr(type, std::vector<char>(part.begin(), part.end())));
  }
  return slice(b, loc, all, {b.getIndexAttr(d), b.getIndexAttr(0),
                             b.getIndexAttr(0)},
               {1, shape[0], shape[1]}, shape);
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

/// Builds one recurrent layer: per direction, the input projection of all
/// steps as one matmul, then an scf.for over the sequence that computes the
/// recurrent projection `h R^T` and calls `step` for the new states.
/// `states[0]` is h; returns {y, final state 0, final state 1, ...}.
using StepFn = function_ref<SmallVector<Value>(
    OpBuilder &b, Location loc, int64_t dir, Value xwT, Value hr,
    ValueRange states, Value rT)>;

SmallVector<Value> lowerRecurrent(OpBuilder &rewriter, Location loc,
                                  Value input, Value wAll, Value rAll,
                                  ArrayRef<Value> initialStates, int64_t gates,
                                  int64_t hidden, RnnDirection direction,
                                  StepFn step, bool needsRT = false) {
  auto xType = cast<RankedTensorType>(input.getType());
  Type elem = xType.getElementType();
  int64_t seq = xType.getDimSize(0), batch = xType.getDimSize(1),
          in = xType.getDimSize(2),
          dirs = direction == RnnDirection::Bidirectional ? 2 : 1;
  int64_t gh = gates * hidden;
  auto idx = [&](int64_t v) -> OpFoldResult {
    return rewriter.getIndexAttr(v);
  };
  Value y = rewriter.create<tensor::EmptyOp>(
      loc, ArrayRef<int64_t>{seq, dirs, batch, hidden}, elem);
  SmallVector<Value> finals(initialStates.size());
  for (Value &f : finals)
    f = rewriter.create<tensor::EmptyOp>(
        loc, ArrayRef<int64_t>{dirs, batch, hidden}, elem);
  Value xFlat = rewriter.create<tensor::CollapseShapeOp>(
      loc, input, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  for (int64_t d = 0; d < dirs; ++d) {
    bool reverse = direction == RnnDirection::Reverse || d == 1;
    // A direction's weights: constants are sliced now, so that each stays a
    // 2-D weight constant for the compression passes.
    Value w = weightSlice(rewriter, loc, wAll, d, {gh, in});
    Value r = weightSlice(rewriter, loc, rAll, d, {gh, hidden});
    SmallVector<Value> init = {};
    for (Value s0 : initialStates)
      init.push_back(slice(rewriter, loc, s0, {idx(d), idx(0), idx(0)},
                           {1, batch, hidden}, {batch, hidden}));
    Value xw = matmulTransposeB(rewriter, loc, xFlat, w);
    Value xw3 = rewriter.create<tensor::ExpandShapeOp>(
        loc, RankedTensorType::get({seq, batch, gh}, elem), xw,
        ArrayRef<ReassociationIndices>{{0, 1}, {2}});
    // Only GRU's reset-first step reads R transposed; an unused transpose
    // would keep a compressed R from being a weight until canonicalized.
    Value rT = needsRT ? transpose2d(rewriter, loc, r) : Value();
    Value lb = rewriter.create<arith::ConstantIndexOp>(loc, 0);
    Value ub = rewriter.create<arith::ConstantIndexOp>(loc, seq);
    Value one = rewriter.create<arith::ConstantIndexOp>(loc, 1);
    Value last = rewriter.create<arith::ConstantIndexOp>(loc, seq - 1);
    SmallVector<Value> iterInit = init;
    iterInit.push_back(y);
    size_t ns = init.size();
    auto loop = rewriter.create<scf::ForOp>(
        loc, lb, ub, one, iterInit,
        [&](OpBuilder &b, Location loc, Value iv, ValueRange iter) {
          Value t = reverse ? b.create<arith::SubIOp>(loc, last, iv) : iv;
          Value xwT = slice(b, loc, xw3,
                            {t, b.getIndexAttr(0), b.getIndexAttr(0)},
                            {1, batch, gh}, {batch, gh});
          Value hr = matmulTransposeB(b, loc, iter[0], r);
          SmallVector<Value> next =
              step(b, loc, d, xwT, hr, iter.take_front(ns), rT);
          next.push_back(insert(b, loc, next[0], iter[ns],
                                {t, b.getIndexAttr(d), b.getIndexAttr(0),
                                 b.getIndexAttr(0)},
                                {1, 1, batch, hidden}));
          b.create<scf::YieldOp>(loc, next);
        });
    y = loop.getResult(ns);
    for (size_t k = 0; k < ns; ++k) {
      Value v = rewriter.create<tensor::ExpandShapeOp>(
          loc, RankedTensorType::get({1, batch, hidden}, elem),
          loop.getResult(k), ArrayRef<ReassociationIndices>{{0, 1}, {2}});
      finals[k] = insert(rewriter, loc, v, finals[k],
                         {idx(d), idx(0), idx(0)}, {1, batch, hidden});
    }
  }
  SmallVector<Value> results = {y};
  results.append(finals.begin(), finals.end());
  return results;
}

/// Columns [g*H, (g+1)*H) of a [B, G*H] tensor, or entries of a [G*H]
/// vector: gate g (a view).
Value gate(OpBuilder &b, Location loc, Value v, int64_t g, int64_t hidden) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() == 1)
    return slice(b, loc, v, {b.getIndexAttr(g * hidden)}, {hidden}, {hidden});
  int64_t rows = t.getDimSize(0);
  return slice(b, loc, v, {b.getIndexAttr(0), b.getIndexAttr(g * hidden)},
               {rows, hidden}, {rows, hidden});
}

/// Bias block k (of H) of direction d of a [D, K*H] bias.
Value biasBlock(OpBuilder &b, Location loc, Value bias, int64_t d, int64_t k,
                int64_t hidden) {
  return slice(b, loc, bias, {b.getIndexAttr(d), b.getIndexAttr(k * hidden)},
               {1, hidden}, {hidden});
}

/// A fused elementwise op over [B, H]: `inputs` are [B, H] tensors or [H]
/// vectors (broadcast over B); `body` gets their elements.
SmallVector<Value> elementwise(
    OpBuilder &b, Location loc, ValueRange inputs, int64_t numResults,
    Value like,
    function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)> body) {
  auto ct = cast<RankedTensorType>(like.getType());
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap row = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
  SmallVector<AffineMap> maps;
  for (Value v : inputs)
    maps.push_back(cast<RankedTensorType>(v.getType()).getRank() == 1 ? row
                                                                      : id);
  SmallVector<Value> inits;
  SmallVector<Type> types;
  for (int64_t i = 0; i < numResults; ++i) {
    inits.push_back(b.create<tensor::EmptyOp>(loc, ct.getShape(),
                                              ct.getElementType()));
    maps.push_back(id);
    types.push_back(ct);
  }
  SmallVector<utils::IteratorType> iters(2, utils::IteratorType::parallel);
  auto op = b.create<linalg::GenericOp>(
      loc, types, inputs, inits, maps, iters,
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        nb.create<linalg::YieldOp>(nl, body(nb, nl, a.take_front(inputs.size())));
      });
  return SmallVector<Value>(op.getResults());
}

Value clamp(OpBuilder &b, Location loc, Value v, std::optional<double> clip) {
  if (!clip)
    return v;
  Value hi = b.create<arith::ConstantOp>(loc, b.getFloatAttr(v.getType(), *clip));
  Value lo =
      b.create<arith::ConstantOp>(loc, b.getFloatAttr(v.getType(), -*clip));
  v = b.create<arith::MinimumFOp>(loc, v, hi);
  return b.create<arith::MaximumFOp>(loc, v, lo);
}

std::optional<double> clipOf(std::optional<APFloat> c) {
  if (c)
    return c->convertToDouble();
  return std::nullopt;
}

struct LowerLstm : OpRewritePattern<LstmOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LstmOp op,
                                PatternRewriter &rewriter) const override {
    if (!isa<FloatType>(getElementTypeOrSelf(op.getInput().getType())))
      return rewriter.notifyMatchFailure(op, "expects float tensors");
    int64_t hidden = op.getHiddenSize();
    std::optional<double> clip = clipOf(op.getClip());
    auto step = [&](OpBuilder &b, Location loc, int64_t d, Value xwT, Value hr,
                    ValueRange states, Value) -> SmallVector<Value> {
      Value wb = slice(b, loc, op.getBias(), {b.getIndexAttr(d), b.getIndexAttr(0)},
                       {1, 4 * hidden}, {4 * hidden});
      Value rb = slice(b, loc, op.getBias(),
                       {b.getIndexAttr(d), b.getIndexAttr(4 * hidden)},
                       {1, 4 * hidden}, {4 * hidden});
      Value p = slice(b, loc, op.getPeepholes(),
                      {b.getIndexAttr(d), b.getIndexAttr(0)}, {1, 3 * hidden},
                      {3 * hidden});
      auto [h, c] = cellStep(b, loc, xwT, hr, wb, rb, p, states[1], hidden, clip);
      return {h, c};
    };
    SmallVector<Value> r = lowerRecurrent(
        rewriter, op.getLoc(), op.getInput(), op.getW(), op.getR(),
        {op.getInitialH(), op.getInitialC()}, 4, hidden, op.getDirection(),
        step);
    rewriter.replaceOp(op, r);
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

struct LowerGru : OpRewritePattern<GruOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GruOp op,
                                PatternRewriter &rewriter) const override {
    if (!isa<FloatType>(getElementTypeOrSelf(op.getInput().getType())))
      return rewriter.notifyMatchFailure(op, "expects float tensors");
    int64_t hidden = op.getHiddenSize();
    std::optional<double> clip = clipOf(op.getClip());
    bool linearBeforeReset = op.getLinearBeforeReset();
    Value bias = op.getBias();
    // Gates z, r, h; bias blocks Wb(z, r, h) then Rb(z, r, h).
    auto step = [&](OpBuilder &b, Location loc, int64_t d, Value xwT, Value hr,
                    ValueRange states, Value rT) -> SmallVector<Value> {
      Value hPrev = states[0];
      SmallVector<Value> ins = {gate(b, loc, xwT, 0, hidden),
                                gate(b, loc, xwT, 1, hidden),
                                gate(b, loc, xwT, 2, hidden),
                                gate(b, loc, hr, 0, hidden),
                                gate(b, loc, hr, 1, hidden),
                                gate(b, loc, hr, 2, hidden)};
      for (int64_t k = 0; k < 6; ++k)
        ins.push_back(biasBlock(b, loc, bias, d, k, hidden));
      ins.push_back(hPrev);
      auto add = [](OpBuilder &nb, Location nl, Value x, Value y) {
        return nb.create<arith::AddFOp>(nl, x, y).getResult();
      };
      auto mul = [](OpBuilder &nb, Location nl, Value x, Value y) {
        return nb.create<arith::MulFOp>(nl, x, y).getResult();
      };
      // New h from z, the candidate and h_{t-1}.
      auto blend = [&](OpBuilder &nb, Location nl, Value z, Value cand,
                       Value h) {
        Value one = nb.create<arith::ConstantOp>(
            nl, nb.getFloatAttr(z.getType(), 1));
        Value keep = nb.create<arith::SubFOp>(nl, one, z);
        return add(nb, nl, mul(nb, nl, keep, cand), mul(nb, nl, z, h));
      };
      if (linearBeforeReset) {
        return elementwise(
            b, loc, ins, 1, hPrev,
            [&](OpBuilder &nb, Location nl, ValueRange a) -> SmallVector<Value> {
              Value z = sigmoid(nb, nl, clamp(nb, nl, add(nb, nl, add(nb, nl, a[0], a[3]), add(nb, nl, a[6], a[9])), clip));
              Value r = sigmoid(nb, nl, clamp(nb, nl, add(nb, nl, add(nb, nl, a[1], a[4]), add(nb, nl, a[7], a[10])), clip));
              Value rec = mul(nb, nl, r, add(nb, nl, a[5], a[11]));
              Value cand = nb.create<math::TanhOp>(
                  nl, clamp(nb, nl, add(nb, nl, add(nb, nl, a[2], a[8]), rec), clip));
              return {blend(nb, nl, z, cand, a[12])};
            });
      }
      // Reset before the recurrent projection: (r * h) Rh^T.
      SmallVector<Value> zr = elementwise(
          b, loc, ins, 2, hPrev,
          [&](OpBuilder &nb, Location nl, ValueRange a) -> SmallVector<Value> {
            Value z = sigmoid(nb, nl, clamp(nb, nl, add(nb, nl, add(nb, nl, a[0], a[3]), add(nb, nl, a[6], a[9])), clip));
            Value r = sigmoid(nb, nl, clamp(nb, nl, add(nb, nl, add(nb, nl, a[1], a[4]), add(nb, nl, a[7], a[10])), clip));
            return {z, mul(nb, nl, r, a[12])};
          });
      Value rhT = slice(b, loc, rT, {b.getIndexAttr(0), b.getIndexAttr(2 * hidden)},
                        {hidden, hidden}, {hidden, hidden});
      Value rec = matmul(b, loc, zr[1], rhT);
      return elementwise(
          b, loc,
          ValueRange{zr[0], gate(b, loc, xwT, 2, hidden),
                     biasBlock(b, loc, bias, d, 2, hidden), rec,
                     biasBlock(b, loc, bias, d, 5, hidden), hPrev},
          1, hPrev,
          [&](OpBuilder &nb, Location nl, ValueRange a) -> SmallVector<Value> {
            Value pre = add(nb, nl, add(nb, nl, a[1], a[2]), add(nb, nl, a[3], a[4]));
            Value cand = nb.create<math::TanhOp>(nl, clamp(nb, nl, pre, clip));
            return {blend(nb, nl, a[0], cand, a[5])};
          });
    };
    SmallVector<Value> r =
        lowerRecurrent(rewriter, op.getLoc(), op.getInput(), op.getW(),
                       op.getR(), {op.getInitialH()}, 3, hidden,
                       op.getDirection(), step, !linearBeforeReset);
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct LowerSimpleRnn : OpRewritePattern<RnnOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RnnOp op,
                                PatternRewriter &rewriter) const override {
    if (!isa<FloatType>(getElementTypeOrSelf(op.getInput().getType())))
      return rewriter.notifyMatchFailure(op, "expects float tensors");
    int64_t hidden = op.getHiddenSize();
    std::optional<double> clip = clipOf(op.getClip());
    RnnActivation act = op.getActivation();
    auto step = [&](OpBuilder &b, Location loc, int64_t d, Value xwT, Value hr,
                    ValueRange states, Value) -> SmallVector<Value> {
      return elementwise(
          b, loc,
          ValueRange{xwT, hr, biasBlock(b, loc, op.getBias(), d, 0, hidden),
                     biasBlock(b, loc, op.getBias(), d, 1, hidden)},
          1, states[0],
          [&](OpBuilder &nb, Location nl, ValueRange a) -> SmallVector<Value> {
            Value s = nb.create<arith::AddFOp>(nl, a[0], a[1]);
            s = nb.create<arith::AddFOp>(nl, s, a[2]);
            s = clamp(nb, nl, nb.create<arith::AddFOp>(nl, s, a[3]), clip);
            switch (act) {
            case RnnActivation::Tanh:
              return {nb.create<math::TanhOp>(nl, s)};
            case RnnActivation::Sigmoid:
              return {sigmoid(nb, nl, s)};
            case RnnActivation::Relu:
              return {nb.create<arith::MaximumFOp>(
                  nl, s,
                  nb.create<arith::ConstantOp>(nl, nb.getFloatAttr(s.getType(), 0)))};
            }
            return {s};
          });
    };
    SmallVector<Value> r =
        lowerRecurrent(rewriter, op.getLoc(), op.getInput(), op.getW(),
                       op.getR(), {op.getInitialH()}, 1, hidden,
                       op.getDirection(), step);
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct LowerRnnPass : mlir::sparq::impl::LowerRnnBase<LowerRnnPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerLstm, LowerGru, LowerSimpleRnn>(&getContext());
    if (failed(applyPatternsAndFoldGreedily(getOperation(),
                                            std::move(patterns))))
      return signalPassFailure();
    WalkResult left = getOperation().walk([](Operation *op) {
      if (!isa<LstmOp, GruOp, RnnOp>(op))
        return WalkResult::advance();
      op->emitOpError("could not be lowered");
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
