//===- FuseBevPool.cpp - lift-splat pooling to sparq.bev_pool -------------===//
//
// A BEVFusion-style camera branch exports its view transform as: the depth
// distribution times the context features (an outer product, the frustum),
// data movement that flattens the frustum into points (Transpose, Reshape,
// a Gather of the points inside the grid), and a scatter-add of the points
// into the BEV grid by constant cells (ScatterElements / ScatterND,
// reduction add). The importer lowers the scatter to an scf.for over the
// updates' elements. This pass evaluates, one BEV row (one frustum point)
// at a time, which cell the loop adds to and which depth probability and
// feature row that point multiplies: a small symbolic evaluator walks the
// loop body and the data movement back to the outer product, with integers
// affine in the channel (a + b*k) and tensor elements as lines along it.
// Everything it reads must be a constant, so the plan (points sorted by
// cell, intervals) is computed here once, and the frustum never exists.
// Anything it cannot evaluate leaves the IR as it was.
//
//===----------------------------------------------------------------------===//

#include "dialects/ConstantData.h"
#include "dialects/SparqDialect.h"
#include "passes/Passes.h"
#include "runtime/formats/BevPoolPlan.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_FUSEBEVPOOL
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

/// Elements base + k * step of a tensor, k in [0, count).
struct Line {
  SmallVector<int64_t, 6> base, step;
};

/// A value of the evaluator: an integer a + b * k, or a tensor element
/// along a line.
struct Sym {
  bool isInt = true;
  int64_t a = 0, b = 0;
  Value tensor;
  Line at;

  static Sym integer(int64_t a, int64_t b = 0) {
    Sym s;
    s.a = a;
    s.b = b;
    return s;
  }
  static Sym element(Value tensor, Line at) {
    Sym s;
    s.isInt = false;
    s.tensor = tensor;
    s.at = std::move(at);
    return s;
  }
};

