//===- Recurrent.cpp - ONNX LSTM to sparq.lstm ----------------------------===//

#include "dialects/SparqDialect.h"
#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

/// What LSTM, GRU and RNN share: direction, layout, hidden size,
/// full-length sequences, zero-filled optional inputs.
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
  if (r.layout != 0 && r.layout != 1) {
    ctx.error() << "layout must be 0 or 1, got " << r.layout;
    return failure();
  }
  if (ctx.rank(0) != 3) {
    ctx.error() << "expects X of rank 3, got " << shapeStr(ctx.shape(0));
    return failure();
  }
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  r.x = ctx.value(0);
  if (r.layout == 1)
    r.x = transposeTensor(b, loc, r.x, {1, 0, 2});
  auto xs = cast<RankedTensorType>(r.x.getType()).getShape();
  r.seq = xs[0];
  r.batch = xs[1];
  r.hidden = ctx.attrInt("hidden_size", 0);
  if (r.hidden <= 0 && ctx.rank(2) == 3)
    r.hidden = ctx.shape(2)[2];
  // R is [dirs, gates * hidden, hidden]: a larger hidden_size cannot match.
  if (r.hidden <= 0 || r.hidden > kMaxElements) {
    ctx.error() << "hidden_size " << r.hidden << " is out of range";
    return failure();
  }
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

LogicalResult buildLstm(NodeContext &ctx) {
  auto acts = ctx.attrStrings("activations");
  for (size_t i = 0; i < acts.size(); ++i) {
    const char *expected = i % 3 == 0 ? "Sigmoid" : "Tanh";
    if (acts[i] != expected)
      return ctx.error() << "activation '" << acts[i]
                         << "' is not supported (only Sigmoid, Tanh, Tanh)";
  }
  if (ctx.attrInt("input_forget", 0))
    return ctx.error() << "input_forget=1 is not supported";
  auto r = recurrentInputs(ctx, 4, 8);
  if (failed(r))
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = ctx.elementType(ctx.dtype(0));
  Value c0 = filledTensor(b, loc, {r->dirs, r->batch, r->hidden}, elem, 0);
  if (ctx.hasInput(6)) {
    c0 = ctx.value(6);
    if (r->layout == 1)
      c0 = transposeTensor(b, loc, c0, {1, 0, 2});
  }
  Value p = ctx.hasInput(7)
                ? ctx.value(7)
                : filledTensor(b, loc, {r->dirs, 3 * r->hidden}, elem, 0);
  auto t = [&](ArrayRef<int64_t> s) { return RankedTensorType::get(s, elem); };
  auto op = b.create<mlir::sparq::LstmOp>(
      loc, TypeRange{t({r->seq, r->dirs, r->batch, r->hidden}),
                     t({r->dirs, r->batch, r->hidden}),
                     t({r->dirs, r->batch, r->hidden})},
      r->x, ctx.value(1), ctx.value(2), r->bias, r->h0, c0, p,
      mlir::sparq::RnnDirectionAttr::get(b.getContext(), r->direction),
      b.getI64IntegerAttr(r->hidden), clipAttr(ctx));
  setRecurrentOutputs(ctx, *r, op.getY(), op.getYH());
  if (ctx.wantsOutput(2))
    ctx.setOutput(2,
                  r->layout == 1 ? transposeTensor(b, loc, op.getYC(), {1, 0, 2})
                                 : op.getYC(),
                  ctx.dtype(0));
  return success();
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
