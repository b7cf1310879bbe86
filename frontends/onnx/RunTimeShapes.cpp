//===- RunTimeShapes.cpp - shape computations on run-time dims ------------===//
//
// A model exported with dynamic axes computes its reshapes and masks from
// its inputs' shapes at run time: Shape -> Gather -> Unsqueeze -> Concat ->
// Reshape, Shape -> Range -> Greater -> Where. With run-time dims those
// shape values are linear expressions over the symbols (io::DimExpr): they
// fold here, while importing, into GraphValue::symbolic, so that Reshape,
// Range and Concat still know their results' extents symbolically and the
// compiled code only reads the symbols' values.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/DimTable.h"
#include "frontends/onnx/NodeContext.h"
#include "runtime/io/SizeMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include "llvm/ADT/StringSet.h"

#include <set>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

/// Ops whose outputs broadcast their inputs (numpy rules): their builders
/// size results from the inputs' extents.
const llvm::StringSet<> &broadcastingOps() {
  static const llvm::StringSet<> ops = {"Identity",    "Relu",
                                        "LeakyRelu",   "Elu",
                                        "Selu",        "Sigmoid",
                                        "HardSigmoid", "HardSwish",
                                        "Softplus",    "Softsign",
                                        "Gelu",        "Tanh",
                                        "Erf",         "Sqrt",
                                        "Exp",         "Log",
                                        "Floor",       "Ceil",
                                        "Round",       "Sin",
                                        "Cos",         "Neg",
                                        "Abs",         "Sign",
                                        "Reciprocal",  "IsNaN",
                                        "IsInf",       "Add",
                                        "Sub",         "Mul",
                                        "Div",         "Pow",
                                        "Mod",         "Equal",
                                        "Less",        "LessOrEqual",
                                        "Greater",     "GreaterOrEqual",
                                        "And",         "Or",
                                        "Xor",         "Not",
                                        "Sum",         "Mean",
                                        "Min",         "Max",
                                        "Where",       "Clip",
                                        "Cast",        "CastLike",
                                        "Softmax",     "LogSoftmax"};
  return ops;
}

/// Ops whose builders compute their results' run-time extents themselves.
const llvm::StringSet<> &sizingOps() {
  static const llvm::StringSet<> ops = {
      "MatMul", "Transpose", "Reshape", "Unsqueeze", "Squeeze", "Concat",
      "Slice", "Gather", "Range", "ReduceMean", "ReduceSum", "ReduceMax",
      "ReduceMin", "ArgMax", "ArgMin", "Flatten", "Gemm", "TopK", "Conv",
      "MaxPool", "AveragePool",
      // Detection ops check their own inputs (ops/Detection.cpp).
      "RoiAlign", "NonMaxSuppression", "NonZero", "Compress", "Unique"};
  return ops;
}

using Exprs = std::vector<io::DimExpr>;

/// Input `i` as expressions: a shape value, or compile-time integers.
std::optional<Exprs> exprsOf(NodeContext &ctx, size_t i) {
  if (!ctx.hasInput(i))
    return std::nullopt;
  const GraphValue &v = ctx.input(i);
  if (v.symbolic)
    return *v.symbolic;
  if (!v.constant || isFloat(v.dtype) || v.constant->numElements() > 64)
    return std::nullopt;
  Exprs r;
  for (int64_t x : hostToInts(*v.constant))
    r.push_back(io::DimExpr::ofConstant(x));
  return r;
}

bool isIntegerType(io::DType t) { return !isFloat(t) && !isBool(t); }