SmallVector<int64_t, 6> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t, 6> s(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

int64_t dot(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  int64_t s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// The outer product that makes the frustum: a parallel linalg.generic
/// whose body multiplies its two inputs.
bool isOuterProduct(Operation *op) {
  auto g = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!g || g.getNumDpsInputs() != 2 || g.getNumDpsInits() != 1 ||
      g.getNumParallelLoops() != g.getNumLoops() ||
      !g.getIndexingMapsArray().back().isIdentity())
    return false;
  Block &body = g.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto mul = yield.getOperand(0).getDefiningOp<arith::MulFOp>();
  return mul && body.getOperations().size() == 2 &&
         ((mul.getLhs() == body.getArgument(0) &&
           mul.getRhs() == body.getArgument(1)) ||
          (mul.getLhs() == body.getArgument(1) &&
           mul.getRhs() == body.getArgument(0)));
}

/// Evaluates index computations over one line of `count` elements.
class Evaluator {
public:
  explicit Evaluator(int64_t count) : count(count) {}

  /// Values of a region: block arguments bound by the caller, the rest
  /// computed on demand. `iteration` is the line a linalg.generic body
  /// runs over (for linalg.index).
  struct Env {
    DenseMap<Value, Sym> values;
    const Line *iteration = nullptr;
  };

  FailureOr<Sym> eval(Value v, Env &env);
  /// One data-movement op back from `e`: the element of its operand; null
  /// tensor at a value that is not data movement (a root).
  FailureOr<Sym> stepBack(const Sym &e);
  /// The integer an element holds: its line traced back to a constant,
  /// which must not vary along the line.
  FailureOr<Sym> resolveInt(Sym e);
  /// `l` (over `from`) as a line over `to`, both row-major views of the
  /// same elements.
  FailureOr<Line> reshapeLine(const Line &l, ArrayRef<int64_t> from,
                              ArrayRef<int64_t> to) const;

  int64_t count;

private:
  FailureOr<Sym> evalOp(Operation *op, Env &env);
  FailureOr<Sym> divRem(const Sym &x, const Sym &n, bool rem) const;
  FailureOr<Sym> genericElement(linalg::GenericOp g, const Line &at);
};

FailureOr<Line> Evaluator::reshapeLine(const Line &l, ArrayRef<int64_t> from,
                                       ArrayRef<int64_t> to) const {
  SmallVector<int64_t, 6> sf = stridesOf(from), st = stridesOf(to);
  int64_t base = dot(l.base, sf), step = dot(l.step, sf);
  Line r;
  r.base.resize(to.size());
  r.step.assign(to.size(), 0);
  for (size_t i = 0; i < to.size(); ++i)
    r.base[i] = (base / st[i]) % to[i];
  if (step == 0 || count == 1)
    return r;
  if (step < 0)
    return failure();
  // The line moves along one dimension of `to` without carrying into the
  // next: the outermost whose stride divides the step.
  for (size_t j = 0; j < to.size(); ++j)
    if (step % st[j] == 0 && step / st[j] < to[j]) {
      int64_t q = step / st[j];
      if (r.base[j] + (count - 1) * q >= to[j])
        return failure();
      r.step[j] = q;
      return r;
    }
  return failure();
}

FailureOr<Sym> Evaluator::divRem(const Sym &x, const Sym &n, bool rem) const {
  if (!x.isInt || !n.isInt || n.b != 0 || n.a <= 0)
    return failure();
  if (x.b == 0) {
    if (x.a < 0)
      return failure(); // unsigned vs signed semantics differ; not seen
    return Sym::integer(rem ? x.a % n.a : x.a / n.a);
  }
  if (x.a < 0 || x.b < 0)
    return failure();
  if (x.b % n.a == 0)
    return rem ? Sym::integer(x.a % n.a) : Sym::integer(x.a / n.a, x.b / n.a);
  if (x.a % n.a + (count - 1) * x.b < n.a)
    return rem ? Sym::integer(x.a % n.a, x.b) : Sym::integer(x.a / n.a);
  return failure();
}

FailureOr<Sym> Evaluator::eval(Value v, Env &env) {
  auto it = env.values.find(v);
  if (it != env.values.end())
    return it->second;
  Operation *op = v.getDefiningOp();
  if (!op || op->getNumResults() != 1)
    return failure();
  FailureOr<Sym> r = evalOp(op, env);
  if (succeeded(r))
    env.values[v] = *r;
  return r;
}

FailureOr<Sym> Evaluator::evalOp(Operation *op, Env &env) {
  auto operand = [&](unsigned i) { return eval(op->getOperand(i), env); };
  auto ints = [&](SmallVector<Sym, 2> &out) {
    for (unsigned i = 0; i < op->getNumOperands(); ++i) {
      FailureOr<Sym> s = operand(i);
      if (failed(s) || !s->isInt)
        return false;
      out.push_back(*s);
    }
    return true;
  };
  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
      return Sym::integer(i.getValue().getSExtValue());
    return failure();
  }
  if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
          arith::ExtUIOp, arith::TruncIOp>(op))
    return operand(0);
  if (auto index = dyn_cast<linalg::IndexOp>(op)) {
    if (!env.iteration)
      return failure();
    int64_t d = index.getDim();
    return Sym::integer(env.iteration->base[d], env.iteration->step[d]);
  }
  if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
    Line at;
    for (Value i : extract.getIndices()) {
      FailureOr<Sym> s = eval(i, env);
      if (failed(s) || !s->isInt)
        return failure();
      at.base.push_back(s->a);
      at.step.push_back(s->b);
    }
    Sym e = Sym::element(extract.getTensor(), std::move(at));
    if (extract.getType().isIntOrIndex())
      return resolveInt(e);
    return e;
  }
  SmallVector<Sym, 2> x;
  if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::DivUIOp,
          arith::DivSIOp, arith::RemUIOp, arith::RemSIOp, arith::CmpIOp>(op) &&
      !ints(x))
    return failure();
  if (isa<arith::AddIOp>(op))
    return Sym::integer(x[0].a + x[1].a, x[0].b + x[1].b);
  if (isa<arith::SubIOp>(op))
    return Sym::integer(x[0].a - x[1].a, x[0].b - x[1].b);
  if (isa<arith::MulIOp>(op)) {
    if (x[0].b != 0 && x[1].b != 0)
      return failure();
    return Sym::integer(x[0].a * x[1].a, x[0].a * x[1].b + x[0].b * x[1].a);
  }
  if (isa<arith::DivUIOp, arith::DivSIOp>(op))
    return divRem(x[0], x[1], /*rem=*/false);
  if (isa<arith::RemUIOp, arith::RemSIOp>(op))
    return divRem(x[0], x[1], /*rem=*/true);
  if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
    // Affine in k, so an ordering holds on the whole line when it holds at
    // both ends; (in)equality needs a difference that does not vary.
    auto at = [&](int64_t k) {
      int64_t l = x[0].a + x[0].b * k, r = x[1].a + x[1].b * k;
      switch (cmp.getPredicate()) {
      case arith::CmpIPredicate::eq:
        return l == r;
      case arith::CmpIPredicate::ne:
        return l != r;
      case arith::CmpIPredicate::slt:
      case arith::CmpIPredicate::ult:
        return l < r;
      case arith::CmpIPredicate::sle:
      case arith::CmpIPredicate::ule:
        return l <= r;
      case arith::CmpIPredicate::sgt:
      case arith::CmpIPredicate::ugt:
        return l > r;
      case arith::CmpIPredicate::sge:
      case arith::CmpIPredicate::uge:
        return l >= r;
      }
      return false;
    };
    bool equality = cmp.getPredicate() == arith::CmpIPredicate::eq ||
                    cmp.getPredicate() == arith::CmpIPredicate::ne;
    bool unsignedPred = cmp.getPredicate() == arith::CmpIPredicate::ult ||
                        cmp.getPredicate() == arith::CmpIPredicate::ule ||
                        cmp.getPredicate() == arith::CmpIPredicate::ugt ||
                        cmp.getPredicate() == arith::CmpIPredicate::uge;
    if (unsignedPred &&
        (x[0].a < 0 || x[1].a < 0 || x[0].a + x[0].b * (count - 1) < 0 ||
         x[1].a + x[1].b * (count - 1) < 0))
      return failure();
    if ((equality && x[0].b != x[1].b) || at(0) != at(count - 1))
      return failure();
    return Sym::integer(at(0));
  }
  if (auto sel = dyn_cast<arith::SelectOp>(op)) {
    FailureOr<Sym> c = operand(0);
    if (failed(c) || !c->isInt || c->b != 0)
      return failure();
    return operand(c->a ? 1 : 2);
  }
  return failure();
}

