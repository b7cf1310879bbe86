//===- HlsEngineTest.cpp - the hls engine's reference and cycle model -----===//
//
// Hand-computed cases: what the reference computes on exact values, its
// rounding, and the cycle model's broadcast, queues and memory port.

#include "runtime/formats/Layout.h"
#include "runtime/hls/CycleModel.h"
#include "runtime/hls/Engine.h"

#include <gtest/gtest.h>

using namespace sparq;
using namespace sparq::hls;

namespace {

formats::Layout plain() { return formats::Layout(); }

// Rows 0, 2 belong to PE 0 and rows 1, 3 to PE 1 (P = 2). PE 0 has 2, 0
// and 1 entries in the three columns; PE 1 has 0, 1 and 0.
const float kW[4 * 3] = {1, 0, 1, //
                         0, 0, 0, //
                         1, 0, 0, //
                         0, 1, 0};

} // namespace

TEST(HlsEngine, RoundingAndSaturation) {
  EXPECT_EQ(roundShift(5, 1), 3);   // 2.5 -> 3
  EXPECT_EQ(roundShift(-3, 1), -1); // -1.5 -> -1: half up
  EXPECT_EQ(roundShift(-5, 2), -1); // -1.25 -> -1
  EXPECT_EQ(roundShift(7, 0), 7);
  EXPECT_EQ(saturate16(40000), 32767);
  EXPECT_EQ(saturate16(-40000), -32768);
  EXPECT_EQ(quantize(0.5, 10), 512);
  EXPECT_EQ(quantize(100.0, 10), 32767);
}

TEST(HlsEngine, WeightsTakeTheFewestIntegerBits) {
  // max|w| = 1 does not fit Q0.11 (largest 1 - 2^-11): Q1.10.
  const float w[4] = {0.5f, -0.25f, 1.0f, 0.0f};
  Matrix m = makeMatrix(w, 2, 2, 2, plain());
  EXPECT_EQ(m.frac, 10);
  EXPECT_EQ(m.nonzeros, 3);
  const float small[2] = {0.5f, -0.25f};
  EXPECT_EQ(makeMatrix(small, 1, 2, 1, plain()).frac, 11);
}

TEST(HlsEngine, DenseLayerOnExactValues) {
  // y = relu(W x + b), W = [[0.5, -0.25], [1, 0]], x = (1, 2),
  // b = (-0.25, 0.5): W x = (0, 1), y = (0, 1.5).
  EngineModel m;
  m.pes = 2;
  m.steps = 1;
  m.inputs = 2;
  m.outputs = 2;
  Layer l;
  l.inputs = 2;
  l.outputs = 2;
  const float w[4] = {0.5f, -0.25f, 1.0f, 0.0f};
  l.w = makeMatrix(w, 2, 2, m.pes, plain());
  l.bias = {quantize(-0.25, m.actFrac), quantize(0.5, m.actFrac)};
  l.act = Act::Relu;
  m.layers.push_back(l);
  std::vector<int16_t> y = runReference(m, {1024, 2048});
  ASSERT_EQ(y.size(), 2u);
  EXPECT_EQ(y[0], 0);    // -0.25 through relu
  EXPECT_EQ(y[1], 1536); // 1.5
}

TEST(HlsEngine, TablesAreTheFunctionsAtTheirSteps) {
  std::vector<int16_t> sig = activationTable(Act::Sigmoid, 10);
  std::vector<int16_t> tanh = activationTable(Act::Tanh, 10);
  ASSERT_EQ(sig.size(), 2048u);
  // x = 0 falls in [0, 1/128): sigmoid(1/256) = 0.500977 -> 513.
  EXPECT_EQ(lookUp(sig, 0, 10), 513);
  EXPECT_EQ(lookUp(tanh, 0, 10), 4);       // tanh(1/256) * 1024
  EXPECT_EQ(lookUp(sig, 32767, 10), 1024); // clamped to the last entry
  EXPECT_EQ(lookUp(tanh, -32768, 10), -1024);
}

TEST(HlsCycleModel, BroadcastWithADeepQueue) {
  // Column j is broadcast at cycle j; a PE starts it a cycle later, or when
  // it has finished j-1. PE 0: columns at 1-3, -, 3-4; PE 1: -, 2-3, -.
  Matrix m = makeMatrix(kW, 4, 3, 2, plain());
  ASSERT_EQ(m.peEntries, (std::vector<int64_t>{3, 1}));
  CycleParams p;
  p.queueDepth = 8;
  p.macLatency = 0;
  p.portBytes = 1024;
  ProductCycles c = productCycles(m, 2, p);
  EXPECT_EQ(c.cycles, 4);
  EXPECT_EQ(c.entries, 4);
  EXPECT_DOUBLE_EQ(c.balance, 2.0 / 3.0);
  p.macLatency = 6;
  EXPECT_EQ(productCycles(m, 2, p).cycles, 10);
}

TEST(HlsCycleModel, AOneDeepQueueStallsTheBroadcast) {
  // Column j waits until every PE has started j-1: pushes at 0, 2, 4; PE 0
  // ends column 2 at 6.
  Matrix m = makeMatrix(kW, 4, 3, 2, plain());
  CycleParams p;
  p.queueDepth = 1;
  p.macLatency = 0;
  p.portBytes = 1024;
  EXPECT_EQ(productCycles(m, 2, p).cycles, 6);
}

TEST(HlsCycleModel, TheWeightPortCanBound) {
  // 4 entries of 2 bytes through a 1-byte port: 8 cycles.
  Matrix m = makeMatrix(kW, 4, 3, 2, plain());
  CycleParams p;
  p.macLatency = 0;
  p.portBytes = 1;
  EXPECT_EQ(productCycles(m, 2, p).cycles, 8);
}

TEST(HlsCycleModel, BalancedRowsUseEveryPe) {
  // Every row with one entry in its own column: P = 4, 8 rows, 8 columns,
  // two entries per PE; each PE busy 2 of the cycles.
  std::vector<float> w(64, 0.0f);
  for (int r = 0; r < 8; ++r)
    w[r * 8 + r] = 0.5f;
  EngineModel em;
  em.pes = 4;
  em.steps = 1;
  em.inputs = em.outputs = 8;
  Layer l;
  l.inputs = l.outputs = 8;
  l.w = makeMatrix(w.data(), 8, 8, 4, plain());
  em.layers.push_back(l);
  CycleReport r = modelCycles(em);
  EXPECT_DOUBLE_EQ(r.balance, 1.0);
  EXPECT_GT(r.cycles, 8);
  EXPECT_NEAR(r.peUtilization, 8.0 / (4.0 * double(r.cycles)), 1e-12);
}
