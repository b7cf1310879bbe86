//===- Recurrent.cpp - ONNX LSTM to sparq.lstm ----------------------------===//

#include "dialects/SparqDialect.h"
#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

LogicalResult buildLstm(NodeContext &ctx) {
  if (!isFloat(ctx.dtype(0)))
    return ctx.error() << "expects float inputs";
  std::string dir = ctx.attrString("direction", "forward");
  std::optional<mlir::sparq::RnnDirection> direction =
      mlir::sparq::symbolizeRnnDirection(dir);
  if (!direction)
    return ctx.error() << "unknown direction '" << dir << "'";
  auto acts = ctx.attrStrings("activations");
  for (size_t i = 0; i < acts.size(); ++i) {
    const char *expected = i % 3 == 0 ? "Sigmoid" : "Tanh";
    if (acts[i] != expected)
      return ctx.error() << "activation '" << acts[i]
                         << "' is not supported (only Sigmoid, Tanh, Tanh)";
  }
  if (ctx.attrInt("input_forget", 0))
    return ctx.error() << "input_forget=1 is not supported";
  int64_t layout = ctx.attrInt("layout", 0);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  if (layout == 1)
    x = transposeTensor(b, loc, x, {1, 0, 2});
  auto xs = cast<RankedTensorType>(x.getType()).getShape();
  if (xs.size() != 3)
    return ctx.error() << "expects X of rank 3";
  int64_t seq = xs[0], batch = xs[1], d = *direction ==
                                                 mlir::sparq::RnnDirection::Bidirectional
                                             ? 2
                                             : 1;
  int64_t hidden = ctx.attrInt("hidden_size", 0);
  if (hidden <= 0 && ctx.rank(2) == 3)
    hidden = ctx.shape(2)[2];
  if (ctx.shape(1) != std::vector<int64_t>{d, 4 * hidden, xs[2]} ||
      ctx.shape(2) != std::vector<int64_t>{d, 4 * hidden, hidden})
    return ctx.error() << "W " << shapeStr(ctx.shape(1)) << " and R "
                       << shapeStr(ctx.shape(2))
                       << " do not match hidden_size " << hidden;
  if (ctx.hasInput(4)) {
    const io::HostTensor *lens = ctx.knownValue(4);
    if (!lens)
      return ctx.error() << "sequence_lens must be known at compile time";
    for (int64_t l : hostToInts(*lens))
      if (l != seq)
        return ctx.error() << "sequence_lens shorter than the sequence are "
                              "not supported";
  }
  Type elem = ctx.elementType(ctx.dtype(0));
  auto optional = [&](size_t i, std::vector<int64_t> shape, bool batchMajor) {
    if (!ctx.hasInput(i))
      return filledTensor(b, loc, shape, elem, 0);
    Value v = ctx.value(i);
    if (batchMajor && layout == 1)
      v = transposeTensor(b, loc, v, {1, 0, 2});
    return v;
  };
  Value bias = optional(3, {d, 8 * hidden}, false);
  Value h0 = optional(5, {d, batch, hidden}, true);
  Value c0 = optional(6, {d, batch, hidden}, true);
  Value p = optional(7, {d, 3 * hidden}, false);
  auto t = [&](ArrayRef<int64_t> s) { return RankedTensorType::get(s, elem); };
  auto op = b.create<mlir::sparq::LstmOp>(
      loc, TypeRange{t({seq, d, batch, hidden}), t({d, batch, hidden}),
                     t({d, batch, hidden})},
      x, ctx.value(1), ctx.value(2), bias, h0, c0, p,
      mlir::sparq::RnnDirectionAttr::get(b.getContext(), *direction),
      b.getI64IntegerAttr(hidden),
      ctx.hasAttr("clip") ? b.getF32FloatAttr(ctx.attrFloat("clip", 0))
                          : FloatAttr());
  Value y = op.getY(), yh = op.getYH(), yc = op.getYC();
  if (layout == 1) {
    y = transposeTensor(b, loc, y, {2, 0, 1, 3});
    yh = transposeTensor(b, loc, yh, {1, 0, 2});
    yc = transposeTensor(b, loc, yc, {1, 0, 2});
  }
  io::DType dt = ctx.dtype(0);
  if (ctx.wantsOutput(0))
    ctx.setOutput(0, y, dt);
  if (ctx.wantsOutput(1))
    ctx.setOutput(1, yh, dt);
  if (ctx.wantsOutput(2))
    ctx.setOutput(2, yc, dt);
  return success();
}

