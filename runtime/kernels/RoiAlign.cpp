//===- RoiAlign.cpp - ONNX RoiAlign on the host ---------------------------===//

#include "runtime/kernels/RoiAlign.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

using namespace sparq::kernels;

namespace {

/// One bilinear sample: the four corners' offsets in a [H, W] plane and
/// their weights; all weights 0 for a sample more than a pixel outside.
struct Sample {
  int64_t at[4] = {0, 0, 0, 0};
  float w[4] = {0, 0, 0, 0};
};

Sample sampleAt(float y, float x, int64_t h, int64_t w) {
  Sample s;
  if (y < -1.0f || y > float(h) || x < -1.0f || x > float(w))
    return s;
  y = std::max(y, 0.0f);
  x = std::max(x, 0.0f);
  int64_t y0 = int64_t(y), x0 = int64_t(x), y1, x1;
  if (y0 >= h - 1) {
    y0 = y1 = h - 1;
    y = float(y0);
  } else {
    y1 = y0 + 1;
  }
  if (x0 >= w - 1) {
    x0 = x1 = w - 1;
    x = float(x0);
  } else {
    x1 = x0 + 1;
  }
  float ly = y - float(y0), lx = x - float(x0), hy = 1.0f - ly, hx = 1.0f - lx;
  s.at[0] = y0 * w + x0;
  s.at[1] = y0 * w + x1;
  s.at[2] = y1 * w + x0;
  s.at[3] = y1 * w + x1;
  s.w[0] = hy * hx;
  s.w[1] = hy * lx;
  s.w[2] = ly * hx;
  s.w[3] = ly * lx;
  return s;
}

} // namespace

bool sparq::kernels::roiAlign(const float *x, int64_t n, int64_t c, int64_t h,
                              int64_t w, const float *rois,
                              const int64_t *batch, int64_t r,
                              const RoiAlignParams &p, float *out) {
  for (int64_t i = 0; i < r; ++i)
    if (batch[i] < 0 || batch[i] >= n)
      return false;
  const int64_t bins = p.outH * p.outW;
  parallelFor(r, 1, [&](int64_t r0, int64_t r1) {
    std::vector<Sample> samples;
    for (int64_t ri = r0; ri < r1; ++ri) {
      const float *roi = rois + ri * 4;
      float offset = p.halfPixel ? 0.5f : 0.0f;
      float x1 = roi[0] * p.spatialScale - offset,
            y1 = roi[1] * p.spatialScale - offset,
            x2 = roi[2] * p.spatialScale - offset,
            y2 = roi[3] * p.spatialScale - offset;
      float rw = x2 - x1, rh = y2 - y1;
      if (!p.halfPixel) {
        rw = std::max(rw, 1.0f);
        rh = std::max(rh, 1.0f);
      }
      float binH = rh / float(p.outH), binW = rw / float(p.outW);
      int64_t gh = p.samplingRatio > 0 ? p.samplingRatio
                                       : int64_t(std::ceil(rh / float(p.outH))),
              gw = p.samplingRatio > 0 ? p.samplingRatio
                                       : int64_t(std::ceil(rw / float(p.outW)));
      gh = std::max<int64_t>(gh, 0);
      gw = std::max<int64_t>(gw, 0);
      float count = float(std::max<int64_t>(gh * gw, 1));
      // The samples of every bin, shared by the channels.
      samples.clear();
      for (int64_t ph = 0; ph < p.outH; ++ph)
        for (int64_t pw = 0; pw < p.outW; ++pw)
          for (int64_t iy = 0; iy < gh; ++iy)
            for (int64_t ix = 0; ix < gw; ++ix)
              samples.push_back(sampleAt(
                  y1 + float(ph) * binH + (float(iy) + 0.5f) * binH / float(gh),
                  x1 + float(pw) * binW + (float(ix) + 0.5f) * binW / float(gw),
                  h, w));
      const int64_t per = gh * gw;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float *plane = x + (batch[ri] * c + ch) * h * w;
        float *o = out + (ri * c + ch) * bins;
        for (int64_t b = 0; b < bins; ++b) {
          const Sample *s = samples.data() + b * per;
          float v = 0.0f;
          for (int64_t k = 0; k < per; ++k) {
            if (p.max) {
              float m = std::max({s[k].w[0] * plane[s[k].at[0]],
                                  s[k].w[1] * plane[s[k].at[1]],
                                  s[k].w[2] * plane[s[k].at[2]],
                                  s[k].w[3] * plane[s[k].at[3]]});
              v = k == 0 ? m : std::max(v, m);
            } else {
              v += s[k].w[0] * plane[s[k].at[0]] +
                   s[k].w[1] * plane[s[k].at[1]] +
                   s[k].w[2] * plane[s[k].at[2]] +
                   s[k].w[3] * plane[s[k].at[3]];
            }
          }
          o[b] = p.max ? v : v / count;
        }
      }
    }
  });
  return true;
}

extern "C" void _mlir_ciface_sparq_roi_align(
    MemRef<float, 4> *x, MemRef<float, 2> *rois, MemRef<int64_t, 1> *batch,
    MemRef<float, 4> *out, int64_t outH, int64_t outW, int64_t samplingRatio,
    float spatialScale, int64_t halfPixel, int64_t max) {
  std::vector<float> xs, rs, o;
  const float *xp = contiguous(*x, xs), *rp = contiguous(*rois, rs);
  std::vector<int64_t> idx(batch->sizes[0]);
  for (int64_t i = 0; i < int64_t(idx.size()); ++i)
    idx[i] = batch->aligned[elementOffset(*batch, i)];
  RoiAlignParams p{outH,         outW,           samplingRatio,
                   spatialScale, halfPixel != 0, max != 0};
  float *op = outputOf(*out, o);
  if (!roiAlign(xp, x->sizes[0], x->sizes[1], x->sizes[2], x->sizes[3], rp,
                idx.data(), rois->sizes[0], p, op)) {
    std::fprintf(stderr,
                 "sparq: RoiAlign: a batch index is outside [0, %lld)"
                 "; its output is 0\n",
                 (long long)x->sizes[0]);
    std::fill(op, op + numElements(*out), 0.0f);
  }
  writeBack(*out, o);
}
