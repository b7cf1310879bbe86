//===- Awq.cpp - activation-aware weight quantization ---------------------===//

#include "compiler/Awq.h"
#include "compiler/Compiler.h"
#include "dialects/ConstantData.h"
#include "passes/Weights.h"
#include "runtime/formats/Packed.h"
#include "runtime/io/Npy.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>
#include <limits>
#include <map>

using namespace mlir;
using namespace mlir::sparq;

namespace {

/// The value `v` reshapes (collapse/expand keep the row-major order, so a
/// column of the last axis stays one wherever both ends have K columns);
/// with `soleReaders`, only through values that the next reshape alone
/// reads.
Value reshapeSource(Value v, bool soleReaders = false) {
  while (Operation *op = v.getDefiningOp()) {
    if (!isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op) ||
        (soleReaders && !v.hasOneUse()))
      break;
    v = op->getOperand(0);
  }
  return v;
}

/// MatMul weights the recipe quantizes that multiply one activation (the
/// same value, or reshapes of it: one scale serves them all).
struct Group {
  Value source;
  std::vector<Weight> weights;
  /// The first weight's layer: how a group of the calibration compile
  /// finds its group in the target.
  std::string name;
  /// The first weight's [M, K] operand: the activation calibrated.
  Value input() const { return weights.front().consumer->getOperand(0); }
};

std::vector<Group> groupsOf(ModuleOp module,
                            const ::sparq::CompressionRecipe &r) {
  std::vector<Group> groups;
  for (Weight &w : selectWeights(module, {r.layers, false, false})) {
    auto mm = dyn_cast<linalg::MatmulTransposeBOp>(w.consumer);
    if (w.isConv || !mm || !w.cst->hasOneUse() ||
        (r.intGroup > 0 && w.cols() % r.intGroup))
      continue;
    Value in = reshapeSource(mm.getInputs()[0]);
    auto it =
        llvm::find_if(groups, [&](const Group &g) { return g.source == in; });
    if (it == groups.end()) {
      groups.push_back({in, {}, w.layer});
      it = std::prev(groups.end());
    }
    it->weights.push_back(w);
  }
  return groups;
}

/// What rounding does to w[rows, cols] scaled by s per column: w - Q(w s)/s,
/// through the formats library's own int packing.
std::vector<float> roundingError(const std::vector<float> &w, int64_t rows,
                                 int64_t cols, const std::vector<float> &s,
                                 const formats::Layout &layout) {
  std::vector<float> scaled(w.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      scaled[r * cols + c] = w[r * cols + c] * s[c];
  std::vector<uint8_t> blob = formats::pack(scaled.data(), rows, cols, layout);
  formats::PackedView view(blob.data(), blob.size());
  std::vector<float> q(w.size());
  formats::decodeRows(view, 0, rows, q.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      q[r * cols + c] = w[r * cols + c] - q[r * cols + c] / s[c];
  return q;
}

/// Squared error of x[m, k] times d[n, k] transposed.
double outputError(const std::vector<float> &x, int64_t m, int64_t k,
                   const std::vector<float> &d, int64_t n) {
  double err = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t c = 0; c < k; ++c)
        acc += double(x[i * k + c]) * d[j * k + c];
      err += acc * acc;
    }
  return err;
}

/// The per-channel scales of one group: s = mean|x|^alpha (normalized to a
/// geometric mean of 1 between its extremes), alpha in 0, 0.05, ..., 1, the
/// one with the smallest output error.
std::vector<float> searchScales(const Group &g, const std::vector<float> &x,
                                int64_t m, int64_t k,
                                const formats::Layout &layout) {
  std::vector<float> mean(k, 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < k; ++c)
      mean[c] += std::fabs(x[i * k + c]) / m;
  std::vector<std::vector<float>> values;
  for (const Weight &w : g.weights)
    values.push_back(w.values());
  std::vector<float> best(k, 1.0f);
  double bestErr = std::numeric_limits<double>::infinity();
  for (int step = 0; step <= 20; ++step) {
    double alpha = step / 20.0;
    std::vector<float> s(k);
    float lo = std::numeric_limits<float>::max(), hi = 0;
    for (int64_t c = 0; c < k; ++c) {
      s[c] = std::max<float>(std::pow(mean[c], alpha), 1e-4f);
      lo = std::min(lo, s[c]);
      hi = std::max(hi, s[c]);
    }
    float norm = std::sqrt(lo * hi);
    for (float &v : s)
      v /= norm;
    double err = 0;
    for (size_t i = 0; i < g.weights.size(); ++i) {
      int64_t n = g.weights[i].rows();
      err += outputError(x, m, k, roundingError(values[i], n, k, s, layout), n);
    }
    if (err < bestErr) {
      bestErr = err;
      best = s;
    }
  }
  return best;
}

