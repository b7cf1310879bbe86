//===- DepthwiseAvx512.cpp - depthwise convolution planes, AVX-512 --------===//
//
// Each plane is first copied into a zero-bordered scratch plane (for stride
// 2, with every row split into its even and odd columns), so that every tap
// of every output is a plain unit-stride vector load: no border cases, no
// scalar columns, whatever the plane's size. The copy is one pass over the
// input, by masked vectors; the zeros around it stay from plane to plane.
// 3x3 kernels (MobileNet's) then load each scratch row once per 16 outputs
// and shift it in registers; other kernels load once per tap. Compiled for
// AVX-512F whatever the build's baseline; HostKernels.cpp calls it only
// when the CPU has it.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/Depthwise.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_AVX512 __attribute__((target("avx512f,fma")))

namespace sparq::kernels::avx512 {
namespace {

/// R output rows' accumulators at column ox: the bias, plus the output
/// where the convolution accumulates.
template <int R>
SPARQ_AVX512 inline void startRows(__m512 *acc, const float *o,
                                   int64_t outRowStride, int64_t ox,
                                   __mmask16 m, bool accumulate, __m512 vbias) {
  for (int r = 0; r < R; ++r)
    acc[r] =
        accumulate
            ? _mm512_add_ps(vbias,
                            _mm512_maskz_loadu_ps(m, o + r * outRowStride + ox))
            : vbias;
}

/// Stores R rows' accumulators, clamped to [lo, hi].
template <int R>
SPARQ_AVX512 inline void storeRows(const __m512 *acc, float *o,
                                   int64_t outRowStride, int64_t ox,
                                   __mmask16 m, __m512 vlo, __m512 vhi) {
  for (int r = 0; r < R; ++r) {
    // Bound first: a NaN stays NaN.
    __m512 v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc[r]));
    _mm512_mask_storeu_ps(o + r * outRowStride + ox, m, v);
  }
}

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
  startRows<R>(acc, o, outRowStride, ox, m, accumulate, vbias);
  for (int64_t t = 0; t < taps; ++t) {
    __m512 w = _mm512_set1_ps(wk[t]);
    const float *src = base + off[t] + ox;
    for (int r = 0; r < R; ++r)
      acc[r] = _mm512_fmadd_ps(w, _mm512_loadu_ps(src + r * rowStep), acc[r]);
  }
  storeRows<R>(acc, o, outRowStride, ox, m, vlo, vhi);
}

/// rowsChunk for 3x3 kernels without dilation, the MobileNet case: each
/// scratch row is loaded once, as two aligned vectors, and serves every
/// output row and column tap that reads it (the shifted columns by
/// valignd), against nine loads per row and tap above, two thirds of them
/// split across cache lines. Stride 2 reads odd columns from the row's odd
/// half, `half` floats on.
template <int R, int S>
SPARQ_AVX512 inline void
rows3x3(const float *base, int64_t ld, int64_t half, const __m512 *wv, float *o,
        int64_t outRowStride, int64_t ox, __mmask16 m, bool accumulate,
        __m512 vbias, __m512 vlo, __m512 vhi) {
  __m512 acc[R];
  startRows<R>(acc, o, outRowStride, ox, m, accumulate, vbias);
  constexpr int kRows = (R - 1) * S + 3;
#pragma GCC unroll 16
  for (int i = 0; i < kRows; ++i) {
    const float *row = base + i * ld + ox;
    __m512 v0 = _mm512_load_ps(row), v1 = _mm512_load_ps(row + 16);
    __m512 t0 = v0, t1, t2;
    if constexpr (S == 1) {
      t1 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v1),
                                                   _mm512_castps_si512(v0), 1));
      t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v1),
                                                   _mm512_castps_si512(v0), 2));
    } else {
      t1 = _mm512_load_ps(row + half);
      t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v1),
                                                   _mm512_castps_si512(v0), 1));
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      int ky = i - r * S;
      if (ky < 0 || ky > 2)
        continue;
      acc[r] = _mm512_fmadd_ps(wv[3 * ky], t0, acc[r]);
      acc[r] = _mm512_fmadd_ps(wv[3 * ky + 1], t1, acc[r]);
      acc[r] = _mm512_fmadd_ps(wv[3 * ky + 2], t2, acc[r]);
    }
  }
  storeRows<R>(acc, o, outRowStride, ox, m, vlo, vhi);
}

/// One plane's outputs from its scratch plane, four rows at a time.
template <int S>
SPARQ_AVX512 void plane3x3(const float *pad, int64_t ld, int64_t half,
                           const float *wk, float *o, int64_t oh, int64_t ow,
                           int64_t outRowStride, bool accumulate, __m512 vbias,
                           __m512 vlo, __m512 vhi) {
  __m512 wv[9];
  for (int t = 0; t < 9; ++t)
    wv[t] = _mm512_set1_ps(wk[t]);
  for (int64_t oy = 0; oy < oh; oy += 4) {
    const float *base = pad + oy * S * ld;
    float *orow = o + oy * outRowStride;
    for (int64_t ox = 0; ox < ow; ox += 16) {
      __mmask16 m = ow - ox >= 16 ? 0xFFFF : (1u << (ow - ox)) - 1;
      switch (std::min<int64_t>(4, oh - oy)) {
      case 4:
        rows3x3<4, S>(base, ld, half, wv, orow, outRowStride, ox, m, accumulate,
                      vbias, vlo, vhi);
        break;
      case 3:
        rows3x3<3, S>(base, ld, half, wv, orow, outRowStride, ox, m, accumulate,
                      vbias, vlo, vhi);
        break;
      case 2:
        rows3x3<2, S>(base, ld, half, wv, orow, outRowStride, ox, m, accumulate,
                      vbias, vlo, vhi);
        break;
      default:
        rows3x3<1, S>(base, ld, half, wv, orow, outRowStride, ox, m, accumulate,
                      vbias, vlo, vhi);
      }
    }
  }
}

