//===- EngineFromGraph.cpp - the graph IR as an ESE engine model ----------===//

#include "targets/hls/EngineFromGraph.h"
#include "targets/common/ScalarExpr.h"

#include "dialects/SparqDialect.h"
#include "passes/Weights.h"
#include "runtime/formats/Packed.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"

#include <map>

using namespace mlir;
using namespace ::sparq::hls;
using ::sparq::LayerInfo;
using ::sparq::emit::nodeOf;

namespace {

int64_t elements(Value v) {
  return cast<ShapedType>(v.getType()).getNumElements();
}

/// The floats of a constant, a splat fill or a broadcast generic of a
/// constant (`n` of them); false where `v` is none of these.
bool constantFloats(Value v, int64_t n, std::vector<float> &out) {
  Operation *op = v.getDefiningOp();
  if (auto c = dyn_cast_or_null<arith::ConstantOp>(op)) {
    auto attr = dyn_cast<ElementsAttr>(c.getValue());
    if (!attr || !attr.getElementType().isF32())
      return false;
    out = mlir::sparq::floatValues(attr);
  } else if (auto fill = dyn_cast_or_null<linalg::FillOp>(op)) {
    auto c = fill.getInputs()[0].getDefiningOp<arith::ConstantOp>();
    auto f = c ? dyn_cast<FloatAttr>(c.getValue()) : FloatAttr();
    if (!f)
      return false;
    out.assign(size_t(n), float(f.getValueAsDouble()));
  } else if (auto g = dyn_cast_or_null<linalg::GenericOp>(op)) {
    // A broadcast: one input, yielded as it is.
    auto yield = cast<linalg::YieldOp>(g.getBody()->getTerminator());
    if (g.getNumDpsInputs() != 1 || yield.getNumOperands() != 1 ||
        yield.getOperand(0) != g.getBody()->getArgument(0))
      return false;
    Value in = g.getDpsInputOperand(0)->get();
    std::vector<float> part;
    if (!constantFloats(in, elements(in), part) || part.empty() ||
        n % int64_t(part.size()) != 0)
      return false;
    // The broadcast repeats the constant along the leading dimensions.
    if (elements(in) != cast<ShapedType>(v.getType()).getShape().back())
      return false;
    out.clear();
    for (int64_t i = 0; i < n; ++i)
      out.push_back(part[size_t(i % int64_t(part.size()))]);
  } else {
    return false;
  }
  return int64_t(out.size()) == n;
}

bool isZero(const std::vector<float> &v) {
  for (float x : v)
    if (x != 0)
      return false;
  return true;
}

struct Matcher {
  const std::map<std::string, std::string> &opTypes;
  EngineModel &m;
  std::string &error;
  /// The activation the next layer reads, and its views.
  llvm::DenseSet<Value> current;
  Value lastOutput; // the last layer's result, while it may still fuse
  bool started = false;

  bool fail(Operation *op, const std::string &what) {
    error = "node '" + nodeOf(op) + "': " + what;
    return false;
  }
  std::string opType(Operation *op) {
    auto it = opTypes.find(nodeOf(op));
    return it == opTypes.end() ? std::string(op->getName().getStringRef())
                               : it->second;
  }
  bool cannotRun(Operation *op) {
    return fail(op, "the hls engine cannot run " + opType(op) + " (" +
                        std::string(op->getName().getStringRef()) +
                        "): it runs Gemm/MatMul with constant weights and "
                        "their bias, Relu, Sigmoid and Tanh, forward LSTMs "
                        "of batch 1, and reshapes");
  }

  /// Starts or checks the step count: the input is `steps` vectors.
  bool steps(Operation *op, int64_t n, int64_t width) {
    if (!started) {
      m.steps = n;
      m.inputs = width;
      started = true;
      return true;
    }
    if (n != m.steps)
      return fail(op, "reads " + std::to_string(n) +
                          " vectors where the "
                          "model has " +
                          std::to_string(m.steps) + " steps");
    return true;
  }

  bool matrix(Operation *op, Value w, int64_t rows, int64_t cols, Matrix &out) {
    auto c = w.getDefiningOp<arith::ConstantOp>();
    auto type = dyn_cast<RankedTensorType>(w.getType());
    if (!c || !type || !type.getElementType().isF32())
      return fail(op, "the hls engine needs a constant f32 weight");
    std::vector<float> v =
        mlir::sparq::floatValues(cast<ElementsAttr>(c.getValue()));
    if (int64_t(v.size()) != rows * cols)
      return fail(op, "its weight's data is not readable");
    auto enc = dyn_cast_or_null<mlir::sparq::EncodingAttr>(type.getEncoding());
    try {
      out = makeMatrix(v.data(), rows, cols, m.pes,
                       mlir::sparq::toLayout(enc, type.getShape()));
    } catch (const ::sparq::formats::FormatError &e) {
      return fail(op, e.what());
    }
    return true;
  }

