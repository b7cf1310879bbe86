//===- Engine.cpp - the engine's weights, tables and reference ------------===//

#include "runtime/hls/Engine.h"
#include "runtime/formats/Packed.h"

#include <algorithm>
#include <cmath>

using namespace sparq;
using namespace sparq::hls;

const char *sparq::hls::actName(Act a) {
  switch (a) {
  case Act::None:
    return "none";
  case Act::Relu:
    return "relu";
  case Act::Sigmoid:
    return "sigmoid";
  case Act::Tanh:
    return "tanh";
  }
  return "?";
}

int16_t sparq::hls::quantize(double v, int frac) {
  double q = std::nearbyint(std::ldexp(v, frac));
  return int16_t(std::clamp(q, -32768.0, 32767.0));
}

namespace {

/// Integer bits of a 12-bit fixed-point value that holds max|v| without
/// clamping (its largest value is 2^bits - 2^-frac): the fewest, so that
/// the most fraction bits remain.
unsigned integerBitsFor(double maxAbs) {
  unsigned bits = 0;
  while (bits < kWeightBits - 1 &&
         maxAbs > std::ldexp(1.0, int(bits)) -
                      std::ldexp(1.0, int(bits) - int(kWeightBits - 1)))
    ++bits;
  return bits;
}

} // namespace

Matrix sparq::hls::makeMatrix(const float *w, int64_t rows, int64_t cols,
                              unsigned pes, const formats::Layout &given) {
  formats::Layout l;
  l.format = formats::Format::InterleavedCSC;
  l.pes = pes;
  l.indexBits = 4;
  bool codebook = given.quant == formats::Quant::Codebook && given.bits <= 4;
  if (codebook) {
    l.quant = formats::Quant::Codebook;
    l.bits = 4;
  } else if (given.quant == formats::Quant::Fixed &&
             given.valueBits() == kWeightBits) {
    l.quant = formats::Quant::Fixed;
    l.intBits = given.intBits;
    l.fracBits = given.fracBits;
  } else {
    double maxAbs = 0;
    for (int64_t i = 0; i < rows * cols; ++i)
      maxAbs = std::max(maxAbs, std::fabs(double(w[i])));
    l.quant = formats::Quant::Fixed;
    l.intBits = integerBitsFor(maxAbs);
    l.fracBits = kWeightBits - 1 - l.intBits;
  }
  Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.blob = formats::pack(w, rows, cols, l);
  formats::PackedView v(m.blob.data(), m.blob.size());
  if (codebook) {
    const float *table = v.section<float>(formats::Table);
    int64_t n = int64_t(v.sectionBytes(formats::Table) / sizeof(float));
    double maxAbs = 0;
    for (int64_t i = 0; i < n; ++i)
      maxAbs = std::max(maxAbs, std::fabs(double(table[i])));
    m.frac = int(kWeightBits - 1 - integerBitsFor(maxAbs));
    for (int64_t i = 0; i < n; ++i)
      m.table.push_back(
          std::clamp<int16_t>(quantize(table[i], m.frac), -2048, 2047));
  } else {
    m.frac = int(l.fracBits);
  }
  const uint32_t *ptr = v.section<uint32_t>(formats::Ptr);
  for (unsigned p = 0; p < pes; ++p)
    m.peEntries.push_back(int64_t(ptr[p * (cols + 1) + cols]) -
                          int64_t(ptr[p * (cols + 1)]));
  m.nonzeros = v.header().nonzeros;
  return m;
}

std::vector<int16_t> sparq::hls::activationTable(Act a, int frac) {
  std::vector<int16_t> t(size_t(1) << kTableBits);
  for (size_t i = 0; i < t.size(); ++i) {
    double x =
        (double(i) - double(t.size() / 2) + 0.5) / double(1 << kTableFrac);
    double y = a == Act::Sigmoid ? 1.0 / (1.0 + std::exp(-x)) : std::tanh(x);
    t[i] = quantize(y, frac);
  }
  return t;
}

