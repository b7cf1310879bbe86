//===- BevPool.cpp - BEVFusion's camera-to-BEV pooling --------------------===//

#include "runtime/kernels/BevPool.h"
#include "runtime/formats/Simd.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace sparq;
using namespace sparq::kernels;

namespace {
/// Channels summed at once: four AVX-512 registers.
constexpr int64_t kBlock = 64;
} // namespace

void sparq::kernels::bevPool(const formats::BevPoolPlanView &plan,
                             const float *depth, const float *feat,
                             int64_t channels, float *out, bool channelsLast) {
  int64_t cells = plan.cells, intervals = plan.intervals;
  parallelFor(cells, 1 << 10, [&](int64_t b, int64_t e) {
    if (channelsLast) {
      std::memset(out + b * channels, 0, (e - b) * channels * sizeof(float));
    } else {
      for (int64_t c = 0; c < channels; ++c)
        std::memset(out + c * cells + b, 0, (e - b) * sizeof(float));
    }
  });
  parallelFor(intervals, 16, [&](int64_t b, int64_t e) {
    std::vector<float> buffer(channels);
    float *__restrict acc = buffer.data();
    sparq::withSimd([&]() SPARQ_SIMD_INLINE {
      for (int64_t j = b; j < e; ++j) {
        int64_t i = plan.order[j];
        std::fill(acc, acc + channels, 0.0f);
        for (int64_t k = plan.start[i]; k < plan.start[i + 1]; ++k) {
          // One depth probability times the pixel's feature row:
          // vectorized over channels.
          float d = depth[plan.depthIndex[k]];
          const float *__restrict f =
              feat + int64_t(plan.featIndex[k]) * channels;
          for (int64_t c = 0; c < channels; ++c)
            acc[c] += d * f[c];
        }
        int64_t cell = plan.cell[i];
        if (channelsLast)
          std::memcpy(out + cell * channels, acc, channels * sizeof(float));
        else
          for (int64_t c = 0; c < channels; ++c)
            out[c * cells + cell] = acc[c];
      }
    });
  });
}

extern "C" void _mlir_ciface_sparq_bev_pool(MemRef<float, 1> *depth,
                                            MemRef<float, 2> *feat,
                                            MemRef<int8_t, 1> *plan,
                                            MemRef<float, 2> *out,
                                            int64_t channelsFirst) {
  formats::BevPoolPlanView view;
  std::string error;
  if (!formats::readBevPoolPlan(reinterpret_cast<uint8_t *>(plan->data()),
                                size_t(plan->sizes[0]), view, error) ||
      view.cells != out->sizes[channelsFirst ? 1 : 0]) {
    // The plan is the compiler's own, from the weights: a mismatch is a
    // corrupted weights file, not a user error the code could report.
    std::fprintf(stderr, "sparq: %s\n",
                 error.empty() ? "BEV pooling plan does not fit its output"
                               : error.c_str());
    std::abort();
  }
  std::vector<float> d, f;
  const float *dp = contiguous(*depth, d), *fp = contiguous(*feat, f);
  std::vector<float> o;
  float *op = outputOf(*out, o);
  bevPool(view, dp, fp, feat->sizes[1], op, /*channelsLast=*/!channelsFirst);
  writeBack(*out, o);
}