FailureOr<Sym> Evaluator::genericElement(linalg::GenericOp g, const Line &at) {
  if (g.getNumDpsInits() != 1 || g.getNumParallelLoops() != g.getNumLoops() ||
      !g.getIndexingMapsArray().back().isIdentity())
    return failure();
  Block &body = g.getRegion().front();
  Env env;
  env.iteration = &at;
  for (OpOperand *in : g.getDpsInputOperands()) {
    AffineMap map = g.getMatchingIndexingMap(in);
    Line l;
    for (AffineExpr e : map.getResults()) {
      if (auto d = dyn_cast<AffineDimExpr>(e)) {
        l.base.push_back(at.base[d.getPosition()]);
        l.step.push_back(at.step[d.getPosition()]);
      } else if (auto c = dyn_cast<AffineConstantExpr>(e)) {
        l.base.push_back(c.getValue());
        l.step.push_back(0);
      } else {
        return failure();
      }
    }
    Sym s = Sym::element(in->get(), std::move(l));
    BlockArgument arg = body.getArgument(in->getOperandNumber());
    if (arg.getType().isIntOrIndex()) {
      if (arg.use_empty())
        continue;
      FailureOr<Sym> v = resolveInt(s);
      if (failed(v))
        return failure();
      s = *v;
    }
    env.values[arg] = s;
  }
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  return eval(yield.getOperand(0), env);
}

