//===- ConvPhaseGemm.cpp - dense convolution without im2col ---------------===//
//
// im2col writes every input element once per tap (9x the input for 3x3),
// and the GEMM then reads it back from memory. Here the zero-padded input is
// written once, split into its stride phases: phase (py, px) holds the
// padded input's rows py, py + sh, ... and columns px, px + sw, .... Tap
// (ky, kx) of output (oy, ox) reads padded element (oy*sh + ky*dh,
// ox*sw + kx*dw), which is element (oy + ky*dh/sh, ox + kx*dw/sw) of phase
// (ky*dh % sh, kx*dw % sw). So with the outputs numbered oy * wq + ox (wq a
// phase's width), every tap's row of the GEMM is one phase plane shifted by
// a constant: gemmF32Rows reads it in place. Columns ox >= OW are computed
// and dropped (wq - OW of them per output row).
//
// Where output rows fill whole vectors (OW = 112, 224; 14 on AVX2), the
// tiles run row by row instead and store straight into the output: no
// result buffer, no pass that drops columns.
//
//===----------------------------------------------------------------------===//

#include "runtime/formats/Simd.h"
#include "runtime/kernels/DenseGemm.h"
#include "runtime/kernels/HostKernels.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <cstring>
#include <vector>

using namespace sparq::kernels;

namespace {

/// The geometry of one phase-split convolution.
struct Phases {
  int64_t hq, wq;              // a phase plane's rows and columns
  std::vector<int64_t> slotOf; // phase (py * sw + px) -> its plane, or -1
  std::vector<std::pair<int64_t, int64_t>> phaseOf; // plane -> (py, px)
};

Phases phasesOf(int64_t kh, int64_t kw, int64_t oh, int64_t ow,
                const ConvParams &p) {
  int64_t sh = p.strideH, sw = p.strideW;
  // The padded input's rows and columns that some output reads.
  int64_t hp = (oh - 1) * sh + (kh - 1) * p.dilationH + 1;
  int64_t wp = (ow - 1) * sw + (kw - 1) * p.dilationW + 1;
  Phases ph;
  ph.hq = (hp + sh - 1) / sh;
  ph.wq = (wp + sw - 1) / sw;
  ph.slotOf.assign(sh * sw, -1);
  for (int64_t ky = 0; ky < kh; ++ky)
    for (int64_t kx = 0; kx < kw; ++kx) {
      int64_t py = ky * p.dilationH % sh, px = kx * p.dilationW % sw;
      if (ph.slotOf[py * sw + px] < 0) {
        ph.slotOf[py * sw + px] = int64_t(ph.phaseOf.size());
        ph.phaseOf.push_back({py, px});
      }
    }
  return ph;
}

} // namespace

bool sparq::kernels::convPhaseGemmPays(int64_t kh, int64_t kw, int64_t oh,
                                       int64_t ow, const ConvParams &p) {
  if (oh == 0 || ow == 0)
    return false;
  // A 1x1 stride-1 convolution without padding is a GEMM on the input as is
  // (convIm2col copies nothing).
  if (kh == 1 && kw == 1 && p.strideH == 1 && p.strideW == 1 && p.padTop == 0 &&
      p.padLeft == 0)
    return false;
  // The dropped columns must not cost more than im2col saves.
  int64_t wq = phasesOf(kh, kw, oh, ow, p).wq;
  return 2 * wq <= 3 * ow;
}

namespace {
/// Whether the tiles run row by row (the header): their vectors' lanes past
/// OW waste no more than the flattened GEMM's dropped columns, give or take
/// the drop pass it saves. On AVX-512, short rows never do: a tile of one
/// or two vectors has 6 or 12 accumulators, too few to cover the FMA latency
/// (OW = 14 ran at 0.6x the speed of the flattened GEMM's 4-vector tiles).
/// The AVX2 tile is a strip of 16 columns either way (and the flattened GEMM
/// packs panels, which made OW = 14 1.15x slower there).
bool rowByRow(int64_t ow, int64_t wq) {
  int64_t padded = (ow + 15) / 16 * 16;
  if (sparq::simdLevel() >= sparq::SimdLevel::Avx512 &&
      padded < 3 * avx512::kTileCols / 4)
    return false;
  return 50 * (padded - ow) * wq <= 50 * (wq - ow) * padded + padded * wq;
}
} // namespace

void sparq::kernels::convPhaseGemm(F32x4 *in, const float *w, int64_t f,
                                   int64_t kh, int64_t kw, F32x4 *out,
                                   const ConvParams &p) {
  int64_t k = in->sizes[1] * kh * kw;
  convPhases(
      in, f, kh, kw, out, p,
      [&](const float *planes, const int64_t *rows, int64_t cols,
          float *result) {
        gemmF32Rows(w, k, planes, rows, f, cols, k, result, cols, false,
                    nullptr, -INFINITY, INFINITY);
      },
      w);
}

