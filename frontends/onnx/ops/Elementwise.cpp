//===- Elementwise.cpp - ONNX unary, binary and variadic elementwise ops --===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

using ScalarFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

Value cst(OpBuilder &b, Location loc, Type t, double v) {
  return scalarConstant(b, loc, t, v);
}

/// Elementwise over all inputs with broadcasting; output `outType`.
LogicalResult elementwise(NodeContext &ctx, io::DType outType, ScalarFn fn,
                          size_t numInputs = 0) {
  std::vector<std::vector<int64_t>> shapes;
  SmallVector<Value> ins;
  size_t n = numInputs ? numInputs : ctx.numInputs();
  for (size_t i = 0; i < n; ++i) {
    if (!ctx.hasInput(i))
      return ctx.error() << "input " << i << " is required";
    shapes.push_back(ctx.shape(i));
  }
  std::vector<int64_t> outShape;
  if (!broadcastShapes(shapes, outShape)) {
    auto diag = ctx.error() << "incompatible shapes for broadcasting:";
    for (const auto &s : shapes)
      diag << " " << shapeStr(s);
    return diag;
  }
  for (size_t i = 0; i < n; ++i)
    ins.push_back(ctx.value(i));
  Value r = buildElementwise(ctx.b, ctx.loc, ins, outShape,
                             ctx.elementType(outType), fn);
  ctx.setOutput(0, r, outType);
  return success();
}

LogicalResult requireFloat(NodeContext &ctx) {
  if (!isFloat(ctx.dtype(0)))
    return ctx.error() << "expects a float input, got "
                       << io::dtypeName(ctx.dtype(0));
  return success();
}

/// A unary op on floats.
template <typename F> LogicalResult unaryFloat(NodeContext &ctx, F f) {
  if (!ctx.hasInput(0))
    return ctx.error() << "expects 1 input";
  if (failed(requireFloat(ctx)))
    return failure();
  return elementwise(
      ctx, ctx.dtype(0),
      [&](OpBuilder &b, Location loc, ValueRange a) { return f(b, loc, a[0]); },
      1);
}

template <typename MathOp> LogicalResult mathUnary(NodeContext &ctx) {
  return unaryFloat(ctx, [](OpBuilder &b, Location loc, Value x) -> Value {
    return b.create<MathOp>(loc, x);
  });
}

Value sigmoid(OpBuilder &b, Location loc, Value x) {
  Value one = cst(b, loc, x.getType(), 1);
  Value e = b.create<math::ExpOp>(loc, b.create<arith::NegFOp>(loc, x));
  return b.create<arith::DivFOp>(loc, one, b.create<arith::AddFOp>(loc, one, e));
}

Value selectF(OpBuilder &b, Location loc, arith::CmpFPredicate pred, Value x,
              Value y, Value ifTrue, Value ifFalse) {
  Value c = b.create<arith::CmpFOp>(loc, pred, x, y);
  return b.create<arith::SelectOp>(loc, c, ifTrue, ifFalse);
}

// --- Activations ----------------------------------------------------------

LogicalResult buildRelu(NodeContext &ctx) {
  io::DType t = ctx.dtype(0);
  return elementwise(
      ctx, t,
      [&](OpBuilder &b, Location loc, ValueRange a) {
        return maxS(b, loc, a[0], cst(b, loc, a[0].getType(), 0));
      },
      1);
}

LogicalResult buildLeakyRelu(NodeContext &ctx) {
  double alpha = ctx.attrFloat("alpha", 0.01f);
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) {
    Value zero = cst(b, loc, x.getType(), 0);
    Value scaled =
        b.create<arith::MulFOp>(loc, x, cst(b, loc, x.getType(), alpha));
    return selectF(b, loc, arith::CmpFPredicate::OGT, x, zero, x, scaled);
  });
}