FailureOr<Sym> Evaluator::stepBack(const Sym &e) {
  Operation *op = e.tensor.getDefiningOp();
  if (isa_and_nonnull<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(op)) {
    Value src = op->getOperand(0);
    FailureOr<Line> l = reshapeLine(e.at, shapeOf(e.tensor), shapeOf(src));
    if (failed(l))
      return failure();
    return Sym::element(src, *l);
  }
  if (auto t = dyn_cast_or_null<linalg::TransposeOp>(op)) {
    ArrayRef<int64_t> perm = t.getPermutation();
    Line l;
    l.base.resize(perm.size());
    l.step.resize(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) {
      l.base[perm[i]] = e.at.base[i];
      l.step[perm[i]] = e.at.step[i];
    }
    return Sym::element(t.getInput(), std::move(l));
  }
  if (auto s = dyn_cast_or_null<tensor::ExtractSliceOp>(op)) {
    if (s.getSourceType().getRank() != s.getType().getRank() ||
        ShapedType::isDynamicShape(s.getStaticOffsets()) ||
        ShapedType::isDynamicShape(s.getStaticStrides()))
      return failure();
    Line l = e.at;
    for (size_t i = 0; i < l.base.size(); ++i) {
      l.base[i] = s.getStaticOffsets()[i] + l.base[i] * s.getStaticStrides()[i];
      l.step[i] *= s.getStaticStrides()[i];
    }
    return Sym::element(s.getSource(), std::move(l));
  }
  if (auto g = dyn_cast_or_null<linalg::GenericOp>(op);
      g && !isOuterProduct(g)) {
    FailureOr<Sym> r = genericElement(g, e.at);
    if (failed(r) || r->isInt)
      return failure();
    return r;
  }
  return Sym::element(Value(), e.at); // a root
}

FailureOr<Sym> Evaluator::resolveInt(Sym e) {
  for (int steps = 0; steps < 64; ++steps) {
    if (auto c = e.tensor.getDefiningOp<arith::ConstantOp>()) {
      auto type = cast<ShapedType>(c.getType());
      std::optional<ArrayRef<char>> bytes = constantBytes(c.getValue());
      unsigned width = type.getElementType().isIndex()
                           ? 64
                           : type.getElementType().getIntOrFloatBitWidth();
      if (!bytes || (width != 32 && width != 64))
        return failure();
      bool splat = isSplatConstant(c.getValue());
      SmallVector<int64_t, 6> strides = stridesOf(type.getShape());
      int64_t at = dot(e.at.base, strides), step = dot(e.at.step, strides);
      auto read = [&](int64_t i) -> int64_t {
        int64_t off = splat ? 0 : at + i * step;
        if (width == 64) {
          int64_t v;
          std::memcpy(&v, bytes->data() + off * 8, 8);
          return v;
        }
        int32_t v;
        std::memcpy(&v, bytes->data() + off * 4, 4);
        return v;
      };
      // An index along the channel must be one value (a broadcast that the
      // exporter folded into the constant).
      int64_t v = read(0);
      if (step != 0)
        for (int64_t i = 1; i < count; ++i)
          if (read(i) != v)
            return failure();
      return Sym::integer(v);
    }
    // A generic may compute the integer itself (a broadcast yields its
    // input's value, already resolved).
    FailureOr<Sym> prev = failure();
    if (auto g = e.tensor.getDefiningOp<linalg::GenericOp>())
      prev = genericElement(g, e.at);
    else
      prev = stepBack(e);
    if (failed(prev) || (!prev->isInt && !prev->tensor))
      return failure();
    if (prev->isInt)
      return prev->b == 0 ? prev : FailureOr<Sym>(failure());
    e = *prev;
  }
  return failure();
}

