//===- Misc.cpp - ONNX TopK, Einsum, OneHot, LRN and window functions -----===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <map>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

Value cIdx(OpBuilder &b, Location loc, int64_t v) {
  return indexConstant(b, loc, v);
}

/// TopK by ranking: rank[i] counts the elements that come before element i
/// (larger, or equal with a lower index, for largest=1), then each element
/// with rank < k is written to slot rank. O(n^2) per row, exact and stable.
LogicalResult buildTopK(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(ctx.attrInt("axis", -1), rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  int64_t k;
  if (ctx.opset < 10) {
    k = ctx.attrInt("k", 0);
  } else {
    auto kv = ctx.constInt(1, "k");
    if (failed(kv))
      return failure();
    k = *kv;
  }
  int64_t n = ctx.shape(0)[axis];
  // A run-time axis (the scores NonMaxSuppression kept) of a 1-D input: its
  // first min(n, k) entries, a count the model computes. (ONNX would
  // reject n < k; a detector's top-k wants them all.)
  bool runTime = isRunTimeDim(n);
  if (runTime && (rank != 1 || k < 0))
    return ctx.error() << "TopK along a run-time axis takes a 1-D input and "
                          "k >= 0, got "
                       << ctx.dims().shapeStr(ctx.shape(0)) << " and k = " << k;
  if (!runTime && (k < 0 || k > n))
    return ctx.error() << "k = " << k << " is out of range for an axis of "
                       << n;
  bool largest = ctx.attrInt("largest", 1);
  io::DType dt = ctx.dtype(0);
  bool fl = isFloat(dt), uns = isUnsigned(dt);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  MLIRContext *mctx = b.getContext();
  // Work with the axis last.
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis)
      perm.push_back(i);
  perm.push_back(axis);
  std::vector<int64_t> inv(rank);
  for (int64_t i = 0; i < rank; ++i)
    inv[perm[i]] = i;
  Value x = transposeTensor(b, loc, ctx.value(0), perm);
  auto xs = cast<RankedTensorType>(x.getType()).getShape();
  Type elem = ctx.elementType(dt);

  // rank[.., i] = sum_j beats(x[.., j], x[.., i]).
  SmallVector<AffineExpr> outer, ie, je;
  for (int64_t d = 0; d < rank - 1; ++d)
    outer.push_back(getAffineDimExpr(d, mctx));
  ie = outer;
  ie.push_back(getAffineDimExpr(rank - 1, mctx));
  je = outer;
  je.push_back(getAffineDimExpr(rank, mctx));
  std::vector<int64_t> xsDims(xs.begin(), xs.end());
  if (runTime)
    xsDims = ctx.shape(0);
  Value counts = filledTensor(b, loc, xsDims, b.getI64Type(), 0);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  iters.push_back(utils::IteratorType::reduction);
  auto rankOp = b.create<linalg::GenericOp>(
      loc, TypeRange{counts.getType()}, ValueRange{x, x}, ValueRange{counts},
      ArrayRef<AffineMap>{AffineMap::get(rank + 1, 0, ie, mctx),
                          AffineMap::get(rank + 1, 0, je, mctx),
                          AffineMap::get(rank + 1, 0, ie, mctx)},
      iters, [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value xi = a[0], xj = a[1];
        Value i = nb.create<linalg::IndexOp>(nl, rank - 1);
        Value j = nb.create<linalg::IndexOp>(nl, rank);
        Value strict, equal;
        if (fl) {
          strict = nb.create<arith::CmpFOp>(nl,
                                            largest ? arith::CmpFPredicate::OGT
                                                    : arith::CmpFPredicate::OLT,
                                            xj, xi);
          equal =
              nb.create<arith::CmpFOp>(nl, arith::CmpFPredicate::OEQ, xj, xi);
        } else {
          arith::CmpIPredicate p = largest ? (uns ? arith::CmpIPredicate::ugt
                                                  : arith::CmpIPredicate::sgt)
                                           : (uns ? arith::CmpIPredicate::ult
                                                  : arith::CmpIPredicate::slt);
          strict = nb.create<arith::CmpIOp>(nl, p, xj, xi);
          equal =
              nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::eq, xj, xi);
        }
        Value earlier =
            nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult, j, i);
        Value beats = nb.create<arith::OrIOp>(
            nl, strict, nb.create<arith::AndIOp>(nl, equal, earlier));
        Value inc = nb.create<arith::ExtUIOp>(nl, nb.getI64Type(), beats);
        nb.create<linalg::YieldOp>(
            nl, Value(nb.create<arith::AddIOp>(nl, a[2], inc)));
      });
  // The host runs float32 ranks of up to 2-D by sorting (TopKRanks.h).
  if (elem.isF32() && rank <= 2 && !runTime)
    rankOp->setAttr("sparq.topk_ranks", b.getBoolAttr(largest));
  Value ranks = rankOp.getResult(0);

  // Scatter the winners to their slots.
  std::vector<int64_t> outShape(xs.begin(), xs.end());
  outShape.back() = k;
  Value vals = emptyTensor(b, loc, outShape, elem);
  Value idxs = emptyTensor(b, loc, outShape, b.getI64Type());
  Value total =
      runTime ? ctx.dims().value(b, loc, n) : cIdx(b, loc, numElements(xs));
  auto loop = b.create<scf::ForOp>(
      loc, cIdx(b, loc, 0), total, cIdx(b, loc, 1), ValueRange{vals, idxs},
      [&](OpBuilder &nb, Location nl, Value iv, ValueRange iter) {
        SmallVector<Value> at =
            runTime ? SmallVector<Value>{iv} : delinearize(nb, nl, iv, xs);
        Value r = nb.create<tensor::ExtractOp>(nl, ranks, at);
        Value kk = nb.create<arith::ConstantIntOp>(nl, k, 64);
        Value win = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, r, kk);
        auto ifOp = nb.create<scf::IfOp>(
            nl, win,
            [&](OpBuilder &tb, Location tl) {
              SmallVector<Value> dst = at;
              dst.back() = tb.create<arith::IndexCastOp>(tl, tb.getIndexType(), r);
              Value v = tb.create<tensor::ExtractOp>(tl, x, at);
              Value i64 = tb.create<arith::IndexCastOp>(tl, tb.getI64Type(),
                                                        at.back());
              Value nv = tb.create<tensor::InsertOp>(tl, v, iter[0], dst);
              Value ni = tb.create<tensor::InsertOp>(tl, i64, iter[1], dst);
              tb.create<scf::YieldOp>(tl, ValueRange{nv, ni});
            },
            [&](OpBuilder &eb, Location el) {
              eb.create<scf::YieldOp>(el, ValueRange{iter[0], iter[1]});
            });
        nb.create<scf::YieldOp>(nl, ifOp.getResults());
      });
  if (runTime) {
    int64_t count = ctx.dims().addMinSymbol(b, loc, n, k);
    Value m = ctx.dims().value(b, loc, count);
    for (int i = 0; i < 2; ++i) {
      if (i == 1 && !ctx.wantsOutput(1))
        break;
      Value full = loop.getResult(i);
      Value first = b.create<tensor::ExtractSliceOp>(
          loc,
          RankedTensorType::get(
              {ShapedType::kDynamic},
              cast<RankedTensorType>(full.getType()).getElementType()),
          full, ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{m}, ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
      ctx.setOutput(i, first, i ? io::DType::I64 : dt, {count});
    }
    return success();
  }
  ctx.setOutput(0, transposeTensor(b, loc, loop.getResult(0), inv), dt);
  if (ctx.wantsOutput(1))
    ctx.setOutput(1, transposeTensor(b, loc, loop.getResult(1), inv),
                  io::DType::I64);
  return success();
}

