//===- Weights.cpp - the weights compression passes work on ---------------===//

#include "passes/Weights.h"
#include "dialects/ConstantData.h"
#include "runtime/formats/Packed.h"
#include "runtime/kernels/ThreadPool.h"

#include <cstring>

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::sparq;

namespace {

/// Whether `use` is the weight operand of an op sparq compresses.
bool isWeightUse(OpOperand &use, bool &isConv) {
  Operation *op = use.getOwner();
  unsigned n = use.getOperandNumber();
  if (isa<LstmOp, GruOp, RnnOp>(op)) {
    if (n != 1 && n != 2)
      return false;
  } else if (n != 1) {
    return false;
  }
  if (isa<linalg::Conv2DNchwFchwOp>(op)) {
    isConv = true;
    return true;
  }
  // A recurrent layer's W (operand 1) and R (2), which sparq-lower-rnn
  // slices per direction with their encoding. GRU's R when the reset gate
  // comes first is also read transposed: not a weight there.
  if (isa<LstmOp, RnnOp>(op))
    return true;
  if (auto gru = dyn_cast<GruOp>(op))
    return n == 1 || gru.getLinearBeforeReset();
  return isa<linalg::MatmulTransposeBOp>(op);
}

std::string nameOf(Location loc) {
  if (auto n = dyn_cast<NameLoc>(loc))
    return n.getName().str();
  if (auto f = dyn_cast<FusedLoc>(loc))
    for (Location l : f.getLocations())
      if (auto n = dyn_cast<NameLoc>(l))
        return n.getName().str();
  return "";
}

/// Glob match with '*' only.
bool glob(StringRef pattern, StringRef text) {
  size_t star = pattern.find('*');
  if (star == StringRef::npos)
    return pattern == text;
  StringRef head = pattern.take_front(star),
            rest = pattern.drop_front(star + 1);
  if (!text.starts_with(head))
    return false;
  text = text.drop_front(head.size());
  for (size_t i = 0; i <= text.size(); ++i)
    if (glob(rest, text.drop_front(i)))
      return true;
  return false;
}

} // namespace

std::vector<float> mlir::sparq::floatValues(ElementsAttr attr) {
  // f32 storage is the floats themselves: one copy, not an APFloat each
  // (which made reading a 216 M-parameter model's weights take seconds).
  std::optional<ArrayRef<char>> raw = constantBytes(attr);
  if (raw && attr.getElementType().isF32()) {
    std::vector<float> v(attr.getNumElements());
    if (isSplatConstant(attr))
      std::fill(v.begin(), v.end(),
                *reinterpret_cast<const float *>(raw->data()));
    else
      std::memcpy(v.data(), raw->data(), v.size() * sizeof(float));
    return v;
  }
  std::vector<float> v;
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense)
    return v;
  v.reserve(dense.getNumElements());
  for (const APFloat &x : dense.getValues<APFloat>())
    v.push_back(x.convertToFloat());
  return v;
}

std::vector<float> Weight::values() const {
  return floatValues(cast<ElementsAttr>(cst.getValue()));
}

const float *Weight::floats(std::vector<float> &scratch) const {
  auto attr = cast<ElementsAttr>(cst.getValue());
  std::optional<ArrayRef<char>> raw = constantBytes(attr);
  if (raw && attr.getElementType().isF32() && !isSplatConstant(attr))
    return reinterpret_cast<const float *>(raw->data());
  scratch = floatValues(attr);
  return scratch.data();
}

void mlir::sparq::packInParallel(ArrayRef<const float *> values,
                                 ArrayRef<Weight> weights,
                                 ArrayRef<formats::Layout> layouts,
                                 std::vector<std::vector<uint8_t>> &out,
                                 std::vector<std::string> &errors) {
  size_t n = values.size();
  out.assign(n, {});
  errors.assign(n, {});
  std::vector<int64_t> rows(n), cols(n);
  for (size_t i = 0; i < n; ++i) {
    rows[i] = weights[i].rows();
    cols[i] = weights[i].cols();
  }
  // Each packing is independent and writes its own bytes: the result does
  // not depend on the threads.
  ::sparq::kernels::parallelFor(n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      try {
        out[i] = formats::pack(values[i], rows[i], cols[i], layouts[i]);
      } catch (const formats::FormatError &e) {
        errors[i] = e.what();
      }
    }
  });
}

std::vector<uint8_t> mlir::sparq::packConstant(arith::ConstantOp cst,
                                               const formats::Layout &layout,
                                               std::string &error) {
  Weight w;
  w.cst = cst;
  std::vector<float> scratch;
  try {
    return formats::pack(w.floats(scratch), w.rows(), w.cols(), layout);
  } catch (const formats::FormatError &e) {
    error = e.what();
    return {};
  }
}

