//===- Detection.cpp - ONNX detection ops ---------------------------------===//

#include "dialects/SparqDialect.h"
#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

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
  int64_t r = ctx.shape(1)[0];
  if (ctx.shape(1)[1] != 4 || ctx.shape(2)[0] != r)
    return ctx.error() << "rois must be [R, 4] and batch_indices [R], got "
                       << shapeStr(ctx.shape(1)) << " and "
                       << shapeStr(ctx.shape(2));
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
  auto type = RankedTensorType::get({r, c, oh, ow}, b.getF32Type());
  Value y = b.create<mlir::sparq::RoiAlignOp>(
      ctx.loc, type, ctx.value(0), ctx.value(1), ctx.value(2),
      b.getStringAttr(mode), b.getI64IntegerAttr(oh), b.getI64IntegerAttr(ow),
      b.getI64IntegerAttr(sr), b.getF32FloatAttr(scale),
      ctm == "half_pixel" ? b.getUnitAttr() : UnitAttr());
  ctx.setOutput(0, y, io::DType::F32);
  return success();
}

} // namespace

void onnx_import::registerDetectionOps(OpTable &t) {
  t["RoiAlign"] = buildRoiAlign;
}