LogicalResult buildPRelu(NodeContext &ctx) {
  if (failed(requireFloat(ctx)))
    return failure();
  // Before opset 7 a 1-D slope of C entries applies per channel (axis 1).
  std::vector<int64_t> out;
  if (ctx.rank(1) == 1 && ctx.rank(0) > 2 &&
      ctx.shape(1)[0] == ctx.shape(0)[1] &&
      !broadcastShapes({ctx.shape(0), ctx.shape(1)}, out)) {
    std::vector<int64_t> perChannel(ctx.rank(0) - 1, 1);
    perChannel[0] = ctx.shape(1)[0];
    Value slope = reshapeTensor(ctx.b, ctx.loc, ctx.value(1), perChannel);
    Value x = ctx.value(0);
    Value r = buildElementwise(
        ctx.b, ctx.loc, ValueRange{x, slope}, ctx.shape(0),
        ctx.elementType(ctx.dtype(0)),
        [](OpBuilder &b, Location loc, ValueRange a) {
          Value zero = cst(b, loc, a[0].getType(), 0);
          Value scaled = b.create<arith::MulFOp>(loc, a[0], a[1]);
          return selectF(b, loc, arith::CmpFPredicate::OLT, a[0], zero, scaled,
                         a[0]);
        });
    ctx.setOutput(0, r, ctx.dtype(0));
    return success();
  }
  // The slope broadcasts unidirectionally to X.
  return elementwise(ctx, ctx.dtype(0),
                     [](OpBuilder &b, Location loc, ValueRange a) {
                       Value zero = cst(b, loc, a[0].getType(), 0);
                       Value scaled = b.create<arith::MulFOp>(loc, a[0], a[1]);
                       return selectF(b, loc, arith::CmpFPredicate::OLT, a[0],
                                      zero, scaled, a[0]);
                     });
}

LogicalResult buildElu(NodeContext &ctx) {
  double alpha = ctx.attrFloat("alpha", 1.0f);
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) {
    Type t = x.getType();
    Value em1 = b.create<math::ExpM1Op>(loc, x);
    Value neg = b.create<arith::MulFOp>(loc, em1, cst(b, loc, t, alpha));
    return selectF(b, loc, arith::CmpFPredicate::OLT, x, cst(b, loc, t, 0),
                   neg, x);
  });
}

LogicalResult buildCelu(NodeContext &ctx) {
  double alpha = ctx.attrFloat("alpha", 1.0f);
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) {
    Type t = x.getType();
    Value zero = cst(b, loc, t, 0);
    Value xa = b.create<arith::DivFOp>(loc, x, cst(b, loc, t, alpha));
    Value em1 = b.create<math::ExpM1Op>(loc, xa);
    Value neg = b.create<arith::MulFOp>(loc, em1, cst(b, loc, t, alpha));
    Value negPart = b.create<arith::MinimumFOp>(loc, zero, neg);
    Value posPart = b.create<arith::MaximumFOp>(loc, zero, x);
    return b.create<arith::AddFOp>(loc, posPart, negPart).getResult();
  });
}

LogicalResult buildSelu(NodeContext &ctx) {
  double alpha = ctx.attrFloat("alpha", 1.67326319217681884765625f);
  double gamma = ctx.attrFloat("gamma", 1.05070102214813232421875f);
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) {
    Type t = x.getType();
    Value em1 = b.create<math::ExpM1Op>(loc, x);
    Value neg = b.create<arith::MulFOp>(loc, em1, cst(b, loc, t, alpha));
    Value v = selectF(b, loc, arith::CmpFPredicate::OGT, x, cst(b, loc, t, 0),
                      x, neg);
    return b.create<arith::MulFOp>(loc, v, cst(b, loc, t, gamma)).getResult();
  });
}

LogicalResult buildThresholdedRelu(NodeContext &ctx) {
  double alpha = ctx.attrFloat("alpha", 1.0f);
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) {
    Type t = x.getType();
    return selectF(b, loc, arith::CmpFPredicate::OGT, x, cst(b, loc, t, alpha),
                   x, cst(b, loc, t, 0));
  });
}

LogicalResult buildSigmoid(NodeContext &ctx) {
  return unaryFloat(ctx, sigmoid);
}

LogicalResult buildHardSigmoid(NodeContext &ctx) {
  double alpha = ctx.attrFloat("alpha", 0.2f), beta = ctx.attrFloat("beta", 0.5f);
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) {
    Type t = x.getType();
    Value v = b.create<arith::MulFOp>(loc, x, cst(b, loc, t, alpha));
    v = b.create<arith::AddFOp>(loc, v, cst(b, loc, t, beta));
    v = b.create<arith::MaximumFOp>(loc, v, cst(b, loc, t, 0));
    return b.create<arith::MinimumFOp>(loc, v, cst(b, loc, t, 1)).getResult();
  });
}

