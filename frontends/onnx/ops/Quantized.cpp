//===- Quantized.cpp - ONNX QDQ and integer ops ---------------------------===//
//
// Compressed models often arrive as QDQ graphs (QuantizeLinear /
// DequantizeLinear around float ops) or with integer ops (MatMulInteger,
// ConvInteger, QLinear*). Integer products accumulate in i32 after the zero
// points are subtracted; requantization rounds half to even and saturates.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

/// Reshapes a per-axis 1-D parameter to broadcast along `axis` of a tensor of
/// rank `rank`; scalars and [1] stay as they are.
Value alongAxis(OpBuilder &b, Location loc, Value v, int64_t axis,
                int64_t rank) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() == 0 || numElements(t.getShape()) == 1)
    return reshapeTensor(b, loc, v, {});
  std::vector<int64_t> shape(rank, 1);
  shape[axis] = t.getDimSize(0);
  return reshapeTensor(b, loc, v, shape);
}

std::pair<double, double> rangeOf(io::DType t) {
  switch (t) {
  case io::DType::U8:
    return {0, 255};
  case io::DType::I8:
    return {-128, 127};
  case io::DType::U16:
    return {0, 65535};
  case io::DType::I16:
    return {-32768, 32767};
  case io::DType::I32:
    return {-2147483648.0, 2147483647.0};
  default:
    return {0, 255};
  }
}

/// round-half-even(x) + zp, saturated to `to`, converted to `to` (x float).
Value saturateTo(OpBuilder &b, Location loc, Value x, Value zpF, io::DType to) {
  Type ft = x.getType();
  Value r = b.create<math::RoundEvenOp>(loc, x);
  if (zpF)
    r = b.create<arith::AddFOp>(loc, r, zpF);
  auto [lo, hi] = rangeOf(to);
  r = b.create<arith::MaximumFOp>(loc, r, scalarConstant(b, loc, ft, lo));
  r = b.create<arith::MinimumFOp>(loc, r, scalarConstant(b, loc, ft, hi));
  return castScalar(b, loc, r,
                    isFloat(io::DType::F32) && ft.isF64() ? io::DType::F64
                                                          : io::DType::F32,
                    to);
}

/// `v` (integer) minus its zero point, as i32; `zp` may be null.
Value minusZeroPoint(OpBuilder &b, Location loc, Value v, io::DType vt,
                     Value zp, io::DType zt) {
  auto shape = cast<RankedTensorType>(v.getType()).getShape();
  SmallVector<Value> ins = {v};
  if (zp)
    ins.push_back(zp);
  return buildElementwise(
      b, loc, ins, shape, b.getI32Type(),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value x = castScalar(nb, nl, a[0], vt, io::DType::I32);
        if (a.size() == 1)
          return x;
        Value z = castScalar(nb, nl, a[1], zt, io::DType::I32);
        return nb.create<arith::SubIOp>(nl, x, z).getResult();
      });
}

/// Whether quantization parameter input `i` (a scale or zero point) is one
/// value or, where `perAxis` > 0, a 1-D tensor of `perAxis` values; emits
/// the error naming `what` otherwise. An absent optional input passes. The
/// builders broadcast parameters into the data's shape, which must hold.
LogicalResult checkQuantParam(NodeContext &ctx, size_t i, const char *what,
                              int64_t perAxis = 0) {
  if (!ctx.hasInput(i))
    return success();
  const std::vector<int64_t> &s = ctx.shape(i);
  int64_t n = numElements(s);
  if (s.size() <= 1 &&
      (n == 1 || (perAxis > 0 && s.size() == 1 && s[0] == perAxis)))
    return success();
  auto diag = ctx.error() << what << " (input " << i << ") of shape "
                          << shapeStr(s) << " must be one value";
  if (perAxis > 0)
    diag << " or " << perAxis << " values";
  return diag;
}

/// The axis of per-axis scales (input 1); 0 when the scale is per tensor.
int64_t quantAxis(NodeContext &ctx, int64_t rank) {
  if (numElements(ctx.shape(1)) == 1)
    return 0;
  return normalizeAxis(ctx.attrInt("axis", 1), rank);
}

/// A QuantizeLinear's scale and zero point when they are constants per
/// tensor, the scale positive, and its output uint8 or int8: what the
/// integer forms below need.
struct OutputQuant {
  double scale;
  int64_t zero;
};
std::optional<OutputQuant> perTensorOutput(NodeContext &ctx,
                                           io::DType outType) {
  const io::HostTensor *ys = ctx.constant(1);
  const io::HostTensor *yz = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  if (!ys || numElements(ys->shape) != 1 ||
      (ctx.hasInput(2) && (!yz || numElements(yz->shape) != 1)) ||
      (outType != io::DType::U8 && outType != io::DType::I8))
    return std::nullopt;
  double scale = hostToDoubles(*ys)[0];
  if (!(scale > 0) || !std::isfinite(scale))
    return std::nullopt;
  return OutputQuant{scale, yz ? hostToInts(*yz)[0] : 0};
}

/// clamp(r, lo, hi) rounded half to even, as `to` (r f32).
Value clampRoundTo(OpBuilder &b, Location loc, Value r, double lo, double hi,
                   io::DType to) {
  Type f32 = b.getF32Type();
  r = b.create<arith::MaximumFOp>(loc, r, scalarConstant(b, loc, f32, lo));
  r = b.create<arith::MinimumFOp>(loc, r, scalarConstant(b, loc, f32, hi));
  r = b.create<math::RoundEvenOp>(loc, r);
  return castScalar(b, loc, r, io::DType::F32, to);
}

/// The bytes of round-half-even(clamp(float(acc - shift[f]) * scale[f] +
/// offset[f], lo, hi)) for int32 sums acc[N, F, H, W], as one elementwise
/// op marked sparq.requantize = {bounds, shift, scale, offset} (the host's
/// int8 convolution kernel runs it in its epilogue).
Value buildRequantize(NodeContext &ctx, Value acc,
                      const std::vector<int64_t> &shift,
                      const std::vector<double> &scale,
                      const std::vector<double> &offset, double lo, double hi,
                      io::DType outType) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t f = int64_t(scale.size());
  auto channels = [&](io::HostTensor t) {
    return materializeConstant(b, loc, t);
  };
  SmallVector<Value> ins = {
      acc, channels(hostFromInts(io::DType::I32, {1, f, 1, 1}, shift)),
      channels(hostFromDoubles(io::DType::F32, {1, f, 1, 1}, scale)),
      channels(hostFromDoubles(io::DType::F32, {1, f, 1, 1}, offset))};
  Type f32 = b.getF32Type();
  auto shape = cast<RankedTensorType>(acc.getType()).getShape();
  Value y =
      buildElementwise(b, loc, ins, shape, ctx.elementType(outType),
                       [&](OpBuilder &nb, Location nl, ValueRange a) {
                         Value v = nb.create<arith::SubIOp>(nl, a[0], a[1]);
                         Value r = nb.create<arith::MulFOp>(
                             nl, nb.create<arith::SIToFPOp>(nl, f32, v), a[2]);
                         r = nb.create<arith::AddFOp>(nl, r, a[3]);
                         return clampRoundTo(nb, nl, r, lo, hi, outType);
                       });
  // The kernel's parameters, whole: rewrites of the op may fold its
  // constant operands into the body.
  std::vector<int32_t> shift32(shift.begin(), shift.end());
  std::vector<float> scale32(scale.begin(), scale.end()),
      offset32(offset.begin(), offset.end());
  y.getDefiningOp()->setAttr(
      "sparq.requantize",
      b.getDictionaryAttr({
          b.getNamedAttr("bounds",
                         b.getDenseI64ArrayAttr({int64_t(lo), int64_t(hi)})),
          b.getNamedAttr("shift", b.getDenseI32ArrayAttr(shift32)),
          b.getNamedAttr("scale", b.getDenseF32ArrayAttr(scale32)),
          b.getNamedAttr("offset", b.getDenseF32ArrayAttr(offset32)),
      }));
  return y;
}

