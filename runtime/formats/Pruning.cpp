//===- Pruning.cpp - magnitude pruning, granularity, PE balance -----------===//

#include "runtime/formats/Pruning.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

using namespace sparq::formats;

WeightShape sparq::formats::weightShape(const std::vector<int64_t> &shape) {
  WeightShape w;
  if (shape.size() >= 1)
    w.k = shape[0];
  if (shape.size() >= 2)
    w.c = shape[1];
  if (shape.size() == 3)
    w.s = shape[2];
  if (shape.size() == 4) {
    w.r = shape[2];
    w.s = shape[3];
  }
  return w;
}

bool sparq::formats::parseGranularity(const std::string &name,
                                      PruneSpec &spec) {
  static const std::pair<const char *, Granularity> simple[] = {
      {"element", Granularity::Element},
      {"vector", Granularity::Vector},
      {"kernel", Granularity::Kernel},
      {"filter", Granularity::Filter},
      {"channel", Granularity::Channel}};
  for (auto &[n, g] : simple)
    if (name == n) {
      spec.granularity = g;
      return true;
    }
  long long a = 0, b = 0;
  char sep = 0, tail = 0;
  std::string rest;
  if (name.rfind("block", 0) == 0) {
    if (std::sscanf(name.c_str() + 5, "%lld%c%lld%c", &a, &sep, &b, &tail) ==
            3 &&
        sep == 'x' && a > 0 && b > 0) {
      spec.granularity = Granularity::Block;
      spec.blockRows = a;
      spec.blockCols = b;
      return true;
    }
    return false;
  }
  const char *s = name.c_str();
  if (name.rfind("nm", 0) == 0)
    s += 2;
  if (std::sscanf(s, "%lld%c%lld%c", &a, &sep, &b, &tail) == 3 && sep == ':' &&
      a > 0 && b > a) {
    spec.granularity = Granularity::NM;
    spec.n = a;
    spec.m = b;
    return true;
  }
  return false;
}

std::string sparq::formats::granularityName(const PruneSpec &spec) {
  switch (spec.granularity) {
  case Granularity::Element:
    return "element";
  case Granularity::Vector:
    return "vector";
  case Granularity::Kernel:
    return "kernel";
  case Granularity::Filter:
    return "filter";
  case Granularity::Channel:
    return "channel";
  case Granularity::Block:
    return "block" + std::to_string(spec.blockRows) + "x" +
           std::to_string(spec.blockCols);
  case Granularity::NM:
    return "nm" + std::to_string(spec.n) + ":" + std::to_string(spec.m);
  }
  return "element";
}

