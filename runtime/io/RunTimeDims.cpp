//===- RunTimeDims.cpp - dimensions known only when a model runs ----------===//

#include "runtime/io/RunTimeDims.h"
#include "runtime/io/HostTensor.h"
#include "runtime/io/SizeMath.h"

#include <algorithm>

using namespace sparq;
using namespace sparq::io;

std::optional<int> DimExpr::asSymbol() const {
  if (constant == 0 && terms.size() == 1 && terms[0].second == 1)
    return terms[0].first;
  return std::nullopt;
}

bool DimExpr::add(const DimExpr &o, int64_t k) {
  SizeMath m;
  constant = m.add(constant, m.mul(o.constant, k));
  for (const auto &[sym, coeff] : o.terms) {
    int64_t c = m.mul(coeff, k);
    auto it = std::lower_bound(
        terms.begin(), terms.end(), sym,
        [](const std::pair<int, int64_t> &t, int s) { return t.first < s; });
    if (it != terms.end() && it->first == sym) {
      it->second = m.add(it->second, c);
      if (it->second == 0)
        terms.erase(it);
    } else if (c != 0) {
      terms.insert(it, {sym, c});
    }
  }
  return m.ok();
}

bool DimExpr::scale(int64_t k) {
  if (k == 0) {
    *this = ofConstant(0);
    return true;
  }
  SizeMath m;
  constant = m.mul(constant, k);
  for (auto &t : terms)
    t.second = m.mul(t.second, k);
  return m.ok();
}

bool DimExpr::evaluate(const std::vector<int64_t> &values, int64_t &out) const {
  SizeMath m;
  int64_t r = constant;
  for (const auto &[sym, coeff] : terms) {
    if (sym < 0 || static_cast<size_t>(sym) >= values.size())
      return false;
    r = m.add(r, m.mul(coeff, values[sym]));
  }
  out = r;
  return m.ok();
}

std::string DimExpr::str(const std::vector<DimSymbol> &symbols) const {
  std::string s;
  for (const auto &[sym, coeff] : terms) {
    std::string name = sym >= 0 && static_cast<size_t>(sym) < symbols.size()
                           ? symbols[sym].name
                           : "s" + std::to_string(sym);
    if (s.empty())
      s = coeff == 1 ? "" : coeff == -1 ? "-" : std::to_string(coeff) + "*";
    else
      s += coeff == 1    ? " + "
           : coeff == -1 ? " - "
           : coeff < 0   ? " - " + std::to_string(-coeff) + "*"
                         : " + " + std::to_string(coeff) + "*";
    s += name;
  }
  if (s.empty())
    return std::to_string(constant);
  if (constant > 0)
    s += " + " + std::to_string(constant);
  else if (constant < 0)
    s += " - " + std::to_string(-constant);
  return s;
}

bool io::bindSymbols(const std::vector<DimSymbol> &symbols,
                     const std::vector<std::string> &inputNames,
                     const std::vector<SymbolicShape> &specs,
                     const std::vector<std::vector<int64_t>> &inputShapes,
                     const std::vector<const int64_t *> &scalars,
                     std::vector<int64_t> &values, std::string &error) {
  values.assign(symbols.size(), -1);
  for (size_t k = 0; k < symbols.size(); ++k) {
    const DimSymbol &s = symbols[k];
    if (s.computed()) {
      values[k] = s.bound;
      continue;
    }
    if (s.axis != -1)
      continue;
    const int64_t *v = static_cast<size_t>(s.input) < scalars.size()
                           ? scalars[s.input]
                           : nullptr;
    if (!v) {
      error = "input '" + inputNames[s.input] + "' must be a scalar int64";
      return false;
    }
    if (*v < 0 || *v > s.bound) {
      error = "input '" + inputNames[s.input] + "' ('" + s.name + "') is " +
              std::to_string(*v) + ", outside [0, " + std::to_string(s.bound) +
              "]";
      return false;
    }
    values[k] = *v;
  }
  auto where = [&](size_t i, size_t a) {
    return "input '" + inputNames[i] + "' axis " + std::to_string(a);
  };
  // Symbols first, from the axes that are one symbol each.
  for (size_t i = 0; i < specs.size(); ++i) {
    const SymbolicShape &spec = specs[i];
    const std::vector<int64_t> &shape = inputShapes[i];
    if (shape.size() != spec.bounds.size()) {
      error = "input '" + inputNames[i] + "' expects rank " +
              std::to_string(spec.bounds.size()) + ", got shape " +
              formatShape(shape);
      return false;
    }
    for (size_t a = 0; a < spec.dims.size(); ++a) {
      std::optional<int> sym =
          spec.dims[a] ? spec.dims[a]->asSymbol() : std::nullopt;
      if (!sym)
        continue;
      const DimSymbol &s = symbols[*sym];
      if (shape[a] < 0 || shape[a] > s.bound) {
        error = where(i, a) + " ('" + s.name + "') is " +
                std::to_string(shape[a]) + ", past the bound " +
                std::to_string(s.bound) + " the model was compiled for";
        return false;
      }
      if (values[*sym] >= 0 && values[*sym] != shape[a]) {
        error = where(i, a) + " ('" + s.name + "') is " +
                std::to_string(shape[a]) + ", but another input gives '" +
                s.name + "' = " + std::to_string(values[*sym]);
        return false;
      }
      values[*sym] = shape[a];
    }
  }
  for (size_t k = 0; k < symbols.size(); ++k)
    if (values[k] < 0) {
      error = "no input gives the run-time dimension '" + symbols[k].name + "'";
      return false;
    }
  // Then every axis against its static extent or expression.
  for (size_t i = 0; i < specs.size(); ++i) {
    std::vector<int64_t> expected;
    if (!evaluateShape(specs[i], values, expected, error))
      return false;
    for (size_t a = 0; a < expected.size(); ++a)
      if (inputShapes[i][a] != expected[a]) {
        error = where(i, a) + " must be " +
                (specs[i].dims[a] ? specs[i].dims[a]->str(symbols) + " = "
                                  : std::string()) +
                std::to_string(expected[a]) + ", got shape " +
                formatShape(inputShapes[i]);
        return false;
      }
  }
  return true;
}

bool io::readsComputed(const SymbolicShape &spec,
                       const std::vector<DimSymbol> &symbols) {
  for (const std::optional<DimExpr> &e : spec.dims)
    if (e)
      for (const auto &[sym, coeff] : e->terms)
        if (symbols[sym].computed())
          return true;
  return false;
}

bool io::evaluateShape(const SymbolicShape &spec,
                       const std::vector<int64_t> &values,
                       std::vector<int64_t> &out, std::string &error) {
  out = spec.bounds;
  for (size_t a = 0; a < spec.dims.size(); ++a) {
    if (!spec.dims[a])
      continue;
    if (!spec.dims[a]->evaluate(values, out[a]) || out[a] < 0 ||
        out[a] > spec.bounds[a]) {
      error = "run-time dimension " + std::to_string(a) +
              " evaluates out of its range [0, " +
              std::to_string(spec.bounds[a]) + "]";
      return false;
    }
  }
  return true;
}
