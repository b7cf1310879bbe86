//===- GradientCompression.cpp - DGC's local work on a gradient -----------===//

#include "runtime/kernels/GradientCompression.h"
#include "runtime/formats/GradientMessage.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace sparq::kernels;

namespace {
constexpr int64_t kMinSample = 1024;
// Sampled entries expected above the threshold: the count it selects varies
// by about 1/sqrt(kSampleHits) (18%), where DGC's plain 1% sample of a
// 0.1%-dense selection leaves a few hits and misses by half.
constexpr int64_t kSampleHits = 32;
// The sample aims this much above k, so that the count rarely falls short
// (an exact pass) and the surplus is trimmed.
constexpr double kAim = 1.25;
// Fixed chunks (not one per thread) keep the positions' order independent of
// the thread count.
constexpr int64_t kChunk = int64_t(1) << 16;

/// Ascending positions with |v| >= thr, in one pass over v: each chunk
/// collects its own, then they are joined in order.
std::vector<int64_t> atLeast(const float *v, int64_t n, float thr) {
  int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<std::vector<int64_t>> found(chunks);
  parallelFor(chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      std::vector<int64_t> &out = found[c];
      for (int64_t i = c * kChunk, end = std::min(n, i + kChunk); i < end;
           i += 8) {
        // Test eight at a time (vectorized); most blocks hold none.
        int any = 0;
        int64_t stop = std::min(end, i + 8);
        for (int64_t j = i; j < stop; ++j)
          any |= std::fabs(v[j]) >= thr;
        if (any)
          for (int64_t j = i; j < stop; ++j)
            if (std::fabs(v[j]) >= thr)
              out.push_back(j);
      }
    }
  });
  size_t total = 0;
  for (const auto &f : found)
    total += f.size();
  std::vector<int64_t> out;
  out.reserve(total);
  for (const auto &f : found)
    out.insert(out.end(), f.begin(), f.end());
  return out;
}

/// Keeps the k positions of largest |v| (ties: the earlier), ascending.
void keepLargest(const float *v, std::vector<int64_t> &pos, int64_t k) {
  if (int64_t(pos.size()) <= k)
    return;
  std::nth_element(pos.begin(), pos.begin() + k, pos.end(),
                   [v](int64_t a, int64_t b) {
                     float x = std::fabs(v[a]), y = std::fabs(v[b]);
                     return x > y || (x == y && a < b);
                   });
  pos.resize(k);
  std::sort(pos.begin(), pos.end());
}
} // namespace

void sparq::kernels::accumulateGradient(float *u, float *v, const float *g,
                                        int64_t n, float momentum) {
  parallelFor(n, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      u[i] = momentum * u[i] + g[i];
    if (v)
      for (int64_t i = b; i < e; ++i)
        v[i] += u[i];
  });
}

SamplePlan sparq::kernels::samplePlan(int64_t n, int64_t k,
                                      const SelectOptions &options) {
  SamplePlan plan;
  if (k <= 0 || k >= n)
    return plan;
  int64_t samples = std::max<int64_t>(
      {kMinSample, int64_t(std::ceil(n * options.sampleFraction)),
       int64_t(std::ceil(double(kSampleHits) * n / k))});
  if (samples * 2 >= n)
    return plan;
  plan.samples = samples;
  plan.rank = std::clamp<int64_t>(std::llround(kAim * double(k) * samples / n),
                                  1, samples);
  return plan;
}

std::vector<int64_t> sparq::kernels::selectLargest(const float *v, int64_t n,
                                                   int64_t k,
                                                   const SelectOptions &options,
                                                   SelectStats *stats) {
  SelectStats local;
  SelectStats &s = stats ? *stats : local;
  s = SelectStats();
  if (k <= 0 || n <= 0)
    return {};
  const float tiny = std::numeric_limits<float>::denorm_min();
  SamplePlan plan = samplePlan(n, k, options);
  if (plan.samples) {
    int64_t samples = plan.samples, ks = plan.rank;
    // Stratified (samplePosition): unbiased, and the reads move forward
    // through memory (prefetched), where uniform positions would each miss
    // the cache.
    std::vector<float> sample(samples);
    for (int64_t j = 0; j < samples; ++j) {
      float x = std::fabs(v[samplePosition(j, n, samples, options.seed)]);
      sample[j] = std::isnan(x) ? 0.0f : x;
    }
    std::nth_element(sample.begin(), sample.begin() + (ks - 1), sample.end(),
                     std::greater<float>());
    float thr = sample[ks - 1];
    s.sampled = samples;
    s.threshold = thr;
    std::vector<int64_t> pos = atLeast(v, n, std::max(thr, tiny));
    s.aboveSample = int64_t(pos.size());
    if (s.aboveSample >= (1.0 - options.tolerance) * double(k)) {
      s.trimmed = s.aboveSample > k;
      keepLargest(v, pos, k);
      return pos;
    }
  }
  // Exact: the k-th largest |v| (of a copy), then the entries reaching it.
  s.exact = true;
  std::vector<float> mag(n);
  for (int64_t i = 0; i < n; ++i)
    mag[i] = std::isnan(v[i]) ? 0.0f : std::fabs(v[i]);
  int64_t kth = std::min(k, n) - 1;
  std::nth_element(mag.begin(), mag.begin() + kth, mag.end(),
                   std::greater<float>());
  std::vector<int64_t> pos = atLeast(v, n, std::max(mag[kth], tiny));
  keepLargest(v, pos, k);
  return pos;
}

void sparq::kernels::clearSelected(float *u, float *v, const int64_t *positions,
                                   int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    if (u)
      u[positions[i]] = 0;
    v[positions[i]] = 0;
  }
}

std::vector<uint8_t>
sparq::kernels::compressGradients(const std::vector<GradientPart> &parts,
                                  float momentum,
                                  const SelectOptions &options) {
  std::vector<std::vector<int64_t>> picks(parts.size());
  auto run = [&](size_t i) {
    const GradientPart &p = parts[i];
    if (p.g)
      accumulateGradient(p.u, p.v, p.g, p.n, momentum);
    if (!p.v)
      return;
    SelectOptions o = options;
    o.seed = p.seed;
    picks[i] = selectLargest(p.v, p.n, p.k, o);
  };
  // Parts of a million values or more split their own loops over the pool;
  // the rest are dealt round-robin, largest first, one thread each (a
  // nested parallelFor runs serially).
  constexpr int64_t kLarge = int64_t(1) << 20;
  std::vector<size_t> small;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].n >= kLarge)
      run(i);
    else
      small.push_back(i);
  }
  std::stable_sort(small.begin(), small.end(),
                   [&](size_t a, size_t b) { return parts[a].n > parts[b].n; });
  int64_t threads = poolThreads();
  parallelFor(threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t)
      for (size_t j = t; j < small.size(); j += threads)
        run(small[j]);
  });

  std::vector<int64_t> positions;
  std::vector<float> values;
  for (size_t i = 0; i < parts.size(); ++i) {
    for (int64_t at : picks[i]) {
      positions.push_back(parts[i].offset + at);
      values.push_back(parts[i].v[at]);
    }
    clearSelected(parts[i].u, parts[i].v, picks[i].data(), picks[i].size());
  }
  int64_t entries =
      formats::gradientMessageEntries(positions.data(), positions.size());
  std::vector<uint8_t> msg(formats::gradientMessageBytes(entries));
  formats::encodeGradientMessage(positions.data(), values.data(),
                                 positions.size(), msg.data());
  return msg;
}
