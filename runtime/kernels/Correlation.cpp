//===- Correlation.cpp - PatchNet's normalized patchwise correlation ------===//

#include "runtime/kernels/Correlation.h"
#include "runtime/kernels/DenseGemm.h"

#include <cmath>
#include <vector>

using namespace sparq::kernels;

void sparq::kernels::correlation(const float *search, int64_t n, int64_t c,
                                 int64_t h, int64_t w, const float *patches,
                                 int64_t p, int64_t kh, int64_t kw,
                                 int64_t stride, float eps, float *out) {
  int64_t oh = (h - kh) / stride + 1, ow = (w - kw) / stride + 1;
  int64_t windows = oh * ow, k = c * kh * kw;
  // Row (ci, i, j) of `cols` holds that element of every window.
  std::vector<float> cols(k * windows), energy(windows);
  for (int64_t b = 0; b < n; ++b) {
    const float *img = search + b * c * h * w;
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) {
          float *row = cols.data() + ((ci * kh + i) * kw + j) * windows;
          for (int64_t y = 0; y < oh; ++y) {
            const float *src = img + (ci * h + y * stride + i) * w + j;
            for (int64_t x = 0; x < ow; ++x)
              row[y * ow + x] = src[x * stride];
          }
        }
    // Each window's energy, its rows summed in order.
    std::fill(energy.begin(), energy.end(), 0.0f);
    for (int64_t r = 0; r < k; ++r) {
      const float *row = cols.data() + r * windows;
      for (int64_t q = 0; q < windows; ++q)
        energy[q] += row[q] * row[q];
    }
    float *o = out + b * p * windows;
    denseGemm(patches, k, cols.data(), windows, /*transB=*/false, p, windows, k,
              o, windows, /*accumulate=*/false);
    for (int64_t q = 0; q < windows; ++q)
      energy[q] = std::sqrt(energy[q] + eps);
    for (int64_t pi = 0; pi < p; ++pi)
      for (int64_t q = 0; q < windows; ++q)
        o[pi * windows + q] /= energy[q];
  }
}

extern "C" void _mlir_ciface_sparq_correlation(MemRef<float, 4> *search,
                                               MemRef<float, 4> *patches,
                                               MemRef<float, 4> *out,
                                               int64_t stride, float eps) {
  std::vector<float> s, t, o;
  const float *sp = contiguous(*search, s), *tp = contiguous(*patches, t);
  correlation(sp, search->sizes[0], search->sizes[1], search->sizes[2],
              search->sizes[3], tp, patches->sizes[0], patches->sizes[2],
              patches->sizes[3], stride, eps, outputOf(*out, o));
  writeBack(*out, o);
}