/// What GRU and RNN share with LSTM's importer: direction, layout, hidden
/// size, full-length sequences, zero-filled optional inputs.
struct RecurrentInputs {
  mlir::sparq::RnnDirection direction;
  int64_t dirs, seq, batch, hidden, layout;
  Value x, bias, h0;
};

FailureOr<RecurrentInputs> recurrentInputs(NodeContext &ctx, int64_t gates,
                                           int64_t biasBlocks) {
  if (!isFloat(ctx.dtype(0))) {
    ctx.error() << "expects float inputs";
    return failure();
  }
  RecurrentInputs r;
  std::string dir = ctx.attrString("direction", "forward");
  auto direction = mlir::sparq::symbolizeRnnDirection(dir);
  if (!direction) {
    ctx.error() << "unknown direction '" << dir << "'";
    return failure();
  }
  r.direction = *direction;
  r.dirs = *direction == mlir::sparq::RnnDirection::Bidirectional ? 2 : 1;
  r.layout = ctx.attrInt("layout", 0);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  r.x = ctx.value(0);
  if (r.layout == 1)
    r.x = transposeTensor(b, loc, r.x, {1, 0, 2});
  auto xs = cast<RankedTensorType>(r.x.getType()).getShape();
  if (xs.size() != 3) {
    ctx.error() << "expects X of rank 3";
    return failure();
  }
  r.seq = xs[0];
  r.batch = xs[1];
  r.hidden = ctx.attrInt("hidden_size", 0);
  if (r.hidden <= 0 && ctx.rank(2) == 3)
    r.hidden = ctx.shape(2)[2];
  if (ctx.shape(1) != std::vector<int64_t>{r.dirs, gates * r.hidden, xs[2]} ||
      ctx.shape(2) != std::vector<int64_t>{r.dirs, gates * r.hidden, r.hidden}) {
    ctx.error() << "W " << shapeStr(ctx.shape(1)) << " and R "
                << shapeStr(ctx.shape(2)) << " do not match hidden_size "
                << r.hidden;
    return failure();
  }
  if (ctx.hasInput(4)) {
    const io::HostTensor *lens = ctx.knownValue(4);
    if (!lens) {
      ctx.error() << "sequence_lens must be known at compile time";
      return failure();
    }
    for (int64_t l : hostToInts(*lens))
      if (l != r.seq) {
        ctx.error() << "sequence_lens shorter than the sequence are not "
                       "supported";
        return failure();
      }
  }
  Type elem = ctx.elementType(ctx.dtype(0));
  r.bias = ctx.hasInput(3) ? ctx.value(3)
                           : filledTensor(b, loc, {r.dirs, biasBlocks * r.hidden},
                                          elem, 0);
  if (ctx.hasInput(5)) {
    r.h0 = ctx.value(5);
    if (r.layout == 1)
      r.h0 = transposeTensor(b, loc, r.h0, {1, 0, 2});
  } else {
    r.h0 = filledTensor(b, loc, {r.dirs, r.batch, r.hidden}, elem, 0);
  }
  return r;
}