/// An int8 convolution's sums: acc = the linalg int8 x int8 -> int32
/// convolution (uint8 activations sign-flipped to int8; the padding holds
/// the zero point) and, per filter, shift = zero * sum w, so that
/// sum (x - xZero) * w = acc - shift.
struct IntConv {
  Value acc;
  std::vector<int64_t> shift;
  /// The sum of each filter's weights (shift = zero * wSum).
  std::vector<int64_t> wSum;
};

/// The IntConv of run-time uint8/int8 activations `x` (zero point `xZero`
/// per tensor) and constant int8 weights `wq` (zero points 0), with the
/// node's conv attributes.
FailureOr<IntConv> buildIntConv(NodeContext &ctx, Value x, io::DType xt,
                                int64_t xZero, const io::HostTensor &wq) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type i8 = b.getIntegerType(8), i32 = b.getI32Type();
  // uint8 activations become int8 by flipping the sign bit (x - 128), the
  // zero point with them: the convolution is then int8 x int8 (linalg's
  // signed semantics), exact in int32.
  if (xt == io::DType::U8) {
    x = buildElementwise(
        b, loc, ValueRange{x}, cast<RankedTensorType>(x.getType()).getShape(),
        i8, [](OpBuilder &nb, Location nl, ValueRange a) {
          Value m = nb.create<arith::ConstantIntOp>(nl, -128, 8);
          return nb.create<arith::XOrIOp>(nl, a[0], m).getResult();
        });
    xZero -= 128;
  }
  Value w = materializeConstant(b, loc, wq);
  // The padding holds the zero point: (x - zero) is 0 there.
  Value pad = b.create<arith::ConstantIntOp>(loc, xZero, 8);
  auto acc = buildConvCore(ctx, x, w, Value(), pad, i32);
  if (failed(acc))
    return failure();
  std::vector<int64_t> q = hostToInts(wq);
  int64_t f = wq.shape[0], perFilter = f ? int64_t(q.size()) / f : 0;
  IntConv conv{*acc, std::vector<int64_t>(f, 0), std::vector<int64_t>(f, 0)};
  for (int64_t fi = 0; fi < f; ++fi) {
    for (int64_t k = 0; k < perFilter; ++k)
      conv.wSum[fi] += q[fi * perFilter + k];
    conv.shift[fi] = xZero * conv.wSum[fi];
  }
  return conv;
}

/// The M rows of x[..., K] as the input of a 1x1 convolution, [1, K, 1, M]:
/// the int8 convolution kernel then multiplies every row in one GEMM whose
/// columns are the rows.
Value rowsAsColumns(NodeContext &ctx, Value x, int64_t m, int64_t k) {
  x = reshapeTensor(ctx.b, ctx.loc, x, {m, k});
  x = transposeTensor(ctx.b, ctx.loc, x, {1, 0});
  return reshapeTensor(ctx.b, ctx.loc, x, {1, k, 1, m});
}

/// The inverse, for a result [1, N, 1, M]: the rows [..., N] of `shape`.
Value columnsAsRows(NodeContext &ctx, Value y, ArrayRef<int64_t> shape) {
  int64_t n = shape.back(), m = numElements(shape) / std::max<int64_t>(n, 1);
  y = reshapeTensor(ctx.b, ctx.loc, y, {n, m});
  y = transposeTensor(ctx.b, ctx.loc, y, {1, 0});
  return reshapeTensor(ctx.b, ctx.loc, y, shape);
}

/// The shape of a product of input 0's rows [..., K] with N columns:
/// [..., N].
std::vector<int64_t> productRows(NodeContext &ctx, int64_t n) {
  std::vector<int64_t> rows(ctx.shape(0).begin(), ctx.shape(0).end() - 1);
  rows.push_back(n);
  return rows;
}

/// The IntConv of run-time uint8/int8 rows x[..., K] (zero point `xZero`
/// per tensor) times constant int8 weights `wt` [N, K] (zero points 0): a
/// 1x1 convolution over the rows, acc [1, N, 1, M].
FailureOr<IntConv> buildIntMatmul(NodeContext &ctx, Value x, io::DType xt,
                                  int64_t xZero, io::HostTensor wt) {
  auto xs = cast<RankedTensorType>(x.getType()).getShape();
  int64_t n = wt.shape[0], k = wt.shape[1];
  int64_t m = numElements(xs) / std::max<int64_t>(k, 1);
  wt.shape = {n, k, 1, 1};
  return buildIntConv(ctx, rowsAsColumns(ctx, x, m, k), xt, xZero, wt);
}

/// float(acc - shift[f]) * scale[f] (+ bias[f]) for int32 sums acc[N, F,
/// H, W]; `bias` is null or [1, F, 1, 1].
Value sumsToFloat(NodeContext &ctx, Value acc,
                  const std::vector<int64_t> &shift,
                  const std::vector<double> &scale, Value bias) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t f = int64_t(shift.size());
  std::vector<double> scale32(f);
  for (int64_t fi = 0; fi < f; ++fi)
    scale32[fi] = double(float(scale[fi]));
  SmallVector<Value> ins = {
      acc,
      materializeConstant(b, loc,
                          hostFromInts(io::DType::I32, {1, f, 1, 1}, shift)),
      materializeConstant(
          b, loc, hostFromDoubles(io::DType::F32, {1, f, 1, 1}, scale32))};
  if (bias)
    ins.push_back(bias);
  Type f32 = b.getF32Type();
  auto shape = cast<RankedTensorType>(acc.getType()).getShape();
  return buildElementwise(
      b, loc, ins, shape, f32, [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value v = nb.create<arith::SubIOp>(nl, a[0], a[1]);
        Value r = nb.create<arith::MulFOp>(
            nl, nb.create<arith::SIToFPOp>(nl, f32, v), a[2]);
        if (a.size() > 3)
          r = nb.create<arith::AddFOp>(nl, r, a[3]);
        return r;
      });
}

/// The report's line for int8 weights with `scales` scales.
IntegerWeight integerWeightReport(const io::HostTensor &wq, int64_t scales,
                                  const char *form) {
  IntegerWeight report;
  report.shape = wq.shape;
  report.format =
      std::string(scales == 1 ? "int8 (" : "int8/ch (") + form + ")";
  std::vector<int64_t> q = hostToInts(wq);
  report.elements = int64_t(q.size());
  for (int64_t v : q)
    report.nonzeros += v != 0;
  report.bytes = report.elements + 4 * scales; // the codes and the scales
  return report;
}