LogicalResult buildHardSwish(NodeContext &ctx) {
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) {
    Type t = x.getType();
    Value v = b.create<arith::MulFOp>(loc, x, cst(b, loc, t, 1.0 / 6.0));
    v = b.create<arith::AddFOp>(loc, v, cst(b, loc, t, 0.5));
    v = b.create<arith::MaximumFOp>(loc, v, cst(b, loc, t, 0));
    v = b.create<arith::MinimumFOp>(loc, v, cst(b, loc, t, 1));
    return b.create<arith::MulFOp>(loc, x, v).getResult();
  });
}

LogicalResult buildSoftplus(NodeContext &ctx) {
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) {
    // log(1 + exp(x)) computed as max(x, 0) + log1p(exp(-|x|)) to not
    // overflow.
    Type t = x.getType();
    Value ax = b.create<math::AbsFOp>(loc, x);
    Value e = b.create<math::ExpOp>(loc, b.create<arith::NegFOp>(loc, ax));
    Value l = b.create<math::Log1pOp>(loc, e);
    Value m = b.create<arith::MaximumFOp>(loc, x, cst(b, loc, t, 0));
    return b.create<arith::AddFOp>(loc, m, l).getResult();
  });
}

LogicalResult buildSoftsign(NodeContext &ctx) {
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) {
    Type t = x.getType();
    Value d = b.create<arith::AddFOp>(loc, cst(b, loc, t, 1),
                                      b.create<math::AbsFOp>(loc, x));
    return b.create<arith::DivFOp>(loc, x, d).getResult();
  });
}

LogicalResult buildShrink(NodeContext &ctx) {
  double bias = ctx.attrFloat("bias", 0), lambd = ctx.attrFloat("lambd", 0.5f);
  io::DType t = ctx.dtype(0);
  return elementwise(
      ctx, t,
      [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
        Value x = a[0];
        Type et = x.getType();
        bool fl = isa<FloatType>(et);
        Value xf = fl ? x : b.create<arith::SIToFPOp>(loc, b.getF64Type(), x);
        Type ft = xf.getType();
        Value lo = selectF(b, loc, arith::CmpFPredicate::OLT, xf,
                           cst(b, loc, ft, -lambd),
                           b.create<arith::AddFOp>(loc, xf, cst(b, loc, ft, bias)),
                           cst(b, loc, ft, 0));
        Value r = selectF(b, loc, arith::CmpFPredicate::OGT, xf,
                          cst(b, loc, ft, lambd),
                          b.create<arith::SubFOp>(loc, xf, cst(b, loc, ft, bias)),
                          lo);
        return fl ? r : b.create<arith::FPToSIOp>(loc, et, r).getResult();
      },
      1);
}

LogicalResult buildGelu(NodeContext &ctx) {
  bool tanhApprox = ctx.attrString("approximate", "none") == "tanh";
  return unaryFloat(ctx, [&](OpBuilder &b, Location loc, Value x) -> Value {
    Type t = x.getType();
    Value half = cst(b, loc, t, 0.5), one = cst(b, loc, t, 1);
    Value inner;
    if (tanhApprox) {
      Value x3 = b.create<arith::MulFOp>(
          loc, x, b.create<arith::MulFOp>(loc, x, x));
      Value s = b.create<arith::AddFOp>(
          loc, x, b.create<arith::MulFOp>(loc, x3, cst(b, loc, t, 0.044715)));
      inner = b.create<math::TanhOp>(
          loc, b.create<arith::MulFOp>(loc, s,
                                       cst(b, loc, t, std::sqrt(2.0 / M_PI))));
    } else {
      inner = b.create<math::ErfOp>(
          loc, b.create<arith::MulFOp>(loc, x, cst(b, loc, t, M_SQRT1_2)));
    }
    Value r = b.create<arith::MulFOp>(
        loc, b.create<arith::MulFOp>(loc, x, half),
        b.create<arith::AddFOp>(loc, one, inner));
    return r;
  });
}

// --- Plain math -----------------------------------------------------------

LogicalResult buildNeg(NodeContext &ctx) {
  return elementwise(
      ctx, ctx.dtype(0),
      [](OpBuilder &b, Location loc, ValueRange a) -> Value {
        if (isa<FloatType>(a[0].getType()))
          return b.create<arith::NegFOp>(loc, a[0]);
        return b.create<arith::SubIOp>(loc, cst(b, loc, a[0].getType(), 0),
                                       a[0]);
      },
      1);
}

