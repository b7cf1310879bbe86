//===- Quantize.cpp - ternarization and weight sharing --------------------===//

#include "runtime/formats/Quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

using namespace sparq::formats;

std::optional<TernaryScales> sparq::formats::ternaryValues(const float *w,
                                                           int64_t n) {
  TernaryScales s;
  for (int64_t i = 0; i < n; ++i) {
    float v = w[i];
    if (v == 0)
      continue;
    float &slot = v > 0 ? s.wp : s.wn;
    if (slot != 0 && slot != std::fabs(v))
      return std::nullopt;
    slot = std::fabs(v);
  }
  return s;
}

TernaryScales sparq::formats::ternaryCodes(const float *w, int64_t n, double t,
                                           int8_t *codes) {
  double amax = 0;
  for (int64_t i = 0; i < n; ++i)
    amax = std::max(amax, double(std::fabs(w[i])));
  double delta = t * amax;
  double sumP = 0, sumN = 0;
  int64_t nP = 0, nN = 0;
  for (int64_t i = 0; i < n; ++i) {
    codes[i] = w[i] > delta ? 1 : w[i] < -delta ? -1 : 0;
    if (codes[i] > 0) {
      sumP += w[i];
      ++nP;
    } else if (codes[i] < 0) {
      sumN -= w[i];
      ++nN;
    }
  }
  TernaryScales s;
  s.wp = nP ? float(sumP / nP) : 0.0f;
  s.wn = nN ? float(sumN / nN) : 0.0f;
  return s;
}

TernaryScales sparq::formats::ternarize(float *w, int64_t n, double t,
                                        std::optional<TernaryScales> given) {
  std::vector<int8_t> codes(n);
  TernaryScales s = ternaryCodes(w, n, t, codes.data());
  if (given)
    s = *given;
  for (int64_t i = 0; i < n; ++i)
    w[i] = codes[i] > 0 ? s.wp : codes[i] < 0 ? -s.wn : 0.0f;
  return s;
}

std::vector<float> sparq::formats::shareWeights(float *w, int64_t n,
                                                int64_t clusters,
                                                bool keepZeros, int iters) {
  auto member = [&](float v) { return !keepZeros || v != 0; };
  float lo = std::numeric_limits<float>::max(), hi = -lo;
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i)
    if (member(w[i])) {
      lo = std::min(lo, w[i]);
      hi = std::max(hi, w[i]);
      ++count;
    }
  if (count == 0 || clusters <= 0)
    return {};
  // Linear initialization spreads centroids over the range, which keeps the
  // rare large weights represented (Deep Compression, section 3.2).
  std::vector<double> c(clusters);
  for (int64_t k = 0; k < clusters; ++k)
    c[k] = clusters == 1 ? (lo + hi) / 2.0
                         : lo + (double(hi) - lo) * k / (clusters - 1);
  std::vector<double> sum(clusters);
  std::vector<int64_t> num(clusters);
  auto nearest = [&](double v) {
    // Centroids stay sorted, so the nearest is found by bisection.
    auto it = std::lower_bound(c.begin(), c.end(), v);
    if (it == c.end())
      return clusters - 1;
    int64_t k = it - c.begin();
    if (k > 0 && v - c[k - 1] <= *it - v)
      return k - 1;
    return k;
  };
  for (int it = 0; it < iters; ++it) {
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(num.begin(), num.end(), 0);
    for (int64_t i = 0; i < n; ++i)
      if (member(w[i])) {
        int64_t k = nearest(w[i]);
        sum[k] += w[i];
        ++num[k];
      }
    bool moved = false;
    for (int64_t k = 0; k < clusters; ++k)
      if (num[k]) {
        double nc = sum[k] / num[k];
        moved |= nc != c[k];
        c[k] = nc;
      }
    std::sort(c.begin(), c.end());
    if (!moved)
      break;
  }
  std::vector<float> centroids(c.begin(), c.end());
  for (int64_t i = 0; i < n; ++i)
    if (member(w[i]))
      w[i] = centroids[nearest(w[i])];
  // Only the centroids in use: equal ones collapse, unused ones drop out.
  std::vector<float> used(w, w + n);
  if (keepZeros)
    used.erase(std::remove(used.begin(), used.end(), 0.0f), used.end());
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  return used;
}

int64_t sparq::formats::distinctValues(const float *w, int64_t n,
                                       int64_t limit) {
  std::unordered_set<float> seen;
  for (int64_t i = 0; i < n; ++i) {
    seen.insert(w[i]);
    if (int64_t(seen.size()) > limit)
      break;
  }
  return seen.size();
}