/// Whether `t` holds only zeros (an absent zero point is zero).
bool allZero(const io::HostTensor *t) {
  if (!t)
    return true;
  for (int64_t z : hostToInts(*t))
    if (z != 0)
      return false;
  return true;
}

/// QuantizeLinear of a convolution's integer sums (GraphValue::IntegerSums),
/// per tensor with constant scale and zero point, to uint8 or int8: one
/// elementwise op from the sums to the bytes, marked sparq.requantize =
/// [lo, hi] so that the host's int8 convolution kernel runs it in its
/// epilogue. y = round-half-even(clamp(float(acc - shift) * (scale / ys) +
/// (bias / ys + zp), lo, hi)); a Relu before raises lo to the zero point
/// (quantizing is monotonic and maps 0 to the zero point). False when the
/// node is not of that form.
bool requantizeSums(NodeContext &ctx, io::DType outType) {
  const GraphValue::IntegerSums *sums = ctx.input(0).integerSums.get();
  auto out = perTensorOutput(ctx, outType);
  if (!sums || !out)
    return false;
  double yScale = out->scale;
  int64_t zero = out->zero;
  auto [lo, hi] = rangeOf(outType);
  if (sums->relu)
    lo = std::max(lo, double(zero));
  int64_t f = int64_t(sums->scale.size());
  std::vector<double> scale(f), offset(f);
  for (int64_t c = 0; c < f; ++c) {
    scale[c] = double(float(sums->scale[c] / yScale));
    offset[c] = double(float(sums->bias[c] / yScale + double(zero)));
  }
  Value y = buildRequantize(ctx, sums->acc, sums->shift, scale, offset, lo, hi,
                            outType);
  if (!sums->rowsShape.empty())
    y = columnsAsRows(ctx, y, sums->rowsShape);
  ctx.setOutput(0, y, outType);
  return true;
}

/// QuantizeLinear of an Add of two dequantized activations
/// (GraphValue::IntegerAdd), per tensor with constant scale and zero point,
/// to uint8 or int8: one elementwise op on the integers, marked
/// sparq.qadd so that a host kernel runs it. y = round-half-even(clamp(
/// float(a - za) * (sa / sy) + float(b - zb) * (sb / sy) + zy, lo, hi)); a
/// Relu before raises lo to zy. False when the node is not of that form.
bool addIntegers(NodeContext &ctx, io::DType outType) {
  const GraphValue::IntegerAdd *add = ctx.input(0).integerAdd.get();
  auto out = perTensorOutput(ctx, outType);
  if (!add || !out)
    return false;
  double yScale = out->scale;
  int64_t yZero = out->zero;
  auto [lo, hi] = rangeOf(outType);
  if (add->relu)
    lo = std::max(lo, double(yZero));
  struct Term {
    Value v;
    io::DType t;
    int64_t zero;
    float scale;
  };
  auto termOf = [&](const GraphValue::Dequantized &d) {
    return Term{d.source->value, d.source->dtype,
                d.zeroPoint ? hostToInts(*d.zeroPoint)[0] : 0,
                float(hostToDoubles(*d.scale)[0] / yScale)};
  };
  Term ta = termOf(*add->a), tb = termOf(*add->b);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type f32 = b.getF32Type();
  auto term = [&](OpBuilder &nb, Location nl, Value x, const Term &t) {
    Value v = castScalar(nb, nl, x, t.t, io::DType::I32);
    v = nb.create<arith::SubIOp>(
        nl, v, nb.create<arith::ConstantOp>(nl, nb.getI32IntegerAttr(t.zero)));
    return nb
        .create<arith::MulFOp>(nl, nb.create<arith::SIToFPOp>(nl, f32, v),
                               scalarConstant(nb, nl, f32, t.scale))
        .getResult();
  };
  Value y = buildElementwise(
      b, loc, ValueRange{ta.v, tb.v}, ctx.shape(0), ctx.elementType(outType),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value r = nb.create<arith::AddFOp>(nl, term(nb, nl, a[0], ta),
                                           term(nb, nl, a[1], tb));
        r = nb.create<arith::AddFOp>(nl, r, scalarConstant(nb, nl, f32, yZero));
        return clampRoundTo(nb, nl, r, lo, hi, outType);
      });
  // What the kernel needs, in the order of its scalar arguments.
  y.getDefiningOp()->setAttr(
      "sparq.qadd",
      b.getDictionaryAttr({
          b.getNamedAttr("zeros", b.getDenseI64ArrayAttr({ta.zero, tb.zero})),
          b.getNamedAttr("unsigned",
                         b.getDenseI64ArrayAttr(
                             {ta.t == io::DType::U8, tb.t == io::DType::U8})),
          b.getNamedAttr("scales", b.getDenseF32ArrayAttr(
                                       {ta.scale, tb.scale, float(yZero)})),
          b.getNamedAttr("bounds",
                         b.getDenseI64ArrayAttr({int64_t(lo), int64_t(hi)})),
      }));
  ctx.setOutput(0, y, outType);
  return true;
}

/// QuantizeLinear(DequantizeLinear(x)) with the same scale, zero point and
/// type is x (rounding (x - z) * s / s recovers x - z exactly: the error is
/// far below half a step). True if so, with the output set to x.
bool quantizesBack(NodeContext &ctx, io::DType outType) {
  const GraphValue::Dequantized *d = ctx.input(0).dequantized.get();
  const io::HostTensor *ys = ctx.constant(1);
  const io::HostTensor *yz = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  if (!d || !d->source->value || d->source->dtype != outType || !ys ||
      (ctx.hasInput(2) && !yz) || numElements(ys->shape) != 1 ||
      numElements(d->scale->shape) != 1)
    return false;
  auto zeroOf = [](const io::HostTensor *z) {
    return z && numElements(z->shape) == 1 ? hostToInts(*z)[0] : 0;
  };
  if ((yz && numElements(yz->shape) != 1) ||
      (d->zeroPoint && numElements(d->zeroPoint->shape) != 1) ||
      float(hostToDoubles(*ys)[0]) != float(hostToDoubles(*d->scale)[0]) ||
      zeroOf(yz) != zeroOf(d->zeroPoint.get()))
    return false;
  ctx.setOutput(0, d->source->value, outType);
  return true;
}

