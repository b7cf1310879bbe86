//===- Shape.cpp - ONNX ops that move data: reshape, slice, gather, ... ---===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"
#include "runtime/io/SizeMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

Value toIndex(OpBuilder &b, Location loc, Value v) {
  if (v.getType().isIndex())
    return v;
  return b.create<arith::IndexCastOp>(loc, b.getIndexType(), v);
}

Value cIdx(OpBuilder &b, Location loc, int64_t v) {
  return indexConstant(b, loc, v);
}

/// Wraps a possibly negative index into [0, dim).
Value wrapIndex(OpBuilder &b, Location loc, Value idx, Value dim) {
  Value zero = cIdx(b, loc, 0);
  Value neg = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, idx, zero);
  Value wrapped = b.create<arith::AddIOp>(loc, idx, dim);
  return b.create<arith::SelectOp>(loc, neg, wrapped, idx);
}
Value wrapIndex(OpBuilder &b, Location loc, Value idx, int64_t dim) {
  return wrapIndex(b, loc, idx, cIdx(b, loc, dim));
}

FailureOr<std::vector<int64_t>> axesOf(NodeContext &ctx, size_t inputIdx,
                                       int64_t rank) {
  std::vector<int64_t> axes;
  if (ctx.opset >= 13 && ctx.node.op_type() != "Slice" &&
      ctx.hasInput(inputIdx)) {
    auto a = ctx.constInts(inputIdx, "axes");
    if (failed(a))
      return failure();
    axes = *a;
  } else if (ctx.opset < 13 || ctx.node.op_type() == "Slice") {
    axes = ctx.attrInts("axes");
  }
  for (int64_t &a : axes) {
    int64_t n = normalizeAxis(a, rank);
    if (n < 0) {
      ctx.error() << "axis " << a << " is out of range for rank " << rank;
      return failure();
    }
    a = n;
  }
  return axes;
}

// --- Pass-through -----------------------------------------------------------

LogicalResult buildIdentity(NodeContext &ctx) {
  ctx.setOutput(0, ctx.value(0), ctx.dtype(0));
  return success();
}

LogicalResult buildDropout(NodeContext &ctx) {
  // Inference is the identity; training mode drops at random, which a
  // compiled model for deployment does not do.
  bool training = ctx.attrInt("is_test", 1) == 0 && ctx.opset < 7;
  if (ctx.hasInput(2)) {
    const io::HostTensor *mode = ctx.knownValue(2);
    if (!mode)
      return ctx.error() << "training_mode must be known at compile time";
    if (mode->numElements() != 1)
      return ctx.error() << "training_mode must hold one value";
    training = hostToInts(*mode)[0] != 0;
  }
  double ratio = ctx.attrFloat("ratio", 0.5f);
  if (ctx.hasInput(1)) {
    const io::HostTensor *r = ctx.knownValue(1);
    if (r && r->numElements() == 1)
      ratio = hostToDoubles(*r)[0];
  }
  if (training && ratio != 0)
    return ctx.error() << "training-mode dropout (random) is not supported";
  ctx.setOutput(0, ctx.value(0), ctx.dtype(0));
  if (ctx.wantsOutput(1)) {
    std::vector<int64_t> ones(numElements(ctx.shape(0)), 1);
    ctx.setConstant(1, hostFromInts(io::DType::Bool, ctx.shape(0), ones));
  }
  return success();
}

// --- Shape queries (always compile-time) ------------------------------------

LogicalResult buildShape(NodeContext &ctx) {
  std::vector<int64_t> s = ctx.shape(0);
  int64_t rank = s.size();
  int64_t start = ctx.attrInt("start", 0), end = ctx.attrInt("end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  std::vector<int64_t> dims(s.begin() + start,
                            s.begin() + std::max(start, end));
  ctx.setConstant(0, hostFromInts(io::DType::I64,
                                  {static_cast<int64_t>(dims.size())}, dims));
  return success();
}

LogicalResult buildSize(NodeContext &ctx) {
  ctx.setConstant(0, hostFromInts(io::DType::I64, {},
                                  {numElements(ctx.shape(0))}));
  return success();
}

LogicalResult buildConstant(NodeContext &ctx) {
  if (ctx.hasAttr("value")) {
    auto t = ctx.attrTensor("value");
    if (failed(t))
      return failure();
    ctx.setConstant(0, std::move(*t));
    return success();
  }
  if (ctx.hasAttr("value_float"))
    ctx.setConstant(0, hostFromDoubles(io::DType::F32, {},
                                       {ctx.attrFloat("value_float", 0)}));
  else if (ctx.hasAttr("value_int"))
    ctx.setConstant(0, hostFromInts(io::DType::I64, {},
                                    {ctx.attrInt("value_int", 0)}));
  else if (ctx.hasAttr("value_floats")) {
    auto v = ctx.attrFloats("value_floats");
    ctx.setConstant(0, hostFromDoubles(io::DType::F32,
                                       {static_cast<int64_t>(v.size())},
                                       {v.begin(), v.end()}));
  } else if (ctx.hasAttr("value_ints")) {
    auto v = ctx.attrInts("value_ints");
    ctx.setConstant(0, hostFromInts(io::DType::I64,
                                    {static_cast<int64_t>(v.size())}, v));
  } else {
    return ctx.error() << "unsupported constant kind (sparse or string)";
  }
  return success();
}