LogicalResult buildAbs(NodeContext &ctx) {
  bool uns = isUnsigned(ctx.dtype(0));
  return elementwise(
      ctx, ctx.dtype(0),
      [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
        if (isa<FloatType>(a[0].getType()))
          return b.create<math::AbsFOp>(loc, a[0]);
        if (uns)
          return a[0];
        return b.create<math::AbsIOp>(loc, a[0]);
      },
      1);
}

LogicalResult buildSign(NodeContext &ctx) {
  bool uns = isUnsigned(ctx.dtype(0));
  return elementwise(
      ctx, ctx.dtype(0),
      [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
        Type t = a[0].getType();
        Value zero = cst(b, loc, t, 0), one = cst(b, loc, t, 1),
              minus = cst(b, loc, t, -1);
        if (isa<FloatType>(t)) {
          Value pos = selectF(b, loc, arith::CmpFPredicate::OGT, a[0], zero,
                              one, zero);
          return selectF(b, loc, arith::CmpFPredicate::OLT, a[0], zero, minus,
                         pos);
        }
        Value gt = b.create<arith::CmpIOp>(
            loc, uns ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt,
            a[0], zero);
        Value pos = b.create<arith::SelectOp>(loc, gt, one, zero);
        if (uns)
          return pos;
        Value lt = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt,
                                           a[0], zero);
        return b.create<arith::SelectOp>(loc, lt, minus, pos);
      },
      1);
}

LogicalResult buildReciprocal(NodeContext &ctx) {
  return unaryFloat(ctx, [](OpBuilder &b, Location loc, Value x) {
    return b.create<arith::DivFOp>(loc, cst(b, loc, x.getType(), 1), x)
        .getResult();
  });
}

LogicalResult buildIsNaN(NodeContext &ctx) {
  if (failed(requireFloat(ctx)))
    return failure();
  return elementwise(
      ctx, io::DType::Bool,
      [](OpBuilder &b, Location loc, ValueRange a) -> Value {
        return b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNO, a[0],
                                       a[0]);
      },
      1);
}

LogicalResult buildIsInf(NodeContext &ctx) {
  if (failed(requireFloat(ctx)))
    return failure();
  bool pos = ctx.attrInt("detect_positive", 1), neg = ctx.attrInt("detect_negative", 1);
  return elementwise(
      ctx, io::DType::Bool,
      [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
        Type t = a[0].getType();
        Value r = cst(b, loc, b.getI1Type(), 0);
        if (pos)
          r = b.create<arith::OrIOp>(
              loc, r,
              b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::OEQ, a[0],
                                      cst(b, loc, t, INFINITY)));
        if (neg)
          r = b.create<arith::OrIOp>(
              loc, r,
              b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::OEQ, a[0],
                                      cst(b, loc, t, -INFINITY)));
        return r;
      },
      1);
}

LogicalResult buildRound(NodeContext &ctx) {
  return mathUnary<math::RoundEvenOp>(ctx);
}

// --- Binary ----------------------------------------------------------------

LogicalResult checkSameType(NodeContext &ctx) {
  for (size_t i = 1; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i) && ctx.dtype(i) != ctx.dtype(0))
      return ctx.error() << "expects inputs of one element type, got "
                         << io::dtypeName(ctx.dtype(0)) << " and "
                         << io::dtypeName(ctx.dtype(i));
  return success();
}

enum class Arith { Add, Sub, Mul, Div };

template <Arith K> LogicalResult buildArith(NodeContext &ctx) {
  if (ctx.numInputs() != 2)
    return ctx.error() << "expects 2 inputs";
  if (failed(checkSameType(ctx)))
    return failure();
  bool uns = isUnsigned(ctx.dtype(0));
  return elementwise(ctx, ctx.dtype(0),
                     [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                       Value x = a[0], y = a[1];
                       if (isa<FloatType>(x.getType())) {
                         switch (K) {
                         case Arith::Add:
                           return b.create<arith::AddFOp>(loc, x, y);
                         case Arith::Sub:
                           return b.create<arith::SubFOp>(loc, x, y);
                         case Arith::Mul:
                           return b.create<arith::MulFOp>(loc, x, y);
                         case Arith::Div:
                           return b.create<arith::DivFOp>(loc, x, y);
                         }
                       }
                       switch (K) {
                       case Arith::Add:
                         return b.create<arith::AddIOp>(loc, x, y);
                       case Arith::Sub:
                         return b.create<arith::SubIOp>(loc, x, y);
                       case Arith::Mul:
                         return b.create<arith::MulIOp>(loc, x, y);
                       case Arith::Div:
                         if (uns)
                           return b.create<arith::DivUIOp>(loc, x, y);
                         return b.create<arith::DivSIOp>(loc, x, y);
                       }
                       return {};
                     });
}

