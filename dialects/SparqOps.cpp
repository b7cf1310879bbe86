//===- SparqOps.cpp - sparq op verifiers ----------------------------------===//

#include "dialects/ConstantData.h"
#include "dialects/SparqDialect.h"
#include "runtime/formats/BevPoolPlan.h"

#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparq;

#define GET_OP_CLASSES
#include "dialects/SparqOps.cpp.inc"

namespace {
/// Emits "<what> expects shape [a, b, c], got [..]" unless `type` has `shape`.
LogicalResult expectShape(Operation *op, StringRef what, Type type,
                          ArrayRef<int64_t> shape) {
  auto ranked = cast<RankedTensorType>(type);
  if (ranked.getShape() == shape)
    return success();
  auto diag = op->emitOpError() << what << " expects shape [";
  llvm::interleaveComma(shape, diag);
  diag << "], got [";
  llvm::interleaveComma(ranked.getShape(), diag);
  return diag << "]";
}
} // namespace

namespace {
/// Shapes shared by the recurrent ops: `gates` gate blocks of H rows in W
/// and R, `biasBlocks` blocks of H in the bias.
template <typename OpT>
LogicalResult verifyRecurrent(OpT op, int64_t gates, int64_t biasBlocks) {
  auto xType = cast<RankedTensorType>(op.getInput().getType());
  if (xType.getRank() != 3)
    return op.emitOpError()
           << "input expects rank 3 [T, B, I], got rank " << xType.getRank();
  if (!xType.hasStaticShape())
    return op.emitOpError() << "expects static shapes";
  int64_t t = xType.getDimSize(0), b = xType.getDimSize(1),
          i = xType.getDimSize(2), h = op.getHiddenSize(),
          d = op.getNumDirections();
  if (h <= 0)
    return op.emitOpError() << "expects hidden_size > 0, got " << h;
  if (failed(expectShape(op, "w", op.getW().getType(), {d, gates * h, i})) ||
      failed(expectShape(op, "r", op.getR().getType(), {d, gates * h, h})) ||
      failed(expectShape(op, "bias", op.getBias().getType(),
                         {d, biasBlocks * h})) ||
      failed(expectShape(op, "initial_h", op.getInitialH().getType(),
                         {d, b, h})) ||
      failed(expectShape(op, "y", op.getY().getType(), {t, d, b, h})) ||
      failed(expectShape(op, "y_h", op.getYH().getType(), {d, b, h})))
    return failure();
  Type elem = xType.getElementType();
  for (Value v : op->getOperands())
    if (getElementTypeOrSelf(v.getType()) != elem)
      return op.emitOpError()
             << "expects all operands to have element type " << elem;
  if (std::optional<APFloat> clip = op.getClip())
    if (clip->isNegative() || clip->isZero())
      return op.emitOpError() << "expects clip > 0";
  return success();
}
} // namespace

LogicalResult GruOp::verify() { return verifyRecurrent(*this, 3, 6); }

LogicalResult RnnOp::verify() { return verifyRecurrent(*this, 1, 2); }

LogicalResult LstmOp::verify() {
  if (failed(verifyRecurrent(*this, 4, 8)))
    return failure();
  auto xType = cast<RankedTensorType>(getInput().getType());
  int64_t b = xType.getDimSize(1), h = getHiddenSize(), d = getNumDirections();
  if (failed(expectShape(*this, "initial_c", getInitialC().getType(),
                         {d, b, h})) ||
      failed(expectShape(*this, "peepholes", getPeepholes().getType(),
                         {d, 3 * h})) ||
      failed(expectShape(*this, "y_c", getYC().getType(), {d, b, h})))
    return failure();
  return success();
}

namespace {
/// The int32 values of a 1-D plan attribute, or null (with an error).
const int32_t *planArray(BevPoolOp op, StringRef name, ElementsAttr attr,
                         int64_t size) {
  auto type = cast<ShapedType>(attr.getType());
  if (type.getRank() != 1 || !type.getElementType().isInteger(32) ||
      type.getNumElements() != size) {
    op.emitOpError() << name << " expects " << size << " i32 values, got "
                     << type;
    return nullptr;
  }
  std::optional<ArrayRef<char>> bytes = constantBytes(attr);
  if (!bytes || (size > 1 && isSplatConstant(attr))) {
    op.emitOpError() << name << " must be a dense array of its values";
    return nullptr;
  }
  return reinterpret_cast<const int32_t *>(bytes->data());
}
} // namespace

