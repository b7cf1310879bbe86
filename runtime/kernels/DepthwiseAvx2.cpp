//===- DepthwiseAvx2.cpp - depthwise convolution planes, AVX2 -------------===//
//
// The AVX-512 plane's method (DepthwiseAvx512.cpp) with 8-float vectors:
// each plane is copied once into a zero-bordered scratch plane (for stride
// 2, every row split into its even and odd columns), so that every tap of
// every output is a plain unit-stride vector load. Four output rows at a
// time, each its own chain of FMAs; taps are unaligned loads, which AVX2
// CPUs issue two a cycle. Compiled for AVX2 + FMA whatever the build's
// baseline; HostKernels.cpp calls it only at that level.
//
//===----------------------------------------------------------------------===//

#include "runtime/formats/Simd.h"
#include "runtime/kernels/Depthwise.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

namespace sparq::kernels::avx2 {
namespace {

/// Lanes [0, 8) below n, as a maskload/maskstore mask.
SPARQ_TARGET_AVX2 inline __m256i lanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::min<int64_t>(n, 8))),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// R output rows (`rowStep` apart in the scratch plane) x 8 columns from
/// column ox (`n` of them stored).
template <int R>
SPARQ_TARGET_AVX2 inline void
rowsChunk(const float *base, int64_t rowStep, const int64_t *off,
          const float *wk, int64_t taps, float *o, int64_t outRowStride,
          int64_t ox, int64_t n, bool accumulate, __m256 vbias, __m256 vlo,
          __m256 vhi) {
  bool whole = n >= 8;
  __m256i m = lanes(n);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) {
    const float *d = o + r * outRowStride + ox;
    acc[r] = accumulate ? _mm256_add_ps(vbias, whole ? _mm256_loadu_ps(d)
                                                     : _mm256_maskload_ps(d, m))
                        : vbias;
  }
  for (int64_t t = 0; t < taps; ++t) {
    __m256 w = _mm256_broadcast_ss(wk + t);
    const float *src = base + off[t] + ox;
    for (int r = 0; r < R; ++r)
      acc[r] = _mm256_fmadd_ps(w, _mm256_loadu_ps(src + r * rowStep), acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    // Bound first: a NaN stays NaN.
    __m256 v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, acc[r]));
    float *d = o + r * outRowStride + ox;
    if (whole)
      _mm256_storeu_ps(d, v);
    else
      _mm256_maskstore_ps(d, m, v);
  }
}

/// Copies padded columns [c0, c1) of one input row (`src` indexed by padded
/// column) into its scratch row: as is for stride 1; for stride 2, even
/// columns to dst[c / 2], odd ones to dst[half + c / 2].
SPARQ_TARGET_AVX2 inline void copyRow(const float *src, float *dst, int64_t c0,
                                      int64_t c1, int64_t sw, int64_t half) {
  if (c1 <= c0)
    return;
  if (sw != 2) {
    std::memcpy(dst + c0, src + c0, (c1 - c0) * sizeof(float));
    return;
  }
  int64_t c = c0;
  if (c & 1) { // start on an even column
    dst[half + c / 2] = src[c];
    ++c;
  }
  // 16 floats: evens and odds by in-lane shuffles, then the 64-bit halves
  // in order.
  for (; c + 16 <= c1; c += 16) {
    __m256 a = _mm256_loadu_ps(src + c), b = _mm256_loadu_ps(src + c + 8);
    __m256 ev = _mm256_shuffle_ps(a, b, 0x88),
           od = _mm256_shuffle_ps(a, b, 0xDD);
    _mm256_storeu_ps(dst + c / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(
                                      _mm256_castps_pd(ev), 0xD8)));
    _mm256_storeu_ps(dst + half + c / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(
                                             _mm256_castps_pd(od), 0xD8)));
  }
  for (; c < c1; ++c)
    dst[(c & 1) * half + c / 2] = src[c];
}

} // namespace

SPARQ_TARGET_AVX2
void depthwisePlanes(const float *x, int64_t inPlaneStride, int64_t h,
                     int64_t w, int64_t rowStride, const float *wk, int64_t kh,
                     int64_t kw, float *out, int64_t outPlaneStride, int64_t oh,
                     int64_t ow, int64_t outRowStride, const ConvParams &p,
                     const float *bias, int64_t planes) {
  int64_t sh = p.strideH, sw = p.strideW;
  DepthwiseScratch sc = depthwiseScratch(h, w, kh, kw, oh, ow, p, 8);
  float *pad = sc.pad;
  int64_t ld = sc.ld, half = sc.half;
  const std::vector<int64_t> &off = sc.off;
  int64_t r0 = sc.r0, r1 = sc.r1, c0 = sc.c0, c1 = sc.c1;
  __m256 vlo = _mm256_set1_ps(p.lo), vhi = _mm256_set1_ps(p.hi);
  int64_t taps = kh * kw, rowStep = sh * ld;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float *xp = x + plane * inPlaneStride;
    for (int64_t r = r0; r < r1; ++r)
      copyRow(xp + (r - p.padTop) * rowStride - p.padLeft, pad + r * ld, c0, c1,
              sw, half);
    const float *wp = wk + plane * taps;
    float *op = out + plane * outPlaneStride;
    __m256 vbias = _mm256_set1_ps(bias ? bias[plane] : 0.0f);
    for (int64_t oy = 0; oy < oh; oy += 4) {
      const float *base = pad + oy * rowStep;
      float *o = op + oy * outRowStride;
      for (int64_t ox = 0; ox < ow; ox += 8) {
        int64_t n = ow - ox;
        switch (std::min<int64_t>(4, oh - oy)) {
        case 4:
          rowsChunk<4>(base, rowStep, off.data(), wp, taps, o, outRowStride, ox,
                       n, p.accumulate, vbias, vlo, vhi);
          break;
        case 3:
          rowsChunk<3>(base, rowStep, off.data(), wp, taps, o, outRowStride, ox,
                       n, p.accumulate, vbias, vlo, vhi);
          break;
        case 2:
          rowsChunk<2>(base, rowStep, off.data(), wp, taps, o, outRowStride, ox,
                       n, p.accumulate, vbias, vlo, vhi);
          break;
        default:
          rowsChunk<1>(base, rowStep, off.data(), wp, taps, o, outRowStride, ox,
                       n, p.accumulate, vbias, vlo, vhi);
        }
      }
    }
  }
}

} // namespace sparq::kernels::avx2

#else
namespace sparq::kernels::avx2 {
void depthwisePlanes(const float *, int64_t, int64_t, int64_t, int64_t,
                     const float *, int64_t, int64_t, float *, int64_t, int64_t,
                     int64_t, int64_t, const ConvParams &, const float *,
                     int64_t) {}
} // namespace sparq::kernels::avx2
#endif