LogicalResult buildPow(NodeContext &ctx) {
  io::DType xt = ctx.dtype(0), yt = ctx.dtype(1);
  return elementwise(ctx, xt,
                     [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                       Value x = a[0], y = a[1];
                       if (isFloat(xt)) {
                         y = castScalar(b, loc, y, yt, xt);
                         return b.create<math::PowFOp>(loc, x, y);
                       }
                       // Integer base: compute in f64 and truncate, as the
                       // ONNX reference (numpy) does for integer powers.
                       Value xf = castScalar(b, loc, x, xt, io::DType::F64);
                       Value yf = castScalar(b, loc, y, yt, io::DType::F64);
                       Value r = b.create<math::PowFOp>(loc, xf, yf);
                       return castScalar(b, loc, r, io::DType::F64, xt);
                     });
}

LogicalResult buildMod(NodeContext &ctx) {
  if (failed(checkSameType(ctx)))
    return failure();
  bool fmod = ctx.attrInt("fmod", 0);
  io::DType t = ctx.dtype(0);
  if (isFloat(t) && !fmod)
    return ctx.error() << "fmod must be 1 for float inputs";
  bool uns = isUnsigned(t);
  return elementwise(ctx, t,
                     [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                       Value x = a[0], y = a[1];
                       if (isFloat(t))
                         return b.create<arith::RemFOp>(loc, x, y);
                       if (uns)
                         return b.create<arith::RemUIOp>(loc, x, y);
                       Value r = b.create<arith::RemSIOp>(loc, x, y);
                       if (fmod)
                         return r;
                       // Python-style: the result takes the divisor's sign.
                       Value zero = cst(b, loc, x.getType(), 0);
                       Value rNeg = b.create<arith::CmpIOp>(
                           loc, arith::CmpIPredicate::slt, r, zero);
                       Value yNeg = b.create<arith::CmpIOp>(
                           loc, arith::CmpIPredicate::slt, y, zero);
                       Value rNonZero = b.create<arith::CmpIOp>(
                           loc, arith::CmpIPredicate::ne, r, zero);
                       Value differ = b.create<arith::XOrIOp>(loc, rNeg, yNeg);
                       Value fix = b.create<arith::AndIOp>(loc, differ,
                                                           rNonZero);
                       Value adjusted = b.create<arith::AddIOp>(loc, r, y);
                       return b.create<arith::SelectOp>(loc, fix, adjusted, r);
                     });
}

LogicalResult buildBitShift(NodeContext &ctx) {
  bool left = ctx.attrString("direction", "") == "LEFT";
  return elementwise(ctx, ctx.dtype(0),
                     [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                       if (left)
                         return b.create<arith::ShLIOp>(loc, a[0], a[1]);
                       return b.create<arith::ShRUIOp>(loc, a[0], a[1]);
                     });
}

template <arith::CmpFPredicate FP, arith::CmpIPredicate SP,
          arith::CmpIPredicate UP>
LogicalResult buildCompare(NodeContext &ctx) {
  if (failed(checkSameType(ctx)))
    return failure();
  io::DType t = ctx.dtype(0);
  return elementwise(ctx, io::DType::Bool,
                     [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                       if (isFloat(t))
                         return b.create<arith::CmpFOp>(loc, FP, a[0], a[1]);
                       bool uns = isUnsigned(t) || isBool(t);
                       return b.create<arith::CmpIOp>(loc, uns ? UP : SP, a[0],
                                                      a[1]);
                     });
}

template <typename OpT> LogicalResult buildLogical(NodeContext &ctx) {
  return elementwise(ctx, io::DType::Bool,
                     [](OpBuilder &b, Location loc, ValueRange a) -> Value {
                       return b.create<OpT>(loc, a[0], a[1]);
                     });
}

LogicalResult buildNot(NodeContext &ctx) {
  return elementwise(
      ctx, io::DType::Bool,
      [](OpBuilder &b, Location loc, ValueRange a) -> Value {
        return b.create<arith::XOrIOp>(loc, a[0], cst(b, loc, b.getI1Type(), 1));
      },
      1);
}