/// Elementwise on 0-D/1-D shape values with broadcasting; `fn` fails on
/// what is not linear.
FailureOr<bool> foldArith(
    NodeContext &ctx,
    function_ref<bool(const io::DimExpr &, const io::DimExpr &, io::DimExpr &)>
        fn) {
  auto a = exprsOf(ctx, 0), b = exprsOf(ctx, 1);
  if (!a || !b || ctx.rank(0) > 1 || ctx.rank(1) > 1)
    return false;
  size_t n = std::max(a->size(), b->size());
  if ((a->size() != n && a->size() != 1) || (b->size() != n && b->size() != 1))
    return false;
  Exprs out(n);
  for (size_t k = 0; k < n; ++k)
    if (!fn((*a)[a->size() == 1 ? 0 : k], (*b)[b->size() == 1 ? 0 : k], out[k]))
      return false;
  std::vector<int64_t> shape;
  if (ctx.rank(0) == 1 || ctx.rank(1) == 1)
    shape.push_back(n);
  ctx.setSymbolic(0, ctx.dtype(0), shape, std::move(out));
  return true;
}

FailureOr<bool> foldShape(NodeContext &ctx) {
  const std::vector<int64_t> &s = ctx.shape(0);
  int64_t rank = s.size();
  int64_t start = ctx.attrInt("start", 0), end = ctx.attrInt("end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  Exprs out;
  for (int64_t i = start; i < end; ++i)
    out.push_back(ctx.dims().exprOf(s[i]));
  int64_t n = out.size();
  ctx.setSymbolic(0, io::DType::I64, {n}, std::move(out));
  return true;
}

} // namespace

FailureOr<bool> onnx_import::foldRunTimeShapes(NodeContext &ctx) {
  llvm::StringRef op = ctx.node.op_type();
  if (op == "Shape")
    return foldShape(ctx);
  // The rest folds shape values only: every input an integer shape value
  // or compile-time integers.
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i) && !exprsOf(ctx, i))
      return false;
  bool anySymbolic = false;
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    anySymbolic |= ctx.hasInput(i) && ctx.input(i).symbolic != nullptr;
  if (!anySymbolic || !ctx.hasInput(0))
    return false;
  auto x = *exprsOf(ctx, 0);
  io::DType dt = ctx.dtype(0);
  const std::vector<int64_t> &shape = ctx.shape(0);
  if (op == "Identity") {
    ctx.setSymbolic(0, dt, shape, x);
    return true;
  }
  if (op == "Cast") {
    io::DType to;
    if (!io::dtypeFromOnnx(ctx.attrInt("to", 0), to) || !isIntegerType(to) ||
        io::dtypeSize(to) < 4)
      return false;
    ctx.setSymbolic(0, to, shape, x);
    return true;
  }
  if (op == "Unsqueeze" || op == "Squeeze" || op == "Reshape" ||
      op == "Flatten") {
    // A 0-D or 1-D value takes another small shape: the elements stay.
    std::vector<int64_t> out;
    int64_t n = x.size();
    if (op == "Unsqueeze") {
      // A scalar becomes [1] (how exporters build shapes from Gathers).
      size_t axes = ctx.opset >= 13
                        ? (exprsOf(ctx, 1) ? exprsOf(ctx, 1)->size() : 0)
                        : ctx.attrInts("axes").size();
      if (!shape.empty() || axes != 1)
        return false;
      out = {1};
    } else if (op == "Squeeze") {
      if (n != 1)
        return false;
    } else if (op == "Reshape") {
      auto t = exprsOf(ctx, 1);
      if (!t || t->size() > 1)
        return false;
      if (t->size() == 1) {
        if (!(*t)[0].isConstant() ||
            ((*t)[0].constant != n && (*t)[0].constant != -1))
          return false;
        out = {n};
      }
      if (t->empty() && n != 1)
        return false;
    } else {
      out = {1, n};
    }
    ctx.setSymbolic(0, dt, out, x);
    return true;
  }
  if (op == "Gather") {
    auto idx = exprsOf(ctx, 1);
    if (shape.size() != 1 || !idx ||
        normalizeAxis(ctx.attrInt("axis", 0), 1) != 0)
      return false;
    Exprs out;
    int64_t n = x.size();
    for (const io::DimExpr &i : *idx) {
      int64_t k = i.constant < 0 ? i.constant + n : i.constant;
      if (!i.isConstant() || k < 0 || k >= n)
        return false;
      out.push_back(x[k]);
    }
    ctx.setSymbolic(0, dt, ctx.shape(1), std::move(out));
    return true;
  }
  if (op == "Concat") {
    Exprs out;
    for (size_t i = 0; i < ctx.numInputs(); ++i) {
      if (ctx.rank(i) != 1)
        return false;
      auto e = *exprsOf(ctx, i);
      out.insert(out.end(), e.begin(), e.end());
    }
    int64_t n = out.size();
    ctx.setSymbolic(0, dt, {n}, std::move(out));
    return true;
  }
  if (op == "Slice" && ctx.opset >= 10 && shape.size() == 1) {
    auto spec = resolveSlice(ctx);
    if (failed(spec))
      return failure();
    Exprs out;
    for (int64_t k = 0; k < spec->sizes[0]; ++k)
      out.push_back(x[spec->offsets[0] + k * spec->strides[0]]);
    ctx.setSymbolic(0, dt, {spec->sizes[0]}, std::move(out));
    return true;
  }
  if (op == "Neg") {
    for (io::DimExpr &e : x)
      if (!e.scale(-1))
        return false;
    ctx.setSymbolic(0, dt, shape, std::move(x));
    return true;
  }
  if (op == "Add" || op == "Sub")
    return foldArith(
        ctx, [&](const io::DimExpr &a, const io::DimExpr &b, io::DimExpr &r) {
          r = a;
          return r.add(b, op == "Add" ? 1 : -1);
        });
  if (op == "Mul")
    return foldArith(
        ctx, [](const io::DimExpr &a, const io::DimExpr &b, io::DimExpr &r) {
          if (!a.isConstant() && !b.isConstant())
            return false;
          r = a.isConstant() ? b : a;
          return r.scale(a.isConstant() ? a.constant : b.constant);
        });
  if (op == "Div")
    return foldArith(
        ctx, [](const io::DimExpr &a, const io::DimExpr &b, io::DimExpr &r) {
          // Exact divisions only: what floors is left to run time.
          if (!b.isConstant() || b.constant <= 0 || a.constant % b.constant)
            return false;
          r = io::DimExpr::ofConstant(a.constant / b.constant);
          for (const auto &[sym, coeff] : a.terms) {
            if (coeff % b.constant)
              return false;
            r.terms.push_back({sym, coeff / b.constant});
          }
          return true;
        });
  return false;
}

