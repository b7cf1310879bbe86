//===- DimTable.cpp - run-time dimensions while importing -----------------===//

#include "frontends/onnx/DimTable.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <algorithm>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

SmallVector<int64_t> onnx_import::mlirShape(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> r(shape.begin(), shape.end());
  for (int64_t &d : r)
    if (isRunTimeDim(d))
      d = ShapedType::kDynamic;
  return r;
}

int DimTable::addSymbol(io::DimSymbol symbol) {
  syms.push_back(std::move(symbol));
  return static_cast<int>(syms.size()) - 1;
}

int64_t DimTable::addComputedSymbol(std::string name, int64_t bound,
                                    Value value) {
  int sym = addSymbol({std::move(name), bound, -1, -1});
  bindSymbol(sym, value);
  return dimOf(io::DimExpr::ofSymbol(sym));
}

int64_t DimTable::addMinSymbol(OpBuilder &b, Location loc, int64_t d,
                               int64_t k) {
  Value m = b.create<arith::MinSIOp>(loc, value(b, loc, d),
                                     b.create<arith::ConstantIndexOp>(loc, k));
  return addComputedSymbol("min(" + str(d) + ", " + std::to_string(k) + ")",
                           std::min(bound(d), k), m);
}

SmallVector<Value> DimTable::computedValues() const {
  SmallVector<Value> r;
  for (size_t k = 0; k < syms.size(); ++k)
    if (syms[k].computed())
      r.push_back(symValues.at(k));
  return r;
}

int64_t DimTable::dimOf(const io::DimExpr &e) {
  if (e.isConstant())
    return e.constant >= 0 ? e.constant : -1;
  auto [it, inserted] = ids.try_emplace(e, kFirstDimId - int64_t(exprs.size()));
  if (inserted)
    exprs.push_back(e);
  return it->second;
}

io::DimExpr DimTable::exprOf(int64_t d) const {
  if (isId(d))
    return exprs[kFirstDimId - d];
  return io::DimExpr::ofConstant(d);
}

int64_t DimTable::bound(int64_t d) const {
  if (!isId(d))
    return d;
  // Bounds are at most 2^34 and coefficients small: no overflow.
  const io::DimExpr &e = exprs[kFirstDimId - d];
  int64_t r = e.constant;
  for (const auto &[sym, coeff] : e.terms)
    if (coeff > 0)
      r += coeff * syms[sym].bound;
  return r;
}

std::string DimTable::str(int64_t d) const { return exprOf(d).str(syms); }

std::string DimTable::shapeStr(ArrayRef<int64_t> shape) const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + str(shape[i]);
  return s + "]";
}

std::vector<int64_t> DimTable::boundShape(ArrayRef<int64_t> shape) const {
  std::vector<int64_t> r;
  for (int64_t d : shape)
    r.push_back(bound(d));
  return r;
}

io::SymbolicShape DimTable::symbolicShape(ArrayRef<int64_t> shape) const {
  io::SymbolicShape s;
  s.bounds = boundShape(shape);
  if (hasRunTimeDims(shape))
    for (int64_t d : shape)
      s.dims.push_back(isRunTimeDim(d) ? std::optional(exprOf(d))
                                       : std::nullopt);
  return s;
}

Value DimTable::value(OpBuilder &b, Location loc, int64_t d) {
  if (!isId(d))
    return b.create<arith::ConstantIndexOp>(loc, d);
  auto it = values.find(d);
  if (it != values.end())
    return it->second;
  const io::DimExpr &e = exprs[kFirstDimId - d];
  // A computed symbol is defined where its op is: what reads it is built
  // where it is needed, after that (CSE merges repeats).
  bool computed = llvm::any_of(
      e.terms, [&](const auto &term) { return syms[term.first].computed(); });
  OpBuilder top = computed
                      ? OpBuilder(b.getInsertionBlock(), b.getInsertionPoint())
                      : OpBuilder(anchor);
  Value r;
  for (const auto &[sym, coeff] : e.terms) {
    Value v = symValues.at(sym);
    if (coeff != 1)
      v = top.create<arith::MulIOp>(
          loc, v, top.create<arith::ConstantIndexOp>(loc, coeff));
    r = r ? top.create<arith::AddIOp>(loc, r, v).getResult() : v;
  }
  if (e.constant != 0)
    r = top.create<arith::AddIOp>(
        loc, r, top.create<arith::ConstantIndexOp>(loc, e.constant));
  if (!computed)
    values[d] = r;
  return r;
}

OpFoldResult DimTable::size(OpBuilder &b, Location loc, int64_t d) {
  if (!isId(d))
    return b.getIndexAttr(d);
  return value(b, loc, d);
}

namespace {
thread_local DimTable *activeTable = nullptr;
}

DimTable *DimTable::active() { return activeTable; }

DimTable::Scope::Scope(DimTable &t) : previous(activeTable) {
  activeTable = &t;
}
DimTable::Scope::~Scope() { activeTable = previous; }
