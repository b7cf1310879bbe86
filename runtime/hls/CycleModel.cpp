//===- CycleModel.cpp - cycles, utilization and resources of the engine ---===//

#include "runtime/hls/CycleModel.h"
#include "runtime/formats/Packed.h"

#include <algorithm>
#include <cstdio>

using namespace sparq;
using namespace sparq::hls;

ProductCycles sparq::hls::productCycles(const Matrix &m, unsigned pes,
                                        const CycleParams &p) {
  formats::PackedView v(m.blob.data(), m.blob.size());
  const uint32_t *ptr = v.section<uint32_t>(formats::Ptr);
  int64_t cols = m.cols, depth = std::max(1u, p.queueDepth);
  // start[q][j % depth]: when PE q began column j (its queue slot frees).
  std::vector<int64_t> done(pes, 0), start(size_t(pes) * depth, 0);
  int64_t push = -1;
  for (int64_t j = 0; j < cols; ++j) {
    int64_t s = push + 1;
    if (j >= depth)
      for (unsigned q = 0; q < pes; ++q)
        s = std::max(s, start[q * depth + (j - depth) % depth] + 1);
    push = s;
    for (unsigned q = 0; q < pes; ++q) {
      int64_t n = int64_t(ptr[q * (cols + 1) + j + 1]) -
                  int64_t(ptr[q * (cols + 1) + j]);
      int64_t b = std::max(s + 1, done[q]);
      start[q * depth + j % depth] = b;
      done[q] = b + n;
    }
  }
  ProductCycles c;
  int64_t compute = *std::max_element(done.begin(), done.end()) + p.macLatency;
  c.entries = 0;
  int64_t most = 0;
  for (int64_t e : m.peEntries) {
    c.entries += e;
    most = std::max(most, e);
  }
  int64_t stream = (c.entries * 2 + p.portBytes - 1) / p.portBytes;
  c.cycles = std::max(compute, stream);
  c.nonzeros = m.nonzeros;
  c.balance = most ? double(c.entries) / double(pes) / double(most) : 1.0;
  return c;
}

CycleReport sparq::hls::modelCycles(const EngineModel &m,
                                    const CycleParams &p) {
  CycleReport r;
  int64_t usefulMacs = 0, denseMacs = 0, entries = 0, storedMacs = 0;
  double balanceSum = 0;
  bool lstm = false;
  int64_t bufferBits = 0;
  for (const Layer &l : m.layers) {
    LayerCycles lc;
    lc.node = l.node;
    ProductCycles w = productCycles(l.w, m.pes, p);
    int64_t tail = (l.outputs + p.lanes - 1) / p.lanes + 4;
    if (l.kind == Layer::Dense) {
      // Steps pipeline: the element-wise tail of one overlaps the next
      // step's product.
      lc.cycles = m.steps * std::max(w.cycles, tail) + std::min(w.cycles, tail);
      lc.balance = w.balance;
      usefulMacs += m.steps * w.nonzeros;
      storedMacs += m.steps * w.entries;
      denseMacs += m.steps * l.w.rows * l.w.cols;
      balanceSum += w.balance * double(w.entries);
      entries += w.entries;
    } else {
      lstm = true;
      ProductCycles rc = productCycles(l.r, m.pes, p);
      // Per step: R h waits for h; W x runs during the previous tail. Five
      // element-wise stages per unit (i and f, g, c, o, h).
      int64_t gates = 5 * ((l.outputs + p.lanes - 1) / p.lanes) + 8;
      int64_t step = rc.cycles + gates + std::max<int64_t>(0, w.cycles - gates);
      lc.cycles = w.cycles + m.steps * step;
      usefulMacs += m.steps * (w.nonzeros + rc.nonzeros);
      storedMacs += m.steps * (w.entries + rc.entries);
      denseMacs += m.steps * (l.w.rows * l.w.cols + l.r.rows * l.r.cols);
      balanceSum +=
          w.balance * double(w.entries) + rc.balance * double(rc.entries);
      entries += w.entries + rc.entries;
      lc.balance =
          (w.balance * double(w.entries) + rc.balance * double(rc.entries)) /
          double(std::max<int64_t>(1, w.entries + rc.entries));
      bufferBits += 2 * 16 * l.outputs; // c and h
    }
    bufferBits += 16 * (l.inputs + l.outputs) * 2; // double-buffered vectors
    r.cycles += lc.cycles;
    r.layers.push_back(lc);
  }
  double seconds = double(r.cycles) / (p.clockMHz * 1e6);
  r.microseconds = seconds * 1e6;
  r.peUtilization =
      r.cycles ? double(usefulMacs) / (double(m.pes) * r.cycles) : 0;
  r.balance = entries ? balanceSum / double(entries) : 1.0;
  r.peBusy = r.cycles ? double(storedMacs) / (double(m.pes) * r.cycles) : 0;
  r.gops = seconds > 0 ? 2.0 * double(usefulMacs) / seconds / 1e9 : 0;
  r.denseGops = seconds > 0 ? 2.0 * double(denseMacs) / seconds / 1e9 : 0;
  // One DSP slice per PE multiplier (12 x 16 bits); an LSTM's element-wise
  // lanes multiply six times per unit (3 peepholes, f*c, i*g, o*tanh c).
  r.dsp = m.pes + (lstm ? 6 * int64_t(p.lanes) : 0);
  // Weights stream from off-chip memory through a double buffer per PE of
  // one column's entries; on chip: the activation buffers and two tables.
  int64_t tables = 2 * (int64_t(1) << kTableBits) * 16;
  auto brams = [](int64_t bits) { return (bits + 18431) / 18432; };
  r.bram18k = brams(bufferBits) + brams(tables) + int64_t(m.pes) * 1;
  return r;
}

std::string CycleReport::json() const {
  char buf[512];
  std::snprintf(
      buf, sizeof buf,
      "{\"cycles\": %lld, \"microseconds\": %.3f, \"pe_utilization\": "
      "%.4f, \"pe_busy\": %.4f, \"load_balance\": %.4f, \"gops\": %.2f, "
      "\"dense_equivalent_gops\": %.2f, \"dsp\": %lld, "
      "\"bram18k\": %lld, \"layers\": [",
      (long long)cycles, microseconds, peUtilization, peBusy, balance, gops,
      denseGops, (long long)dsp, (long long)bram18k);
  std::string s = buf;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string node;
    for (char ch : layers[i].node) {
      if (ch == '"' || ch == '\\')
        node += '\\';
      if (static_cast<unsigned char>(ch) >= 0x20)
        node += ch;
    }
    std::snprintf(buf, sizeof buf,
                  "\", \"cycles\": %lld, \"load_balance\": %.4f}",
                  (long long)layers[i].cycles, layers[i].balance);
    s += std::string(i ? ", " : "") + "{\"node\": \"" + node + buf;
  }
  return s + "]}";
}