/// Einsum as one linalg.generic: every distinct letter is a loop, letters
/// missing from the output are reductions.
LogicalResult buildEinsum(NodeContext &ctx) {
  std::string eq;
  for (char c : ctx.attrString("equation", ""))
    if (c != ' ')
      eq += c;
  std::string lhs = eq, rhs;
  bool explicitOut = false;
  if (size_t arrow = eq.find("->"); arrow != std::string::npos) {
    lhs = eq.substr(0, arrow);
    rhs = eq.substr(arrow + 2);
    explicitOut = true;
  }
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (terms.size() != ctx.numInputs())
    return ctx.error() << "equation '" << eq << "' names " << terms.size()
                       << " operands, the node has " << ctx.numInputs();
  // Ellipses become upper-case letters, aligned from the right.
  int64_t ellipsisRank = 0;
  for (size_t i = 0; i < terms.size(); ++i)
    if (size_t p = terms[i].find("..."); p != std::string::npos)
      ellipsisRank = std::max<int64_t>(
          ellipsisRank, ctx.rank(i) - int64_t(terms[i].size() - 3));
  auto expand = [&](std::string t, int64_t r) {
    size_t p = t.find("...");
    if (p == std::string::npos)
      return t;
    std::string e;
    for (int64_t k = ellipsisRank - r; k < ellipsisRank; ++k)
      e += char('A' + k);
    return t.substr(0, p) + e + t.substr(p + 3);
  };
  std::map<char, int64_t> sizes, count;
  for (size_t i = 0; i < terms.size(); ++i) {
    int64_t named = terms[i].find("...") == std::string::npos
                        ? terms[i].size()
                        : terms[i].size() - 3;
    terms[i] = expand(terms[i], ctx.rank(i) - named);
    if (static_cast<int64_t>(terms[i].size()) != ctx.rank(i))
      return ctx.error() << "term '" << terms[i] << "' does not match rank "
                         << ctx.rank(i);
    for (size_t k = 0; k < terms[i].size(); ++k) {
      char c = terms[i][k];
      int64_t d = ctx.shape(i)[k];
      auto it = sizes.find(c);
      if (it != sizes.end() && it->second != d && it->second != 1 && d != 1)
        return ctx.error() << "letter '" << c << "' has sizes " << it->second
                           << " and " << d;
      sizes[c] = it == sizes.end() ? d : std::max(it->second, d);
      ++count[c];
    }
  }
  if (explicitOut) {
    rhs = expand(rhs, ellipsisRank);
  } else {
    for (int64_t k = 0; k < ellipsisRank; ++k)
      rhs += char('A' + k);
    for (auto &[c, n] : count)
      if (n == 1 && std::islower(c))
        rhs += c;
  }
  std::vector<char> letters;
  for (char c : rhs)
    letters.push_back(c);
  for (auto &[c, n] : sizes)
    if (rhs.find(c) == std::string::npos)
      letters.push_back(c);
  MLIRContext *mctx = ctx.b.getContext();
  auto dimOf = [&](char c) {
    return getAffineDimExpr(
        std::find(letters.begin(), letters.end(), c) - letters.begin(), mctx);
  };
  SmallVector<AffineMap> maps;
  SmallVector<Value> ins;
  for (size_t i = 0; i < terms.size(); ++i) {
    SmallVector<AffineExpr> e;
    for (size_t k = 0; k < terms[i].size(); ++k)
      e.push_back(ctx.shape(i)[k] == 1 && sizes[terms[i][k]] != 1
                      ? getAffineConstantExpr(0, mctx)
                      : dimOf(terms[i][k]));
    maps.push_back(AffineMap::get(letters.size(), 0, e, mctx));
    ins.push_back(ctx.value(i));
  }
  SmallVector<AffineExpr> oe;
  std::vector<int64_t> outShape;
  for (char c : rhs) {
    oe.push_back(dimOf(c));
    outShape.push_back(sizes[c]);
  }
  maps.push_back(AffineMap::get(letters.size(), 0, oe, mctx));
  SmallVector<utils::IteratorType> iters;
  for (char c : letters)
    iters.push_back(rhs.find(c) == std::string::npos
                        ? utils::IteratorType::reduction
                        : utils::IteratorType::parallel);
  Type elem = ctx.elementType(ctx.dtype(0));
  Value acc = filledTensor(ctx.b, ctx.loc, outShape, elem, 0);
  Value r = ctx.b
                .create<linalg::GenericOp>(
                    ctx.loc, TypeRange{acc.getType()}, ins, ValueRange{acc},
                    maps, iters,
                    [&](OpBuilder &nb, Location nl, ValueRange a) {
                      Value p = a[0];
                      for (size_t i = 1; i + 1 < a.size(); ++i)
                        p = mulS(nb, nl, p, a[i]);
                      nb.create<linalg::YieldOp>(nl, addS(nb, nl, a.back(), p));
                    })
                .getResult(0);
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult buildOneHot(NodeContext &ctx) {
  auto depthV = ctx.constFloat(1, "depth");
  if (failed(depthV))
    return failure();
  // Checked as a double: a NaN or a depth past 2^63 does not convert.
  if (!(*depthV >= 1 && *depthV <= double(kMaxElements)))
    return ctx.error() << "depth " << *depthV << " is out of range";
  int64_t depth = static_cast<int64_t>(*depthV);
  int64_t outRank = ctx.rank(0) + 1;
  int64_t axis = normalizeAxis(ctx.attrInt("axis", -1), outRank);
  if (axis < 0)
    return ctx.error() << "invalid axis";
  std::vector<int64_t> out = ctx.shape(0);
  out.insert(out.begin() + axis, depth);
  io::DType it = ctx.dtype(0), vt = ctx.dtype(2);
  MLIRContext *mctx = ctx.b.getContext();
  SmallVector<AffineExpr> ie;
  for (int64_t d = 0; d < outRank; ++d)
    if (d != axis)
      ie.push_back(getAffineDimExpr(d, mctx));
  Value values = ctx.value(2);
  Value init = emptyTensor(ctx.b, ctx.loc, out, ctx.elementType(vt));
  Value r =
      ctx.b
          .create<linalg::GenericOp>(
              ctx.loc, TypeRange{init.getType()}, ValueRange{ctx.value(0)},
              ValueRange{init},
              ArrayRef<AffineMap>{AffineMap::get(outRank, 0, ie, mctx),
                                  AffineMap::getMultiDimIdentityMap(outRank,
                                                                    mctx)},
              SmallVector<utils::IteratorType>(outRank,
                                               utils::IteratorType::parallel),
              [&](OpBuilder &nb, Location nl, ValueRange a) {
                Value idx = castScalar(nb, nl, a[0], it, io::DType::I64);
                Value d = nb.create<arith::ConstantIntOp>(nl, depth, 64);
                Value zero = nb.create<arith::ConstantIntOp>(nl, 0, 64);
                Value neg = nb.create<arith::CmpIOp>(
                    nl, arith::CmpIPredicate::slt, idx, zero);
                idx = nb.create<arith::SelectOp>(
                    nl, neg, nb.create<arith::AddIOp>(nl, idx, d), idx);
                Value pos = nb.create<arith::IndexCastOp>(
                    nl, nb.getI64Type(), nb.create<linalg::IndexOp>(nl, axis));
                Value hot = nb.create<arith::CmpIOp>(
                    nl, arith::CmpIPredicate::eq, idx, pos);
                Value off = nb.create<tensor::ExtractOp>(
                    nl, values, ValueRange{cIdx(nb, nl, 0)});
                Value on = nb.create<tensor::ExtractOp>(
                    nl, values, ValueRange{cIdx(nb, nl, 1)});
                nb.create<linalg::YieldOp>(
                    nl, Value(nb.create<arith::SelectOp>(nl, hot, on, off)));
              })
          .getResult(0);
  ctx.setOutput(0, r, vt);
  return success();
}

LogicalResult buildLrn(NodeContext &ctx) {
  if (ctx.rank(0) < 3 || !isFloat(ctx.dtype(0)))
    return ctx.error() << "expects a float input of rank >= 3";
  double alpha = ctx.attrFloat("alpha", 1e-4f), beta = ctx.attrFloat("beta", 0.75f),
         bias = ctx.attrFloat("bias", 1.0f);
  int64_t size = ctx.attrInt("size", 0);
  if (size <= 0 || size > (int64_t(1) << 31))
    return ctx.error() << "expects size in [1, 2^31], got " << size;
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  auto xs = ctx.shape(0);
  int64_t rank = xs.size();
  Type elem = ctx.elementType(ctx.dtype(0));
  Value sq = buildElementwise(b, loc, x, xs, elem,
                              [](OpBuilder &nb, Location nl, ValueRange a) {
                                return nb.create<arith::MulFOp>(nl, a[0], a[0])
                                    .getResult();
                              });
  std::vector<int64_t> lo(rank, 0), hi(rank, 0);
  lo[1] = (size - 1) / 2;
  hi[1] = size - 1 - lo[1];
  Value padded = padTensor(b, loc, sq, lo, hi, scalarConstant(b, loc, elem, 0));
  MLIRContext *mctx = b.getContext();
  SmallVector<AffineExpr> pe, oe;
  for (int64_t d = 0; d < rank; ++d) {
    oe.push_back(getAffineDimExpr(d, mctx));
    pe.push_back(d == 1 ? getAffineDimExpr(1, mctx) + getAffineDimExpr(rank, mctx)
                        : getAffineDimExpr(d, mctx));
  }
  Value window = emptyTensor(b, loc, {size}, elem);
  Value acc = filledTensor(b, loc, xs, elem, 0);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  iters.push_back(utils::IteratorType::reduction);
  Value sum = b.create<linalg::GenericOp>(
                   loc, TypeRange{acc.getType()}, ValueRange{padded, window},
                   ValueRange{acc},
                   ArrayRef<AffineMap>{
                       AffineMap::get(rank + 1, 0, pe, mctx),
                       AffineMap::get(rank + 1, 0, {getAffineDimExpr(rank, mctx)},
                                      mctx),
                       AffineMap::get(rank + 1, 0, oe, mctx)},
                   iters,
                   [](OpBuilder &nb, Location nl, ValueRange a) {
                     nb.create<linalg::YieldOp>(
                         nl, Value(nb.create<arith::AddFOp>(nl, a[0], a[2])));
                   })
                  .getResult(0);
  Value y = buildElementwise(
      b, loc, ValueRange{x, sum}, xs, elem,
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value s = nb.create<arith::MulFOp>(
            nl, a[1], scalarConstant(nb, nl, elem, alpha / size));
        s = nb.create<arith::AddFOp>(nl, s, scalarConstant(nb, nl, elem, bias));
        s = nb.create<math::PowFOp>(nl, s, scalarConstant(nb, nl, elem, beta));
        return nb.create<arith::DivFOp>(nl, a[0], s).getResult();
      });
  ctx.setOutput(0, y, ctx.dtype(0));
  return success();
}