std::vector<Weight> mlir::sparq::collectWeights(ModuleOp module) {
  std::vector<Weight> weights;
  module.walk([&](arith::ConstantOp cst) {
    auto type = dyn_cast<RankedTensorType>(cst.getType());
    if (!type || !type.getElementType().isF32() || type.getRank() < 2 ||
        !type.hasStaticShape() || cst->use_empty() ||
        !constantBytes(cst.getValue()))
      return;
    Weight w;
    w.cst = cst;
    for (OpOperand &use : cst->getUses())
      if (!isWeightUse(use, w.isConv))
        return;
    // The first consumer in program order names the layer.
    for (OpOperand &use : cst->getUses())
      if (!w.consumer ||
          (use.getOwner()->getBlock() == w.consumer->getBlock() &&
           use.getOwner()->isBeforeInBlock(w.consumer)))
        w.consumer = use.getOwner();
    w.layer = nameOf(w.consumer->getLoc());
    if (w.layer.empty())
      w.layer = "weight" + std::to_string(weights.size());
    weights.push_back(w);
  });
  // Constants sit at the top of the function; order by consumer instead.
  std::stable_sort(weights.begin(), weights.end(),
                   [](const Weight &a, const Weight &b) {
                     return a.consumer->getBlock() == b.consumer->getBlock() &&
                            a.consumer->isBeforeInBlock(b.consumer);
                   });
  for (size_t i = 0; i < weights.size(); ++i)
    weights[i].index = i;
  return weights;
}

namespace {
/// Replaces the weight's constant by one of `attr` (its type's encoding
/// checked) for all its uses; `w.cst` is updated.
LogicalResult replaceWeight(Weight &w, RankedTensorType type,
                            llvm::function_ref<ElementsAttr()> attrFn) {
  RankedTensorType old = w.type();
  if (auto encoding = dyn_cast_or_null<EncodingAttr>(type.getEncoding());
      encoding &&
      failed(encoding.verifyEncoding(old.getShape(), old.getElementType(), [&] {
        return emitError(w.consumer->getLoc()) << "layer '" << w.layer << "': ";
      })))
    return failure();
  ElementsAttr attr = attrFn();
  if (!attr)
    return emitError(w.consumer->getLoc())
           << "layer '" << w.layer << "': its weight's data is gone";
  OpBuilder b(w.cst);
  auto cst = b.create<arith::ConstantOp>(w.cst.getLoc(), type, attr);
  // Annotations carry over, except the storage cost, which the new values
  // may change (sparq-select-layout sets it again).
  for (NamedAttribute a : w.cst->getDiscardableAttrs())
    if (a.getName() != kCostAttr)
      cst->setAttr(a.getName(), a.getValue());
  w.cst->replaceAllUsesWith(cst);
  // Each weight has a constant of its own (the importer makes one per
  // initializer): the old values have no reader left.
  Attribute oldValue = w.cst.getValue();
  w.cst->erase();
  releaseConstant(oldValue);
  w.cst = cst;
  return success();
}

RankedTensorType withEncoding(const Weight &w, EncodingAttr encoding) {
  return RankedTensorType::get(w.type().getShape(), w.type().getElementType(),
                               encoding);
}
} // namespace

LogicalResult mlir::sparq::setWeight(Weight &w, ArrayRef<float> values,
                                     EncodingAttr encoding) {
  RankedTensorType type = withEncoding(w, encoding);
  return replaceWeight(w, type, [&] {
    return constantAttr(type, std::vector<float>(values.begin(), values.end()));
  });
}

LogicalResult mlir::sparq::setWeight(Weight &w, EncodingAttr encoding) {
  RankedTensorType type = withEncoding(w, encoding);
  return replaceWeight(w, type, [&] {
    return retypedConstant(cast<ElementsAttr>(w.cst.getValue()), type);
  });
}

/// `enc` with new parts; its act_bits stay where the storage still takes
/// int8 activations.
static EncodingAttr withParts(MLIRContext *ctx, EncodingAttr enc,
                              SparsityAttr sparsity, QuantAttr quant) {
  if (!sparsity && !quant)
    return {};
  unsigned actBits = enc ? enc.getActBits() : 0;
  if (!EncodingAttr::supportsInt8Activations(sparsity, quant))
    actBits = 0;
  return EncodingAttr::get(ctx, sparsity, quant, actBits);
}

EncodingAttr mlir::sparq::withSparsity(MLIRContext *ctx, EncodingAttr enc,
                                       SparsityAttr sparsity) {
  QuantAttr quant = enc ? enc.getQuant() : QuantAttr();
  return withParts(ctx, enc, sparsity, quant);
}

EncodingAttr mlir::sparq::withQuant(MLIRContext *ctx, EncodingAttr enc,
                                    QuantAttr quant) {
  SparsityAttr sparsity = enc ? enc.getSparsity() : SparsityAttr();
  return withParts(ctx, enc, sparsity, quant);
}