LogicalResult onnx_import::checkRunTimeDimsSupported(NodeContext &ctx) {
  llvm::StringRef op = ctx.node.op_type();
  bool softmaxCoerced =
      (op == "Softmax" || op == "LogSoftmax") && ctx.opset < 13;
  if (broadcastingOps().contains(op) && !softmaxCoerced) {
    ctx.broadcastRunTimeDims = true;
    return success();
  }
  if (sizingOps().contains(op))
    return success();
  auto diag = ctx.error() << "this operator does not support run-time "
                             "dimensions yet; its inputs:";
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i) && ctx.input(i).isRunTimeShaped())
      diag << " " << printable(ctx.node.input(i)) << " "
           << ctx.dims().shapeStr(ctx.shape(i));
  return diag;
}

//===----------------------------------------------------------------------===//
// Builders with run-time extents
//===----------------------------------------------------------------------===//

LogicalResult onnx_import::buildRunTimeReshape(NodeContext &ctx) {
  DimTable &dims = ctx.dims();
  auto target = ctx.symbolicInts(1, "shape");
  if (failed(target))
    return failure();
  const std::vector<int64_t> &in = ctx.shape(0);
  bool allowZero = ctx.attrInt("allowzero", 0);
  std::vector<int64_t> out;
  int64_t inferred = -1;
  for (size_t i = 0; i < target->size(); ++i) {
    const io::DimExpr &e = (*target)[i];
    if (!e.isConstant()) {
      out.push_back(dims.dimOf(e));
      continue;
    }
    int64_t c = e.constant;
    if (c == 0 && !allowZero) {
      if (i >= in.size())
        return ctx.error() << "shape copies dimension " << i
                           << " that the input " << dims.shapeStr(in)
                           << " lacks";
      out.push_back(in[i]);
    } else if (c == -1) {
      if (inferred >= 0)
        return ctx.error() << "shape has more than one -1";
      inferred = i;
      out.push_back(1);
    } else if (c < 0) {
      return ctx.error() << "invalid shape: negative dimension " << c;
    } else {
      out.push_back(c);
    }
  }
  // Element counts as a static product times run-time dims: the dims both
  // sides share cancel; what remains must match (or give the -1).
  SizeMath m;
  int64_t inStatic = 1, outStatic = 1;
  std::multiset<int64_t> inIds, outIds;
  for (int64_t d : in)
    isRunTimeDim(d) ? (void)inIds.insert(d)
                    : (void)(inStatic = m.mul(inStatic, d));
  for (size_t k = 0; k < out.size(); ++k)
    if (static_cast<int64_t>(k) != inferred)
      isRunTimeDim(out[k]) ? (void)outIds.insert(out[k])
                           : (void)(outStatic = m.mul(outStatic, out[k]));
  for (auto it = outIds.begin(); it != outIds.end();) {
    auto match = inIds.find(*it);
    if (match == inIds.end()) {
      ++it;
      continue;
    }
    inIds.erase(match);
    it = outIds.erase(it);
  }
  auto cannot = [&]() {
    return ctx.error() << "cannot reshape " << dims.shapeStr(in) << " to "
                       << dims.shapeStr(out)
                       << " for every value of its run-time dimensions";
  };
  if (!m.ok() || !outIds.empty())
    return cannot();
  if (inferred >= 0) {
    if (outStatic == 0 || inStatic % outStatic != 0 || inIds.size() > 1)
      return cannot();
    io::DimExpr e = io::DimExpr::ofConstant(inStatic / outStatic);
    if (!inIds.empty()) {
      e = dims.exprOf(*inIds.begin());
      if (!e.scale(inStatic / outStatic))
        return cannot();
    }
    out[inferred] = dims.dimOf(e);
  } else if (!inIds.empty() || inStatic != outStatic) {
    return cannot();
  }
  ctx.setOutput(0, reshapeTensor(ctx.b, ctx.loc, ctx.value(0), out),
                ctx.dtype(0), out);
  return success();
}