LogicalResult buildConstantOfShape(NodeContext &ctx) {
  auto shape = ctx.constInts(0, "shape");
  if (failed(shape))
    return failure();
  for (int64_t d : *shape)
    if (d < 0)
      return ctx.error() << "shape " << shapeStr(*shape)
                         << " has a negative dimension";
  io::HostTensor value = hostFromDoubles(io::DType::F32, {1}, {0.0});
  if (ctx.hasAttr("value")) {
    auto t = ctx.attrTensor("value");
    if (failed(t))
      return failure();
    value = std::move(*t);
  }
  if (value.numElements() != 1)
    return ctx.error() << "value must hold one element, not "
                       << value.numElements();
  Type elem = ctx.elementType(value.dtype);
  double v = hostToDoubles(value)[0];
  // Small results are shape data: keep them foldable.
  if (numElements(*shape) <= 64) {
    if (isFloat(value.dtype))
      ctx.setConstant(0, hostFromDoubles(value.dtype, *shape,
                                         std::vector<double>(numElements(*shape), v)));
    else
      ctx.setConstant(0, hostFromInts(value.dtype, *shape,
                                      std::vector<int64_t>(numElements(*shape),
                                                           hostToInts(value)[0])));
    return success();
  }
  Value r = filledTensor(ctx.b, ctx.loc, *shape, elem, v);
  ctx.setOutput(0, r, value.dtype);
  return success();
}

// --- Reshapes -------------------------------------------------------------------

LogicalResult buildReshape(NodeContext &ctx) {
  if (ctx.input(0).isRunTimeShaped() ||
      (ctx.hasInput(1) && ctx.input(1).symbolic))
    return buildRunTimeReshape(ctx);
  std::vector<int64_t> target;
  if (ctx.opset < 5) {
    target = ctx.attrInts("shape");
  } else {
    auto t = ctx.constInts(1, "shape");
    if (failed(t))
      return failure();
    target = *t;
  }
  const std::vector<int64_t> &in = ctx.shape(0);
  bool allowZero = ctx.attrInt("allowzero", 0);
  int64_t inferred = -1, known = 1;
  SizeMath m;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allowZero) {
      if (i >= in.size())
        return ctx.error() << "shape " << shapeStr(target)
                           << " copies dimension " << i
                           << " that the input " << shapeStr(in) << " lacks";
      target[i] = in[i];
    }
    if (target[i] == -1) {
      if (inferred >= 0)
        return ctx.error() << "shape " << shapeStr(target)
                           << " has more than one -1";
      inferred = i;
      continue;
    }
    if (target[i] < 0)
      return ctx.error() << "invalid shape " << shapeStr(target)
                         << ": negative dimension " << target[i];
    known = m.mul(known, target[i]);
  }
  // A product past 2^63 matches no input (the importer's are at most 2^34).
  if (!m.ok())
    return ctx.error() << "shape " << shapeStr(target) << " is too large";
  int64_t n = numElements(in);
  if (inferred >= 0) {
    if (known == 0 || n % known != 0)
      return ctx.error() << "cannot reshape " << shapeStr(in) << " to "
                         << shapeStr(target);
    target[inferred] = n / known;
  } else if (known != n) {
    return ctx.error() << "cannot reshape " << shapeStr(in) << " ("
                       << n << " elements) to " << shapeStr(target);
  }
  ctx.setOutput(0, reshapeTensor(ctx.b, ctx.loc, ctx.value(0), target),
                ctx.dtype(0));
  return success();
}

LogicalResult buildFlatten(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = ctx.attrInt("axis", 1);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis > rank)
    return ctx.error() << "axis " << ctx.attrInt("axis", 1)
                       << " is out of range for rank " << rank;
  const auto &s = ctx.shape(0);
  if (hasRunTimeDims(s)) {
    // One run-time extent, before the axis: the rows scale it (RoIs'
    // features flattened for a box head).
    ArrayRef<int64_t> head = ArrayRef<int64_t>(s).take_front(axis),
                      tail = ArrayRef<int64_t>(s).drop_front(axis);
    if (hasRunTimeDims(tail) || llvm::count_if(head, isRunTimeDim) != 1)
      return ctx.error() << "flattens one run-time extent before the axis "
                            "only, got "
                         << ctx.dims().shapeStr(s) << " at axis " << axis;
    int64_t statics = 1;
    for (int64_t d : head)
      if (!isRunTimeDim(d))
        statics *= d;
    io::DimExpr outerExpr =
        ctx.dims().exprOf(*llvm::find_if(head, isRunTimeDim));
    if (!outerExpr.scale(statics))
      return ctx.error() << "the flattened extent overflows";
    std::vector<int64_t> out = {ctx.dims().dimOf(outerExpr), numElements(tail)};
    ctx.setOutput(0, reshapeTensor(ctx.b, ctx.loc, ctx.value(0), out),
                  ctx.dtype(0), out);
    return success();
  }
  int64_t outer = numElements(ArrayRef<int64_t>(s).take_front(axis));
  int64_t inner = numElements(ArrayRef<int64_t>(s).drop_front(axis));
  ctx.setOutput(0, reshapeTensor(ctx.b, ctx.loc, ctx.value(0), {outer, inner}),
                ctx.dtype(0));
  return success();
}

LogicalResult buildSqueeze(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  auto axes = axesOf(ctx, 1, rank);
  if (failed(axes))
    return failure();
  std::vector<int64_t> out;
  for (int64_t i = 0; i < rank; ++i) {
    bool squeeze = axes->empty() ? ctx.shape(0)[i] == 1
                                 : llvm::is_contained(*axes, i);
    if (squeeze && ctx.shape(0)[i] != 1)
      return ctx.error() << "cannot squeeze axis " << i << " of size "
                         << ctx.shape(0)[i];
    if (!squeeze)
      out.push_back(ctx.shape(0)[i]);
  }
  ctx.setOutput(0, reshapeTensor(ctx.b, ctx.loc, ctx.value(0), out),
                ctx.dtype(0), out);
  return success();
}