LogicalResult buildQuantizeLinear(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = quantAxis(ctx, rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  int64_t channels = rank ? ctx.shape(0)[axis] : 0;
  if (failed(checkQuantParam(ctx, 1, "y_scale", channels)) ||
      failed(checkQuantParam(ctx, 2, "y_zero_point", channels)))
    return failure();
  io::DType outType = ctx.hasInput(2) ? ctx.dtype(2) : io::DType::U8;
  if (outType != io::DType::U8 && outType != io::DType::I8 &&
      outType != io::DType::U16 && outType != io::DType::I16)
    return ctx.error() << "unsupported output type " << io::dtypeName(outType);
  if (requantizeSums(ctx, outType) || addIntegers(ctx, outType) ||
      quantizesBack(ctx, outType))
    return success();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  io::DType xt = ctx.dtype(0);
  SmallVector<Value> ins = {ctx.value(0),
                            alongAxis(b, loc, ctx.value(1), axis, rank)};
  if (ctx.hasInput(2))
    ins.push_back(alongAxis(b, loc, ctx.value(2), axis, rank));
  io::DType st = ctx.dtype(1);
  Value y = buildElementwise(
      b, loc, ins, ctx.shape(0), ctx.elementType(outType),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value x = castScalar(nb, nl, a[0], xt, io::DType::F32);
        Value s = castScalar(nb, nl, a[1], st, io::DType::F32);
        Value q = nb.create<arith::DivFOp>(nl, x, s);
        Value zp = a.size() > 2
                       ? castScalar(nb, nl, a[2], outType, io::DType::F32)
                       : Value();
        return saturateTo(nb, nl, q, zp, outType);
      });
  ctx.setOutput(0, y, outType);
  return success();
}

/// DequantizeLinear of a constant of the model (a QDQ model's weights):
/// computed here, as the generated code would (float(x - zp) * scale in
/// f32), so that it costs nothing at run time, and a consumer that does
/// not run on the integers (a MatMul) sees the constant, which
/// sparq-detect-compression then stores as the int8 it is.
bool foldDequantize(NodeContext &ctx, int64_t axis) {
  const io::HostTensor *x = ctx.constant(0), *scale = ctx.constant(1);
  const io::HostTensor *zero = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  if (!x || !scale || (ctx.hasInput(2) && !zero) ||
      scale->dtype != io::DType::F32)
    return false;
  std::vector<int64_t> q = hostToInts(*x);
  std::vector<double> s = hostToDoubles(*scale);
  std::vector<int64_t> z = zero ? hostToInts(*zero) : std::vector<int64_t>{0};
  const std::vector<int64_t> &shape = ctx.shape(0);
  int64_t inner = 1;
  for (size_t i = axis + 1; i < shape.size(); ++i)
    inner *= shape[i];
  int64_t dim = shape.empty() ? 1 : shape[axis];
  std::vector<double> y(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    int64_t c = s.size() == 1 ? 0 : int64_t(i) / inner % dim;
    float v = float(q[i] - z[z.size() == 1 ? 0 : c]);
    y[i] = double(v * float(s[s.size() == 1 ? 0 : c]));
  }
  ctx.setConstant(0, hostFromDoubles(io::DType::F32, shape, y));
  return true;
}

LogicalResult buildDequantizeLinear(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = quantAxis(ctx, rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  int64_t channels = rank ? ctx.shape(0)[axis] : 0;
  if (failed(checkQuantParam(ctx, 1, "x_scale", channels)) ||
      failed(checkQuantParam(ctx, 2, "x_zero_point", channels)))
    return failure();
  if (foldDequantize(ctx, axis))
    return success();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  io::DType xt = ctx.dtype(0), st = ctx.dtype(1);
  SmallVector<Value> ins = {ctx.value(0),
                            alongAxis(b, loc, ctx.value(1), axis, rank)};
  if (ctx.hasInput(2))
    ins.push_back(alongAxis(b, loc, ctx.value(2), axis, rank));
  Value y = buildElementwise(
      b, loc, ins, ctx.shape(0), ctx.elementType(st),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        // (x - zp) in i32 is exact for every 8/16-bit input.
        Value x = castScalar(nb, nl, a[0], xt, io::DType::I32);
        if (a.size() > 2)
          x = nb.create<arith::SubIOp>(
              nl, x, castScalar(nb, nl, a[2], xt, io::DType::I32));
        Value xf = castScalar(nb, nl, x, io::DType::I32, st);
        return nb.create<arith::MulFOp>(nl, xf, a[1]).getResult();
      });
  ctx.setOutput(0, y, st);
  return success();
}

LogicalResult buildDynamicQuantizeLinear(NodeContext &ctx) {
  if (ctx.dtype(0) != io::DType::F32)
    return ctx.error() << "expects a float input";
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  SmallVector<int64_t> all;
  for (int64_t i = 0; i < ctx.rank(0); ++i)
    all.push_back(i);
  auto maxF = [](OpBuilder &nb, Location nl, Value e, Value acc) {
    return nb.create<arith::MaximumFOp>(nl, e, acc).getResult();
  };
  auto minF = [](OpBuilder &nb, Location nl, Value e, Value acc) {
    return nb.create<arith::MinimumFOp>(nl, e, acc).getResult();
  };
  // The range always includes 0 so that 0 is exactly representable.
  Value mx = buildReduction(b, loc, x, all, false, 0, maxF);
  Value mn = buildReduction(b, loc, x, all, false, 0, minF);
  Type f32 = b.getF32Type();
  Value scale = buildElementwise(
      b, loc, ValueRange{mx, mn}, {}, f32,
      [](OpBuilder &nb, Location nl, ValueRange a) {
        Value d = nb.create<arith::SubFOp>(nl, a[0], a[1]);
        return nb
            .create<arith::DivFOp>(nl, d,
                                   scalarConstant(nb, nl, d.getType(), 255))
            .getResult();
      });
  Value zp =
      buildElementwise(b, loc, ValueRange{mn, scale}, {}, b.getIntegerType(8),
                       [](OpBuilder &nb, Location nl, ValueRange a) {
                         Value q = nb.create<arith::DivFOp>(
                             nl, nb.create<arith::NegFOp>(nl, a[0]), a[1]);
                         return saturateTo(nb, nl, q, Value(), io::DType::U8);
                       });
  Value y = buildElementwise(
      b, loc, ValueRange{x, scale, zp}, ctx.shape(0), b.getIntegerType(8),
      [](OpBuilder &nb, Location nl, ValueRange a) {
        Value q = nb.create<arith::DivFOp>(nl, a[0], a[1]);
        Value z = castScalar(nb, nl, a[2], io::DType::U8, io::DType::F32);
        return saturateTo(nb, nl, q, z, io::DType::U8);
      });
  ctx.setOutput(0, y, io::DType::U8);
  if (ctx.wantsOutput(1))
    ctx.setOutput(1, scale, io::DType::F32);
  if (ctx.wantsOutput(2))
    ctx.setOutput(2, zp, io::DType::U8);
  return success();
}

/// (A - a_zp) @ (B - b_zp) in i32. a_zp may be per row of A, b_zp per
/// column of B.
FailureOr<Value> integerMatmul(NodeContext &ctx, size_t a, size_t azp,
                               size_t bIdx, size_t bzp) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  if (ctx.rank(a) < 1 || ctx.rank(bIdx) < 1)
    return ctx.error() << "expects A and B of rank >= 1";
  // Zero points per row of A and per column of B, where they have those.
  int64_t rows = ctx.rank(a) >= 2 ? ctx.shape(a)[ctx.rank(a) - 2] : 0;
  int64_t cols = ctx.rank(bIdx) >= 2 ? ctx.shape(bIdx).back() : 0;
  if (failed(checkQuantParam(ctx, azp, "a_zero_point", rows)) ||
      failed(checkQuantParam(ctx, bzp, "b_zero_point", cols)))
    return failure();
  Value av = ctx.value(a), bv = ctx.value(bIdx);
  Value az, bz;
  if (ctx.hasInput(azp)) {
    az = ctx.value(azp);
    if (ctx.rank(azp) == 1 && ctx.shape(azp)[0] > 1)
      az = reshapeTensor(b, loc, az, {ctx.shape(azp)[0], 1});
  }
  if (ctx.hasInput(bzp))
    bz = ctx.value(bzp);
  Value a32 = minusZeroPoint(b, loc, av, ctx.dtype(a), az,
                             az ? ctx.dtype(azp) : ctx.dtype(a));
  Value b32 = minusZeroPoint(b, loc, bv, ctx.dtype(bIdx), bz,
                             bz ? ctx.dtype(bzp) : ctx.dtype(bIdx));
  return buildNumpyMatmul(ctx, a32, b32);
}