/// Strips reshapes, which keep every element's row-major position.
Value throughReshapes(Value v) {
  while (isa_and_nonnull<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(
      v.getDefiningOp()))
    v = v.getDefiningOp()->getOperand(0);
  return v;
}

bool isZeroConstant(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  if (!c)
    return false;
  std::optional<ArrayRef<char>> bytes = constantBytes(c.getValue());
  return bytes && llvm::all_of(*bytes, [](char b) { return b == 0; });
}

/// What a matched scatter loop computes, point by point.
struct Match {
  Value depth, features; // roots
  std::vector<int64_t> cell, depthIndex, featBase;
  int64_t featStep = 0, cells = 0, channels = 0;
};

/// Matches `loop` as a scatter-add of the frustum into a zero BEV grid.
FailureOr<Match> matchScatterLoop(scf::ForOp loop) {
  std::optional<int64_t> lb = getConstantIntValue(loop.getLowerBound()),
                         ub = getConstantIntValue(loop.getUpperBound()),
                         st = getConstantIntValue(loop.getStep());
  if (!lb || !ub || !st || *lb != 0 || *st != 1 ||
      loop.getNumRegionIterArgs() != 1)
    return failure();
  Value init = loop.getInitArgs()[0];
  auto gridType = dyn_cast<RankedTensorType>(init.getType());
  if (!gridType || !gridType.hasStaticShape() || gridType.getRank() < 2 ||
      !gridType.getElementType().isF32() || !isZeroConstant(init))
    return failure();
  Block *body = loop.getBody();
  BlockArgument acc = loop.getRegionIterArgs()[0];
  auto yield = cast<scf::YieldOp>(body->getTerminator());
  auto insert = yield.getOperand(0).getDefiningOp<tensor::InsertOp>();
  if (!insert || insert.getDest() != acc ||
      std::distance(acc.use_begin(), acc.use_end()) != 2)
    return failure();
  auto add = insert.getScalar().getDefiningOp<arith::AddFOp>();
  if (!add)
    return failure();
  Value update;
  for (auto [old, other] : {std::pair(add.getLhs(), add.getRhs()),
                            std::pair(add.getRhs(), add.getLhs())}) {
    auto e = old.getDefiningOp<tensor::ExtractOp>();
    if (e && e.getTensor() == acc && e.getIndices() == insert.getIndices())
      update = other;
  }
  if (!update)
    return failure();

  Match m;
  ArrayRef<int64_t> grid = gridType.getShape();
  m.channels = grid.back();
  m.cells = gridType.getNumElements() / m.channels;
  if (*ub % m.channels != 0)
    return failure();
  int64_t points = *ub / m.channels;
  Evaluator ev(m.channels);
  Operation *product = nullptr;
  int depthSide = -1;
  for (int64_t p = 0; p < points; ++p) {
    Evaluator::Env env;
    env.values[loop.getInductionVar()] = Sym::integer(p * m.channels, 1);
    // The row of the grid this point adds to: all channels, in order.
    SmallVector<int64_t, 6> cellIndex;
    for (Value i : insert.getIndices()) {
      FailureOr<Sym> s = ev.eval(i, env);
      if (failed(s) || !s->isInt)
        return failure();
      cellIndex.push_back(s->a);
      if (cellIndex.size() < grid.size() && s->b != 0)
        return failure();
    }
    FailureOr<Sym> last = ev.eval(insert.getIndices().back(), env);
    if (last->a != 0 || last->b != 1)
      return failure();
    int64_t cell = 0;
    for (size_t d = 0; d + 1 < grid.size(); ++d) {
      if (cellIndex[d] < 0 || cellIndex[d] >= grid[d])
        return failure();
      cell = cell * grid[d] + cellIndex[d];
    }
    // The updates back to the outer product.
    FailureOr<Sym> u = ev.eval(update, env);
    if (failed(u) || u->isInt)
      return failure();
    Sym e = *u;
    for (int steps = 0; !isOuterProduct(e.tensor.getDefiningOp()); ++steps) {
      FailureOr<Sym> prev = ev.stepBack(e);
      if (failed(prev) || !prev->tensor || steps > 64)
        return failure();
      e = *prev;
    }
    Operation *op = e.tensor.getDefiningOp();
    if (product && op != product)
      return failure();
    product = op;
    auto g = cast<linalg::GenericOp>(op);
    // Each input's element: the depth side does not vary with the channel.
    Line sides[2];
    for (int i = 0; i < 2; ++i)
      for (AffineExpr x : g.getIndexingMapsArray()[i].getResults()) {
        if (auto d = dyn_cast<AffineDimExpr>(x)) {
          sides[i].base.push_back(e.at.base[d.getPosition()]);
          sides[i].step.push_back(e.at.step[d.getPosition()]);
        } else if (auto c = dyn_cast<AffineConstantExpr>(x)) {
          sides[i].base.push_back(c.getValue());
          sides[i].step.push_back(0);
        } else {
          return failure();
        }
      }
    auto still = [](const Line &l) {
      return llvm::all_of(l.step, [](int64_t s) { return s == 0; });
    };
    int d = still(sides[0]) ? 0 : still(sides[1]) ? 1 : -1;
    if (d < 0 || still(sides[1 - d]) || (depthSide >= 0 && d != depthSide))
      return failure();
    depthSide = d;
    Value depthIn = g.getDpsInputOperand(d)->get();
    Value featIn = g.getDpsInputOperand(1 - d)->get();
    SmallVector<int64_t, 6> ds = stridesOf(shapeOf(depthIn)),
                            fs = stridesOf(shapeOf(featIn));
    int64_t featStep = dot(sides[1 - d].step, fs);
    if (p > 0 && featStep != m.featStep)
      return failure();
    m.featStep = featStep;
    m.depth = throughReshapes(depthIn);
    m.features = throughReshapes(featIn);
    m.cell.push_back(cell);
    m.depthIndex.push_back(dot(sides[d].base, ds));
    m.featBase.push_back(dot(sides[1 - d].base, fs));
  }
  if (points == 0 || m.featStep <= 0)
    return failure();
  return m;
}