template <typename OpT> LogicalResult buildBitwise(NodeContext &ctx) {
  return elementwise(ctx, ctx.dtype(0),
                     [](OpBuilder &b, Location loc, ValueRange a) -> Value {
                       return b.create<OpT>(loc, a[0], a[1]);
                     });
}

LogicalResult buildBitwiseNot(NodeContext &ctx) {
  return elementwise(
      ctx, ctx.dtype(0),
      [](OpBuilder &b, Location loc, ValueRange a) -> Value {
        return b.create<arith::XOrIOp>(loc, a[0],
                                       cst(b, loc, a[0].getType(), -1));
      },
      1);
}

// --- Variadic ----------------------------------------------------------------

enum class Variadic { Sum, Mean, Min, Max };

template <Variadic K> LogicalResult buildVariadic(NodeContext &ctx) {
  if (ctx.numInputs() == 0)
    return ctx.error() << "expects at least 1 input";
  if (failed(checkSameType(ctx)))
    return failure();
  io::DType t = ctx.dtype(0);
  bool uns = isUnsigned(t);
  size_t n = ctx.numInputs();
  return elementwise(ctx, t,
                     [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                       Value r = a[0];
                       for (size_t i = 1; i < a.size(); ++i) {
                         switch (K) {
                         case Variadic::Sum:
                         case Variadic::Mean:
                           r = addS(b, loc, r, a[i]);
                           break;
                         case Variadic::Min:
                           r = minS(b, loc, r, a[i], uns);
                           break;
                         case Variadic::Max:
                           r = maxS(b, loc, r, a[i], uns);
                           break;
                         }
                       }
                       if (K == Variadic::Mean)
                         r = b.create<arith::DivFOp>(
                             loc, r, cst(b, loc, r.getType(), double(n)));
                       return r;
                     });
}

LogicalResult buildWhere(NodeContext &ctx) {
  if (ctx.numInputs() != 3)
    return ctx.error() << "expects 3 inputs";
  return elementwise(ctx, ctx.dtype(1),
                     [](OpBuilder &b, Location loc, ValueRange a) -> Value {
                       return b.create<arith::SelectOp>(loc, a[0], a[1], a[2]);
                     });
}

LogicalResult buildClip(NodeContext &ctx) {
  io::DType t = ctx.dtype(0);
  bool uns = isUnsigned(t);
  std::optional<double> lo, hi;
  SmallVector<Value> bounds;
  // Opset < 11: bounds are attributes; later, optional scalar inputs.
  if (ctx.opset < 11) {
    lo = ctx.attrFloat("min", -INFINITY);
    hi = ctx.attrFloat("max", INFINITY);
  }
  bool hasLo = ctx.hasInput(1), hasHi = ctx.hasInput(2);
  Value loV = hasLo ? ctx.value(1) : Value();
  Value hiV = hasHi ? ctx.value(2) : Value();
  Value x = ctx.value(0);
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<Value> ins = {x};
  if (hasLo)
    ins.push_back(loV);
  if (hasHi)
    ins.push_back(hiV);
  Value r = buildElementwise(
      ctx.b, ctx.loc, ins, type.getShape(), type.getElementType(),
      [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
        Value v = a[0];
        Type et = v.getType();
        size_t k = 1;
        if (hasLo)
          v = maxS(b, loc, v, a[k++], uns);
        else if (lo && std::isfinite(*lo))
          v = maxS(b, loc, v, cst(b, loc, et, *lo), uns);
        if (hasHi)
          v = minS(b, loc, v, a[k++], uns);
        else if (hi && std::isfinite(*hi))
          v = minS(b, loc, v, cst(b, loc, et, *hi), uns);
        return v;
      });
  ctx.setOutput(0, r, t);
  return success();
}

LogicalResult castTo(NodeContext &ctx, io::DType to) {
  io::DType from = ctx.dtype(0);
  return elementwise(
      ctx, to,
      [&](OpBuilder &b, Location loc, ValueRange a) {
        return castScalar(b, loc, a[0], from, to);
      },
      1);
}

LogicalResult buildCast(NodeContext &ctx) {
  io::DType to;
  if (!io::dtypeFromOnnx(ctx.attrInt("to", 0), to))
    return ctx.error() << "unsupported target type " << ctx.attrInt("to", 0);
  return castTo(ctx, to);
}