LogicalResult onnx_import::buildRunTimeRange(NodeContext &ctx) {
  auto start = ctx.symbolicInts(0, "start"),
       limit = ctx.symbolicInts(1, "limit"),
       delta = ctx.symbolicInts(2, "delta");
  if (failed(start) || failed(limit) || failed(delta))
    return failure();
  if (start->size() != 1 || limit->size() != 1 || delta->size() != 1 ||
      !(*start)[0].isConstant() || !(*delta)[0].isConstant() ||
      (*delta)[0].constant != 1)
    return ctx.error() << "a range over run-time dimensions needs a "
                          "compile-time start and a delta of 1";
  io::DimExpr count = (*limit)[0];
  if (!count.add((*start)[0], -1))
    return ctx.error() << "the range's length overflows";
  // (A count below 0 at run time is out of the bound the runtime checks.)
  int64_t n = count.isConstant() ? std::max<int64_t>(0, count.constant)
                                 : ctx.dims().dimOf(count);
  int64_t first = (*start)[0].constant;
  io::DType dt = ctx.dtype(0);
  Type elem = ctx.elementType(dt);
  Value r = buildIndexed(
      ctx.b, ctx.loc, {n}, elem, {}, {},
      [&](OpBuilder &b, Location loc, ValueRange idx, ValueRange) -> Value {
        Value i = b.create<arith::IndexCastOp>(loc, b.getI64Type(), idx[0]);
        i = b.create<arith::AddIOp>(
            loc, i, b.create<arith::ConstantIntOp>(loc, first, b.getI64Type()));
        return castScalar(b, loc, i, io::DType::I64, dt);
      });
  ctx.setOutput(0, r, dt, {n});
  return success();
}
