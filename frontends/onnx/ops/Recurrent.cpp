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

} // namespace

void onnx_import::registerRecurrentOps(OpTable &t) { t["LSTM"] = buildLstm; }