/// Erases the ops of `worklist` that nothing uses any more, and then their
/// producers; returns the bytes of the tensors they computed.
int64_t eraseDeadProducers(SmallVector<Operation *> worklist) {
  int64_t bytes = 0;
  // An op may be listed again after it was erased: skip it by address.
  llvm::DenseSet<Operation *> erased;
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!op || erased.contains(op) || !isOpTriviallyDead(op))
      continue;
    // Reshapes are views, constants the model's, an empty tensor the buffer
    // its consumer computes into: none is a tensor of its own.
    if (!isa<arith::ConstantOp, tensor::ExpandShapeOp, tensor::CollapseShapeOp,
             tensor::EmptyOp>(op))
      for (Value r : op->getResults())
        if (auto t = dyn_cast<RankedTensorType>(r.getType());
            t && t.hasStaticShape() && t.getElementType().isIntOrFloat())
          bytes += t.getNumElements() *
                   std::max<int64_t>(1, t.getElementTypeBitWidth() / 8);
    for (Value v : op->getOperands())
      worklist.push_back(v.getDefiningOp());
    // Values its regions read from above (a gather's source).
    op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        if (Operation *def = v.getDefiningOp(); def && !op->isAncestor(def))
          worklist.push_back(def);
    });
    erased.insert(op);
    op->erase();
  }
  return bytes;
}