/// Sets Y and Y_h, undoing the batch-major layout.
void setRecurrentOutputs(NodeContext &ctx, const RecurrentInputs &r, Value y,
                         Value yh) {
  if (r.layout == 1) {
    y = transposeTensor(ctx.b, ctx.loc, y, {2, 0, 1, 3});
    yh = transposeTensor(ctx.b, ctx.loc, yh, {1, 0, 2});
  }
  if (ctx.wantsOutput(0))
    ctx.setOutput(0, y, ctx.dtype(0));
  if (ctx.wantsOutput(1))
    ctx.setOutput(1, yh, ctx.dtype(0));
}

FloatAttr clipAttr(NodeContext &ctx) {
  return ctx.hasAttr("clip") ? ctx.b.getF32FloatAttr(ctx.attrFloat("clip", 0))
                             : FloatAttr();
}

LogicalResult buildGru(NodeContext &ctx) {
  for (const std::string &a : ctx.attrStrings("activations"))
    if (a != "Sigmoid" && a != "Tanh")
      return ctx.error() << "activation '" << a << "' is not supported";
  auto acts = ctx.attrStrings("activations");
  for (size_t i = 0; i < acts.size(); ++i)
    if (acts[i] != (i % 2 == 0 ? "Sigmoid" : "Tanh"))
      return ctx.error() << "activations must be Sigmoid, Tanh";
  auto r = recurrentInputs(ctx, 3, 6);
  if (failed(r))
    return failure();
  Type elem = ctx.elementType(ctx.dtype(0));
  auto t = [&](ArrayRef<int64_t> s) { return RankedTensorType::get(s, elem); };
  auto op = ctx.b.create<mlir::sparq::GruOp>(
      ctx.loc, TypeRange{t({r->seq, r->dirs, r->batch, r->hidden}),
                         t({r->dirs, r->batch, r->hidden})},
      r->x, ctx.value(1), ctx.value(2), r->bias, r->h0,
      mlir::sparq::RnnDirectionAttr::get(ctx.b.getContext(), r->direction),
      ctx.b.getI64IntegerAttr(r->hidden),
      ctx.attrInt("linear_before_reset", 0) ? ctx.b.getUnitAttr() : UnitAttr(),
      clipAttr(ctx));
  setRecurrentOutputs(ctx, *r, op.getY(), op.getYH());
  return success();
}

LogicalResult buildRnn(NodeContext &ctx) {
  auto acts = ctx.attrStrings("activations");
  std::string act = acts.empty() ? "Tanh" : acts[0];
  for (const std::string &a : acts)
    if (a != act)
      return ctx.error() << "different activations per direction are not "
                            "supported";
  mlir::sparq::RnnActivation activation;
  if (act == "Tanh")
    activation = mlir::sparq::RnnActivation::Tanh;
  else if (act == "Relu")
    activation = mlir::sparq::RnnActivation::Relu;
  else if (act == "Sigmoid")
    activation = mlir::sparq::RnnActivation::Sigmoid;
  else
    return ctx.error() << "activation '" << act << "' is not supported";
  auto r = recurrentInputs(ctx, 1, 2);
  if (failed(r))
    return failure();
  Type elem = ctx.elementType(ctx.dtype(0));
  auto t = [&](ArrayRef<int64_t> s) { return RankedTensorType::get(s, elem); };
  auto op = ctx.b.create<mlir::sparq::RnnOp>(
      ctx.loc, TypeRange{t({r->seq, r->dirs, r->batch, r->hidden}),
                         t({r->dirs, r->batch, r->hidden})},
      r->x, ctx.value(1), ctx.value(2), r->bias, r->h0,
      mlir::sparq::RnnDirectionAttr::get(ctx.b.getContext(), r->direction),
      ctx.b.getI64IntegerAttr(r->hidden),
      mlir::sparq::RnnActivationAttr::get(ctx.b.getContext(), activation),
      clipAttr(ctx));
  setRecurrentOutputs(ctx, *r, op.getY(), op.getYH());
  return success();
}

} // namespace

void onnx_import::registerRecurrentOps(OpTable &t) {
  t["LSTM"] = buildLstm;
  t["GRU"] = buildGru;
  t["RNN"] = buildRnn;
}