/// Whether every reader of `v`, through reshapes, is one of `consumers`
/// reading it as its left operand.
bool readOnlyBy(Value v, const llvm::DenseSet<Operation *> &consumers) {
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user)) {
      if (!readOnlyBy(user->getResult(0), consumers))
        return false;
      continue;
    }
    if (!consumers.contains(user) || use.getOperandNumber() != 0)
      return false;
  }
  return true;
}

/// The constant an f32 operand holds, when nothing else reads it.
arith::ConstantOp soleConstant(Value v) {
  auto cst = v.getDefiningOp<arith::ConstantOp>();
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!cst || !cst->hasOneUse() || !type || !type.getElementType().isF32() ||
      !type.hasStaticShape() || !constantBytes(cst.getValue()))
    return {};
  return cst;
}

/// Replaces the constant's values by values[i] * scale[i % k] (k = columns
/// of its last axis, or rows of a [K, X] matrix with `byRows`).
void scaleConstant(arith::ConstantOp cst, const std::vector<float> &scale,
                   bool byRows) {
  auto type = cast<RankedTensorType>(cst.getType());
  auto attr = cast<ElementsAttr>(cst.getValue());
  std::vector<float> v = floatValues(attr);
  int64_t k = scale.size(), cols = byRows ? v.size() / k : 1;
  for (size_t i = 0; i < v.size(); ++i)
    v[i] *= byRows ? scale[i / cols] : scale[i % k];
  cst.setValueAttr(constantAttr(type, std::move(v)));
  releaseConstant(attr);
}

/// Folds x * inv (per column of x's last axis) into the op that computes x:
/// the per-channel weight of a norm (x = y * gamma: gamma * inv), or the
/// Linear whose output x multiplies (x = f(a) * (h W^T): W's rows times
/// inv, as SwiGLU's up projection). False where x comes otherwise; then
/// nothing changed.
bool foldIntoProducer(Value x, const std::vector<float> &inv) {
  auto g = x.getDefiningOp<linalg::GenericOp>();
  int64_t k = inv.size();
  auto type = dyn_cast<RankedTensorType>(x.getType());
  if (!g || g->getNumResults() != 1 || !type || !type.hasStaticShape() ||
      type.getRank() < 1 || type.getShape().back() != k ||
      g.getNumParallelLoops() != g.getNumLoops() ||
      !g.getIndexingMapsArray().back().isIdentity())
    return false;
  auto yield = cast<linalg::YieldOp>(g.getBody()->getTerminator());
  auto mul = yield.getOperand(0).getDefiningOp<arith::MulFOp>();
  if (!mul || mul->getBlock() != g.getBody())
    return false;
  unsigned rank = type.getRank();
  for (Value side : {mul.getLhs(), mul.getRhs()}) {
    auto arg = dyn_cast<BlockArgument>(side);
    if (!arg || arg.getOwner() != g.getBody() || !arg.hasOneUse() ||
        arg.getArgNumber() >= g.getNumDpsInputs())
      continue;
    OpOperand *operand = g.getDpsInputOperand(arg.getArgNumber());
    AffineMap map = g.getMatchingIndexingMap(operand);
    // A norm's weight: [K] read along the last loop.
    if (arith::ConstantOp cst = soleConstant(operand->get())) {
      if (map.getNumResults() == 1 &&
          map.getResult(0) == getAffineDimExpr(rank - 1, g.getContext()) &&
          cast<RankedTensorType>(cst.getType()).getRank() == 1) {
        scaleConstant(cst, inv, /*byRows=*/false);
        return true;
      }
      continue;
    }
    // A Linear's output, element for element, read by this op alone.
    if (!map.isIdentity())
      continue;
    Value y = reshapeSource(operand->get(), /*soleReaders=*/true);
    auto mm = y.getDefiningOp<linalg::MatmulTransposeBOp>();
    if (!mm || !y.hasOneUse() ||
        cast<RankedTensorType>(y.getType()).getShape().back() != k)
      continue;
    auto fill = mm.getOutputs()[0].getDefiningOp<linalg::FillOp>();
    FloatAttr zero;
    if (!fill || !matchPattern(fill.getInputs()[0], m_Constant(&zero)) ||
        !zero.getValue().isZero())
      continue; // a bias in the sum would need scaling too
    if (arith::ConstantOp w = soleConstant(mm.getInputs()[1])) {
      scaleConstant(w, inv, /*byRows=*/true);
      return true;
    }
  }
  return false;
}

/// x * inv along the last axis (x is [M, K]), as a linalg.generic.
Value scaleColumns(OpBuilder &b, Location loc, Value x,
                   const std::vector<float> &inv) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t k = inv.size();
  auto vecType = RankedTensorType::get({k}, b.getF32Type());
  Value vec = b.create<arith::ConstantOp>(
      loc, DenseElementsAttr::get(vecType, ArrayRef<float>(inv)));
  Value init = b.create<tensor::EmptyOp>(loc, tensor::getMixedSizes(b, loc, x),
                                         type.getElementType());
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(2, ctx),
      AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx),
      AffineMap::getMultiDimIdentityMap(2, ctx)};
  SmallVector<utils::IteratorType> iters(2, utils::IteratorType::parallel);
  return b
      .create<linalg::GenericOp>(
          loc, TypeRange{type}, ValueRange{x, vec}, ValueRange{init}, maps,
          iters,
          [](OpBuilder &nb, Location nl, ValueRange a) {
            nb.create<linalg::YieldOp>(
                nl, Value(nb.create<arith::MulFOp>(nl, a[0], a[1])));
          })
      .getResult(0);
}

} // namespace

