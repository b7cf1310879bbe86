//===- Detection.cpp - ONNX detection ops ---------------------------------===//

#include "dialects/SparqDialect.h"
#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <algorithm>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

/// RoiAlign (opset 10 and 16) as sparq.roi_align.
LogicalResult buildRoiAlign(NodeContext &ctx) {
  if (ctx.numInputs() < 3 || !ctx.hasInput(0) || !ctx.hasInput(1) ||
      !ctx.hasInput(2))
    return ctx.error() << "expects X, rois and batch_indices";
  if (ctx.dtype(0) != io::DType::F32 || ctx.dtype(1) != io::DType::F32)
    return ctx.error() << "supports float32 X and rois";
  if (ctx.dtype(2) != io::DType::I64)
    return ctx.error() << "expects int64 batch_indices";
  if (ctx.rank(0) != 4 || ctx.rank(1) != 2 || ctx.rank(2) != 1)
    return ctx.error() << "expects X [N, C, H, W], rois [R, 4] and "
                          "batch_indices [R], got "
                       << shapeStr(ctx.shape(0)) << ", "
                       << shapeStr(ctx.shape(1)) << " and "
                       << shapeStr(ctx.shape(2));
  // R may be a run-time dimension: the regions kept by NonMaxSuppression.
  int64_t r = ctx.shape(1)[0];
  if (hasRunTimeDims(ctx.shape(0)) || ctx.shape(1)[1] != 4 ||
      ctx.shape(2)[0] != r)
    return ctx.error() << "rois must be [R, 4] and batch_indices [R], X "
                          "static; got "
                       << ctx.dims().shapeStr(ctx.shape(0)) << ", "
                       << ctx.dims().shapeStr(ctx.shape(1)) << " and "
                       << ctx.dims().shapeStr(ctx.shape(2));
  std::string mode = ctx.attrString("mode", "avg");
  if (mode != "avg" && mode != "max")
    return ctx.error() << "mode must be avg or max, got '" << mode << "'";
  // Opset 16 added the attribute, defaulting to half_pixel; opset 10's
  // behaviour is output_half_pixel.
  std::string ctm =
      ctx.attrString("coordinate_transformation_mode",
                     ctx.opset >= 16 ? "half_pixel" : "output_half_pixel");
  if (ctm != "half_pixel" && ctm != "output_half_pixel")
    return ctx.error() << "coordinate_transformation_mode must be half_pixel "
                          "or output_half_pixel, got '"
                       << ctm << "'";
  int64_t oh = ctx.attrInt("output_height", 1),
          ow = ctx.attrInt("output_width", 1),
          sr = ctx.attrInt("sampling_ratio", 0);
  if (oh < 1 || ow < 1 || oh > kMaxElements || ow > kMaxElements || sr < 0)
    return ctx.error() << "expects output sizes >= 1 and sampling_ratio >= 0"
                       << " (got " << oh << "x" << ow << ", " << sr << ")";
  float scale = ctx.attrFloat("spatial_scale", 1.0f);
  if (!std::isfinite(scale))
    return ctx.error() << "spatial_scale must be finite";
  int64_t c = ctx.shape(0)[1];
  OpBuilder &b = ctx.b;
  auto type = RankedTensorType::get(mlirShape({r, c, oh, ow}), b.getF32Type());
  Value y = b.create<mlir::sparq::RoiAlignOp>(
      ctx.loc, type, ctx.value(0), ctx.value(1), ctx.value(2),
      b.getStringAttr(mode), b.getI64IntegerAttr(oh), b.getI64IntegerAttr(ow),
      b.getI64IntegerAttr(sr), b.getF32FloatAttr(scale),
      ctm == "half_pixel" ? b.getUnitAttr() : UnitAttr());
  ctx.setOutput(0, y, io::DType::F32, {r, c, oh, ow});
  return success();
}

// --- Data-dependent sizes ----------------------------------------------------
//
// Each op below fills a tensor sized at a compile-time bound and returns a
// count; the count becomes a run-time dimension the model computes
// (DimTable::addComputedSymbol) and the valid part is sliced off, so what
// follows sizes itself as it does for any run-time dimension.

/// The first `count` (a computed dim id) entries of `full` along `axis`.
Value takeFirst(NodeContext &ctx, Value full, int64_t axis, int64_t count) {
  OpBuilder &b = ctx.b;
  auto type = cast<RankedTensorType>(full.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)),
      sizes = tensor::getMixedSizes(b, ctx.loc, full),
      strides(type.getRank(), b.getIndexAttr(1));
  sizes[axis] = ctx.dims().size(b, ctx.loc, count);
  SmallVector<int64_t> shape(type.getShape());
  shape[axis] = ShapedType::kDynamic;
  return b.create<tensor::ExtractSliceOp>(
      ctx.loc, RankedTensorType::get(shape, type.getElementType()), full,
      offsets, sizes, strides);
}

/// A computed symbol named after the node's first output.
int64_t countSymbol(NodeContext &ctx, Value count, int64_t bound) {
  return ctx.dims().addComputedSymbol("count(" + ctx.node.output(0) + ")",
                                      bound, count);
}