namespace {

/// Number of groups of a grouped granularity (not NM).
int64_t groupCount(const WeightShape &w, const PruneSpec &spec) {
  int64_t cols = w.cols();
  switch (spec.granularity) {
  case Granularity::Element:
    return w.size();
  case Granularity::Vector:
    return w.k * w.c * w.r;
  case Granularity::Kernel:
    return w.k * w.c;
  case Granularity::Filter:
    return w.k;
  case Granularity::Channel:
    return w.c;
  case Granularity::Block:
    return (w.k / spec.blockRows) * (cols / spec.blockCols);
  case Granularity::NM:
    break;
  }
  return 0;
}

/// Group id of every weight for a grouped granularity (not NM); returns the
/// number of groups.
int64_t groupIds(const WeightShape &w, const PruneSpec &spec,
                 std::vector<int64_t> &gid) {
  gid.resize(w.size());
  int64_t cols = w.cols();
  if (spec.granularity == Granularity::Block &&
      (w.k % spec.blockRows || cols % spec.blockCols))
    throw std::invalid_argument("blocks " + std::to_string(spec.blockRows) +
                                "x" + std::to_string(spec.blockCols) +
                                " do not tile the " + std::to_string(w.k) +
                                "x" + std::to_string(cols) + " weight matrix");
  int64_t i = 0;
  for (int64_t k = 0; k < w.k; ++k)
    for (int64_t c = 0; c < w.c; ++c)
      for (int64_t r = 0; r < w.r; ++r)
        for (int64_t s = 0; s < w.s; ++s, ++i) {
          switch (spec.granularity) {
          case Granularity::Element:
            gid[i] = i;
            break;
          case Granularity::Vector:
            gid[i] = (k * w.c + c) * w.r + r;
            break;
          case Granularity::Kernel:
            gid[i] = k * w.c + c;
            break;
          case Granularity::Filter:
            gid[i] = k;
            break;
          case Granularity::Channel:
            gid[i] = c;
            break;
          case Granularity::Block: {
            int64_t col = (c * w.r + r) * w.s + s;
            gid[i] = (k / spec.blockRows) * (cols / spec.blockCols) +
                     col / spec.blockCols;
            break;
          }
          case Granularity::NM:
            break;
          }
        }
  return groupCount(w, spec);
}

double combine(GroupNorm norm, double acc, double x) {
  switch (norm) {
  case GroupNorm::L1:
    return acc + std::fabs(x);
  case GroupNorm::L2:
    return acc + x * x;
  case GroupNorm::Max:
    return std::max(acc, std::fabs(x));
  }
  return acc;
}

/// Weights per group of a grouped granularity (not NM).
int64_t groupSize(const WeightShape &w, const PruneSpec &spec) {
  int64_t groups = groupCount(w, spec);
  return groups ? w.size() / groups : 1;
}

/// Whether every zero of w (there are `zeros` of them, at least one) lies in
/// a group that is entirely zero.
bool zerosFormGroups(const float *w, const WeightShape &shape,
                     const PruneSpec &spec, int64_t zeros) {
  // A zero group holds groupSize zeros: fewer zeros cannot form one. (A
  // trained dense layer with a few exact zeros stops here instead of
  // numbering 8-byte group ids for every weight, per candidate.)
  if (zeros < groupSize(shape, spec))
    return false;
  std::vector<int64_t> gid;
  int64_t groups = groupIds(shape, spec, gid);
  std::vector<uint8_t> hasZero(groups, 0), hasNonzero(groups, 0);
  for (int64_t i = 0; i < shape.size(); ++i)
    (w[i] == 0 ? hasZero : hasNonzero)[gid[i]] = 1;
  for (int64_t g = 0; g < groups; ++g)
    if (hasZero[g] && hasNonzero[g])
      return false;
  return true;
}

/// Largest number of non-zeros in any m consecutive weights of a row.
int64_t maxPerGroup(const float *w, int64_t rows, int64_t cols, int64_t m) {
  int64_t most = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < cols; g += m) {
      int64_t n = 0;
      for (int64_t j = 0; j < m; ++j)
        n += w[r * cols + g + j] != 0;
      most = std::max(most, n);
    }
  return most;
}

} // namespace

std::vector<uint8_t>
sparq::formats::keepLargest(const std::vector<double> &scores, double ratio) {
  int64_t n = scores.size();
  int64_t drop = std::clamp<int64_t>(std::llround(ratio * n), 0, n);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
  std::vector<uint8_t> keep(n, 1);
  for (int64_t i = 0; i < drop; ++i)
    keep[order[i]] = 0;
  return keep;
}

std::vector<uint8_t> sparq::formats::pruneMask(const float *w,
                                               const WeightShape &shape,
                                               const PruneSpec &spec) {
  if (spec.ratio < 0 || spec.ratio > 1)
    throw std::invalid_argument("pruning ratio " + std::to_string(spec.ratio) +
                                " is not in [0, 1]");
  if (spec.granularity == Granularity::NM) {
    int64_t rows = shape.rows(), cols = shape.cols();
    if (spec.m <= 0 || spec.n <= 0 || spec.n >= spec.m || cols % spec.m)
      throw std::invalid_argument("N:M " + std::to_string(spec.n) + ":" +
                                  std::to_string(spec.m) +
                                  " needs 0 < N < M and M to divide the " +
                                  std::to_string(cols) + " input columns");
    std::vector<uint8_t> mask(shape.size(), 0);
    std::vector<double> scores(spec.m);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < cols; g += spec.m) {
        for (int64_t j = 0; j < spec.m; ++j)
          scores[j] = std::fabs(w[r * cols + g + j]);
        std::vector<uint8_t> keep =
            keepLargest(scores, double(spec.m - spec.n) / spec.m);
        for (int64_t j = 0; j < spec.m; ++j)
          mask[r * cols + g + j] = keep[j];
      }
    return mask;
  }
  std::vector<int64_t> gid;
  int64_t groups = groupIds(shape, spec, gid);
  std::vector<double> score(groups, 0.0);
  for (int64_t i = 0; i < shape.size(); ++i)
    score[gid[i]] = combine(spec.norm, score[gid[i]], w[i]);
  std::vector<uint8_t> keepGroup = keepLargest(score, spec.ratio);
  std::vector<uint8_t> mask(shape.size());
  for (int64_t i = 0; i < shape.size(); ++i)
    mask[i] = keepGroup[gid[i]];
  return mask;
}