bool ::sparq::applyAwq(::sparq::Compiler &target, const std::string &modelPath,
                       const ::sparq::CompileOptions &options,
                       std::string &error) {
  using namespace ::sparq;
  const CompressionRecipe &recipe = options.compression;
  std::vector<io::HostTensor> calibration;
  if (!io::readNpz(options.awqCalibration, calibration, error))
    return false;
  // The fp32 model on the calibration inputs, with the activation of each
  // group as an extra output.
  CompileOptions co;
  co.compression.detect = false;
  co.host = options.host;
  co.optLevel = options.optLevel;
  std::map<std::string, const io::HostTensor *> byName;
  for (const io::HostTensor &t : calibration) {
    co.inputShapes[t.name] = t.shape;
    byName[t.name] = &t;
  }
  Compiler calib;
  if (!calib.importOnnx(modelPath, co)) {
    error = "--awq: " + calib.error();
    return false;
  }
  std::vector<Group> calibGroups = groupsOf(calib.module(), recipe);
  std::vector<Value> activations;
  for (const Group &g : calibGroups)
    activations.push_back(g.input());
  size_t firstExtra = calib.outputs().size();
  calib.appendOutputs(activations, "awq.");
  std::vector<const io::HostTensor *> args;
  for (const TensorSpec &s : calib.inputs()) {
    auto it = byName.find(s.name);
    if (it == byName.end()) {
      error = "--awq " + options.awqCalibration +
              ": the calibration data has no input '" + s.name + "'";
      return false;
    }
    args.push_back(it->second);
  }
  auto exe = calib.lowerForHost(co) ? calib.jit(co) : nullptr;
  std::vector<io::HostTensor> outs;
  if (!exe || !exe->run(args, outs, error)) {
    if (error.empty())
      error = calib.error();
    error = "--awq: running the calibration inputs: " + error;
    return false;
  }
  std::map<std::string, const io::HostTensor *> activationOf;
  for (size_t i = 0; i < calibGroups.size(); ++i)
    activationOf[calibGroups[i].name] = &outs[firstExtra + i];

  formats::Layout layout;
  layout.quant = formats::Quant::Int;
  layout.bits = recipe.intBits;
  layout.group = recipe.intGroup;
  layout.zeroPoints = true;
  for (Group &g : groupsOf(target.module(), recipe)) {
    auto it = activationOf.find(g.name);
    if (it == activationOf.end())
      continue;
    const io::HostTensor &act = *it->second;
    int64_t k = g.weights.front().cols();
    int64_t rows = act.numElements() / k;
    // At most 64 rows, spread over the calibration tokens: the search
    // multiplies them by every weight at 21 exponents.
    int64_t m = std::min<int64_t>(rows, 64);
    std::vector<float> x(m * k);
    for (int64_t i = 0; i < m; ++i) {
      const float *src = act.as<float>() + (i * rows / m) * k;
      std::copy(src, src + k, x.begin() + i * k);
    }
    std::vector<float> s = searchScales(g, x, m, k, layout);
    std::vector<float> inv(k);
    for (int64_t c = 0; c < k; ++c)
      inv[c] = 1.0f / s[c];
    for (Weight &w : g.weights) {
      std::vector<float> v = w.values();
      for (int64_t r = 0, n = w.rows(); r < n; ++r)
        for (int64_t c = 0; c < k; ++c)
          v[r * k + c] *= s[c];
      if (failed(setWeight(w, v, w.encoding()))) {
        error = "--awq: could not scale the weight of " + w.layer;
        return false;
      }
    }
    // The inverse folded into the op before (AWQ's way: no extra pass over
    // the activations), else a multiply of its own before each MatMul.
    llvm::DenseSet<Operation *> consumers;
    for (Weight &w : g.weights)
      consumers.insert(w.consumer);
    if (readOnlyBy(g.source, consumers) && foldIntoProducer(g.source, inv))
      continue;
    llvm::DenseMap<Value, Value> scaledOf;
    for (Weight &w : g.weights) {
      Value in = w.consumer->getOperand(0);
      Value &scaled = scaledOf[in];
      if (!scaled) {
        OpBuilder b(w.consumer);
        b.setInsertionPointAfterValue(in);
        scaled = scaleColumns(b, in.getLoc(), in, inv);
      }
      w.consumer->setOperand(0, scaled);
    }
  }
  return true;
}