/// x != 0 as a mask (NaN counts as non-zero, as in numpy).
Value nonZeroMask(NodeContext &ctx, size_t input) {
  if (ctx.dtype(input) == io::DType::Bool)
    return ctx.value(input);
  Type elem = ctx.elementType(ctx.dtype(input));
  return buildElementwise(
      ctx.b, ctx.loc, {ctx.value(input)}, ctx.shape(input), ctx.b.getI1Type(),
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value zero = b.create<arith::ConstantOp>(loc, b.getZeroAttr(elem));
        if (isa<FloatType>(elem))
          return b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNE,
                                         args[0], zero);
        return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, args[0],
                                       zero);
      });
}

/// NonZero's [rank, count] coordinates of `mask`'s true elements.
FailureOr<std::pair<Value, int64_t>> nonZero(NodeContext &ctx, Value mask,
                                             ArrayRef<int64_t> shape) {
  int64_t rank = shape.size();
  int64_t bound = numElements(ctx.dims().boundShape(shape));
  if (bound > kMaxElements / std::max<int64_t>(rank, 1)) {
    ctx.error() << "may find " << bound << " non-zeros of rank " << rank
                << ", too many to hold";
    return failure();
  }
  auto type = RankedTensorType::get({rank, bound}, ctx.b.getI64Type());
  auto op = ctx.b.create<mlir::sparq::NonZeroOp>(ctx.loc, type,
                                                 ctx.b.getIndexType(), mask);
  int64_t n = countSymbol(ctx, op.getCount(), bound);
  return std::make_pair(takeFirst(ctx, op.getResult(), 1, n), n);
}

LogicalResult buildNonZero(NodeContext &ctx) {
  if (ctx.rank(0) == 0)
    return ctx.error() << "expects an input of rank >= 1";
  auto r = nonZero(ctx, nonZeroMask(ctx, 0), ctx.shape(0));
  if (failed(r))
    return failure();
  ctx.setOutput(0, r->first, io::DType::I64, {ctx.rank(0), r->second});
  return success();
}

LogicalResult buildCompress(NodeContext &ctx) {
  if (ctx.dtype(1) != io::DType::Bool || ctx.rank(1) != 1)
    return ctx.error() << "expects a 1-D bool condition, got "
                       << shapeStr(ctx.shape(1));
  std::vector<int64_t> shape = ctx.shape(0);
  Value data = ctx.value(0);
  int64_t axis = 0;
  if (ctx.hasAttr("axis")) {
    axis = normalizeAxis(ctx.attrInt("axis", 0), shape.size());
    if (axis < 0)
      return ctx.error() << "axis is out of range for rank " << shape.size();
  } else {
    if (hasRunTimeDims(shape))
      return ctx.error() << "without an axis, expects a static input";
    shape = {numElements(shape)};
    data = reshapeTensor(ctx.b, ctx.loc, data, shape);
  }
  int64_t len = ctx.shape(1)[0];
  if (isRunTimeDim(len) || isRunTimeDim(shape[axis]))
    return ctx.error() << "expects a static condition and axis";
  if (len > shape[axis])
    return ctx.error() << "condition has " << len << " entries, more than the "
                       << shape[axis] << " along the axis";
  auto r = nonZero(ctx, ctx.value(1), ctx.shape(1));
  if (failed(r))
    return failure();
  // [1, n] -> [n]
  Value idx = ctx.b.create<tensor::CollapseShapeOp>(
      ctx.loc, r->first, SmallVector<ReassociationIndices>{{0, 1}});
  std::vector<int64_t> out;
  Value kept = gatherAlongAxis(ctx, data, shape, ctx.elementType(ctx.dtype(0)),
                               idx, {r->second}, axis, out);
  ctx.setOutput(0, kept, ctx.dtype(0), out);
  return success();
}

