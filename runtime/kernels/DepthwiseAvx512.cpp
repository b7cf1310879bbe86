//===- DepthwiseAvx512.cpp - depthwise convolution planes, AVX-512 --------===//
//
// Each plane is first copied into a zero-bordered scratch plane (for stride
// 2, with every row split into its even and odd columns), so that every tap
// of every output is a plain unit-stride vector load: no border cases, no
// scalar columns, whatever the plane's size. The copy is one pass over the
// input; the taps are KH * KW passes. Compiled for AVX-512F whatever the
// build's baseline; HostKernels.cpp calls it only when the CPU has it.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/Depthwise.h"

#include <algorithm>
#include <array>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_AVX512 __attribute__((target("avx512f,fma")))

namespace sparq::kernels::avx512 {
namespace {

/// R output rows (`rowStep` apart in the scratch plane) x 16 columns from
/// column ox: R independent chains of FMAs, one per row, so the FMA latency
/// is hidden even when a row is a single vector (7x7, 14x14 planes).
template <int R>
SPARQ_AVX512 inline void rowsChunk(const float *base, int64_t rowStep,
                                   const int64_t *off, const float *wk,
                                   int64_t taps, float *o, int64_t outRowStride,
                                   int64_t ox, __mmask16 m, bool accumulate,
                                   __m512 vbias, __m512 vlo, __m512 vhi) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r)
    acc[r] =
        accumulate
            ? _mm512_add_ps(vbias,
                            _mm512_maskz_loadu_ps(m, o + r * outRowStride + ox))
            : vbias;
  for (int64_t t = 0; t < taps; ++t) {
    __m512 w = _mm512_set1_ps(wk[t]);
    const float *src = base + off[t] + ox;
    for (int r = 0; r < R; ++r)
      acc[r] = _mm512_fmadd_ps(w, _mm512_loadu_ps(src + r * rowStep), acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    // Bound first: a NaN stays NaN.
    __m512 v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc[r]));
    _mm512_mask_storeu_ps(o + r * outRowStride + ox, m, v);
  }
}

} // namespace

SPARQ_AVX512
void depthwisePlane(const float *x, int64_t h, int64_t w, int64_t rowStride,
                    const float *wk, int64_t kh, int64_t kw, float *out,
                    int64_t oh, int64_t ow, int64_t outRowStride,
                    const ConvParams &p, float bias) {
  int64_t sh = p.strideH, sw = p.strideW, dh = p.dilationH, dw = p.dilationW;
  // The padded plane: every row an output reads, every column a tap reads,
  // plus 16 so that the last vector of a row may read past it.
  int64_t ph = (oh - 1) * sh + (kh - 1) * dh + 1;
  int64_t pw = (ow - 1) * sw + (kw - 1) * dw + 1;
  int64_t half = (pw + 1) / 2; // stride 2: even columns, then odd ones
  int64_t ld = (sw == 2 ? 2 * half : pw) + 16;
  static thread_local std::vector<float> scratch;
  // The copy below writes the same elements for the same geometry, so the
  // zeros around them survive from the last plane of this thread's layer:
  // zero only when the geometry changes.
  static thread_local std::array<int64_t, 7> zeroedFor{};
  std::array<int64_t, 7> geometry = {ph, ld, h, w, p.padTop, p.padLeft, sw};
  if (geometry != zeroedFor) {
    scratch.assign(ph * ld, 0.0f);
    zeroedFor = geometry;
  }
  // Even (odd) elements of 32 floats: the de-interleave of stride 2.
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20,
                                          22, 24, 26, 28, 30);
  const __m512i odds = _mm512_add_epi32(evens, _mm512_set1_epi32(1));
  for (int64_t r = 0; r < ph; ++r) {
    int64_t iy = r - p.padTop;
    if (iy < 0 || iy >= h)
      continue;
    const float *src = x + iy * rowStride - p.padLeft; // by padded column
    float *dst = scratch.data() + r * ld;
    int64_t c0 = std::max<int64_t>(0, p.padLeft);
    int64_t c1 = std::min<int64_t>(pw, p.padLeft + w);
    if (sw != 2) {
      std::copy(src + c0, src + c1, dst + c0);
      continue;
    }
    int64_t c = c0;
    if (c & 1) { // start on an even column
      dst[half + c / 2] = src[c];
      ++c;
    }
    for (; c + 32 <= c1; c += 32) {
      __m512 a = _mm512_loadu_ps(src + c), b = _mm512_loadu_ps(src + c + 16);
      _mm512_storeu_ps(dst + c / 2, _mm512_permutex2var_ps(a, evens, b));
      _mm512_storeu_ps(dst + half + c / 2, _mm512_permutex2var_ps(a, odds, b));
    }
    for (; c < c1; ++c)
      dst[(c & 1) * half + c / 2] = src[c];
  }
  // Each tap's offset in the scratch plane from its output's first tap.
  static thread_local std::vector<int64_t> off;
  off.resize(kh * kw);
  for (int64_t ky = 0; ky < kh; ++ky)
    for (int64_t kx = 0; kx < kw; ++kx) {
      int64_t q = kx * dw; // the tap's padded column
      off[ky * kw + kx] = ky * dh * ld + (sw == 2 ? (q & 1) * half + q / 2 : q);
    }
  __m512 vlo = _mm512_set1_ps(p.lo), vhi = _mm512_set1_ps(p.hi);
  __m512 vbias = _mm512_set1_ps(bias);
  int64_t taps = kh * kw, rowStep = sh * ld;
  for (int64_t oy = 0; oy < oh; oy += 4) {
    const float *base = scratch.data() + oy * rowStep;
    float *o = out + oy * outRowStride;
    for (int64_t ox = 0; ox < ow; ox += 16) {
      __mmask16 m = ow - ox >= 16 ? 0xFFFF : (1u << (ow - ox)) - 1;
      switch (std::min<int64_t>(4, oh - oy)) {
      case 4:
        rowsChunk<4>(base, rowStep, off.data(), wk, taps, o, outRowStride, ox,
                     m, p.accumulate, vbias, vlo, vhi);
        break;
      case 3:
        rowsChunk<3>(base, rowStep, off.data(), wk, taps, o, outRowStride, ox,
                     m, p.accumulate, vbias, vlo, vhi);
        break;
      case 2:
        rowsChunk<2>(base, rowStep, off.data(), wk, taps, o, outRowStride, ox,
                     m, p.accumulate, vbias, vlo, vhi);
        break;
      default:
        rowsChunk<1>(base, rowStep, off.data(), wk, taps, o, outRowStride, ox,
                     m, p.accumulate, vbias, vlo, vhi);
      }
    }
  }
}

} // namespace sparq::kernels::avx512

#else
namespace sparq::kernels::avx512 {
void depthwisePlane(const float *, int64_t, int64_t, int64_t, const float *,
                    int64_t, int64_t, float *, int64_t, int64_t, int64_t,
                    const ConvParams &, float) {}
} // namespace sparq::kernels::avx512
#endif