LogicalResult buildUnsqueeze(NodeContext &ctx) {
  std::vector<int64_t> axes;
  if (ctx.opset >= 13) {
    auto a = ctx.constInts(1, "axes");
    if (failed(a))
      return failure();
    axes = *a;
  } else {
    axes = ctx.attrInts("axes");
  }
  int64_t outRank = ctx.rank(0) + axes.size();
  for (int64_t &a : axes) {
    int64_t n = normalizeAxis(a, outRank);
    if (n < 0)
      return ctx.error() << "axis " << a << " is out of range for rank "
                         << outRank;
    a = n;
  }
  std::vector<int64_t> out;
  size_t k = 0;
  for (int64_t i = 0; i < outRank; ++i) {
    if (llvm::is_contained(axes, i))
      out.push_back(1);
    else if (k < ctx.shape(0).size())
      out.push_back(ctx.shape(0)[k++]);
    else
      return ctx.error() << "duplicate axes";
  }
  ctx.setOutput(0, reshapeTensor(ctx.b, ctx.loc, ctx.value(0), out),
                ctx.dtype(0), out);
  return success();
}

LogicalResult buildTranspose(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  std::vector<int64_t> perm = ctx.attrInts("perm");
  if (perm.empty())
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  std::vector<int64_t> sorted = perm;
  llvm::sort(sorted);
  bool isPermutation = static_cast<int64_t>(sorted.size()) == rank;
  for (int64_t i = 0; isPermutation && i < rank; ++i)
    isPermutation = sorted[i] == i;
  if (!isPermutation)
    return ctx.error() << "perm " << shapeStr(perm)
                       << " is not a permutation of rank " << rank;
  std::vector<int64_t> out;
  for (int64_t p : perm)
    out.push_back(ctx.shape(0)[p]);
  ctx.setOutput(0, transposeTensor(ctx.b, ctx.loc, ctx.value(0), perm),
                ctx.dtype(0), out);
  return success();
}

// --- Joins and splits -------------------------------------------------------

LogicalResult buildConcat(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  // Extents along the axis add up as expressions: run-time ones too (a KV
  // cache grows by the new tokens).
  DimTable &dims = ctx.dims();
  std::vector<int64_t> out = ctx.shape(0);
  io::DimExpr total;
  bool ok = true;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    const auto &s = ctx.shape(i);
    if (!matchesOffAxis(ctx.shape(0), s, axis))
      return ctx.error() << "cannot concatenate " << shapeStr(ctx.shape(0))
                         << " and " << shapeStr(s) << " along axis " << axis;
    ok &= total.add(dims.exprOf(s[axis]));
  }
  if (!ok || (total.isConstant() && total.constant > kMaxElements))
    return ctx.error() << "the concatenated axis overflows";
  out[axis] = dims.dimOf(total);
  OpBuilder &b = ctx.b;
  Type elem = ctx.elementType(ctx.dtype(0));
  Value acc = emptyTensor(b, ctx.loc, out, elem);
  io::DimExpr offset;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    const auto &s = ctx.shape(i);
    if (s[axis] == 0)
      continue;
    SmallVector<OpFoldResult> offs, sizes, strides;
    for (int64_t d = 0; d < rank; ++d) {
      offs.push_back(d == axis ? dims.size(b, ctx.loc, dims.dimOf(offset))
                               : b.getIndexAttr(0));
      sizes.push_back(dims.size(b, ctx.loc, s[d]));
      strides.push_back(b.getIndexAttr(1));
    }
    acc = b.create<tensor::InsertSliceOp>(ctx.loc, ctx.value(i), acc, offs,
                                          sizes, strides);
    offset.add(dims.exprOf(s[axis]));
  }
  ctx.setOutput(0, acc, ctx.dtype(0), out);
  return success();
}

LogicalResult buildSplit(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  int64_t dim = ctx.shape(0)[axis];
  std::vector<int64_t> split;
  if (ctx.opset >= 13 && ctx.hasInput(1)) {
    auto s = ctx.constInts(1, "split");
    if (failed(s))
      return failure();
    split = *s;
  } else if (ctx.opset < 13) {
    split = ctx.attrInts("split");
  }
  int64_t n = ctx.numOutputs();
  if (split.empty()) {
    int64_t parts = ctx.hasAttr("num_outputs") ? ctx.attrInt("num_outputs", n)
                                               : n;
    int64_t chunk = (dim + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i)
      split.push_back(std::min(chunk, dim - i * chunk));
  }
  int64_t total = 0;
  for (int64_t s : split)
    total += s;
  if (total != dim || static_cast<int64_t>(split.size()) != n)
    return ctx.error() << "split " << shapeStr(split) << " does not divide "
                       << "dimension " << dim << " into " << n << " outputs";
  int64_t offset = 0;
  Value in = ctx.value(0);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> offs(rank, 0), sizes = ctx.shape(0),
                                        strides(rank, 1);
    offs[axis] = offset;
    sizes[axis] = split[i];
    offset += split[i];
    if (ctx.wantsOutput(i))
      ctx.setOutput(i, sliceTensor(ctx.b, ctx.loc, in, offs, sizes, strides),
                    ctx.dtype(0));
  }
  return success();
}

} // namespace