formats::Layout mlir::sparq::toLayout(EncodingAttr enc,
                                      ArrayRef<int64_t> shape) {
  formats::Layout l;
  if (!enc)
    return l;
  if (SparsityAttr s = enc.getSparsity()) {
    switch (s.getFormat()) {
    case StorageFormat::Dense:
      l.format = formats::Format::Dense;
      break;
    case StorageFormat::CSR:
      l.format = formats::Format::CSR;
      break;
    case StorageFormat::CSC:
      l.format = formats::Format::CSC;
      break;
    case StorageFormat::BCSR: {
      l.format = formats::Format::BCSR;
      l.blockRows = 1;
      int64_t cols = weightMatrixShape(shape).second;
      switch (s.getPattern()) {
      case SparsityPattern::Block:
        l.blockRows = s.getGroup()[0];
        l.blockCols = s.getGroup()[1];
        break;
      case SparsityPattern::Vector:
        l.blockCols = shape.size() == 4 ? shape[3] : 1;
        break;
      case SparsityPattern::Kernel:
        l.blockCols = shape.size() == 4 ? shape[2] * shape[3] : 1;
        break;
      default: // filter: whole rows
        l.blockCols = cols;
        break;
      }
      break;
    }
    case StorageFormat::NM:
      l.format = formats::Format::NM;
      l.n = s.getGroup()[0];
      l.m = s.getGroup()[1];
      break;
    case StorageFormat::InterleavedCSC:
      l.format = formats::Format::InterleavedCSC;
      l.pes = s.getPes();
      l.indexBits = s.getIndexBits();
      break;
    }
  }
  l.actBits = enc.getActBits();
  if (QuantAttr q = enc.getQuant()) {
    switch (q.getKind()) {
    case QuantKind::Ternary:
      l.quant = formats::Quant::Ternary;
      l.perChannel = q.getPerChannel();
      break;
    case QuantKind::Int:
      l.quant = formats::Quant::Int;
      l.bits = q.getBits();
      l.group = q.getGroupSize();
      l.zeroPoints = q.getZeroPoints();
      break;
    case QuantKind::Codebook:
      l.quant = formats::Quant::Codebook;
      l.bits = q.getBits();
      break;
    case QuantKind::Fixed:
      l.quant = formats::Quant::Fixed;
      l.intBits = q.getIntBits();
      l.fracBits = q.getFracBits();
      break;
    }
  }
  return l;
}

bool LayerFilter::matches(const Weight &w, int64_t count) const {
  if (skipFirst && w.index == 0)
    return false;
  if (skipLast && w.index == count - 1)
    return false;
  if (layers.empty())
    return true;
  SmallVector<StringRef> patterns;
  StringRef(layers).split(patterns, ',', -1, false);
  return llvm::any_of(patterns,
                      [&](StringRef p) { return glob(p.trim(), w.layer); });
}

SparsityAttr mlir::sparq::sparsityFor(const Weight &w,
                                      const formats::PruneSpec &pattern,
                                      StorageFormat format) {
  using formats::Granularity;
  MLIRContext *ctx = w.cst.getContext();
  formats::PruneSpec spec = pattern;
  if (w.type().getRank() != 4) {
    switch (spec.granularity) {
    case Granularity::Vector:
    case Granularity::Kernel:
      spec.granularity = Granularity::Element;
      break;
    case Granularity::Filter:
      spec.granularity = Granularity::Block;
      spec.blockRows = 1;
      spec.blockCols = w.cols();
      break;
    case Granularity::Channel:
      spec.granularity = Granularity::Block;
      spec.blockRows = w.rows();
      spec.blockCols = 1;
      break;
    default:
      break;
    }
  }
  SparsityPattern kind = SparsityPattern::Element;
  SmallVector<int64_t> group;
  switch (spec.granularity) {
  case Granularity::Element:
    break;
  case Granularity::Vector:
    kind = SparsityPattern::Vector;
    break;
  case Granularity::Kernel:
    kind = SparsityPattern::Kernel;
    break;
  case Granularity::Filter:
    kind = SparsityPattern::Filter;
    break;
  case Granularity::Channel:
    kind = SparsityPattern::Channel;
    break;
  case Granularity::Block:
    kind = SparsityPattern::Block;
    group = {spec.blockRows, spec.blockCols};
    break;
  case Granularity::NM:
    kind = SparsityPattern::NM;
    group = {spec.n, spec.m};
    break;
  }
  return SparsityAttr::get(ctx, kind, group, format, 0, 0);
}

InFlightDiagnostic mlir::sparq::layerError(const Weight &w, StringRef pass) {
  return emitError(w.consumer->getLoc())
         << pass << ": layer '" << w.layer << "': ";
}

std::vector<Weight> mlir::sparq::selectWeights(ModuleOp module,
                                               const LayerFilter &filter) {
  std::vector<Weight> all = collectWeights(module), picked;
  for (const Weight &w : all)
    if (filter.matches(w, all.size()))
      picked.push_back(w);
  return picked;
}

void mlir::sparq::warnSkipped(const Weight &w, StringRef pass, StringRef why) {
  emitWarning(w.consumer->getLoc())
      << pass << ": layer '" << w.layer << "' " << why << "; left as it is";
}