enum class Window { Hann, Hamming, Blackman };

/// Window functions depend only on the size: computed while importing.
template <Window W> LogicalResult buildWindow(NodeContext &ctx) {
  auto sizeV = ctx.constInt(0, "size");
  if (failed(sizeV))
    return failure();
  int64_t n = *sizeV;
  if (n < 0 || n > (int64_t(1) << 24))
    return ctx.error() << "window size " << n << " is out of range";
  io::DType dt = io::DType::F32;
  if (ctx.hasAttr("output_datatype") &&
      !io::dtypeFromOnnx(ctx.attrInt("output_datatype", 1), dt))
    return ctx.error() << "unsupported output_datatype";
  bool periodic = ctx.attrInt("periodic", 1);
  double denom = periodic ? n : n - 1;
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) {
    double t = denom > 0 ? 2 * M_PI * i / denom : 0;
    switch (W) {
    case Window::Hann:
      v[i] = 0.5 - 0.5 * std::cos(t);
      break;
    case Window::Hamming:
      v[i] = 25.0 / 46.0 - 21.0 / 46.0 * std::cos(t);
      break;
    case Window::Blackman:
      v[i] = 0.42 - 0.5 * std::cos(t) + 0.08 * std::cos(2 * t);
      break;
    }
  }
  ctx.setConstant(0, hostFromDoubles(dt, {n}, v));
  return success();
}

} // namespace

void onnx_import::registerMiscOps(OpTable &t) {
  t["TopK"] = buildTopK;
  t["Einsum"] = buildEinsum;
  t["OneHot"] = buildOneHot;
  t["LRN"] = buildLrn;
  t["HannWindow"] = buildWindow<Window::Hann>;
  t["HammingWindow"] = buildWindow<Window::Hamming>;
  t["BlackmanWindow"] = buildWindow<Window::Blackman>;
}