void sparq::formats::applyMask(float *w, const std::vector<uint8_t> &mask) {
  for (size_t i = 0; i < mask.size(); ++i)
    if (!mask[i])
      w[i] = 0.0f;
}

SparsityInfo sparq::formats::detectSparsity(const float *w,
                                            const WeightShape &shape) {
  SparsityInfo info;
  info.size = shape.size();
  for (int64_t i = 0; i < info.size; ++i)
    info.nonzeros += w[i] != 0;
  info.pattern.granularity = Granularity::Element;
  if (info.nonzeros == info.size || info.nonzeros == 0)
    return info;
  std::vector<PruneSpec> candidates;
  auto add = [&](Granularity g, int64_t br = 1, int64_t bc = 1) {
    PruneSpec s;
    s.granularity = g;
    s.blockRows = br;
    s.blockCols = bc;
    candidates.push_back(s);
  };
  add(Granularity::Filter);
  add(Granularity::Channel);
  if (shape.isConv()) {
    add(Granularity::Kernel);
    add(Granularity::Vector);
  }
  for (auto [br, bc] : {std::pair<int64_t, int64_t>{8, 8},
                        {4, 4},
                        {1, 8},
                        {8, 1},
                        {1, 4},
                        {4, 1}})
    if (shape.rows() % br == 0 && shape.cols() % bc == 0 && br * bc > 1)
      add(Granularity::Block, br, bc);
  for (const PruneSpec &s : candidates)
    if (zerosFormGroups(w, shape, s, info.size - info.nonzeros)) {
      info.pattern = s;
      return info;
    }
  for (auto [n, m] :
       {std::pair<int64_t, int64_t>{1, 4}, {2, 4}, {2, 8}, {4, 8}})
    if (shape.cols() % m == 0 && info.nonzeros * m >= info.size * n * 3 / 4 &&
        maxPerGroup(w, shape.rows(), shape.cols(), m) <= n) {
      info.pattern.granularity = Granularity::NM;
      info.pattern.n = n;
      info.pattern.m = m;
      return info;
    }
  return info;
}

double PeLoad::efficiency() const {
  if (nonzeros.empty())
    return 1.0;
  int64_t most = *std::max_element(nonzeros.begin(), nonzeros.end());
  double mean =
      std::accumulate(nonzeros.begin(), nonzeros.end(), 0.0) / nonzeros.size();
  return most ? mean / most : 1.0;
}

PeLoad sparq::formats::peLoad(const float *w, int64_t rows, int64_t cols,
                              int64_t pes) {
  PeLoad load;
  load.nonzeros.assign(pes, 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      load.nonzeros[r % pes] += w[r * cols + c] != 0;
  return load;
}

std::vector<uint8_t>
sparq::formats::balancedPruneMask(const float *w, int64_t rows, int64_t cols,
                                  int64_t pes, double ratio) {
  if (pes <= 0)
    throw std::invalid_argument("pe-balance needs at least one PE");
  std::vector<uint8_t> mask(rows * cols, 0);
  for (int64_t p = 0; p < pes; ++p) {
    std::vector<double> mags;
    for (int64_t r = p; r < rows; r += pes)
      for (int64_t c = 0; c < cols; ++c)
        mags.push_back(std::fabs(w[r * cols + c]));
    std::vector<uint8_t> keep = keepLargest(mags, ratio);
    size_t i = 0;
    for (int64_t r = p; r < rows; r += pes)
      for (int64_t c = 0; c < cols; ++c)
        mask[r * cols + c] = keep[i++];
  }
  return mask;
}