/// Copies padded columns [c0, c1) of one input row (`src` indexed by padded
/// column) into its scratch row: as is for stride 1; for stride 2, even
/// columns to dst[c / 2], odd ones to dst[half + c / 2]. Masked loads and
/// stores take the row's ragged ends, so narrow rows cost a few vectors.
SPARQ_AVX512 inline void copyRow(const float *src, float *dst, int64_t c0,
                                 int64_t c1, int64_t sw, int64_t half) {
  auto lanes = [](int64_t n) -> __mmask16 {
    return n >= 16 ? 0xFFFF : n <= 0 ? 0 : __mmask16((1u << n) - 1);
  };
  int64_t c = c0;
  if (sw != 2) {
    for (; c < c1; c += 16) {
      __mmask16 m = lanes(c1 - c);
      _mm512_mask_storeu_ps(dst + c, m, _mm512_maskz_loadu_ps(m, src + c));
    }
    return;
  }
  // Even (odd) elements of 32 floats: the de-interleave of stride 2.
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20,
                                          22, 24, 26, 28, 30);
  const __m512i odds = _mm512_add_epi32(evens, _mm512_set1_epi32(1));
  if (c < c1 && (c & 1)) { // start on an even column
    dst[half + c / 2] = src[c];
    ++c;
  }
  for (; c < c1; c += 32) {
    int64_t n = c1 - c;
    __m512 a = _mm512_maskz_loadu_ps(lanes(n), src + c);
    __m512 b = _mm512_maskz_loadu_ps(lanes(n - 16), src + c + 16);
    _mm512_mask_storeu_ps(dst + c / 2, lanes((n + 1) / 2),
                          _mm512_permutex2var_ps(a, evens, b));
    _mm512_mask_storeu_ps(dst + half + c / 2, lanes(n / 2),
                          _mm512_permutex2var_ps(a, odds, b));
  }
}

} // namespace

SPARQ_AVX512
void depthwisePlanes(const float *x, int64_t inPlaneStride, int64_t h,
                     int64_t w, int64_t rowStride, const float *wk, int64_t kh,
                     int64_t kw, float *out, int64_t outPlaneStride, int64_t oh,
                     int64_t ow, int64_t outRowStride, const ConvParams &p,
                     const float *bias, int64_t planes) {
  int64_t sh = p.strideH, sw = p.strideW;
  // 16: rows start on cache lines, so rows3x3's loads are aligned.
  DepthwiseScratch sc = depthwiseScratch(h, w, kh, kw, oh, ow, p, 16);
  float *pad = sc.pad;
  int64_t ld = sc.ld, half = sc.half;
  const std::vector<int64_t> &off = sc.off;
  int64_t r0 = sc.r0, r1 = sc.r1, c0 = sc.c0, c1 = sc.c1;
  __m512 vlo = _mm512_set1_ps(p.lo), vhi = _mm512_set1_ps(p.hi);
  int64_t taps = kh * kw, rowStep = sh * ld;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float *xp = x + plane * inPlaneStride;
    for (int64_t r = r0; r < r1; ++r)
      copyRow(xp + (r - p.padTop) * rowStride - p.padLeft, pad + r * ld, c0, c1,
              sw, half);
    const float *wp = wk + plane * taps;
    float *op = out + plane * outPlaneStride;
    __m512 vbias = _mm512_set1_ps(bias ? bias[plane] : 0.0f);
    if (kh == 3 && kw == 3 && p.dilationH == 1 && p.dilationW == 1 &&
        sh == sw) {
      // (sw is 1 or 2: HostKernels.cpp calls this for no other.)
      if (sw == 1)
        plane3x3<1>(pad, ld, half, wp, op, oh, ow, outRowStride, p.accumulate,
                    vbias, vlo, vhi);
      else
        plane3x3<2>(pad, ld, half, wp, op, oh, ow, outRowStride, p.accumulate,
                    vbias, vlo, vhi);
      continue;
    }
    for (int64_t oy = 0; oy < oh; oy += 4) {
      const float *base = pad + oy * rowStep;
      float *o = op + oy * outRowStride;
      for (int64_t ox = 0; ox < ow; ox += 16) {
        __mmask16 m = ow - ox >= 16 ? 0xFFFF : (1u << (ow - ox)) - 1;
        switch (std::min<int64_t>(4, oh - oy)) {
        case 4:
          rowsChunk<4>(base, rowStep, off.data(), wp, taps, o, outRowStride, ox,
                       m, p.accumulate, vbias, vlo, vhi);
          break;
        case 3:
          rowsChunk<3>(base, rowStep, off.data(), wp, taps, o, outRowStride, ox,
                       m, p.accumulate, vbias, vlo, vhi);
          break;
        case 2:
          rowsChunk<2>(base, rowStep, off.data(), wp, taps, o, outRowStride, ox,
                       m, p.accumulate, vbias, vlo, vhi);
          break;
        default:
          rowsChunk<1>(base, rowStep, off.data(), wp, taps, o, outRowStride, ox,
                       m, p.accumulate, vbias, vlo, vhi);
        }
      }
    }
  }
}

} // namespace sparq::kernels::avx512

#else
namespace sparq::kernels::avx512 {
void depthwisePlanes(const float *, int64_t, int64_t, int64_t, int64_t,
                     const float *, int64_t, int64_t, float *, int64_t, int64_t,
                     int64_t, int64_t, const ConvParams &, const float *,
                     int64_t) {}
} // namespace sparq::kernels::avx512
#endif
