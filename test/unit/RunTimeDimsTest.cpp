//===- RunTimeDimsTest.cpp - run-time dimension expressions and binding ---===//

#include "runtime/io/RunTimeDims.h"

#include <gtest/gtest.h>

#include <cstdint>

using namespace sparq::io;

namespace {

std::vector<DimSymbol> symbols() {
  return {{"seq", 16, 0, 1}, {"past", 32, 1, 2}};
}

TEST(RunTimeDims, ExpressionsAddScaleAndPrint) {
  DimExpr e = DimExpr::ofSymbol(1);
  ASSERT_TRUE(e.add(DimExpr::ofSymbol(0)));
  ASSERT_TRUE(e.add(DimExpr::ofConstant(3)));
  // Terms stay sorted by symbol, so equal sums compare equal.
  DimExpr f = DimExpr::ofSymbol(0);
  ASSERT_TRUE(f.add(DimExpr::ofSymbol(1)));
  ASSERT_TRUE(f.add(DimExpr::ofConstant(3)));
  EXPECT_EQ(e, f);
  EXPECT_EQ(e.str(symbols()), "seq + past + 3");
  int64_t v = 0;
  ASSERT_TRUE(e.evaluate({5, 7}, v));
  EXPECT_EQ(v, 15);
  // Subtracting a symbol removes its term.
  ASSERT_TRUE(e.add(DimExpr::ofSymbol(1), -1));
  EXPECT_EQ(e.str(symbols()), "seq + 3");
  ASSERT_TRUE(e.scale(-2));
  EXPECT_EQ(e.str(symbols()), "-2*seq - 6");
  EXPECT_FALSE(e.asSymbol());
  EXPECT_EQ(DimExpr::ofSymbol(1).asSymbol(), 1);
}

TEST(RunTimeDims, OverflowIsReported) {
  DimExpr e = DimExpr::ofConstant(INT64_MAX);
  EXPECT_FALSE(e.add(DimExpr::ofConstant(1)));
  DimExpr s = DimExpr::ofSymbol(0);
  ASSERT_TRUE(s.scale(INT64_MAX / 2));
  int64_t v = 0;
  EXPECT_FALSE(s.evaluate({3}, v));
  // A symbol the values do not cover is no value.
  EXPECT_FALSE(DimExpr::ofSymbol(4).evaluate({1}, v));
}

/// ids [1, seq], past [1, 4, past, 8]; present [1, 4, seq + past, 8].
struct Model {
  std::vector<std::string> names = {"ids", "past"};
  std::vector<SymbolicShape> specs;
  Model() {
    specs.push_back({{1, 16}, {std::nullopt, DimExpr::ofSymbol(0)}});
    specs.push_back(
        {{1, 4, 32, 8},
         {std::nullopt, std::nullopt, DimExpr::ofSymbol(1), std::nullopt}});
  }
};

TEST(RunTimeDims, BindsSymbolsAndEvaluatesOutputs) {
  Model m;
  std::vector<int64_t> values;
  std::string err;
  ASSERT_TRUE(bindSymbols(symbols(), m.names, m.specs, {{1, 3}, {1, 4, 0, 8}},
                          {}, values, err))
      << err;
  EXPECT_EQ(values, (std::vector<int64_t>{3, 0}));
  DimExpr total = DimExpr::ofSymbol(0);
  ASSERT_TRUE(total.add(DimExpr::ofSymbol(1)));
  SymbolicShape present{{1, 4, 48, 8},
                        {std::nullopt, std::nullopt, total, std::nullopt}};
  std::vector<int64_t> shape;
  ASSERT_TRUE(evaluateShape(present, values, shape, err)) << err;
  EXPECT_EQ(shape, (std::vector<int64_t>{1, 4, 3, 8}));
}

TEST(RunTimeDims, RejectsWhatDoesNotFit) {
  Model m;
  std::vector<int64_t> values;
  std::string err;
  // Past the bound.
  EXPECT_FALSE(bindSymbols(symbols(), m.names, m.specs, {{1, 17}, {1, 4, 0, 8}},
                           {}, values, err));
  EXPECT_EQ(err, "input 'ids' axis 1 ('seq') is 17, past the bound 16 the "
                 "model was compiled for");
  // A static axis that differs.
  EXPECT_FALSE(bindSymbols(symbols(), m.names, m.specs, {{1, 3}, {1, 5, 0, 8}},
                           {}, values, err));
  EXPECT_NE(err.find("input 'past' axis 1 must be 4"), std::string::npos)
      << err;
  // The wrong rank.
  EXPECT_FALSE(bindSymbols(symbols(), m.names, m.specs, {{3}, {1, 4, 0, 8}}, {},
                           values, err));
  EXPECT_NE(err.find("input 'ids' expects rank 2"), std::string::npos) << err;
}

TEST(RunTimeDims, ReadsASymbolFromAScalarInput) {
  // A KV cache's length: symbol 1 is the value of input 1, a scalar.
  std::vector<DimSymbol> syms = {{"seq", 16, 0, 1}, {"past", 32, 1, -1}};
  std::vector<SymbolicShape> specs = {
      {{1, 16}, {std::nullopt, DimExpr::ofSymbol(0)}}, {{}, {}}};
  int64_t length = 9;
  std::vector<int64_t> values;
  std::string err;
  ASSERT_TRUE(bindSymbols(syms, {"ids", "kv_length.past"}, specs, {{1, 2}, {}},
                          {nullptr, &length}, values, err))
      << err;
  EXPECT_EQ(values, (std::vector<int64_t>{2, 9}));
  length = 33;
  EXPECT_FALSE(bindSymbols(syms, {"ids", "kv_length.past"}, specs, {{1, 2}, {}},
                           {nullptr, &length}, values, err));
  EXPECT_NE(err.find("outside [0, 32]"), std::string::npos) << err;
  EXPECT_FALSE(bindSymbols(syms, {"ids", "kv_length.past"}, specs, {{1, 2}, {}},
                           {nullptr, nullptr}, values, err));
  EXPECT_NE(err.find("must be a scalar int64"), std::string::npos) << err;
}

TEST(RunTimeDims, ComputedSymbolsBindToTheirBounds) {
  // Symbol 1 is a count the model computes (input -1): before the call it
  // stands at its bound, which is what output buffers are sized for.
  std::vector<DimSymbol> syms = {{"seq", 16, 0, 1}, {"count(sel)", 40, -1, -1}};
  EXPECT_FALSE(syms[0].computed());
  EXPECT_TRUE(syms[1].computed());
  std::vector<SymbolicShape> specs = {
      {{1, 16}, {std::nullopt, DimExpr::ofSymbol(0)}}};
  std::vector<int64_t> values;
  std::string err;
  ASSERT_TRUE(
      bindSymbols(syms, {"ids"}, specs, {{1, 5}}, {nullptr}, values, err))
      << err;
  EXPECT_EQ(values, (std::vector<int64_t>{5, 40}));
  // An output [count, 3] evaluates at the bound, then at the true count.
  SymbolicShape out = {{40, 3}, {DimExpr::ofSymbol(1), std::nullopt}};
  std::vector<int64_t> shape;
  ASSERT_TRUE(evaluateShape(out, values, shape, err)) << err;
  EXPECT_EQ(shape, (std::vector<int64_t>{40, 3}));
  values[1] = 7;
  ASSERT_TRUE(evaluateShape(out, values, shape, err)) << err;
  EXPECT_EQ(shape, (std::vector<int64_t>{7, 3}));
}

} // namespace