LogicalResult buildNonMaxSuppression(NodeContext &ctx) {
  if (ctx.numInputs() < 2 || !ctx.hasInput(0) || !ctx.hasInput(1))
    return ctx.error() << "expects boxes and scores";
  if (ctx.dtype(0) != io::DType::F32 || ctx.dtype(1) != io::DType::F32)
    return ctx.error() << "supports float32 boxes and scores";
  const auto &bs = ctx.shape(0), &ss = ctx.shape(1);
  // N may be a run-time dimension: a second stage's regions.
  if (bs.size() != 3 || ss.size() != 3 || isRunTimeDim(bs[0]) ||
      isRunTimeDim(ss[1]) || bs[2] != 4 || bs[0] != ss[0] || bs[1] != ss[2])
    return ctx.error() << "expects boxes [B, N, 4] and scores [B, C, N], got "
                       << ctx.dims().shapeStr(bs) << " and "
                       << ctx.dims().shapeStr(ss);
  int64_t center = ctx.attrInt("center_point_box", 0);
  if (center != 0 && center != 1)
    return ctx.error() << "center_point_box must be 0 or 1, got " << center;
  OpBuilder &b = ctx.b;
  // Absent scalars: no boxes (max_output 0), IoU 0, no score threshold.
  auto scalar = [&](size_t i, io::DType dtype,
                    const char *what) -> FailureOr<Value> {
    if (!ctx.hasInput(i)) {
      Type elem = ctx.elementType(dtype);
      return b
          .create<arith::ConstantOp>(
              ctx.loc, DenseElementsAttr::get(RankedTensorType::get({1}, elem),
                                              b.getZeroAttr(elem)))
          .getResult();
    }
    if (ctx.dtype(i) != dtype || numElements(ctx.shape(i)) != 1 ||
        hasRunTimeDims(ctx.shape(i)))
      return ctx.error() << "expects " << what << " to be one "
                         << io::dtypeName(dtype);
    return ctx.value(i);
  };
  auto maxOut = scalar(2, io::DType::I64, "max_output_boxes_per_class");
  auto iou = scalar(3, io::DType::F32, "iou_threshold");
  auto thr = scalar(4, io::DType::F32, "score_threshold");
  if (failed(maxOut) || failed(iou) || failed(thr))
    return failure();
  // The bound: every box of every class, or max_output of each if known.
  int64_t perClass = ctx.dims().bound(bs[1]);
  if (!ctx.hasInput(2))
    perClass = 0;
  else if (const io::HostTensor *k = ctx.knownValue(2))
    perClass = std::clamp<int64_t>(hostToInts(*k)[0], 0, perClass);
  // (Saturating: a hostile model's extents multiply past int64.)
  int64_t bound = numElements({bs[0], ss[1], perClass});
  if (bound > kMaxElements / 3)
    return ctx.error() << "may keep " << bound << " boxes, more than "
                       << kMaxElements / 3;
  auto op = b.create<mlir::sparq::NonMaxSuppressionOp>(
      ctx.loc, RankedTensorType::get({bound, 3}, b.getI64Type()),
      b.getIndexType(), ctx.value(0), ctx.value(1), *maxOut, *iou, *thr,
      b.getI64IntegerAttr(center),
      ctx.hasInput(4) ? b.getUnitAttr() : UnitAttr());
  int64_t n = countSymbol(ctx, op.getCount(), bound);
  ctx.setOutput(0, takeFirst(ctx, op.getResult(), 0, n), io::DType::I64,
                {n, 3});
  return success();
}

LogicalResult buildUnique(NodeContext &ctx) {
  io::DType dtype = ctx.dtype(0);
  if (dtype != io::DType::F32 && dtype != io::DType::I64)
    return ctx.error() << "supports float32 and int64 inputs, got "
                       << io::dtypeName(dtype);
  std::vector<int64_t> shape = ctx.shape(0);
  if (hasRunTimeDims(shape))
    return ctx.error() << "expects a static input, got "
                       << ctx.dims().shapeStr(shape);
  int64_t rank = shape.size(), outer = 1, d = numElements(shape), inner = 1;
  bool hasAxis = ctx.hasAttr("axis");
  int64_t axis = 0;
  if (hasAxis) {
    axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
    if (axis < 0)
      return ctx.error() << "axis is out of range for rank " << rank;
    d = shape[axis];
    outer = numElements(ArrayRef<int64_t>(shape).take_front(axis));
    inner = numElements(ArrayRef<int64_t>(shape).drop_front(axis + 1));
  }
  OpBuilder &b = ctx.b;
  Type elem = ctx.elementType(dtype);
  Value x = reshapeTensor(b, ctx.loc, ctx.value(0), {outer, d, inner});
  auto view = RankedTensorType::get({outer, d, inner}, elem);
  auto idxType = RankedTensorType::get({d}, b.getI64Type());
  auto op = b.create<mlir::sparq::UniqueOp>(
      ctx.loc, TypeRange{view, idxType, idxType, idxType, b.getIndexType()}, x,
      ctx.attrInt("sorted", 1) ? b.getUnitAttr() : UnitAttr());
  int64_t n = countSymbol(ctx, op.getCount(), d);
  std::vector<int64_t> yShape = {n};
  if (hasAxis) {
    yShape = shape;
    yShape[axis] = n;
  }
  Value y = takeFirst(ctx, op.getUnique(), 1, n);
  y = reshapeTensor(b, ctx.loc, y, yShape);
  ctx.setOutput(0, y, dtype, yShape);
  if (ctx.wantsOutput(1))
    ctx.setOutput(1, takeFirst(ctx, op.getIndices(), 0, n), io::DType::I64,
                  {n});
  if (ctx.wantsOutput(2))
    ctx.setOutput(2, op.getInverse(), io::DType::I64, {d});
  if (ctx.wantsOutput(3))
    ctx.setOutput(3, takeFirst(ctx, op.getCounts(), 0, n), io::DType::I64, {n});
  return success();
}

} // namespace

void onnx_import::registerDetectionOps(OpTable &t) {
  t["RoiAlign"] = buildRoiAlign;
  t["NonZero"] = buildNonZero;
  t["Compress"] = buildCompress;
  t["NonMaxSuppression"] = buildNonMaxSuppression;
  t["Unique"] = buildUnique;
}