/// The constant int8 matrix B (input `bAt`, [K, N], zero points 0 at
/// `bZeroAt`) that run-time uint8/int8 rows A (input 0, [..., K]) multiply,
/// for the int8 kernel; null when the node is not of that form.
const io::HostTensor *kernelWeights(NodeContext &ctx, size_t bAt,
                                    size_t bZeroAt) {
  const io::HostTensor *wq = ctx.constant(bAt);
  io::DType xt = ctx.dtype(0);
  if ((xt != io::DType::U8 && xt != io::DType::I8) || ctx.constant(0) ||
      ctx.rank(0) < 1 || numElements(ctx.shape(0)) < 1 || !wq ||
      wq->dtype != io::DType::I8 || wq->shape.size() != 2 ||
      wq->shape[0] != ctx.shape(0).back() || wq->shape[1] < 1 ||
      (ctx.hasInput(bZeroAt) &&
       (!ctx.constant(bZeroAt) || !allZero(ctx.constant(bZeroAt)))))
    return nullptr;
  return wq;
}

/// MatMulInteger on the int8 kernel: B a constant int8 matrix with zero
/// points 0, A's zero point one value (constant, or computed at run time
/// as DynamicQuantizeLinear makes it). False when not of that form.
FailureOr<bool> matMulIntegerOnKernel(NodeContext &ctx) {
  const io::HostTensor *wq = kernelWeights(ctx, 1, 3);
  io::DType xt = ctx.dtype(0);
  if (!wq || (ctx.hasInput(2) &&
              (numElements(ctx.shape(2)) != 1 || ctx.dtype(2) != xt)))
    return false;
  const io::HostTensor *az = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  bool runTimeZero = ctx.hasInput(2) && !az;
  auto conv = buildIntMatmul(ctx, ctx.value(0), xt, az ? hostToInts(*az)[0] : 0,
                             transposed2d(*wq));
  if (failed(conv))
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t n = wq->shape[1];
  auto column = [&](const std::vector<int64_t> &v) {
    return materializeConstant(b, loc,
                               hostFromInts(io::DType::I32, {1, n, 1, 1}, v));
  };
  // acc - shift, less zero * sum w where the zero point comes at run time.
  SmallVector<Value> ins = {conv->acc, column(conv->shift)};
  if (runTimeZero) {
    ins.push_back(reshapeTensor(b, loc, ctx.value(2), {}));
    ins.push_back(column(conv->wSum));
  }
  auto shape = cast<RankedTensorType>(conv->acc.getType()).getShape();
  Value y = buildElementwise(
      b, loc, ins, shape, b.getI32Type(),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value v = nb.create<arith::SubIOp>(nl, a[0], a[1]);
        if (a.size() > 2) {
          Value z = castScalar(nb, nl, a[2], xt, io::DType::I32);
          v = nb.create<arith::SubIOp>(nl, v,
                                       nb.create<arith::MulIOp>(nl, z, a[3]));
        }
        return v;
      });
  std::vector<int64_t> rows = productRows(ctx, n);
  ctx.setOutput(0, columnsAsRows(ctx, y, rows), io::DType::I32);
  ctx.integerWeight = integerWeightReport(*wq, 1, "MatMulInteger");
  return true;
}

LogicalResult buildMatMulInteger(NodeContext &ctx) {
  auto onKernel = matMulIntegerOnKernel(ctx);
  if (failed(onKernel))
    return failure();
  if (*onKernel)
    return success();
  auto r = integerMatmul(ctx, 0, 2, 1, 3);
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, io::DType::I32);
  return success();
}

/// The integer convolutions' common form, on the int8 kernel: activations
/// `x` (input 0) uint8/int8 at run time with a scalar constant zero point
/// (input `xZeroAt`), weights (input `wAt`) a constant int8 tensor with zero
/// points 0 (input `wZeroAt`), 2-D, groups on the kernels
/// (convGroupsOnKernels). The IntConv, or nothing when
/// the node is not of that form.
std::optional<IntConv> intConvOf(NodeContext &ctx, size_t xZeroAt, size_t wAt,
                                 size_t wZeroAt, FailureOr<IntConv> &built) {
  const io::HostTensor *wq = ctx.constant(wAt);
  const io::HostTensor *xz =
      ctx.hasInput(xZeroAt) ? ctx.constant(xZeroAt) : nullptr;
  io::DType xt = ctx.dtype(0);
  if ((xt != io::DType::U8 && xt != io::DType::I8) || ctx.constant(0) ||
      ctx.rank(0) != 4 || !wq || wq->dtype != io::DType::I8 ||
      wq->shape.size() != 4 || !convGroupsOnKernels(ctx, wAt) ||
      (ctx.hasInput(xZeroAt) && (!xz || numElements(xz->shape) != 1)) ||
      (ctx.hasInput(wZeroAt) && !ctx.constant(wZeroAt)) ||
      !allZero(ctx.hasInput(wZeroAt) ? ctx.constant(wZeroAt) : nullptr))
    return std::nullopt;
  built = buildIntConv(ctx, ctx.value(0), xt, xz ? hostToInts(*xz)[0] : 0, *wq);
  if (failed(built))
    return std::nullopt;
  return *built;
}

LogicalResult buildConvInteger(NodeContext &ctx) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  // x, w, x_zero_point, w_zero_point: on the int8 kernel when it can.
  FailureOr<IntConv> built = IntConv{};
  if (auto conv = intConvOf(ctx, 2, 1, 3, built)) {
    int64_t f = int64_t(conv->shift.size());
    Value shift = reshapeTensor(
        b, loc,
        materializeConstant(b, loc,
                            hostFromInts(io::DType::I32, {f}, conv->shift)),
        {1, f, 1, 1});
    auto shape = cast<RankedTensorType>(conv->acc.getType()).getShape();
    ctx.setOutput(
        0,
        buildElementwise(
            b, loc, ValueRange{conv->acc, shift}, shape, b.getI32Type(),
            [](OpBuilder &nb, Location nl, ValueRange a) {
              return nb.create<arith::SubIOp>(nl, a[0], a[1]).getResult();
            }),
        io::DType::I32);
    ctx.integerWeight = integerWeightReport(*ctx.constant(1), 1, "ConvInteger");
    return success();
  }
  if (failed(built))
    return failure();
  if (ctx.rank(1) < 1 || failed(checkQuantParam(ctx, 2, "x_zero_point")) ||
      failed(checkQuantParam(ctx, 3, "w_zero_point", ctx.shape(1)[0])))
    return ctx.rank(1) < 1 ? ctx.error() << "expects a weight of rank >= 1"
                           : failure();
  Value xz, wz;
  if (ctx.hasInput(2))
    xz = ctx.value(2);
  if (ctx.hasInput(3)) {
    wz = ctx.value(3);
    if (ctx.rank(3) == 1 && ctx.shape(3)[0] > 1)
      wz = reshapeTensor(b, loc, wz, {ctx.shape(3)[0], 1, 1, 1});
  }
  // Subtracting the zero point first makes zero padding exact.
  Value x = minusZeroPoint(b, loc, ctx.value(0), ctx.dtype(0), xz,
                           xz ? ctx.dtype(2) : ctx.dtype(0));
  Value w = minusZeroPoint(b, loc, ctx.value(1), ctx.dtype(1), wz,
                           wz ? ctx.dtype(3) : ctx.dtype(1));
  auto r = buildConvCore(ctx, x, w, Value());
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, io::DType::I32);
  return success();
}