FailureOr<SliceSpec> onnx_import::resolveSlice(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset < 10) {
    starts = ctx.attrInts("starts");
    ends = ctx.attrInts("ends");
    axes = ctx.attrInts("axes");
  } else {
    auto s = ctx.constInts(1, "starts");
    auto e = ctx.constInts(2, "ends");
    if (failed(s) || failed(e))
      return failure();
    starts = *s;
    ends = *e;
    if (ctx.hasInput(3)) {
      auto a = ctx.constInts(3, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
    if (ctx.hasInput(4)) {
      auto st = ctx.constInts(4, "steps");
      if (failed(st))
        return failure();
      steps = *st;
    }
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(i);
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    ctx.error() << "starts, ends, axes and steps differ in length";
    return failure();
  }
  const auto &in = ctx.shape(0);
  SliceSpec spec;
  spec.offsets.assign(rank, 0);
  spec.sizes = in;
  spec.strides.assign(rank, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = normalizeAxis(axes[i], rank);
    if (a < 0) {
      ctx.error() << "axis " << axes[i] << " is out of range";
      return failure();
    }
    int64_t d = in[a], st = steps[i];
    if (st == 0) {
      ctx.error() << "slice step must not be 0";
      return failure();
    }
    if (isRunTimeDim(d)) {
      // A run-time axis is taken whole, or its first `end` entries: the
      // boxes kept after NonMaxSuppression, cut to a budget. That many is
      // min(d, end), a count the model computes.
      if (starts[i] == 0 && st == 1 && ends[i] >= kMaxElements)
        continue;
      if (starts[i] == 0 && st == 1 && ends[i] > 0) {
        spec.sizes[a] = ctx.dims().addMinSymbol(ctx.b, ctx.loc, d, ends[i]);
        continue;
      }
      ctx.error() << "slicing run-time axis " << a << " (" << ctx.dims().str(d)
                  << ") is supported from 0 with step 1 only";
      return failure();
    }
    // ONNX clamping: to [0, d] for positive steps, [-1, d-1] for negative.
    int64_t s = starts[i], e = ends[i];
    if (s < 0)
      s += d;
    if (e < 0)
      e += d;
    // A step longer than the axis takes at most one element: clamped to
    // d + 1 for the count, so that nothing overflows (steps of 2^63 - 1).
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      int64_t stc = std::min<int64_t>(st, d + 1);
      spec.sizes[a] = std::max<int64_t>(0, (e - s + stc - 1) / stc);
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      int64_t stc = st < -(d + 1) ? d + 1 : -st;
      spec.sizes[a] = std::max<int64_t>(0, (s - e + stc - 1) / stc);
    }
    spec.offsets[a] = s;
    spec.strides[a] = st;
  }
  return spec;
}