  bool dense(linalg::MatmulTransposeBOp op) {
    Value x = op.getDpsInputOperand(0)->get(),
          w = op.getDpsInputOperand(1)->get();
    if (!current.contains(x))
      return cannotRun(op);
    auto xt = cast<RankedTensorType>(x.getType());
    auto wt = cast<RankedTensorType>(w.getType());
    int64_t rows = wt.getDimSize(0), cols = wt.getDimSize(1);
    if (!steps(op, xt.getDimSize(0), cols))
      return false;
    Layer l;
    l.kind = Layer::Dense;
    l.node = nodeOf(op);
    l.inputs = cols;
    l.outputs = rows;
    if (!matrix(op, w, rows, cols, l.w))
      return false;
    std::vector<float> init;
    if (!constantFloats(op.getDpsInitOperand(0)->get(), m.steps * rows, init))
      return fail(op, "its accumulator is not a constant bias");
    if (!isZero(init))
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t t = 1; t < m.steps; ++t)
          if (init[size_t(t * rows + r)] != init[size_t(r)])
            return fail(op, "its bias differs between steps");
        l.bias.push_back(quantize(init[size_t(r)], m.actFrac));
      }
    m.layers.push_back(std::move(l));
    lastOutput = op.getResult(0);
    current = {lastOutput};
    return true;
  }

  bool lstm(mlir::sparq::LstmOp op) {
    if (!current.contains(op.getInput()))
      return cannotRun(op);
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    int64_t T = xt.getDimSize(0), B = xt.getDimSize(1), I = xt.getDimSize(2);
    int64_t H = op.getHiddenSize();
    if (op.getDirection() != mlir::sparq::RnnDirection::Forward || B != 1)
      return fail(op,
                  "the hls engine runs forward LSTMs of batch 1 (this "
                  "one: " +
                      std::string(stringifyRnnDirection(op.getDirection())) +
                      ", batch " + std::to_string(B) + ")");
    if (!op.getYH().use_empty() || !op.getYC().use_empty())
      return fail(op, "the hls engine returns an LSTM's sequence Y, not its "
                      "final states Y_h and Y_c");
    if (!steps(op, T, I))
      return false;
    Layer l;
    l.kind = Layer::Lstm;
    l.node = nodeOf(op);
    l.inputs = I;
    l.outputs = H;
    if (!matrix(op, op.getW(), 4 * H, I, l.w) ||
        !matrix(op, op.getR(), 4 * H, H, l.r))
      return false;
    std::vector<float> bias, peep, h0, c0;
    if (!constantFloats(op.getBias(), 8 * H, bias) ||
        !constantFloats(op.getPeepholes(), 3 * H, peep))
      return fail(op, "the hls engine needs constant biases and peepholes");
    if (!constantFloats(op.getInitialH(), H, h0) ||
        !constantFloats(op.getInitialC(), H, c0) || !isZero(h0) || !isZero(c0))
      return fail(op, "the hls engine starts an LSTM from zero states; "
                      "initial_h and initial_c must be absent or zero");
    for (float b : bias)
      l.bias.push_back(quantize(b, m.actFrac));
    for (float p : peep)
      l.peepholes.push_back(quantize(p, m.actFrac));
    if (std::optional<APFloat> clip = op.getClip())
      l.clip = quantize(clip->convertToDouble(), m.actFrac);
    m.layers.push_back(std::move(l));
    lastOutput = Value();
    current = {op.getY()};
    return true;
  }

  /// An elementwise op on the last layer's output: its bias (Add of a
  /// constant) or its activation.
  bool elementwise(linalg::GenericOp op) {
    std::string type = opType(op);
    Value in;
    for (OpOperand *o : op.getDpsInputOperands())
      if (current.contains(o->get()))
        in = o->get();
    if (!in)
      return cannotRun(op);
    bool fusable = in == lastOutput && in.hasOneUse() && !m.layers.empty() &&
                   m.layers.back().kind == Layer::Dense &&
                   m.layers.back().act == Act::None;
    Layer *l = fusable ? &m.layers.back() : nullptr;
    if (type == "Relu" || type == "Sigmoid" || type == "Tanh") {
      if (!l || op.getNumDpsInputs() != 1)
        return fail(op, type + " runs in the hls engine only right after a "
                               "Gemm/MatMul");
      l->act = type == "Relu"      ? Act::Relu
               : type == "Sigmoid" ? Act::Sigmoid
                                   : Act::Tanh;
    } else if (type == "Add" && op.getNumDpsInputs() == 2) {
      Value other = op.getDpsInputOperand(0)->get() == in
                        ? op.getDpsInputOperand(1)->get()
                        : op.getDpsInputOperand(0)->get();
      std::vector<float> b;
      auto ot = cast<ShapedType>(other.getType());
      if (!l || !l->bias.empty() || ot.getNumElements() != l->outputs ||
          !constantFloats(other, l->outputs, b))
        return fail(op, "the hls engine adds only a constant bias of the "
                        "outputs' size right after a Gemm/MatMul");
      for (float x : b)
        l->bias.push_back(quantize(x, m.actFrac));
    } else {
      return cannotRun(op);
    }
    lastOutput = op.getResult(0);
    current = {lastOutput};
    return true;
  }

  bool run(func::FuncOp f) {
    // (The model's arity is checked after its ops: an op the engine cannot
    // run is the more useful error.)
    auto arity = [&] {
      error = "the hls engine takes one input and gives one output (this "
              "model: " +
              std::to_string(f.getNumArguments()) + " and " +
              std::to_string(f.getNumResults()) + ")";
      return false;
    };
    if (f.getNumArguments() < 1)
      return arity();
    current = {f.getArgument(0)};
    for (Operation &op : f.getBody().front()) {
      bool ok =
          llvm::TypeSwitch<Operation *, bool>(&op)
              .Case<arith::ConstantOp, tensor::EmptyOp, linalg::FillOp>(
                  [](auto) { return true; })
              .Case<tensor::CollapseShapeOp, tensor::ExpandShapeOp,
                    tensor::ReshapeOp, tensor::CastOp>([&](Operation *v) {
                // Row-major views of the activation are the activation.
                if (current.contains(v->getOperand(0))) {
                  current.insert(v->getResult(0));
                  if (v->getOperand(0) == lastOutput)
                    lastOutput = v->getResult(0);
                }
                return true;
              })
              .Case([&](linalg::MatmulTransposeBOp mm) { return dense(mm); })
              .Case([&](mlir::sparq::LstmOp l) { return lstm(l); })
              .Case([&](linalg::GenericOp g) {
                // A broadcast of a constant: a bias, read by its user.
                std::vector<float> v;
                if (constantFloats(g.getResult(0), elements(g.getResult(0)), v))
                  return true;
                return elementwise(g);
              })
              .Case([&](func::ReturnOp r) {
                if (r.getNumOperands() != 1)
                  return arity();
                if (!current.contains(r.getOperand(0)) || m.layers.empty()) {
                  error = "the model's output is not its last layer's";
                  return false;
                }
                return true;
              })
              .Default([&](Operation *o) { return cannotRun(o); });
      if (!ok)
        return false;
    }
    if (f.getNumArguments() != 1 || f.getNumResults() != 1)
      return arity();
    m.outputs = m.layers.back().outputs;
    if (elements(f.getArgument(0)) != m.steps * m.inputs) {
      error = "the model's input is not " + std::to_string(m.steps) +
              " vectors of " + std::to_string(m.inputs);
      return false;
    }
    return true;
  }
};

} // namespace