LogicalResult buildCastLike(NodeContext &ctx) {
  return castTo(ctx, ctx.dtype(1));
}

} // namespace

void onnx_import::registerElementwiseOps(OpTable &t) {
  t["Relu"] = buildRelu;
  t["LeakyRelu"] = buildLeakyRelu;
  t["PRelu"] = buildPRelu;
  t["Elu"] = buildElu;
  t["Celu"] = buildCelu;
  t["Selu"] = buildSelu;
  t["ThresholdedRelu"] = buildThresholdedRelu;
  t["Sigmoid"] = buildSigmoid;
  t["HardSigmoid"] = buildHardSigmoid;
  t["HardSwish"] = buildHardSwish;
  t["Softplus"] = buildSoftplus;
  t["Softsign"] = buildSoftsign;
  t["Shrink"] = buildShrink;
  t["Gelu"] = buildGelu;
  t["Tanh"] = mathUnary<math::TanhOp>;
  t["Erf"] = mathUnary<math::ErfOp>;
  t["Sqrt"] = mathUnary<math::SqrtOp>;
  t["Exp"] = mathUnary<math::ExpOp>;
  t["Log"] = mathUnary<math::LogOp>;
  t["Floor"] = mathUnary<math::FloorOp>;
  t["Ceil"] = mathUnary<math::CeilOp>;
  t["Round"] = buildRound;
  t["Sin"] = mathUnary<math::SinOp>;
  t["Cos"] = mathUnary<math::CosOp>;
  t["Tan"] = mathUnary<math::TanOp>;
  t["Asin"] = mathUnary<math::AsinOp>;
  t["Acos"] = mathUnary<math::AcosOp>;
  t["Atan"] = mathUnary<math::AtanOp>;
  t["Sinh"] = mathUnary<math::SinhOp>;
  t["Cosh"] = mathUnary<math::CoshOp>;
  t["Asinh"] = mathUnary<math::AsinhOp>;
  t["Acosh"] = mathUnary<math::AcoshOp>;
  t["Atanh"] = mathUnary<math::AtanhOp>;
  t["Neg"] = buildNeg;
  t["Abs"] = buildAbs;
  t["Sign"] = buildSign;
  t["Reciprocal"] = buildReciprocal;
  t["IsNaN"] = buildIsNaN;
  t["IsInf"] = buildIsInf;
  t["Add"] = buildArith<Arith::Add>;
  t["Sub"] = buildArith<Arith::Sub>;
  t["Mul"] = buildArith<Arith::Mul>;
  t["Div"] = buildArith<Arith::Div>;
  t["Pow"] = buildPow;
  t["Mod"] = buildMod;
  t["BitShift"] = buildBitShift;
  t["Equal"] = buildCompare<arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq,
                            arith::CmpIPredicate::eq>;
  t["Less"] = buildCompare<arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt,
                           arith::CmpIPredicate::ult>;
  t["LessOrEqual"] =
      buildCompare<arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle,
                   arith::CmpIPredicate::ule>;
  t["Greater"] = buildCompare<arith::CmpFPredicate::OGT,
                              arith::CmpIPredicate::sgt,
                              arith::CmpIPredicate::ugt>;
  t["GreaterOrEqual"] =
      buildCompare<arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge,
                   arith::CmpIPredicate::uge>;
  t["And"] = buildLogical<arith::AndIOp>;
  t["Or"] = buildLogical<arith::OrIOp>;
  t["Xor"] = buildLogical<arith::XOrIOp>;
  t["Not"] = buildNot;
  t["BitwiseAnd"] = buildBitwise<arith::AndIOp>;
  t["BitwiseOr"] = buildBitwise<arith::OrIOp>;
  t["BitwiseXor"] = buildBitwise<arith::XOrIOp>;
  t["BitwiseNot"] = buildBitwiseNot;
  t["Sum"] = buildVariadic<Variadic::Sum>;
  t["Mean"] = buildVariadic<Variadic::Mean>;
  t["Min"] = buildVariadic<Variadic::Min>;
  t["Max"] = buildVariadic<Variadic::Max>;
  t["Where"] = buildWhere;
  t["Clip"] = buildClip;
  t["Cast"] = buildCast;
  t["CastLike"] = buildCastLike;
}