namespace {

LogicalResult buildSlice(NodeContext &ctx) {
  auto spec = resolveSlice(ctx);
  if (failed(spec))
    return failure();
  int64_t rank = ctx.rank(0);
  const std::vector<int64_t> &offs = spec->offsets, &sizes = spec->sizes,
                             &strides = spec->strides;
  bool negative = llvm::any_of(strides, [](int64_t s) { return s < 0; });
  Value v = ctx.value(0);
  if (!negative) {
    ctx.setOutput(0, sliceTensor(ctx.b, ctx.loc, v, offs, sizes, strides),
                  ctx.dtype(0), sizes);
    return success();
  }
  // Negative steps: read offs + stride * index.
  Value r = buildIndexed(
      ctx.b, ctx.loc, sizes, ctx.elementType(ctx.dtype(0)), {}, {},
      [&](OpBuilder &b, Location loc, ValueRange idx, ValueRange) -> Value {
        SmallVector<Value> src;
        for (int64_t i = 0; i < rank; ++i) {
          Value m = b.create<arith::MulIOp>(loc, idx[i],
                                            cIdx(b, loc, strides[i]));
          src.push_back(
              b.create<arith::AddIOp>(loc, m, cIdx(b, loc, offs[i])));
        }
        return b.create<tensor::ExtractOp>(loc, v, src);
      });
  ctx.setOutput(0, r, ctx.dtype(0), sizes);
  return success();
}

// --- Gathers ------------------------------------------------------------------

LogicalResult buildGather(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  std::vector<int64_t> out;
  Value r = gatherAlongAxis(ctx, ctx.value(0), ctx.shape(0),
                            ctx.elementType(ctx.dtype(0)), ctx.value(1),
                            ctx.shape(1), axis, out);
  ctx.setOutput(0, r, ctx.dtype(0), out);
  return success();
}

/// Gather/ScatterElements address the data with the indices' own position
/// off the axis, so the indices may not be larger there.
LogicalResult checkOffAxis(NodeContext &ctx, int64_t axis) {
  const auto &ds = ctx.shape(0), &is = ctx.shape(1);
  for (size_t i = 0; i < ds.size(); ++i)
    if (static_cast<int64_t>(i) != axis && is[i] > ds[i])
      return ctx.error() << "indices " << shapeStr(is) << " exceed data "
                         << shapeStr(ds) << " in dimension " << i;
  return success();
}

LogicalResult buildGatherElements(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (axis < 0 || ctx.rank(1) != rank)
    return ctx.error() << "expects indices of the data's rank and a valid axis";
  if (failed(checkOffAxis(ctx, axis)))
    return failure();
  Value data = ctx.value(0);
  int64_t dim = ctx.shape(0)[axis];
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx.b.getContext());
  Value r = buildIndexed(
      ctx.b, ctx.loc, ctx.shape(1), ctx.elementType(ctx.dtype(0)),
      {ctx.value(1)}, {id},
      [&](OpBuilder &b, Location loc, ValueRange idx,
          ValueRange args) -> Value {
        SmallVector<Value> src(idx.begin(), idx.end());
        src[axis] = wrapIndex(b, loc, toIndex(b, loc, args[0]), dim);
        return b.create<tensor::ExtractOp>(loc, data, src);
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult buildGatherND(NodeContext &ctx) {
  int64_t batchDims = ctx.attrInt("batch_dims", 0);
  const auto &ds = ctx.shape(0), &is = ctx.shape(1);
  int64_t q = is.size(), r = ds.size();
  if (batchDims < 0 || batchDims >= std::min(q, r))
    return ctx.error() << "batch_dims " << batchDims
                       << " must be in [0, min(indices rank " << q
                       << ", data rank " << r << "))";
  int64_t k = is.back();
  if (k < 1 || k > r - batchDims)
    return ctx.error() << "indices " << shapeStr(is)
                       << " must end in a dimension in [1, " << r - batchDims
                       << "] (the data's rank less batch_dims)";
  for (int64_t i = 0; i < batchDims; ++i)
    if (is[i] != ds[i])
      return ctx.error() << "indices " << shapeStr(is) << " and data "
                         << shapeStr(ds) << " differ in batch dimension " << i;
  std::vector<int64_t> out(is.begin(), is.end() - 1);
  out.insert(out.end(), ds.begin() + batchDims + k, ds.end());
  Value data = ctx.value(0), indices = ctx.value(1);
  Value r0 = buildIndexed(
      ctx.b, ctx.loc, out, ctx.elementType(ctx.dtype(0)), {}, {},
      [&](OpBuilder &b, Location loc, ValueRange idx, ValueRange) -> Value {
        SmallVector<Value> src;
        for (int64_t i = 0; i < batchDims; ++i)
          src.push_back(idx[i]);
        SmallVector<Value> ip(idx.begin(), idx.begin() + (q - 1));
        for (int64_t j = 0; j < k; ++j) {
          SmallVector<Value> at = ip;
          at.push_back(cIdx(b, loc, j));
          Value e = b.create<tensor::ExtractOp>(loc, indices, at);
          src.push_back(wrapIndex(b, loc, toIndex(b, loc, e),
                                  ds[batchDims + j]));
        }
        for (int64_t i = q - 1; i < static_cast<int64_t>(idx.size()); ++i)
          src.push_back(idx[i]);
        return b.create<tensor::ExtractOp>(loc, data, src);
      });
  ctx.setOutput(0, r0, ctx.dtype(0));
  return success();
}

// --- Scatters -------------------------------------------------------------

/// Combines an existing and an update value by the `reduction` attribute.
Value combine(OpBuilder &b, Location loc, const std::string &reduction,
              Value old, Value upd, bool uns) {
  if (reduction == "add")
    return addS(b, loc, old, upd);
  if (reduction == "mul")
    return mulS(b, loc, old, upd);
  if (reduction == "max")
    return maxS(b, loc, old, upd, uns);
  if (reduction == "min")
    return minS(b, loc, old, upd, uns);
  return upd;
}

/// Loops over every element of `updatesShape`, threading the output tensor;
/// `target` maps the update index to the output index.
Value scatterLoop(OpBuilder &b, Location loc, Value data, Value updates,
                  ArrayRef<int64_t> updatesShape, const std::string &reduction,
                  bool uns,
                  function_ref<SmallVector<Value>(OpBuilder &, Location,
                                                  ValueRange)>
                      target) {
  int64_t n = numElements(updatesShape);
  Value lb = cIdx(b, loc, 0), ub = cIdx(b, loc, n), one = cIdx(b, loc, 1);
  auto loop = b.create<scf::ForOp>(
      loc, lb, ub, one, ValueRange{data},
      [&](OpBuilder &nb, Location nloc, Value iv, ValueRange iter) {
        SmallVector<Value> ui = delinearize(nb, nloc, iv, updatesShape);
        Value upd = nb.create<tensor::ExtractOp>(nloc, updates, ui);
        SmallVector<Value> ti = target(nb, nloc, ui);
        Value old = nb.create<tensor::ExtractOp>(nloc, iter[0], ti);
        Value v = combine(nb, nloc, reduction, old, upd, uns);
        Value next = nb.create<tensor::InsertOp>(nloc, v, iter[0], ti);
        nb.create<scf::YieldOp>(nloc, next);
      });
  return loop.getResult(0);
}

LogicalResult buildScatterElements(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (axis < 0 || ctx.shape(1) != ctx.shape(2) || ctx.rank(1) != rank)
    return ctx.error() << "expects indices and updates of one shape, of the "
                          "data's rank";
  if (failed(checkOffAxis(ctx, axis)))
    return failure();
  std::string reduction = ctx.attrString("reduction", "none");
  Value indices = ctx.value(1);
  int64_t dim = ctx.shape(0)[axis];
  Value r = scatterLoop(
      ctx.b, ctx.loc, ctx.value(0), ctx.value(2), ctx.shape(2), reduction,
      isUnsigned(ctx.dtype(0)),
      [&](OpBuilder &b, Location loc, ValueRange ui) {
        SmallVector<Value> ti(ui.begin(), ui.end());
        Value e = b.create<tensor::ExtractOp>(loc, indices, ui);
        ti[axis] = wrapIndex(b, loc, toIndex(b, loc, e), dim);
        return ti;
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult buildScatterND(NodeContext &ctx) {
  const auto &ds = ctx.shape(0), &is = ctx.shape(1);
  if (is.empty() || is.back() < 1 ||
      is.back() > static_cast<int64_t>(ds.size()))
    return ctx.error() << "indices " << shapeStr(is)
                       << " must end in a dimension in [1, " << ds.size()
                       << "] (the data's rank)";
  int64_t q = is.size(), k = is.back();
  std::vector<int64_t> updatesShape(is.begin(), is.end() - 1);
  updatesShape.insert(updatesShape.end(), ds.begin() + k, ds.end());
  if (ctx.shape(2) != updatesShape)
    return ctx.error() << "updates " << shapeStr(ctx.shape(2))
                       << " do not match " << shapeStr(updatesShape)
                       << " (indices " << shapeStr(is) << ", data "
                       << shapeStr(ds) << ")";
  std::string reduction = ctx.attrString("reduction", "none");
  Value indices = ctx.value(1);
  Value r = scatterLoop(
      ctx.b, ctx.loc, ctx.value(0), ctx.value(2), ctx.shape(2), reduction,
      isUnsigned(ctx.dtype(0)),
      [&](OpBuilder &b, Location loc, ValueRange ui) {
        SmallVector<Value> ti;
        SmallVector<Value> ip(ui.begin(), ui.begin() + (q - 1));
        for (int64_t j = 0; j < k; ++j) {
          SmallVector<Value> at = ip;
          at.push_back(cIdx(b, loc, j));
          Value e = b.create<tensor::ExtractOp>(loc, indices, at);
          ti.push_back(wrapIndex(b, loc, toIndex(b, loc, e), ds[j]));
        }
        for (size_t i = q - 1; i < ui.size(); ++i)
          ti.push_back(ui[i]);
        return ti;
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

// --- Broadcasts and tiling ----------------------------------------------------

LogicalResult buildExpand(NodeContext &ctx) {
  auto shape = ctx.constInts(1, "shape");
  if (failed(shape))
    return failure();
  std::vector<int64_t> out;
  if (!broadcastShapes({ctx.shape(0), *shape}, out))
    return ctx.error() << "cannot expand " << shapeStr(ctx.shape(0)) << " to "
                       << shapeStr(*shape);
  ctx.setOutput(0, broadcastTo(ctx.b, ctx.loc, ctx.value(0), out),
                ctx.dtype(0));
  return success();
}

LogicalResult buildTile(NodeContext &ctx) {
  auto repeats = ctx.constInts(1, "repeats");
  if (failed(repeats))
    return failure();
  int64_t rank = ctx.rank(0);
  if (static_cast<int64_t>(repeats->size()) != rank)
    return ctx.error() << "expects " << rank << " repeats, got "
                       << repeats->size();
  std::vector<int64_t> out;
  MLIRContext *mctx = ctx.b.getContext();
  SmallVector<AffineExpr> exprs;
  SizeMath m;
  for (int64_t i = 0; i < rank; ++i) {
    if ((*repeats)[i] < 0)
      return ctx.error() << "repeats " << shapeStr(*repeats)
                         << " has a negative count";
    out.push_back(m.mul(ctx.shape(0)[i], (*repeats)[i]));
    if (!m.ok())
      return ctx.error() << "repeats " << shapeStr(*repeats)
                         << " overflow the output's size";
    exprs.push_back(getAffineDimExpr(i, mctx) % std::max<int64_t>(1, ctx.shape(0)[i]));
  }
  Value r = buildIndexed(ctx.b, ctx.loc, out, ctx.elementType(ctx.dtype(0)),
                         {ctx.value(0)}, {AffineMap::get(rank, 0, exprs, mctx)},
                         [](OpBuilder &, Location, ValueRange, ValueRange a) {
                           return a[0];
                         });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

// --- Padding --------------------------------------------------------------------

LogicalResult buildPad(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  std::vector<int64_t> pads;
  double constant = 0;
  std::string mode = ctx.attrString("mode", "constant");
  Value padValue;
  if (ctx.opset < 11) {
    pads = ctx.attrInts(ctx.opset < 2 ? "paddings" : "pads");
    constant = ctx.attrFloat("value", 0);
  } else {
    auto p = ctx.constInts(1, "pads");
    if (failed(p))
      return failure();
    pads = *p;
    if (ctx.hasInput(2)) {
      Value c = ctx.value(2);
      if (cast<RankedTensorType>(c.getType()).getRank() != 0)
        c = reshapeTensor(ctx.b, ctx.loc, c, {});
      padValue = ctx.b.create<tensor::ExtractOp>(ctx.loc, c, ValueRange{});
    }
  }
  std::vector<int64_t> axes;
  if (ctx.hasInput(3)) {
    auto a = ctx.constInts(3, "axes");
    if (failed(a))
      return failure();
    for (int64_t x : *a)
      axes.push_back(normalizeAxis(x, rank));
  } else {
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  if (pads.size() != 2 * axes.size())
    return ctx.error() << "expects " << 2 * axes.size() << " pads, got "
                       << pads.size();
  std::vector<int64_t> lo(rank, 0), hi(rank, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    lo[axes[i]] = pads[i];
    hi[axes[i]] = pads[i + axes.size()];
  }
  Value v = ctx.value(0);
  std::vector<int64_t> shape = ctx.shape(0);
  // Negative pads crop first.
  std::vector<int64_t> offs(rank, 0), sizes = shape, strides(rank, 1);
  bool crop = false;
  SizeMath m;
  for (int64_t i = 0; i < rank; ++i) {
    if (lo[i] < 0) {
      offs[i] = m.sub(0, lo[i]);
      sizes[i] = m.add(sizes[i], lo[i]);
      lo[i] = 0;
      crop = true;
    }
    if (hi[i] < 0) {
      sizes[i] = m.add(sizes[i], hi[i]);
      hi[i] = 0;
      crop = true;
    }
    if (!m.ok() || sizes[i] < 0)
      return ctx.error() << "pads crop more than the input has (pads "
                         << shapeStr(pads) << ")";
    // The padded size must fit (the importer bounds it after the node).
    (void)m.add(m.add(sizes[i], lo[i]), hi[i]);
    if (!m.ok())
      return ctx.error() << "pads " << shapeStr(pads) << " overflow";
  }
  if (crop) {
    v = sliceTensor(ctx.b, ctx.loc, v, offs, sizes, strides);
    shape = sizes;
  }
  Type elem = ctx.elementType(ctx.dtype(0));
  if (mode == "constant") {
    if (!padValue)
      padValue = scalarConstant(ctx.b, ctx.loc, elem, constant);
    ctx.setOutput(0, padTensor(ctx.b, ctx.loc, v, lo, hi, padValue),
                  ctx.dtype(0));
    return success();
  }
  if (mode != "reflect" && mode != "edge" && mode != "wrap")
    return ctx.error() << "unsupported mode '" << mode << "'";
  std::vector<int64_t> out;
  for (int64_t i = 0; i < rank; ++i)
    out.push_back(shape[i] + lo[i] + hi[i]);
  Value r = buildIndexed(
      ctx.b, ctx.loc, out, elem, {}, {},
      [&](OpBuilder &b, Location loc, ValueRange idx, ValueRange) -> Value {
        SmallVector<Value> src;
        for (int64_t i = 0; i < rank; ++i) {
          // Position in the input, possibly outside [0, n).
          Value p = b.create<arith::SubIOp>(loc, idx[i], cIdx(b, loc, lo[i]));
          int64_t n = shape[i];
          Value zero = cIdx(b, loc, 0), last = cIdx(b, loc, n - 1);
          if (mode == "edge") {
            p = b.create<arith::MaxSIOp>(loc, p, zero);
            p = b.create<arith::MinSIOp>(loc, p, last);
          } else if (mode == "wrap") {
            Value nn = cIdx(b, loc, n);
            p = b.create<arith::RemSIOp>(
                loc, b.create<arith::AddIOp>(
                         loc, b.create<arith::RemSIOp>(loc, p, nn), nn),
                nn);
          } else {
            // Reflect without repeating the edge: period 2(n-1).
            if (n == 1) {
              p = zero;
            } else {
              Value period = cIdx(b, loc, 2 * (n - 1));
              Value m = b.create<arith::RemSIOp>(
                  loc, b.create<arith::AddIOp>(
                           loc, b.create<arith::RemSIOp>(loc, p, period),
                           period),
                  period);
              Value mirrored = b.create<arith::SubIOp>(loc, period, m);
              Value inRange = b.create<arith::CmpIOp>(
                  loc, arith::CmpIPredicate::sle, m, last);
              p = b.create<arith::SelectOp>(loc, inRange, m, mirrored);
            }
          }
          src.push_back(p);
        }
        return b.create<tensor::ExtractOp>(loc, v, src);
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

// --- Rearrangements -------------------------------------------------------------

LogicalResult buildDepthToSpace(NodeContext &ctx) {
  if (ctx.rank(0) != 4)
    return ctx.error() << "expects a 4-D input";
  int64_t bs = ctx.attrInt("blocksize", 0);
  auto s = ctx.shape(0);
  int64_t n = s[0], c = s[1], h = s[2], w = s[3];
  // blocksize^2 must divide the channels: a blocksize past sqrt(C) (or
  // one whose square overflows) cannot.
  if (bs <= 0 || bs > c || bs * bs > c || c % (bs * bs))
    return ctx.error() << "channels " << c << " are not divisible by "
                       << "blocksize^2 (blocksize " << bs << ")";
  bool crd = ctx.attrString("mode", "DCR") == "CRD";
  Value v = ctx.value(0);
  int64_t co = c / (bs * bs);
  Value r;
  if (crd) {
    r = reshapeTensor(ctx.b, ctx.loc, v, {n, co, bs, bs, h, w});
    r = transposeTensor(ctx.b, ctx.loc, r, {0, 1, 4, 2, 5, 3});
  } else {
    r = reshapeTensor(ctx.b, ctx.loc, v, {n, bs, bs, co, h, w});
    r = transposeTensor(ctx.b, ctx.loc, r, {0, 3, 4, 1, 5, 2});
  }
  r = reshapeTensor(ctx.b, ctx.loc, r, {n, co, h * bs, w * bs});
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult buildSpaceToDepth(NodeContext &ctx) {
  if (ctx.rank(0) != 4)
    return ctx.error() << "expects a 4-D input";
  int64_t bs = ctx.attrInt("blocksize", 0);
  auto s = ctx.shape(0);
  int64_t n = s[0], c = s[1], h = s[2], w = s[3];
  // The output's channels c * bs^2 must be a sane count.
  if (bs <= 0 || h % bs || w % bs || bs > (int64_t(1) << 16) ||
      c > (int64_t(1) << 32))
    return ctx.error() << "spatial dims are not divisible by blocksize " << bs;
  Value r = reshapeTensor(ctx.b, ctx.loc, ctx.value(0),
                          {n, c, h / bs, bs, w / bs, bs});
  r = transposeTensor(ctx.b, ctx.loc, r, {0, 3, 5, 1, 2, 4});
  r = reshapeTensor(ctx.b, ctx.loc, r, {n, c * bs * bs, h / bs, w / bs});
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult buildTrilu(NodeContext &ctx) {
  int64_t k = 0;
  if (ctx.hasInput(1)) {
    auto kv = ctx.constInt(1, "k");
    if (failed(kv))
      return failure();
    k = *kv;
  }
  bool upper = ctx.attrInt("upper", 1);
  int64_t rank = ctx.rank(0);
  if (rank < 2)
    return ctx.error() << "expects rank >= 2";
  Type elem = ctx.elementType(ctx.dtype(0));
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx.b.getContext());
  Value r = buildIndexed(
      ctx.b, ctx.loc, ctx.shape(0), elem, {ctx.value(0)}, {id},
      [&](OpBuilder &b, Location loc, ValueRange idx, ValueRange a) -> Value {
        Value i = b.create<arith::IndexCastOp>(loc, b.getI64Type(),
                                               idx[rank - 2]);
        Value j = b.create<arith::IndexCastOp>(loc, b.getI64Type(),
                                               idx[rank - 1]);
        Value diff = b.create<arith::SubIOp>(loc, j, i);
        Value kk = b.create<arith::ConstantIntOp>(loc, k, 64);
        Value keep = b.create<arith::CmpIOp>(
            loc, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle,
            diff, kk);
        return b.create<arith::SelectOp>(loc, keep, a[0],
                                         scalarConstant(b, loc, elem, 0));
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult buildEyeLike(NodeContext &ctx) {
  io::DType dt = ctx.dtype(0);
  if (ctx.hasAttr("dtype") &&
      !io::dtypeFromOnnx(ctx.attrInt("dtype", 1), dt))
    return ctx.error() << "unsupported dtype";
  int64_t k = ctx.attrInt("k", 0);
  auto s = ctx.shape(0);
  if (s.size() != 2)
    return ctx.error() << "expects a 2-D input";
  // Small ones are constants (shape folding may read them); large ones are
  // computed, never tabulated while importing.
  constexpr int64_t kMaxTable = int64_t(1) << 16;
  if (numElements(s) <= kMaxTable) {
    std::vector<int64_t> v(s[0] * s[1], 0);
    for (int64_t i = 0; i < s[0]; ++i)
      if (k >= -i && k < s[1] - i)
        v[i * s[1] + i + k] = 1;
    ctx.setConstant(0, hostFromInts(dt, s, v));
    return success();
  }
  Type elem = ctx.elementType(dt);
  Value r = buildIndexed(
      ctx.b, ctx.loc, s, elem, {}, {},
      [&](OpBuilder &b, Location loc, ValueRange idx, ValueRange) -> Value {
        Value i = b.create<arith::IndexCastOp>(loc, b.getI64Type(), idx[0]);
        Value j = b.create<arith::IndexCastOp>(loc, b.getI64Type(), idx[1]);
        Value onDiagonal = b.create<arith::CmpIOp>(
            loc, arith::CmpIPredicate::eq, b.create<arith::SubIOp>(loc, j, i),
            b.create<arith::ConstantIntOp>(loc, k, 64));
        return b.create<arith::SelectOp>(loc, onDiagonal,
                                         scalarConstant(b, loc, elem, 1),
                                         scalarConstant(b, loc, elem, 0));
      });
  ctx.setOutput(0, r, dt);
  return success();
}

/// Range is always computed while importing: its length shapes the output.
LogicalResult buildRange(NodeContext &ctx) {
  for (size_t i = 0; i < 3; ++i)
    if (ctx.input(i).symbolic)
      return buildRunTimeRange(ctx);
  io::DType dt = ctx.dtype(0);
  auto s = ctx.constFloat(0, "start"), l = ctx.constFloat(1, "limit"),
       d = ctx.constFloat(2, "delta");
  if (failed(s) || failed(l) || failed(d))
    return failure();
  double start = *s, limit = *l, delta = *d;
  if (delta == 0)
    return ctx.error() << "delta must not be 0";
  // In double until known to be small: a NaN or a count past 2^63 does not
  // convert to an integer.
  double count = std::ceil((limit - start) / delta);
  if (!(count <= double(int64_t(1) << 24)))
    return ctx.error() << "range of " << count << " elements is too large";
  int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = start + i * delta;
  ctx.setConstant(0, hostFromDoubles(dt, {n}, v));
  return success();
}

} // namespace

void onnx_import::registerShapeOps(OpTable &t) {
  t["Range"] = buildRange;
  t["Identity"] = buildIdentity;
  t["Dropout"] = buildDropout;
  t["Shape"] = buildShape;
  t["Size"] = buildSize;
  t["Constant"] = buildConstant;
  t["ConstantOfShape"] = buildConstantOfShape;
  t["Reshape"] = buildReshape;
  t["Flatten"] = buildFlatten;
  t["Squeeze"] = buildSqueeze;
  t["Unsqueeze"] = buildUnsqueeze;
  t["Transpose"] = buildTranspose;
  t["Concat"] = buildConcat;
  t["Split"] = buildSplit;
  t["Slice"] = buildSlice;
  t["Gather"] = buildGather;
  t["GatherElements"] = buildGatherElements;
  t["GatherND"] = buildGatherND;
  t["ScatterElements"] = buildScatterElements;
  t["Scatter"] = buildScatterElements;
  t["ScatterND"] = buildScatterND;
  t["Expand"] = buildExpand;
  t["Tile"] = buildTile;
  t["Pad"] = buildPad;
  t["DepthToSpace"] = buildDepthToSpace;
  t["SpaceToDepth"] = buildSpaceToDepth;
  t["Trilu"] = buildTrilu;
  t["EyeLike"] = buildEyeLike;
}

Value onnx_import::gatherAlongAxis(NodeContext &ctx, Value data,
                                   ArrayRef<int64_t> dataShape, Type elem,
                                   Value indices,
                                   ArrayRef<int64_t> indicesShape, int64_t axis,
                                   std::vector<int64_t> &out) {
  int64_t rank = dataShape.size(), ir = indicesShape.size();
  out.assign(dataShape.begin(), dataShape.begin() + axis);
  out.insert(out.end(), indicesShape.begin(), indicesShape.end());
  out.insert(out.end(), dataShape.begin() + axis + 1, dataShape.end());
  // Negative indices count from the axis's end, a run-time extent or not
  // (the boxes a NonMaxSuppression kept, indexed by a second one).
  Value dim = ctx.dims().value(ctx.b, ctx.loc, dataShape[axis]);
  MLIRContext *mctx = ctx.b.getContext();
  SmallVector<AffineExpr> idxExprs;
  for (int64_t k = 0; k < ir; ++k)
    idxExprs.push_back(getAffineDimExpr(axis + k, mctx));
  AffineMap idxMap = AffineMap::get(out.size(), 0, idxExprs, mctx);
  return buildIndexed(ctx.b, ctx.loc, out, elem, {indices}, {idxMap},
                      [&](OpBuilder &b, Location loc, ValueRange idx,
                          ValueRange args) -> Value {
                        SmallVector<Value> src;
                        for (int64_t i = 0; i < axis; ++i)
                          src.push_back(idx[i]);
                        src.push_back(
                            wrapIndex(b, loc, toIndex(b, loc, args[0]), dim));
                        for (int64_t i = axis + 1; i < rank; ++i)
                          src.push_back(idx[i - 1 + ir]);
                        return b.create<tensor::ExtractOp>(loc, data, src);
                      });
}
