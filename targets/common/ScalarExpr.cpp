//===- ScalarExpr.cpp - graph IR scalars as C++ or Halide source ----------===//

#include "targets/common/ScalarExpr.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cmath>
#include <sstream>

using namespace mlir;

namespace sparq::emit {

std::string nodeOf(Operation *op) {
  Location loc = op->getLoc();
  if (auto f = dyn_cast<FusedLoc>(loc))
    for (Location l : f.getLocations())
      if (auto n = dyn_cast<NameLoc>(l))
        return n.getName().str();
  if (auto n = dyn_cast<NameLoc>(loc))
    return n.getName().str();
  return "";
}

std::string identifier(const std::string &s) {
  std::string r;
  for (char c : s)
    r += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  // No "__" anywhere (reserved in C++), none at either end.
  while (r.find("__") != std::string::npos)
    r.erase(r.find("__"), 1);
  if (r.size() > 40)
    r = r.substr(r.size() - 40);
  while (!r.empty() && r.front() == '_')
    r.erase(0, 1);
  while (!r.empty() && r.back() == '_')
    r.pop_back();
  return r;
}

std::string shapeText(ArrayRef<int64_t> shape) {
  std::string s;
  for (int64_t d : shape)
    s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

std::string cType(Type t) {
  if (t.isF32())
    return "float";
  if (t.isF64())
    return "double";
  if (t.isIndex() || t.isInteger(64))
    return "long long";
  if (t.isInteger(32))
    return "int";
  if (t.isInteger(16))
    return "short";
  if (t.isInteger(8))
    return "signed char";
  if (t.isInteger(1))
    return "bool";
  return "";
}

std::string halideType(Type t) {
  if (t.isF32())
    return "Float(32)";
  if (t.isF64())
    return "Float(64)";
  if (t.isIndex() || t.isInteger(32))
    return "Int(32)";
  if (t.isInteger(64))
    return "Int(64)";
  if (t.isInteger(16))
    return "Int(16)";
  if (t.isInteger(8))
    return "Int(8)";
  if (t.isInteger(1))
    return "Bool()";
  return "";
}

int64_t elementBytes(Type t) {
  if (t.isIndex())
    return 8;
  return t.isInteger(1) ? 1
                        : std::max<int64_t>(1, t.getIntOrFloatBitWidth() / 8);
}

std::string literal(Attribute a, Type t, Syntax syntax) {
  bool halide = syntax == Syntax::Halide;
  if (auto f = dyn_cast<FloatAttr>(a)) {
    double v = f.getValueAsDouble();
    std::string s;
    if (std::isnan(v)) {
      s = "NAN";
    } else if (std::isinf(v)) {
      s = v > 0 ? "INFINITY" : "-INFINITY";
    } else {
      std::ostringstream o;
      o.precision(t.isF32() ? 9 : 17);
      o << std::scientific << v;
      s = t.isF32() ? o.str() + "f" : o.str();
    }
    if (!halide)
      return s;
    // NAN and INFINITY are floats: a double literal is cast.
    return t.isF32() ? "Expr(" + s + ")" : "Expr(double(" + s + "))";
  }
  if (auto i = dyn_cast<IntegerAttr>(a)) {
    int64_t v =
        t.isInteger(1) ? !i.getValue().isZero() : i.getValue().getSExtValue();
    if (halide)
      return "cast(" + halideType(t) + ", Expr(int64_t(" + std::to_string(v) +
             ")))";
    if (t.isInteger(1))
      return v ? "true" : "false";
    return "(" + cType(t) + ")" + std::to_string(v) + "LL";
  }
  return "";
}

namespace {

std::string binary(const std::string &a, const char *op, const std::string &b) {
  return "(" + a + " " + op + " " + b + ")";
}

std::string comparison(Operation *op, bool halide, const std::string &a,
                       const std::string &b, const std::string &ua,
                       const std::string &ub) {
  if (auto c = dyn_cast<arith::CmpFOp>(op)) {
    using P = arith::CmpFPredicate;
    switch (c.getPredicate()) {
    case P::OEQ:
      return binary(a, "==", b);
    case P::OGT:
      return binary(a, ">", b);
    case P::OGE:
      return binary(a, ">=", b);
    case P::OLT:
      return binary(a, "<", b);
    case P::OLE:
      return binary(a, "<=", b);
    case P::ONE:
      return "(" + a + " < " + b + " || " + a + " > " + b + ")";
    case P::ORD:
      return "(" + a + " == " + a + " && " + b + " == " + b + ")";
    case P::UEQ:
      return "!(" + a + " < " + b + " || " + a + " > " + b + ")";
    case P::UGT:
      return "!" + binary(a, "<=", b);
    case P::UGE:
      return "!" + binary(a, "<", b);
    case P::ULT:
      return "!" + binary(a, ">=", b);
    case P::ULE:
      return "!" + binary(a, ">", b);
    case P::UNE:
      return binary(a, "!=", b);
    case P::UNO:
      return "(" + a + " != " + a + " || " + b + " != " + b + ")";
    case P::AlwaysTrue:
      return halide ? "cast(Bool(), 1)" : "true";
    case P::AlwaysFalse:
      return halide ? "cast(Bool(), 0)" : "false";
    }
  }
  if (auto c = dyn_cast<arith::CmpIOp>(op)) {
    using P = arith::CmpIPredicate;
    switch (c.getPredicate()) {
    case P::eq:
      return binary(a, "==", b);
    case P::ne:
      return binary(a, "!=", b);
    case P::slt:
      return binary(a, "<", b);
    case P::sle:
      return binary(a, "<=", b);
    case P::sgt:
      return binary(a, ">", b);
    case P::sge:
      return binary(a, ">=", b);
    case P::ult:
      return binary(ua, "<", ub);
    case P::ule:
      return binary(ua, "<=", ub);
    case P::ugt:
      return binary(ua, ">", ub);
    case P::uge:
      return binary(ua, ">=", ub);
    }
  }
  return "";
}

} // namespace

std::string scalarExpression(Operation *op, ArrayRef<std::string> operands,
                             Syntax syntax) {
  bool h = syntax == Syntax::Halide;
  auto o = [&](unsigned i) {
    return i < operands.size() ? operands[i] : std::string();
  };
  Type rt = op->getNumResults() ? op->getResult(0).getType() : Type();
  Type in = op->getNumOperands() ? op->getOperand(0).getType() : Type();
  bool f64 = rt && rt.isF64();
  std::string ct = rt ? cType(rt) : "", ht = rt ? halideType(rt) : "";
  auto cast = [&](const std::string &e) {
    return h ? "cast(" + ht + ", " + e + ")" : "(" + ct + ")" + e;
  };
  // An integer operand as unsigned of its width (i1 as an unsigned byte).
  auto unsignedOf = [&](const std::string &e, Type t) {
    if (h)
      return "cast(UInt(" +
             std::to_string(t.isIndex() ? 32 : t.getIntOrFloatBitWidth()) +
             "), " + e + ")";
    return "(unsigned " + (t.isInteger(1) ? std::string("char") : cType(t)) +
           ")" + e;
  };
  // C's name of a libm function, or Halide's.
  auto fn = [&](const char *c32, const char *c64, const char *hal) {
    return std::string(h ? hal : f64 ? c64 : c32) + "(" + o(0) + ")";
  };
  if (auto c = dyn_cast<arith::ConstantOp>(op))
    return literal(c.getValue(), rt, syntax);
  if (isa<arith::AddFOp, arith::AddIOp>(op))
    return binary(o(0), "+", o(1));
  if (isa<arith::SubFOp, arith::SubIOp>(op))
    return binary(o(0), "-", o(1));
  if (isa<arith::MulFOp, arith::MulIOp>(op))
    return binary(o(0), "*", o(1));
  if (isa<arith::DivFOp>(op))
    return binary(o(0), "/", o(1));
  // Halide's integer / and % round to negative infinity; arith's to zero.
  if (isa<arith::DivSIOp>(op))
    return h ? "div_round_to_zero(" + o(0) + ", " + o(1) + ")"
             : binary(o(0), "/", o(1));
  if (isa<arith::RemSIOp>(op))
    return h ? "mod_round_to_zero(" + o(0) + ", " + o(1) + ")"
             : binary(o(0), "%", o(1));
  if (isa<arith::RemFOp>(op))
    return h ? "(" + o(0) + " - " + o(1) + " * trunc(" + o(0) + " / " + o(1) +
                   "))"
             : std::string(f64 ? "fmod" : "fmodf") + "(" + o(0) + ", " + o(1) +
                   ")";
  if (isa<arith::DivUIOp, arith::RemUIOp>(op))
    return cast("(" + unsignedOf(o(0), rt) +
                (isa<arith::DivUIOp>(op) ? " / " : " % ") +
                unsignedOf(o(1), rt) + ")");
  if (isa<arith::FloorDivSIOp>(op)) {
    if (h) // floor division is Halide's for a positive divisor
      return "select(" + o(1) + " > 0, " + o(0) + " / " + o(1) + ", (0 - " +
             o(0) + ") / (0 - " + o(1) + "))";
    return "((" + o(0) + " / " + o(1) + ") - ((" + o(0) + " % " + o(1) +
           " != 0) && ((" + o(0) + " < 0) != (" + o(1) + " < 0))))";
  }
  if (isa<arith::CeilDivSIOp>(op)) {
    if (h)
      return "(0 - select(" + o(1) + " > 0, (0 - " + o(0) + ") / " + o(1) +
             ", " + o(0) + " / (0 - " + o(1) + ")))";
    return "((" + o(0) + " / " + o(1) + ") + ((" + o(0) + " % " + o(1) +
           " != 0) && ((" + o(0) + " < 0) == (" + o(1) + " < 0))))";
  }
  if (isa<arith::NegFOp>(op))
    return "(-" + o(0) + ")";
  if (isa<arith::AndIOp>(op))
    return binary(o(0), "&", o(1));
  if (isa<arith::OrIOp>(op))
    return binary(o(0), "|", o(1));
  if (isa<arith::XOrIOp>(op))
    return binary(o(0), "^", o(1));
  if (isa<arith::ShLIOp>(op))
    return binary(o(0), "<<", o(1));
  if (isa<arith::ShRUIOp>(op))
    return cast("(" + unsignedOf(o(0), rt) + " >> " + unsignedOf(o(1), rt) +
                ")");
  if (isa<arith::MaxSIOp, arith::MinSIOp>(op)) {
    bool mx = isa<arith::MaxSIOp>(op);
    if (h)
      return std::string(mx ? "max(" : "min(") + o(0) + ", " + o(1) + ")";
    return "(" + o(0) + (mx ? " > " : " < ") + o(1) + " ? " + o(0) + " : " +
           o(1) + ")";
  }
  // NaN-propagating maximum/minimum: sparq_maximumf in the cuda package's
  // runtime header; in Halide, a select on is_nan.
  if (isa<arith::MaximumFOp, arith::MinimumFOp>(op)) {
    bool mx = isa<arith::MaximumFOp>(op);
    if (h)
      return "select(is_nan(" + o(0) + "), " + o(0) + ", is_nan(" + o(1) +
             "), " + o(1) + ", " + (mx ? "max(" : "min(") + o(0) + ", " + o(1) +
             "))";
    if (f64)
      return "";
    return std::string(mx ? "sparq_maximumf(" : "sparq_minimumf(") + o(0) +
           ", " + o(1) + ")";
  }
  if (isa<arith::MaxNumFOp, arith::MinNumFOp>(op)) {
    bool mx = isa<arith::MaxNumFOp>(op);
    if (h)
      return std::string(mx ? "max(" : "min(") + o(0) + ", " + o(1) + ")";
    return std::string(mx ? "fmax" : "fmin") + (f64 ? "" : "f") + "(" + o(0) +
           ", " + o(1) + ")";
  }
  if (isa<arith::SelectOp>(op))
    return h ? "select(" + o(0) + ", " + o(1) + ", " + o(2) + ")"
             : "(" + o(0) + " ? " + o(1) + " : " + o(2) + ")";
  if (isa<arith::IndexCastOp, arith::SIToFPOp, arith::FPToSIOp, arith::ExtSIOp,
          arith::TruncIOp, arith::ExtFOp, arith::TruncFOp>(op))
    return cast(o(0));
  if (isa<arith::ExtUIOp, arith::UIToFPOp, arith::IndexCastUIOp>(op))
    return cast(in.isInteger(1) && h ? o(0) : unsignedOf(o(0), in));
  if (isa<arith::CmpFOp, arith::CmpIOp>(op))
    return comparison(op, h, o(0), o(1),
                      in.isIntOrIndex() ? unsignedOf(o(0), in) : "",
                      in.isIntOrIndex() ? unsignedOf(o(1), in) : "");
  if (isa<math::ExpOp>(op))
    return fn("expf", "exp", "exp");
  if (isa<math::LogOp>(op))
    return fn("logf", "log", "log");
  if (isa<math::TanhOp>(op))
    return fn("tanhf", "tanh", "tanh");
  if (isa<math::SqrtOp>(op))
    return fn("sqrtf", "sqrt", "sqrt");
  if (isa<math::RsqrtOp>(op))
    return h ? "(1.0f / sqrt(" + o(0) + "))" : "(1.0f / sqrtf(" + o(0) + "))";
  if (isa<math::ErfOp>(op))
    return h && f64 ? "" : fn("erff", "erf", "erf");
  if (isa<math::AbsFOp>(op))
    return fn("fabsf", "fabs", "abs");
  if (isa<math::ExpM1Op>(op))
    return h ? "(exp(" + o(0) + ") - 1)" : fn("expm1f", "expm1", "");
  if (isa<math::Log1pOp>(op))
    return h ? "log(1 + " + o(0) + ")" : fn("log1pf", "log1p", "");
  if (isa<math::RoundEvenOp>(op)) // Halide's round is to nearest even
    return fn("rintf", "rint", "round");
  if (isa<math::FloorOp>(op))
    return fn("floorf", "floor", "floor");
  if (isa<math::CeilOp>(op))
    return fn("ceilf", "ceil", "ceil");
  if (isa<math::SinOp>(op))
    return fn("sinf", "sin", "sin");
  if (isa<math::CosOp>(op))
    return fn("cosf", "cos", "cos");
  if (isa<math::AbsIOp>(op))
    return h ? "select(" + o(0) + " < 0, 0 - " + o(0) + ", " + o(0) + ")"
             : "(" + o(0) + " < 0 ? -" + o(0) + " : " + o(0) + ")";
  if (isa<math::PowFOp>(op))
    return std::string(h     ? "pow"
                       : f64 ? "pow"
                             : "powf") +
           "(" + o(0) + ", " + o(1) + ")";
  return "";
}

} // namespace sparq::emit
