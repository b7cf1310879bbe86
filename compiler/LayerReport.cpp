//===- LayerReport.cpp - per-layer statistics for `sparqc report` ---------===//

#include "compiler/LayerReport.h"
#include "runtime/io/HostTensor.h"
#include "runtime/io/SizeMath.h"

#include <algorithm>
#include <cstdio>

using namespace sparq;

namespace {
/// Counts past 2^62 (only absurd shapes reach them) print as 2^62, and sums
/// of them stay there: the report never overflows.
constexpr int64_t kSaturated = int64_t(1) << 62;

int64_t saturated(const SizeMath &m, int64_t v) {
  return m.ok() ? std::min(v, kSaturated) : kSaturated;
}

int64_t addSaturated(int64_t a, int64_t b) {
  SizeMath m;
  return saturated(m, m.add(a, b));
}

int64_t product(SizeMath &m, const std::vector<int64_t> &s, size_t from = 0) {
  int64_t n = 1;
  for (size_t i = from; i < s.size(); ++i)
    n = m.mul(n, s[i]);
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
  SizeMath m;
  if ((op == "Conv" || op == "ConvInteger") && in.size() >= 2)
    // Every output element sums C/G * prod(kernel) products.
    return saturated(m, m.mul(product(m, out[0]), product(m, in[1], 1)));
  if (op == "QLinearConv" && in.size() >= 4)
    return saturated(m, m.mul(product(m, out[0]), product(m, in[3], 1)));
  if (op == "ConvTranspose" && in.size() >= 2)
    // Each input element scatters into F/G * prod(kernel) outputs, per
    // group: the weight is [C, F/G, k...].
    return saturated(m, m.mul(product(m, in[0]), product(m, in[1], 1)));
  if ((op == "MatMul" || op == "Gemm" || op == "MatMulInteger" ||
       op == "QLinearMatMul") &&
      in.size() >= 2) {
    const auto &a = in[0];
    int64_t k = a.empty() ? 1 : a.back();
    // Gemm's A may be transposed: K is what the rows of the output leave.
    if (op == "Gemm" && a.size() == 2 && !out[0].empty() && out[0][0] != 0)
      k = product(m, a) / out[0][0];
    return saturated(m, m.mul(product(m, out[0]), k));
  }
  if ((op == "LSTM" || op == "GRU" || op == "RNN") && in.size() >= 3) {
    int64_t gates = in[1].size() == 3 ? in[1][1] : 0;
    int64_t inputSize = in[1].size() == 3 ? in[1][2] : 0;
    int64_t hidden = in[2].size() == 3 ? in[2][2] : 0;
    int64_t dirs = in[1].empty() ? 1 : in[1][0];
    int64_t steps = in[0].size() == 3 ? m.mul(in[0][0], in[0][1]) : 0;
    return saturated(
        m, m.mul(m.mul(m.mul(steps, dirs), gates), m.add(inputSize, hidden)));
  }
  return 0;
}

int64_t LayerInfo::storedBytes() const {
  int64_t b = parameterBytes;
  for (const WeightStats &w : weights)
    b += w.bytes - w.denseBytes;
  return b;
}

int64_t LayerInfo::effectiveMacs() const {
  int64_t elements = 0, nonzeros = 0;
  for (const WeightStats &w : weights) {
    elements += w.elements;
    nonzeros += w.nonzeros;
  }
  if (!elements)
    return macs;
  return static_cast<int64_t>(double(macs) * nonzeros / elements + 0.5);
}

namespace {
std::string fixed(double v, int digits) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

/// Pattern, format, density, bits/weight and PE balance of a layer's
/// weights ("-" where it has none), joined with '+' for several.
struct WeightColumns {
  std::string shape = "-", pattern = "-", format = "-", density = "-",
              bits = "-", balance = "-";
};

WeightColumns weightColumns(const LayerInfo &l) {
  WeightColumns c;
  if (l.weights.empty())
    return c;
  c.shape = c.pattern = c.format = c.balance = "";
  int64_t elements = 0, nonzeros = 0, bytes = 0;
  for (size_t i = 0; i < l.weights.size(); ++i) {
    const WeightStats &w = l.weights[i];
    std::string sep = i ? "+" : "";
    c.shape += sep + shapeText(w.shape);
    c.pattern += sep + w.pattern;
    c.format += sep + w.format;
    if (w.peAfter >= 0)
      c.balance += sep + fixed(w.peBefore, 2) + ">" + fixed(w.peAfter, 2);
    elements += w.elements;
    nonzeros += w.nonzeros;
    bytes += w.bytes;
  }
  if (c.balance.empty())
    c.balance = "-";
  c.density = fixed(elements ? double(nonzeros) / elements : 1.0, 3);
  c.bits = fixed(elements ? bytes * 8.0 / elements : 32.0, 2);
  return c;
}

std::string htmlEscape(const std::string &s) {
  std::string out;
  for (char ch : s) {
    if (ch == '<')
      out += "&lt;";
    else if (ch == '>')
      out += "&gt;";
    else if (ch == '&')
      out += "&amp;";
    else if (ch == '"')
      out += "&quot;";
    else
      out += ch;
  }
  return out;
}

template <typename T> std::string jsonArray(const std::vector<T> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}
} // namespace

std::string sparq::formatLayerTable(const std::vector<LayerInfo> &layers,
                                    const std::vector<FusionInfo> &fusions) {
  std::string s;
  char line[1024];
  const char *fmt = "%-30s %-14s %-16s %-14s %-10s %-14s %7s %6s %21s %7s "
                    "%19s %11s\n";
  snprintf(line, sizeof line, fmt, "layer", "op", "output", "weight", "pattern",
           "format", "density", "bits/w", "bytes dense>stored", "ratio",
           "MACs dense>effective", "PE balance");
  s += line;
  int64_t params = 0, bytes = 0, stored = 0, macs = 0, effective = 0;
  for (const LayerInfo &l : layers) {
    std::string out =
        l.outputShapes.empty() ? "-" : shapeText(l.outputShapes[0]);
    std::string name =
        l.name.size() > 30 ? "..." + l.name.substr(l.name.size() - 27) : l.name;
    WeightColumns c = weightColumns(l);
    std::string ratio =
        l.parameterBytes && l.storedBytes()
            ? fixed(double(l.parameterBytes) / l.storedBytes(), 2) + "x"
            : "-";
    snprintf(line, sizeof line, fmt, name.c_str(), l.opType.c_str(),
             out.c_str(), c.shape.c_str(), c.pattern.c_str(), c.format.c_str(),
             c.density.c_str(), c.bits.c_str(),
             (human(l.parameterBytes) + ">" + human(l.storedBytes())).c_str(),
             ratio.c_str(),
             (human(l.macs) + ">" + human(l.effectiveMacs())).c_str(),
             c.balance.c_str());
    s += line;
    params += l.parameters;
    bytes += l.parameterBytes;
    stored += l.storedBytes();
    macs = addSaturated(macs, l.macs);
    effective = addSaturated(effective, l.effectiveMacs());
  }
  snprintf(line, sizeof line, fmt, "total", "", "", "", "", "", "", "",
           (human(bytes) + ">" + human(stored)).c_str(),
           stored ? (fixed(double(bytes) / stored, 2) + "x").c_str() : "-",
           (human(macs) + ">" + human(effective)).c_str(), "");
  s += line;
  s += "parameters: " + human(params) + "\n";
  for (const FusionInfo &f : fusions)
    s += "fused " + f.op + " '" + f.name + "': " + f.detail + "; saves " +
         fixed((f.unfusedBytes - f.fusedBytes) / 1e6, 1) + " MB per run (" +
         human(f.unfusedBytes) + "B of tensors for " + human(f.fusedBytes) +
         "B of plan)\n";
  return s;
}

std::string sparq::formatLayerJson(const std::vector<LayerInfo> &layers,
                                   const std::vector<FusionInfo> &fusions) {
  std::string s = "{\"layers\": [";
  int64_t bytes = 0, stored = 0, macs = 0, effective = 0, params = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerInfo &l = layers[i];
    int64_t st = l.storedBytes();
    s += i ? ",\n  " : "\n  ";
    s += "{\"name\": " + io::jsonString(l.name) +
         ", \"op\": " + io::jsonString(l.opType) +
         ", \"parameters\": " + std::to_string(l.parameters) +
         ", \"bytes\": " + std::to_string(l.parameterBytes) +
         ", \"stored_bytes\": " + std::to_string(st) +
         ", \"ratio\": " + fixed(st ? double(l.parameterBytes) / st : 1.0, 4) +
         ", \"macs\": " + std::to_string(l.macs) +
         ", \"effective_macs\": " + std::to_string(l.effectiveMacs()) +
         ", \"weights\": [";
    for (size_t j = 0; j < l.weights.size(); ++j) {
      const WeightStats &w = l.weights[j];
      s += (j ? ", " : "") + std::string("{\"shape\": ") + jsonArray(w.shape) +
           ", \"pattern\": " + io::jsonString(w.pattern) +
           ", \"format\": " + io::jsonString(w.format) +
           ", \"density\": " + fixed(w.density(), 6) +
           ", \"bits_per_weight\": " +
           fixed(w.elements ? w.bytes * 8.0 / w.elements : 32.0, 4) +
           ", \"dense_bytes\": " + std::to_string(w.denseBytes) +
           ", \"bytes\": " + std::to_string(w.bytes) + ", \"ratio\": " +
           fixed(w.bytes ? double(w.denseBytes) / w.bytes : 1.0, 4);
      if (w.peAfter >= 0)
        s += ", \"pe_nonzeros\": " + jsonArray(w.peNonzeros) +
             ", \"pe_nonzeros_before\": " + jsonArray(w.peNonzerosBefore) +
             ", \"pe_balance_before\": " + fixed(w.peBefore, 6) +
             ", \"pe_balance_after\": " + fixed(w.peAfter, 6);
      s += "}";
    }
    s += "]}";
    params += l.parameters;
    bytes += l.parameterBytes;
    stored += st;
    macs = addSaturated(macs, l.macs);
    effective = addSaturated(effective, l.effectiveMacs());
  }
  s += "\n], \"totals\": {\"parameters\": " + std::to_string(params) +
       ", \"bytes\": " + std::to_string(bytes) +
       ", \"stored_bytes\": " + std::to_string(stored) +
       ", \"ratio\": " + fixed(stored ? double(bytes) / stored : 1.0, 4) +
       ", \"macs\": " + std::to_string(macs) +
       ", \"effective_macs\": " + std::to_string(effective) + "}";
  s += ", \"fusions\": [";
  for (size_t i = 0; i < fusions.size(); ++i)
    s += std::string(i ? ", " : "") +
         "{\"op\": " + io::jsonString(fusions[i].op) +
         ", \"name\": " + io::jsonString(fusions[i].name) +
         ", \"detail\": " + io::jsonString(fusions[i].detail) +
         ", \"unfused_bytes\": " + std::to_string(fusions[i].unfusedBytes) +
         ", \"fused_bytes\": " + std::to_string(fusions[i].fusedBytes) + "}";
  s += "]}\n";
  return s;
}