/// The transpose that moves the grid `grid` ([cells, C]) channels-first,
/// through reshapes only (`chain`, in order), with everything before the
/// channels of size 1 and the cells' order kept: [1.., C, X, Y] from
/// [X, Y, C] say. Null if the grid is used otherwise.
linalg::TransposeOp channelsFirstUse(Value grid,
                                     SmallVector<Operation *> &chain) {
  Value v = grid;
  while (v.hasOneUse() && isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(
                              *v.getUsers().begin())) {
    chain.push_back(*v.getUsers().begin());
    v = chain.back()->getResult(0);
  }
  auto t = v.hasOneUse() ? dyn_cast<linalg::TransposeOp>(*v.getUsers().begin())
                         : linalg::TransposeOp();
  auto gridType = cast<RankedTensorType>(grid.getType());
  int64_t channels = gridType.getShape().back();
  if (!t || t.getInput() != v ||
      cast<RankedTensorType>(v.getType()).getShape().back() != channels) {
    chain.clear();
    return {};
  }
  ArrayRef<int64_t> perm = t.getPermutation();
  int64_t last = int64_t(perm.size()) - 1, previous = -1;
  auto outShape = cast<RankedTensorType>(t->getResult(0).getType()).getShape();
  bool seenChannels = false;
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] == last) {
      seenChannels = true;
      continue;
    }
    // Before the channels only extents of 1; the cells keep their order.
    if ((!seenChannels && outShape[i] != 1) || perm[i] < previous) {
      chain.clear();
      return {};
    }
    previous = perm[i];
  }
  return t;
}

struct FuseBevPoolPass : mlir::sparq::impl::FuseBevPoolBase<FuseBevPoolPass> {
  void runOnOperation() override {
    SmallVector<scf::ForOp> loops;
    getOperation().walk([&](scf::ForOp loop) { loops.push_back(loop); });
    for (scf::ForOp loop : loops)
      if (FailureOr<Match> m = matchScatterLoop(loop); succeeded(m))
        fuse(loop, *m);
  }