/// acc (i32) * (s_a * s_b / s_y) requantized to y's type. `scales` are
/// broadcastable f32 tensors multiplied together, `yScale` divides.
Value requantize(NodeContext &ctx, Value acc, ArrayRef<Value> scales,
                 Value yScale, Value yZp, io::DType yt) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  auto shape = cast<RankedTensorType>(acc.getType()).getShape();
  SmallVector<Value> ins = {acc};
  ins.append(scales.begin(), scales.end());
  ins.push_back(yScale);
  if (yZp)
    ins.push_back(yZp);
  size_t ns = scales.size();
  return buildElementwise(
      b, loc, ins, shape, ctx.elementType(yt),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value v = castScalar(nb, nl, a[0], io::DType::I32, io::DType::F32);
        for (size_t i = 0; i < ns; ++i)
          v = nb.create<arith::MulFOp>(nl, v, a[1 + i]);
        v = nb.create<arith::DivFOp>(nl, v, a[1 + ns]);
        Value z =
            yZp ? castScalar(nb, nl, a[2 + ns], yt, io::DType::F32) : Value();
        return saturateTo(nb, nl, v, z, yt);
      });
}

/// QLinearMatMul on the int8 kernel, requantizing in its epilogue: B a
/// constant int8 matrix with zero points 0, its scale per tensor or column,
/// A's and y's scales and zero points constants per tensor. False when the
/// node is not of that form.
FailureOr<bool> qlinearMatMulOnKernel(NodeContext &ctx) {
  const io::HostTensor *wq = kernelWeights(ctx, 3, 5);
  const io::HostTensor *as = ctx.constant(1), *az = ctx.constant(2),
                       *bs = ctx.constant(4), *ys = ctx.constant(6),
                       *yz = ctx.constant(7);
  io::DType yt = ctx.dtype(7);
  if (!wq || !as || !az || !bs || !ys || !yz ||
      (yt != io::DType::U8 && yt != io::DType::I8) ||
      numElements(as->shape) != 1 || numElements(az->shape) != 1 ||
      numElements(ys->shape) != 1 || numElements(yz->shape) != 1)
    return false;
  int64_t n = wq->shape[1], ns = numElements(bs->shape);
  double aScale = hostToDoubles(*as)[0], yScale = hostToDoubles(*ys)[0];
  if ((ns != 1 && ns != n) || !(yScale > 0) || !std::isfinite(yScale))
    return false;
  auto conv = buildIntMatmul(ctx, ctx.value(0), ctx.dtype(0),
                             hostToInts(*az)[0], transposed2d(*wq));
  if (failed(conv))
    return failure();
  std::vector<double> bScale = hostToDoubles(*bs), scale(n), offset(n);
  for (int64_t j = 0; j < n; ++j) {
    scale[j] = double(float(aScale * bScale[ns == 1 ? 0 : j] / yScale));
    offset[j] = double(hostToInts(*yz)[0]);
  }
  auto [lo, hi] = rangeOf(yt);
  std::vector<int64_t> rows = productRows(ctx, n);
  Value y =
      buildRequantize(ctx, conv->acc, conv->shift, scale, offset, lo, hi, yt);
  ctx.setOutput(0, columnsAsRows(ctx, y, rows), yt);
  ctx.integerWeight = integerWeightReport(*wq, ns, "QLinearMatMul");
  return true;
}

LogicalResult buildQLinearMatMul(NodeContext &ctx) {
  // a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
  auto onKernel = qlinearMatMulOnKernel(ctx);
  if (failed(onKernel))
    return failure();
  if (*onKernel)
    return success();
  auto acc = integerMatmul(ctx, 0, 2, 3, 5);
  if (failed(acc))
    return failure();
  int64_t rows = ctx.rank(0) >= 2 ? ctx.shape(0)[ctx.rank(0) - 2] : 0;
  if (failed(checkQuantParam(ctx, 1, "a_scale", rows)) ||
      failed(checkQuantParam(ctx, 4, "b_scale",
                             ctx.rank(3) >= 2 ? ctx.shape(3).back() : 0)) ||
      failed(checkQuantParam(ctx, 6, "y_scale")) ||
      failed(checkQuantParam(ctx, 7, "y_zero_point")))
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value as = ctx.value(1);
  if (ctx.rank(1) == 1 && ctx.shape(1)[0] > 1)
    as = reshapeTensor(b, loc, as, {ctx.shape(1)[0], 1});
  // The scales broadcast to the product (a 1-D a_scale over the rows of a
  // product of vectors, a scalar, would not).
  auto accType = cast<RankedTensorType>(acc->getType());
  std::vector<int64_t> accShape(accType.getShape().begin(),
                                accType.getShape().end());
  Value params[] = {as, ctx.value(4), ctx.value(6), ctx.value(7)};
  const char *names[] = {"a_scale", "b_scale", "y_scale", "y_zero_point"};
  for (size_t i = 0; i < 4; ++i) {
    auto t = cast<RankedTensorType>(params[i].getType());
    std::vector<int64_t> ps(t.getShape().begin(), t.getShape().end()), bc;
    // One value of any rank is a scalar.
    if (numElements(ps) == 1 && ps.size() > accShape.size()) {
      params[i] = reshapeTensor(b, loc, params[i], {});
      ps.clear();
    }
    if (!broadcastShapes({ps, accShape}, bc) || bc != accShape)
      return ctx.error() << names[i] << " of shape " << shapeStr(ps)
                         << " does not broadcast to the product's shape "
                         << shapeStr(accShape);
  }
  io::DType yt = ctx.dtype(7);
  ctx.setOutput(
      0,
      requantize(ctx, *acc, {params[0], params[1]}, params[2], params[3], yt),
      yt);
  return success();
}