bool ::sparq::hls::engineFromGraph(ModuleOp module,
                                   const std::vector<LayerInfo> &layers,
                                   unsigned pes, EngineModel &model,
                                   std::string &error) {
  std::map<std::string, std::string> opTypes;
  for (const LayerInfo &l : layers)
    opTypes[l.name] = l.opType;
  func::FuncOp entry;
  module.walk([&](func::FuncOp f) {
    if (!entry && !f.isExternal())
      entry = f;
  });
  if (!entry) {
    error = "the module has no function to compile";
    return false;
  }
  // One PE array serves every layer: the PEs of the first weight that
  // sparq-pe-balance interleaved, unless asked.
  if (!pes) {
    module.walk([&](arith::ConstantOp c) {
      auto t = dyn_cast<RankedTensorType>(c.getType());
      auto enc =
          t ? dyn_cast_or_null<mlir::sparq::EncodingAttr>(t.getEncoding())
            : mlir::sparq::EncodingAttr();
      if (!pes && enc && enc.getSparsity() &&
          enc.getSparsity().getFormat() ==
              mlir::sparq::StorageFormat::InterleavedCSC)
        pes = enc.getSparsity().getPes();
    });
  }
  model = EngineModel();
  model.pes = pes ? pes : 32;
  Matcher matcher{opTypes, model, error, {}, {}, false};
  return matcher.run(entry);
}