void sparq::kernels::convPhases(F32x4 *in, int64_t f, int64_t kh, int64_t kw,
                                F32x4 *out, const ConvParams &p,
                                const PhaseGemm &mm, const float *denseW) {
  int64_t n = in->sizes[0], c = in->sizes[1], h = in->sizes[2],
          wd = in->sizes[3];
  int64_t oh = out->sizes[2], ow = out->sizes[3];
  int64_t sh = p.strideH, sw = p.strideW, dh = p.dilationH, dw = p.dilationW;
  int64_t k = c * kh * kw;
  Phases ph = phasesOf(kh, kw, oh, ow, p);
  int64_t phases = int64_t(ph.phaseOf.size());
  int64_t plane = ph.hq * ph.wq, wq = ph.wq, cols = oh * wq;
  // Kept between calls (a fresh buffer per convolution costs page faults).
  static thread_local std::vector<int64_t> rowsBuffer;
  static thread_local std::vector<float> planesBuffer, resultBuffer;
  std::vector<int64_t> &rows = rowsBuffer;
  rows.resize(k);
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t ky = 0; ky < kh; ++ky)
      for (int64_t kx = 0; kx < kw; ++kx) {
        int64_t ry = ky * dh, rx = kx * dw;
        int64_t slot = ph.slotOf[(ry % sh) * sw + rx % sw];
        rows[(ci * kh + ky) * kw + kx] =
            (ci * phases + slot) * plane + ry / sh * wq + rx / sw;
      }
  // The last plane's last rows read up to (kw - 1) * dw / sw past its end
  // (into columns that are dropped): zeros there.
  // Row by row, tiles read whole vectors: up to 15 more.
  int64_t slack = (kw - 1) * dw / sw + 16;
  bool direct = denseW && rowByRow(ow, wq) && out->strides[3] == 1;
  planesBuffer.resize(c * phases * plane + slack);
  resultBuffer.resize(direct ? 0 : f * cols);
  float *planes = planesBuffer.data(), *result = resultBuffer.data();
  std::fill(planes + c * phases * plane, planes + planesBuffer.size(), 0.0f);
  for (int64_t b = 0; b < n; ++b) {
    const float *x = in->data() + b * in->strides[0];
    int64_t is1 = in->strides[1], is2 = in->strides[2], is3 = in->strides[3];
    int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / plane);
    parallelFor(c * phases, grain, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        auto [py, px] = ph.phaseOf[q % phases];
        const float *src = x + (q / phases) * is1;
        float *dst = planes + q * plane;
        // Phase columns j whose input column px + sw*j - padLeft is inside.
        // (px < sw, so the first numerator is >= 0: the divisions floor.)
        int64_t j0 = std::min((p.padLeft - px + sw - 1) / sw, wq);
        int64_t last = wd - 1 + p.padLeft - px; // sw * (last phase column)
        int64_t j1 = last < 0 ? j0 : std::clamp(last / sw + 1, j0, wq);
        for (int64_t i = 0; i < ph.hq; ++i) {
          float *d = dst + i * wq;
          int64_t r = py + sh * i - p.padTop;
          if (r < 0 || r >= h) {
            std::fill(d, d + wq, 0.0f);
            continue;
          }
          const float *s = src + r * is2 + (px + sw * j0 - p.padLeft) * is3;
          std::fill(d, d + j0, 0.0f);
          if (sw == 1 && is3 == 1)
            std::memcpy(d + j0, s, (j1 - j0) * sizeof(float));
          else
            for (int64_t j = j0; j < j1; ++j)
              d[j] = s[(j - j0) * sw * is3];
          std::fill(d + j1, d + wq, 0.0f);
        }
      }
    });
    float *o = out->data() + b * out->strides[0];
    int64_t os1 = out->strides[1], os2 = out->strides[2], os3 = out->strides[3];
    if (direct) {
      // A unit: one output row's tile of columns, down every filter (the
      // tile's B rows stay in L1).
      int64_t colTiles = (ow + avx512::kTileCols - 1) / avx512::kTileCols;
      parallelFor(oh * colTiles, 1, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1; ++u) {
          int64_t oy = u / colTiles, j0 = u % colTiles * avx512::kTileCols;
          int cols = int(std::min(avx512::kTileCols, ow - j0));
          for (int64_t r = 0; r < f; r += avx512::kTileRows)
            gemmTileF32(denseW + r * k, k, planes + oy * wq + j0, 0,
                        rows.data(), k, int(std::min(avx512::kTileRows, f - r)),
                        cols, o + r * os1 + oy * os2 + j0, os1, p.accumulate,
                        p.bias ? p.bias + r : nullptr, p.lo, p.hi);
        }
      });
      continue;
    }
    mm(planes, rows.data(), cols, result);
    // Drop the extra columns; add the bias and to the output, clamp.
    bool acc = p.accumulate;
    float lo = p.lo, hi = p.hi;
    parallelFor(
        f, std::max<int64_t>(1, 4096 / (oh * ow)), [&](int64_t f0, int64_t f1) {
          for (int64_t fi = f0; fi < f1; ++fi) {
            float bias = p.bias ? p.bias[fi] : 0.0f;
            for (int64_t oy = 0; oy < oh; ++oy) {
              const float *r = result + fi * cols + oy * wq;
              float *d = o + fi * os1 + oy * os2;
              for (int64_t ox = 0; ox < ow; ++ox) {
                float &v = d[ox * os3];
                v = std::min(std::max((acc ? v : 0.0f) + bias + r[ox], lo), hi);
              }
            }
          }
        });
  }
}