/// QLinearConv on the int8 kernel, requantizing in its epilogue: constant
/// scales (x and y per tensor, w per tensor or channel), int32 bias folded
/// into the shift. False when the node is not of that form.
FailureOr<bool> qlinearConvOnKernel(NodeContext &ctx) {
  const io::HostTensor *xs = ctx.constant(1), *ws = ctx.constant(4),
                       *ys = ctx.constant(6), *yz = ctx.constant(7),
                       *bias = ctx.hasInput(8) ? ctx.constant(8) : nullptr;
  io::DType yt = ctx.dtype(7);
  if (!xs || !ws || !ys || !yz || numElements(xs->shape) != 1 ||
      numElements(ys->shape) != 1 || numElements(yz->shape) != 1 ||
      (yt != io::DType::U8 && yt != io::DType::I8) ||
      (ctx.hasInput(8) && !bias) || !ctx.constant(3) ||
      ctx.constant(3)->shape.empty())
    return false;
  int64_t f = ctx.constant(3)->shape[0], ns = numElements(ws->shape);
  if ((ns != 1 && ns != f) || (bias && numElements(bias->shape) != f))
    return false;
  double xScale = hostToDoubles(*xs)[0], yScale = hostToDoubles(*ys)[0];
  if (!(yScale > 0) || !std::isfinite(yScale))
    return false;
  FailureOr<IntConv> built = IntConv{};
  auto conv = intConvOf(ctx, 2, 3, 5, built);
  if (!conv)
    return failed(built) ? FailureOr<bool>(failure()) : false;
  std::vector<double> wScale = hostToDoubles(*ws), scale(f), offset(f);
  std::vector<int64_t> b = bias ? hostToInts(*bias) : std::vector<int64_t>(f);
  std::vector<int64_t> shift = conv->shift;
  int64_t yZero = hostToInts(*yz)[0];
  for (int64_t fi = 0; fi < f; ++fi) {
    shift[fi] -= b[fi]; // acc - shift + bias
    scale[fi] = double(float(xScale * wScale[ns == 1 ? 0 : fi] / yScale));
    offset[fi] = double(yZero);
  }
  auto [lo, hi] = rangeOf(yt);
  ctx.setOutput(
      0, buildRequantize(ctx, conv->acc, shift, scale, offset, lo, hi, yt), yt);
  ctx.integerWeight = integerWeightReport(*ctx.constant(3), ns, "QLinearConv");
  return true;
}

LogicalResult buildQLinearConv(NodeContext &ctx) {
  // x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B
  auto onKernel = qlinearConvOnKernel(ctx);
  if (failed(onKernel))
    return failure();
  if (*onKernel)
    return success();
  if (ctx.rank(3) < 1)
    return ctx.error() << "expects a weight of rank >= 1";
  int64_t f = ctx.shape(3)[0];
  if (failed(checkQuantParam(ctx, 1, "x_scale")) ||
      failed(checkQuantParam(ctx, 2, "x_zero_point")) ||
      failed(checkQuantParam(ctx, 4, "w_scale", f)) ||
      failed(checkQuantParam(ctx, 5, "w_zero_point", f)) ||
      failed(checkQuantParam(ctx, 6, "y_scale")) ||
      failed(checkQuantParam(ctx, 7, "y_zero_point")))
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value wz = ctx.value(5);
  if (ctx.rank(5) == 1 && ctx.shape(5)[0] > 1) {
    // Per output channel: [F, 1, ...] of the weight's rank, whatever it is
    // (a malformed model's weight need not be 4-D).
    std::vector<int64_t> perChannel(ctx.rank(3), 1);
    perChannel[0] = ctx.shape(5)[0];
    wz = reshapeTensor(b, loc, wz, perChannel);
  }
  Value x = minusZeroPoint(b, loc, ctx.value(0), ctx.dtype(0), ctx.value(2),
                           ctx.dtype(2));
  Value w =
      minusZeroPoint(b, loc, ctx.value(3), ctx.dtype(3), wz, ctx.dtype(5));
  Value bias = ctx.hasInput(8) ? ctx.value(8) : Value();
  auto acc = buildConvCore(ctx, x, w, bias);
  if (failed(acc))
    return failure();
  int64_t rank = ctx.rank(0);
  Value ws = alongAxis(b, loc, ctx.value(4), 1, rank);
  io::DType yt = ctx.dtype(7);
  ctx.setOutput(
      0,
      requantize(ctx, *acc, {ctx.value(1), ws}, ctx.value(6), ctx.value(7), yt),
      yt);
  return success();
}

/// The values of a 1-D float tensor known at compile time: a constant of
/// the model, or the DequantizeLinear of one (a QDQ model's int32 bias,
/// dequantized per tensor or along its only axis).
std::optional<std::vector<double>> knownFloats(const GraphValue &v) {
  if (v.constant && !v.specialized)
    return hostToDoubles(*v.constant);
  const GraphValue::Dequantized *d = v.dequantized.get();
  if (!d || !d->source->constant || d->source->specialized ||
      d->source->shape.size() != 1)
    return std::nullopt;
  std::vector<int64_t> q = hostToInts(*d->source->constant);
  std::vector<double> scale = hostToDoubles(*d->scale);
  std::vector<int64_t> zero =
      d->zeroPoint ? hostToInts(*d->zeroPoint) : std::vector<int64_t>{0};
  if ((scale.size() != 1 && scale.size() != q.size()) ||
      (zero.size() != 1 && zero.size() != q.size()))
    return std::nullopt;
  std::vector<double> out(q.size());
  for (size_t i = 0; i < q.size(); ++i)
    out[i] = double(q[i] - zero[zero.size() == 1 ? 0 : i]) *
             scale[scale.size() == 1 ? 0 : i];
  return out;
}

} // namespace

const GraphValue::Dequantized *
onnx_import::perTensorDequantized(const GraphValue &v) {
  const GraphValue::Dequantized *d = v.dequantized.get();
  if (!d || !d->source->value || d->source->constant ||
      (d->source->dtype != io::DType::U8 &&
       d->source->dtype != io::DType::I8) ||
      d->scale->dtype != io::DType::F32 || numElements(d->scale->shape) != 1 ||
      (d->zeroPoint && numElements(d->zeroPoint->shape) != 1))
    return nullptr;
  double scale = hostToDoubles(*d->scale)[0];
  return scale > 0 && std::isfinite(scale) ? d : nullptr;
}

Value onnx_import::dequantizeLike(OpBuilder &b, Location loc, Value x,
                                  io::DType xt,
                                  const GraphValue::Dequantized &d) {
  io::DType st = io::DType::F32;
  Value scale =
      reshapeTensor(b, loc, materializeConstant(b, loc, *d.scale), {});
  SmallVector<Value> ins = {x, scale};
  if (d.zeroPoint)
    ins.push_back(
        reshapeTensor(b, loc, materializeConstant(b, loc, *d.zeroPoint), {}));
  auto shape = cast<RankedTensorType>(x.getType()).getShape();
  return buildElementwise(
      b, loc, ins, shape, b.getF32Type(),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value v = castScalar(nb, nl, a[0], xt, io::DType::I32);
        if (a.size() > 2)
          v = nb.create<arith::SubIOp>(
              nl, v, castScalar(nb, nl, a[2], xt, io::DType::I32));
        Value vf = castScalar(nb, nl, v, io::DType::I32, st);
        return nb.create<arith::MulFOp>(nl, vf, a[1]).getResult();
      });
}