std::string sparq::formatLayerHtml(const std::vector<LayerInfo> &layers,
                                   const std::string &title) {
  std::string s =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" +
      htmlEscape(title) +
      "</title><style>body{font-family:sans-serif;margin:2em}"
      "pre{font-size:11px}.layer{display:inline-block;margin:1em;"
      "vertical-align:top}.layer h3{font-size:13px;margin:0 0 .3em}"
      "svg{border:1px solid #ccc}</style></head><body>\n<h1>" +
      htmlEscape(title) + "</h1>\n<pre>" +
      htmlEscape(formatLayerTable(layers)) +
      "</pre>\n<h2>Weights</h2>\n<p>Each picture is a weight's [output, "
      "input] matrix; darker cells hold more non-zeros. Bars are the "
      "non-zeros of each processing element.</p>\n";
  for (const LayerInfo &l : layers)
    for (const WeightStats &w : l.weights) {
      s += "<div class=\"layer\"><h3>" + htmlEscape(l.name) + "</h3><div>" +
           htmlEscape(shapeText(w.shape) + " " + w.pattern + " " + w.format +
                      ", density " + fixed(w.density(), 3)) +
           "</div>";
      int64_t cell = 4;
      s += "<svg width=\"" + std::to_string(w.gridCols * cell) +
           "\" height=\"" + std::to_string(w.gridRows * cell) + "\">";
      for (int64_t r = 0; r < w.gridRows; ++r)
        for (int64_t c = 0; c < w.gridCols; ++c) {
          int shade = 255 - int(w.grid[r * w.gridCols + c] * 255 + 0.5);
          if (shade == 255)
            continue;
          char rect[160];
          snprintf(rect, sizeof rect,
                   "<rect x=\"%lld\" y=\"%lld\" width=\"%lld\" height=\"%lld\" "
                   "fill=\"rgb(%d,%d,%d)\"/>",
                   (long long)(c * cell), (long long)(r * cell),
                   (long long)cell, (long long)cell, shade, shade, 255);
          s += rect;
        }
      s += "</svg>";
      if (!w.peNonzeros.empty()) {
        int64_t most = 1;
        for (int64_t v : w.peNonzerosBefore)
          most = std::max(most, v);
        for (int64_t v : w.peNonzeros)
          most = std::max(most, v);
        int64_t barW = 6, height = 60;
        int64_t width = int64_t(w.peNonzeros.size()) * barW * 2 + 4;
        s += "<div>PE load before " + fixed(w.peBefore, 2) + " (grey), after " +
             fixed(w.peAfter, 2) + " (blue)</div><svg width=\"" +
             std::to_string(width) + "\" height=\"" + std::to_string(height) +
             "\">";
        for (size_t p = 0; p < w.peNonzeros.size(); ++p) {
          int64_t before = p < w.peNonzerosBefore.size()
                               ? w.peNonzerosBefore[p] * height / most
                               : 0;
          int64_t after = w.peNonzeros[p] * height / most;
          char bars[320];
          snprintf(bars, sizeof bars,
                   "<rect x=\"%lld\" y=\"%lld\" width=\"%lld\" height=\"%lld\" "
                   "fill=\"#bbb\"/><rect x=\"%lld\" y=\"%lld\" width=\"%lld\" "
                   "height=\"%lld\" fill=\"#36c\"/>",
                   (long long)(p * barW * 2), (long long)(height - before),
                   (long long)barW, (long long)before,
                   (long long)(p * barW * 2 + barW),
                   (long long)(height - after), (long long)barW,
                   (long long)after);
          s += bars;
        }
        s += "</svg>";
      }
      s += "</div>\n";
    }
  s += "</body></html>\n";
  return s;
}
