//===- LayerReport.cpp - per-layer statistics for `sparqc report` ---------===//

#include "compiler/LayerReport.h"

#include <algorithm>
#include <cstdio>

using namespace sparq;

namespace {
int64_t product(const std::vector<int64_t> &s, size_t from = 0) {
  int64_t n = 1;
  for (size_t i = from; i < s.size(); ++i)
    n *= s[i];
  return n;
}

std::string shapeText(const std::vector<int64_t> &s) {
  std::string t;
  for (size_t i = 0; i < s.size(); ++i)
    t += (i ? "x" : "") + std::to_string(s[i]);
  return s.empty() ? "scalar" : t;
}

std::string human(int64_t v) {
  char buf[32];
  if (v >= 1000000000)
    snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1000000)
    snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1000)
    snprintf(buf, sizeof buf, "%.1fK", v / 1e3);
  else
    snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  return buf;
}
} // namespace

int64_t sparq::countMacs(const std::string &op,
                         const std::vector<std::vector<int64_t>> &in,
                         const std::vector<std::vector<int64_t>> &out,
                         int64_t group) {
  if (in.empty() || out.empty())
    return 0;
  if ((op == "Conv" || op == "ConvInteger" || op == "QLinearConv") &&
      in.size() >= 2) {
    const auto &w = op == "QLinearConv" ? in[3] : in[1];
    // Every output element sums C/G * prod(kernel) products.
    return product(out[0]) * product(w, 1);
  }
  if (op == "ConvTranspose" && in.size() >= 2)
    return product(in[0]) * product(in[1], 1) / std::max<int64_t>(group, 1) *
           group;
  if ((op == "MatMul" || op == "Gemm" || op == "MatMulInteger" ||
       op == "QLinearMatMul") &&
      in.size() >= 2) {
    const auto &a = in[0];
    int64_t k = a.empty() ? 1 : a.back();
    if (op == "Gemm" && a.size() == 2 && !out[0].empty())
      k = product(a) / out[0][0];
    return product(out[0]) * k;
  }
  if ((op == "LSTM" || op == "GRU" || op == "RNN") && in.size() >= 3) {
    int64_t gates = in[1].size() == 3 ? in[1][1] : 0;
    int64_t inputSize = in[1].size() == 3 ? in[1][2] : 0;
    int64_t hidden = in[2].size() == 3 ? in[2][2] : 0;
    int64_t dirs = in[1].empty() ? 1 : in[1][0];
    int64_t steps = in[0].size() == 3 ? in[0][0] * in[0][1] : 0;
    return steps * dirs * gates * (inputSize + hidden);
  }
  return 0;
}

std::string sparq::formatLayerTable(const std::vector<LayerInfo> &layers) {
  std::string s;
  char line[512];
  snprintf(line, sizeof line, "%-32s %-20s %-24s %-24s %10s %10s %10s\n",
           "layer", "op", "input", "output", "params", "bytes", "MACs");
  s += line;
  int64_t params = 0, bytes = 0, macs = 0;
  for (const LayerInfo &l : layers) {
    std::string in = l.inputShapes.empty() ? "-" : shapeText(l.inputShapes[0]);
    std::string out =
        l.outputShapes.empty() ? "-" : shapeText(l.outputShapes[0]);
    std::string name = l.name.size() > 32 ? l.name.substr(0, 29) + "..." : l.name;
    snprintf(line, sizeof line, "%-32s %-20s %-24s %-24s %10s %10s %10s\n",
             name.c_str(), l.opType.c_str(), in.c_str(), out.c_str(),
             human(l.parameters).c_str(), human(l.parameterBytes).c_str(),
             human(l.macs).c_str());
    s += line;
    params += l.parameters;
    bytes += l.parameterBytes;
    macs += l.macs;
  }
  snprintf(line, sizeof line, "%-32s %-20s %-24s %-24s %10s %10s %10s\n",
           "total", "", "", "", human(params).c_str(), human(bytes).c_str(),
           human(macs).c_str());
  s += line;
  return s;
}