LogicalResult CorrelationOp::verify() {
  auto search = cast<RankedTensorType>(getSearch().getType());
  auto patches = cast<RankedTensorType>(getPatches().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (search.getRank() != 4 || patches.getRank() != 4 || out.getRank() != 4 ||
      !search.hasStaticShape() || !patches.hasStaticShape() ||
      !out.hasStaticShape())
    return emitOpError("expects static search [N, C, H, W], patches "
                       "[P, C, KH, KW] and a result [N, P, OH, OW]");
  int64_t s = getStride();
  if (s < 1)
    return emitOpError() << "stride must be at least 1, got " << s;
  if (!(getEps().convertToFloat() >= 0.0f))
    return emitOpError("eps must be a number >= 0");
  if (patches.getDimSize(1) != search.getDimSize(1))
    return emitOpError() << "patches have " << patches.getDimSize(1)
                         << " channels, the search region "
                         << search.getDimSize(1);
  int64_t kh = patches.getDimSize(2), kw = patches.getDimSize(3);
  int64_t h = search.getDimSize(2), w = search.getDimSize(3);
  if (kh > h || kw > w)
    return emitOpError("patches are larger than the search region");
  SmallVector<int64_t> want = {search.getDimSize(0), patches.getDimSize(0),
                               (h - kh) / s + 1, (w - kw) / s + 1};
  if (out.getShape() != ArrayRef<int64_t>(want))
    return emitOpError() << "result must be " << want[0] << "x" << want[1]
                         << "x" << want[2] << "x" << want[3];
  return success();
}

LogicalResult RoiAlignOp::verify() {
  auto x = cast<RankedTensorType>(getX().getType());
  auto rois = cast<RankedTensorType>(getRois().getType());
  auto idx = cast<RankedTensorType>(getBatchIndices().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  // R may be a run-time dimension (regions after NonMaxSuppression).
  auto staticButFirst = [](RankedTensorType t) {
    return llvm::all_of(t.getShape().drop_front(),
                        [](int64_t d) { return !ShapedType::isDynamic(d); });
  };
  if (x.getRank() != 4 || rois.getRank() != 2 || idx.getRank() != 1 ||
      out.getRank() != 4 || !x.hasStaticShape() || !staticButFirst(rois) ||
      !staticButFirst(out))
    return emitOpError("expects static x [N, C, H, W], rois [R, 4], "
                       "batch_indices [R] and a result [R, C, OH, OW]");
  if (getMode() != "avg" && getMode() != "max")
    return emitOpError() << "mode must be \"avg\" or \"max\", got \""
                         << getMode() << "\"";
  // (I64Attr's getters are unsigned: read them signed.)
  int64_t oh = int64_t(getOutputHeight()), ow = int64_t(getOutputWidth());
  if (oh < 1 || ow < 1 || int64_t(getSamplingRatio()) < 0)
    return emitOpError("expects output sizes >= 1 and sampling_ratio >= 0");
  if (!std::isfinite(getSpatialScale().convertToFloat()))
    return emitOpError("spatial_scale must be finite");
  int64_t r = rois.getDimSize(0);
  if (rois.getDimSize(1) != 4 || idx.getDimSize(0) != r)
    return emitOpError() << "rois must be [R, 4] and batch_indices [R], got "
                         << rois << " and " << idx;
  SmallVector<int64_t> want = {r, x.getDimSize(1), oh, ow};
  if (out.getShape() != ArrayRef<int64_t>(want))
    return emitOpError() << "result must be [R, " << want[1] << ", " << want[2]
                         << ", " << want[3] << "] with R of rois";
  return success();
}

LogicalResult NonZeroOp::verify() {
  auto mask = cast<RankedTensorType>(getMask().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (out.getRank() != 2 || !out.hasStaticShape() ||
      out.getDimSize(0) != mask.getRank())
    return emitOpError() << "result must be a static [" << mask.getRank()
                         << ", bound]";
  if (mask.hasStaticShape() && out.getDimSize(1) < mask.getNumElements())
    return emitOpError() << "bound " << out.getDimSize(1)
                         << " is below the mask's " << mask.getNumElements()
                         << " elements";
  return success();
}

LogicalResult NonMaxSuppressionOp::verify() {
  auto boxes = cast<RankedTensorType>(getBoxes().getType());
  auto scores = cast<RankedTensorType>(getScores().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  // N may be a run-time dimension (the regions of a first stage).
  if (boxes.getRank() != 3 || scores.getRank() != 3 || boxes.isDynamicDim(0) ||
      boxes.getDimSize(2) != 4 || scores.isDynamicDim(1) ||
      boxes.getDimSize(0) != scores.getDimSize(0) ||
      boxes.getDimSize(1) != scores.getDimSize(2))
    return emitOpError() << "expects boxes [B, N, 4] and scores [B, C, N] "
                            "(N may be run-time), got "
                         << boxes << " and " << scores;
  for (Value v : {getMaxOutput(), getIouThreshold(), getScoreThreshold()})
    if (auto t = cast<RankedTensorType>(v.getType());
        !t.hasStaticShape() || t.getNumElements() != 1)
      return emitOpError("expects one-element max_output and thresholds");
  if (out.getRank() != 2 || !out.hasStaticShape() || out.getDimSize(1) != 3)
    return emitOpError("result must be a static [bound, 3]");
  int64_t c = int64_t(getCenterPointBox());
  if (c != 0 && c != 1)
    return emitOpError("center_point_box must be 0 or 1");
  return success();
}

LogicalResult UniqueOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  if (in.getRank() != 3 || !in.hasStaticShape())
    return emitOpError("expects a static [outer, D, inner] input");
  int64_t d = in.getDimSize(1);
  if (getUnique().getType() != in)
    return emitOpError("unique must have the input's type");
  for (Value v : {getIndices(), getInverse(), getCounts()})
    if (cast<RankedTensorType>(v.getType()).getShape() != ArrayRef<int64_t>{d})
      return emitOpError() << "indices, inverse and counts must be [" << d
                           << "]";
  return success();
}

int64_t CorrelationOp::getMacs() {
  auto patches = cast<RankedTensorType>(getPatches().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  int64_t window = patches.getNumElements() / patches.getDimSize(0);
  int64_t points = out.getDimSize(0) * out.getDimSize(2) * out.getDimSize(3);
  return points * window * (out.getDimSize(1) + 1);
}

LogicalResult BevPoolOp::verify() {
  auto depth = cast<RankedTensorType>(getDepth().getType());
  auto feat = cast<RankedTensorType>(getFeatures().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (depth.getRank() != 1 || feat.getRank() != 2 || out.getRank() != 2 ||
      !depth.hasStaticShape() || !feat.hasStaticShape() ||
      !out.hasStaticShape())
    return emitOpError("expects static depth [N], features [rows, C] and a "
                       "result [cells, C]");
  if (getNumChannels() != feat.getDimSize(1))
    return emitOpError() << "result has " << getNumChannels()
                         << " channels, features " << feat.getDimSize(1);
  int64_t points = getNumPoints(), intervals = getNumIntervals();
  ::sparq::formats::BevPoolPlanView plan;
  plan.points = points;
  plan.intervals = intervals;
  plan.cells = getNumCells();
  if (!(plan.depthIndex =
            planArray(*this, "depth_index", getDepthIndex(), points)) ||
      !(plan.featIndex =
            planArray(*this, "feature_index", getFeatureIndex(), points)) ||
      !(plan.start = planArray(*this, "interval_start", getIntervalStart(),
                               intervals + 1)) ||
      !(plan.cell =
            planArray(*this, "interval_cell", getIntervalCell(), intervals)))
    return failure();
  if (points > 0 && intervals == 0)
    return emitOpError("has points but no intervals");
  std::string error;
  if (!::sparq::formats::checkBevPoolPlan(plan, depth.getDimSize(0),
                                          feat.getDimSize(0), error))
    return emitOpError() << error;
  return success();
}

std::vector<uint8_t> BevPoolOp::serializePlan() {
  auto ints = [](ElementsAttr a) {
    return reinterpret_cast<const int32_t *>(constantBytes(a)->data());
  };
  ::sparq::formats::BevPoolPlanView plan;
  plan.depthIndex = ints(getDepthIndex());
  plan.featIndex = ints(getFeatureIndex());
  plan.start = ints(getIntervalStart());
  plan.cell = ints(getIntervalCell());
  plan.points = getNumPoints();
  plan.intervals = getNumIntervals();
  plan.cells = getNumCells();
  std::vector<int32_t> order = ::sparq::formats::bevPoolOrder(plan);
  plan.order = order.data();
  return ::sparq::formats::serializeBevPoolPlan(plan);
}
