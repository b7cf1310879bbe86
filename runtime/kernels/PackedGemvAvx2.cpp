//===- PackedGemvAvx2.cpp - AVX2 GEMV on ternary/int4/codebook codes ------===//
//
// The AVX2 + FMA versions of PackedGemvAvx512.cpp, for CPUs without
// AVX-512. Same contracts (PackedGemvSimd.h); 8 lanes instead of 16.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/PackedGemvSimd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_AVX2 __attribute__((target("avx2,fma")))

namespace sparq::kernels::avx2 {

bool available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

namespace {
SPARQ_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
} // namespace

SPARQ_AVX2
void ternaryGemv(const uint32_t *codes, int64_t rows, int64_t words,
                 const float *xPadded, const float *scales, bool perRow,
                 float *y) {
  // A word's 16 codes in two halves of 8 lanes: shifted by 2 * lane, bit 0
  // (code 1: +Wp) and bit 1 (code 2: -Wn) become all-ones lane masks that
  // select x.
  const __m256i lo = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i hi = _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30);
  const __m256i one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2);
  for (int64_t r = 0; r < rows; ++r) {
    const uint32_t *c = codes + r * words;
    __m256 p = _mm256_setzero_ps(), n = p;
    for (int64_t k = 0; k < words; ++k) {
      __m256i w = _mm256_set1_epi32(int(c[k]));
      const float *xk = xPadded + k * 16;
      for (int h = 0; h < 2; ++h) {
        __m256i s = _mm256_srlv_epi32(w, h ? hi : lo);
        __m256 x = _mm256_loadu_ps(xk + 8 * h);
        __m256 mp = _mm256_castsi256_ps(
            _mm256_cmpeq_epi32(_mm256_and_si256(s, one), one));
        __m256 mn = _mm256_castsi256_ps(
            _mm256_cmpeq_epi32(_mm256_and_si256(s, two), two));
        p = _mm256_add_ps(p, _mm256_and_ps(mp, x));
        n = _mm256_add_ps(n, _mm256_and_ps(mn, x));
      }
    }
    const float *s = scales + (perRow ? 2 * r : 0);
    y[r] += s[0] * hsum(p) - s[1] * hsum(n);
  }
}

namespace {
/// 16 weights from 8 bytes of nibbles: low nibbles times xe, high times xo;
/// values are the codes (int4) or a 16-entry table split in two halves.
SPARQ_AVX2 inline void nibbles8(const uint8_t *b, const float *xe,
                                const float *xo, const __m256 *lut,
                                __m256 &acc0, __m256 &acc1) {
  __m256i v = _mm256_cvtepu8_epi32(
      _mm_loadl_epi64(reinterpret_cast<const __m128i *>(b)));
  __m256i lo = _mm256_and_si256(v, _mm256_set1_epi32(15));
  __m256i hi = _mm256_srli_epi32(v, 4);
  __m256 flo, fhi;
  if (lut) {
    // Entries 0-7 from lut[0], 8-15 from lut[1], chosen by bit 3.
    __m256i seven = _mm256_set1_epi32(7);
    flo = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lut[0], lo),
                           _mm256_permutevar8x32_ps(lut[1], lo),
                           _mm256_castsi256_ps(_mm256_cmpgt_epi32(lo, seven)));
    fhi = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lut[0], hi),
                           _mm256_permutevar8x32_ps(lut[1], hi),
                           _mm256_castsi256_ps(_mm256_cmpgt_epi32(hi, seven)));
  } else {
    flo = _mm256_cvtepi32_ps(lo);
    fhi = _mm256_cvtepi32_ps(hi);
  }
  acc0 = _mm256_fmadd_ps(flo, _mm256_loadu_ps(xe), acc0);
  acc1 = _mm256_fmadd_ps(fhi, _mm256_loadu_ps(xo), acc1);
}
} // namespace

SPARQ_AVX2
void int4Gemv(const uint8_t *codes, int64_t rows, int64_t cols, int64_t group,
              const float *scales, const uint8_t *zeros, const float *xe,
              const float *xo, const float *xsum, float *y) {
  int64_t groups = cols / group, stride = cols / 2;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t *row = codes + r * stride;
    float total = 0;
    for (int64_t g = 0; g < groups; ++g) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0;
      int64_t b0 = g * group / 2, b1 = b0 + group / 2, b = b0;
      for (; b + 8 <= b1; b += 8)
        nibbles8(row + b, xe + b, xo + b, nullptr, a0, a1);
      float acc = hsum(_mm256_add_ps(a0, a1));
      for (; b < b1; ++b)
        acc += float(row[b] & 15) * xe[b] + float(row[b] >> 4) * xo[b];
      float z = zeros ? float(zeros[r * groups + g]) : 8.0f;
      total += scales[r * groups + g] * (acc - z * xsum[g]);
    }
    y[r] += total;
  }
}

SPARQ_AVX2
void codebook4Gemv(const uint8_t *codes, int64_t rows, int64_t cols,
                   const float *table, const float *xe, const float *xo,
                   float *y) {
  int64_t stride = (cols + 1) / 2, pairs = cols / 2;
  __m256 lut[2] = {_mm256_loadu_ps(table), _mm256_loadu_ps(table + 8)};
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t *row = codes + r * stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t b = 0;
    for (; b + 8 <= pairs; b += 8)
      nibbles8(row + b, xe + b, xo + b, lut, a0, a1);
    float acc = hsum(_mm256_add_ps(a0, a1));
    for (; b < pairs; ++b)
      acc += table[row[b] & 15] * xe[b] + table[row[b] >> 4] * xo[b];
    y[r] += acc;
  }
}

} // namespace sparq::kernels::avx2

#else
namespace sparq::kernels::avx2 {
bool available() { return false; }
void ternaryGemv(const uint32_t *, int64_t, int64_t, const float *,
                 const float *, bool, float *) {}
void int4Gemv(const uint8_t *, int64_t, int64_t, int64_t, const float *,
              const uint8_t *, const float *, const float *, const float *,
              float *) {}
void codebook4Gemv(const uint8_t *, int64_t, int64_t, const float *,
                   const float *, const float *, float *) {}
} // namespace sparq::kernels::avx2
#endif