  void fuse(scf::ForOp loop, Match &m) {
    MLIRContext *ctx = &getContext();
    // The features as [rows, C]: the channel dimension is the one the
    // points' lines step along; moved last when it is not.
    auto featType = cast<RankedTensorType>(m.features.getType());
    ArrayRef<int64_t> fshape = featType.getShape();
    SmallVector<int64_t, 6> fs = stridesOf(fshape);
    int64_t j = -1;
    for (int64_t d = int64_t(fshape.size()) - 1; d >= 0; --d)
      if (fs[d] == m.featStep && fshape[d] == m.channels)
        j = d;
    if (j < 0)
      return;
    std::vector<int64_t> featIndex;
    featIndex.reserve(m.featBase.size());
    for (int64_t base : m.featBase) {
      int64_t row = 0;
      for (size_t d = 0; d < fshape.size(); ++d) {
        int64_t digit = (base / fs[d]) % fshape[d];
        if (int64_t(d) == j) {
          if (digit != 0)
            return;
          continue;
        }
        row = row * fshape[d] + digit;
      }
      featIndex.push_back(row);
    }
    ::sparq::formats::BevPoolPlan plan = ::sparq::formats::planBevPool(
        m.cell.data(), m.depthIndex.data(), featIndex.data(),
        int64_t(m.cell.size()), m.cells);

    OpBuilder b(loop);
    Location loc = loop.getLoc();
    auto flatten = [&](Value v, int64_t keepLast) -> Value {
      auto t = cast<RankedTensorType>(v.getType());
      int64_t rank = t.getRank();
      if (rank == 1 + keepLast)
        return v;
      ReassociationIndices lead;
      for (int64_t d = 0; d < rank - keepLast; ++d)
        lead.push_back(d);
      SmallVector<ReassociationIndices> groups{lead};
      if (keepLast)
        groups.push_back({rank - 1});
      return b.create<tensor::CollapseShapeOp>(loc, v, groups);
    };
    Value depth = flatten(m.depth, 0);
    Value feat = m.features;
    if (j != int64_t(fshape.size()) - 1) {
      SmallVector<int64_t> perm, shape;
      for (int64_t d = 0; d < int64_t(fshape.size()); ++d)
        if (d != j)
          perm.push_back(d);
      perm.push_back(j);
      for (int64_t d : perm)
        shape.push_back(fshape[d]);
      Value init = b.create<tensor::EmptyOp>(loc, shape, b.getF32Type());
      feat =
          b.create<linalg::TransposeOp>(loc, feat, init, perm).getResult()[0];
    }
    feat = flatten(feat, 1);
    auto attr = [&](const std::vector<int32_t> &v) {
      auto type =
          RankedTensorType::get({int64_t(v.size())}, IntegerType::get(ctx, 32));
      return constantAttr(type, std::vector<int32_t>(v));
    };
    // The grid moved channels-first right after (an NCHW consumer): the op
    // writes that layout itself and the transpose goes.
    SmallVector<Operation *> chain;
    linalg::TransposeOp toNchw = channelsFirstUse(loop.getResult(0), chain);
    auto resultType =
        RankedTensorType::get(toNchw ? ArrayRef<int64_t>{m.channels, m.cells}
                                     : ArrayRef<int64_t>{m.cells, m.channels},
                              b.getF32Type());
    auto pool = b.create<BevPoolOp>(loc, resultType, depth, feat,
                                    attr(plan.depthIndex), attr(plan.featIndex),
                                    attr(plan.start), attr(plan.cell),
                                    toNchw ? b.getUnitAttr() : UnitAttr());
    int64_t planBytes = 4 * int64_t(2 * plan.depthIndex.size() +
                                    plan.start.size() + plan.cell.size());
    Value result = pool.getResult();
    int64_t transposed = 0; // the NCHW copy the op now writes directly
    if (toNchw) {
      // [C, cells] as the transpose's [1.., C, rest..]: dims up to C, then
      // the rest.
      auto outType = cast<RankedTensorType>(toNchw->getResult(0).getType());
      ArrayRef<int64_t> perm = toNchw.getPermutation();
      int64_t q = 0;
      while (perm[q] != int64_t(perm.size()) - 1)
        ++q;
      ReassociationIndices first, rest;
      for (int64_t d = 0; d <= q; ++d)
        first.push_back(d);
      for (int64_t d = q + 1; d < outType.getRank(); ++d)
        rest.push_back(d);
      Value nchw = result;
      if (outType.getRank() > 2)
        nchw = b.create<tensor::ExpandShapeOp>(
            loc, outType, result,
            SmallVector<ReassociationIndices>{first, rest});
      toNchw->getResult(0).replaceAllUsesWith(nchw);
      transposed = outType.getNumElements() * 4;
      Value init = toNchw.getInit();
      toNchw->erase();
      if (Operation *e = init.getDefiningOp(); e && e->use_empty())
        e->erase();
      for (Operation *op : llvm::reverse(chain))
        op->erase();
    }
    auto gridType = cast<RankedTensorType>(loop.getResult(0).getType());
    if (!toNchw && gridType.getRank() > 2) {
      ReassociationIndices lead;
      for (int64_t d = 0; d + 1 < gridType.getRank(); ++d)
        lead.push_back(d);
      result = b.create<tensor::ExpandShapeOp>(
          loc, gridType, result,
          SmallVector<ReassociationIndices>{lead, {gridType.getRank() - 1}});
    }
    if (!toNchw)
      loop.getResult(0).replaceAllUsesWith(result);
    // What the loop read from above: the frustum's chain, the indices.
    SmallVector<Operation *> producers;
    loop.walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        if (Operation *def = v.getDefiningOp(); def && !loop->isAncestor(def))
          producers.push_back(def);
    });
    loop.erase();
    int64_t unfused = eraseDeadProducers(std::move(producers)) + transposed;
    // For the report: what the unfused chain materialized per inference,
    // against the plan the fused op reads instead.
    pool->setAttr("sparq.unfused_bytes", b.getI64IntegerAttr(unfused));
    pool->setAttr("sparq.plan_bytes", b.getI64IntegerAttr(planBytes));
  }
};

} // namespace