namespace {

/// A matrix's 12-bit values as integers (at m.frac), decoded by the
/// formats library: the reference does not read the blob's bits itself.
std::vector<int32_t> integerValues(const Matrix &m) {
  formats::PackedView v(m.blob.data(), m.blob.size());
  std::vector<float> d(size_t(m.rows * m.cols));
  formats::decodeRows(v, 0, m.rows, d.data());
  std::vector<int32_t> q(d.size());
  const float *table = v.section<float>(formats::Table);
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == 0)
      continue;
    if (m.table.empty()) {
      q[i] = int32_t(std::lround(std::ldexp(double(d[i]), m.frac)));
      continue;
    }
    size_t k = 0;
    while (table[k] != d[i])
      ++k;
    q[i] = m.table[k];
  }
  return q;
}

/// Sum over k of q[r][k] * x[k], exact, rounded to the activations'
/// fraction bits.
std::vector<int64_t> product(const std::vector<int32_t> &q, const Matrix &m,
                             const int16_t *x) {
  std::vector<int64_t> y(size_t(m.rows));
  for (int64_t r = 0; r < m.rows; ++r) {
    int64_t acc = 0;
    for (int64_t k = 0; k < m.cols; ++k)
      acc += int64_t(q[size_t(r * m.cols + k)]) * x[k];
    y[size_t(r)] = roundShift(acc, m.frac);
  }
  return y;
}

} // namespace

std::vector<int16_t> sparq::hls::runReference(const EngineModel &model,
                                              const std::vector<int16_t> &in) {
  const int fa = model.actFrac;
  std::vector<int16_t> sig = activationTable(Act::Sigmoid, fa),
                       tanh = activationTable(Act::Tanh, fa);
  std::vector<int16_t> cur = in;
  for (const Layer &l : model.layers) {
    std::vector<int16_t> next(size_t(model.steps * l.outputs));
    std::vector<int32_t> w = integerValues(l.w);
    if (l.kind == Layer::Dense) {
      for (int64_t t = 0; t < model.steps; ++t) {
        std::vector<int64_t> y = product(w, l.w, &cur[size_t(t * l.inputs)]);
        for (int64_t r = 0; r < l.outputs; ++r) {
          int16_t v = saturate16(y[size_t(r)] +
                                 (l.bias.empty() ? 0 : l.bias[size_t(r)]));
          if (l.act == Act::Relu)
            v = std::max<int16_t>(v, 0);
          else if (l.act == Act::Sigmoid)
            v = lookUp(sig, v, fa);
          else if (l.act == Act::Tanh)
            v = lookUp(tanh, v, fa);
          next[size_t(t * l.outputs + r)] = v;
        }
      }
    } else {
      std::vector<int32_t> r = integerValues(l.r);
      int64_t H = l.outputs;
      std::vector<int16_t> h(static_cast<size_t>(H)), c(static_cast<size_t>(H));
      auto clip = [&](int64_t v) {
        return l.clip < 0 ? v : std::clamp<int64_t>(v, -l.clip, l.clip);
      };
      auto peep = [&](int64_t k, int16_t cell) {
        return roundShift(int64_t(l.peepholes[size_t(k)]) * cell, fa);
      };
      for (int64_t t = 0; t < model.steps; ++t) {
        std::vector<int64_t> gx = product(w, l.w, &cur[size_t(t * l.inputs)]);
        std::vector<int64_t> gh = product(r, l.r, h.data());
        auto pre = [&](int64_t gate, int64_t j) {
          size_t k = size_t(gate * H + j);
          return gx[k] + gh[k] + l.bias[k] + l.bias[size_t(4 * H) + k];
        };
        std::vector<int16_t> hn(static_cast<size_t>(H));
        for (int64_t j = 0; j < H; ++j) {
          int16_t cp = c[size_t(j)];
          int16_t i =
              lookUp(sig, saturate16(clip(pre(0, j) + peep(j, cp))), fa);
          int16_t f = lookUp(
              sig, saturate16(clip(pre(2, j) + peep(2 * H + j, cp))), fa);
          int16_t g = lookUp(tanh, saturate16(clip(pre(3, j))), fa);
          int16_t cn =
              saturate16(roundShift(int64_t(f) * cp + int64_t(i) * g, fa));
          int16_t o =
              lookUp(sig, saturate16(clip(pre(1, j) + peep(H + j, cn))), fa);
          hn[size_t(j)] =
              saturate16(roundShift(int64_t(o) * lookUp(tanh, cn, fa), fa));
          c[size_t(j)] = cn;
        }
        h = hn;
        std::copy(h.begin(), h.end(), next.begin() + t * H);
      }
    }
    cur = std::move(next);
  }
  return cur;
}