FailureOr<bool> onnx_import::buildConvOnIntegers(NodeContext &ctx) {
  if (ctx.numInputs() < 2 || !ctx.hasInput(0) || !ctx.hasInput(1) ||
      ctx.rank(0) != 4 || ctx.rank(1) != 4 || !convGroupsOnKernels(ctx, 1))
    return false;
  const auto *xd = ctx.input(0).dequantized.get();
  const auto *wd = ctx.input(1).dequantized.get();
  if (!xd || !wd)
    return false;
  // Activations per tensor, uint8 or int8, computed at run time.
  io::DType xt = xd->source->dtype;
  if ((xt != io::DType::U8 && xt != io::DType::I8) || xd->source->constant ||
      numElements(xd->scale->shape) != 1 ||
      (xd->zeroPoint && numElements(xd->zeroPoint->shape) != 1))
    return false;
  // Weights int8, constant, symmetric (zero points 0), per tensor or per
  // output channel.
  const io::HostTensor *wq = wd->source->constant.get();
  int64_t f = ctx.shape(1)[0];
  int64_t ns = numElements(wd->scale->shape);
  if (!wq || wq->dtype != io::DType::I8 || (ns != 1 && ns != f) ||
      (ns == f && f > 1 && wd->axis != 0))
    return false;
  if (!allZero(wd->zeroPoint.get()))
    return false;
  if (ctx.hasInput(2) && (ctx.dtype(2) != io::DType::F32 || ctx.rank(2) != 1 ||
                          ctx.shape(2)[0] != f))
    return false;
  std::vector<double> wScale = hostToDoubles(*wd->scale);
  double xScale = hostToDoubles(*xd->scale)[0];
  int64_t xZero = xd->zeroPoint ? hostToInts(*xd->zeroPoint)[0] : 0;

  auto conv = buildIntConv(ctx, xd->source->value, xt, xZero, *wq);
  if (failed(conv))
    return failure();
  Value acc = conv->acc;
  const std::vector<int64_t> &shift = conv->shift;
  // sum (x - z) * w = acc - shift per output channel; then the scales and
  // the bias, in float.
  std::vector<double> scale(f);
  for (int64_t fi = 0; fi < f; ++fi)
    scale[fi] = xScale * wScale[ns == 1 ? 0 : fi];
  Value y =
      sumsToFloat(ctx, acc, shift, scale,
                  ctx.hasInput(2) ? reshapeTensor(ctx.b, ctx.loc, ctx.value(2),
                                                  {1, f, 1, 1})
                                  : Value());
  ctx.setOutput(0, y, io::DType::F32);
  std::optional<std::vector<double>> bias;
  if (ctx.hasInput(2))
    bias = knownFloats(ctx.input(2));
  if (!ctx.hasInput(2) || bias) {
    auto sums = std::make_shared<GraphValue::IntegerSums>();
    sums->acc = acc;
    sums->shift = shift;
    sums->scale = scale;
    sums->bias = bias ? *bias : std::vector<double>(f, 0.0);
    ctx.results()[0].integerSums = std::move(sums);
  }
  ctx.integerWeight = integerWeightReport(*wq, ns, "QDQ");
  return true;
}

FailureOr<bool> onnx_import::buildMatMulOnIntegers(NodeContext &ctx) {
  bool gemm = ctx.node.op_type() == "Gemm";
  if (ctx.numInputs() < 2 || !ctx.hasInput(0) || !ctx.hasInput(1) ||
      ctx.rank(1) != 2 || ctx.rank(0) < (gemm ? 2 : 1) ||
      (gemm && (ctx.rank(0) != 2 || ctx.attrInt("transA", 0) != 0)))
    return false;
  // Activations per tensor, uint8 or int8, computed at run time.
  const GraphValue::Dequantized *xd = perTensorDequantized(ctx.input(0));
  const GraphValue::Dequantized *wd = ctx.input(1).dequantized.get();
  if (!xd || !wd)
    return false;
  // Weights int8, constant, symmetric, per tensor or per output column.
  bool tb = gemm && ctx.attrInt("transB", 0);
  const io::HostTensor *wq = wd->source->constant.get();
  if (!wq || wq->dtype != io::DType::I8 || wq->shape.size() != 2 ||
      !allZero(wd->zeroPoint.get()) || wd->scale->dtype != io::DType::F32)
    return false;
  int64_t k = ctx.shape(0).back(), n = wq->shape[tb ? 0 : 1];
  int64_t ns = numElements(wd->scale->shape);
  if (wq->shape[tb ? 1 : 0] != k || n < 1 || numElements(ctx.shape(0)) < 1 ||
      (ns != 1 && (ns != n || wd->axis != (tb ? 0 : 1))))
    return false;
  // A Gemm's alpha scales, and its C, known now, is a bias per column.
  double alpha = gemm ? ctx.attrFloat("alpha", 1) : 1.0;
  double beta = gemm ? ctx.attrFloat("beta", 1) : 0.0;
  std::vector<double> bias(n, 0.0);
  if (gemm && ctx.hasInput(2) && beta != 0) {
    auto c = knownFloats(ctx.input(2));
    const std::vector<int64_t> &cs = ctx.shape(2);
    if (!c || int64_t(c->size()) != n ||
        !(cs == std::vector<int64_t>{n} || cs == std::vector<int64_t>{1, n}))
      return false;
    for (int64_t j = 0; j < n; ++j)
      bias[j] = beta * (*c)[j];
  }
  std::vector<double> wScale = hostToDoubles(*wd->scale);
  double xScale = hostToDoubles(*xd->scale)[0];
  int64_t xZero = xd->zeroPoint ? hostToInts(*xd->zeroPoint)[0] : 0;
  auto conv = buildIntMatmul(ctx, xd->source->value, xd->source->dtype, xZero,
                             tb ? *wq : transposed2d(*wq));
  if (failed(conv))
    return failure();
  std::vector<double> scale(n);
  for (int64_t j = 0; j < n; ++j)
    scale[j] = alpha * xScale * wScale[ns == 1 ? 0 : j];
  std::vector<int64_t> rows = productRows(ctx, n);
  Value biasV = materializeConstant(
      ctx.b, ctx.loc, hostFromDoubles(io::DType::F32, {1, n, 1, 1}, bias));
  Value y = sumsToFloat(ctx, conv->acc, conv->shift, scale, biasV);
  ctx.setOutput(0, columnsAsRows(ctx, y, rows), io::DType::F32);
  auto sums = std::make_shared<GraphValue::IntegerSums>();
  sums->acc = conv->acc;
  sums->shift = conv->shift;
  sums->scale = scale;
  sums->bias = bias;
  sums->rowsShape = rows;
  ctx.results()[0].integerSums = std::move(sums);
  ctx.integerWeight = integerWeightReport(*wq, ns, "QDQ");
  return true;
}

void onnx_import::registerQuantizedOps(OpTable &t) {
  t["QuantizeLinear"] = buildQuantizeLinear;
  t["DequantizeLinear"] = buildDequantizeLinear;
  t["DynamicQuantizeLinear"] = buildDynamicQuantizeLinear;
  t["MatMulInteger"] = buildMatMulInteger;
  t["ConvInteger"] = buildConvInteger;
  t["QLinearMatMul"] = buildQLinearMatMul;
  t["QLinearConv"] = buildQLinearConv;
}
