//===- PackedGemvAvx512.cpp - AVX-512 GEMV on ternary/int4/codebook codes -===//
//
// Compiled for AVX-512 (F, BW, VL) and BMI2 whatever the build's baseline;
// PackedKernels.cpp calls these only when the CPU has those features
// (contracts in PackedGemvSimd.h).
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/PackedGemvSimd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SPARQ_AVX512                                                           \
  __attribute__((target("avx512f,avx512bw,avx512vl,bmi2,fma")))

namespace sparq::kernels::avx512 {

bool available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2");
}

SPARQ_AVX512
void ternaryGemv(const uint32_t *codes, int64_t rows, int64_t words,
                 const float *xPadded, const float *scales, bool perRow,
                 float *y) {
  // Four rows share every load of x. Each 32-bit word holds 16 codes:
  // broadcast to 16 lanes and shifted by 2 * lane, bit 0 (code 1: +Wp) and
  // bit 1 (code 2: -Wn) of each lane become masks that select which x to add.
  // (All vector work: pext would serialize on one scalar port.)
  const __m512i shifts =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                        30);
  const __m512i one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2);
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    __m512 p0 = _mm512_setzero_ps(), p1 = p0, p2 = p0, p3 = p0;
    __m512 n0 = p0, n1 = p0, n2 = p0, n3 = p0;
    const uint32_t *c0 = codes + r * words, *c1 = c0 + words, *c2 = c1 + words,
                   *c3 = c2 + words;
    for (int64_t k = 0; k < words; ++k) {
      __m512 x = _mm512_loadu_ps(xPadded + k * 16);
#define SPARQ_TERNARY_ROW(C, P, N)                                             \
  {                                                                            \
    __m512i s = _mm512_srlv_epi32(_mm512_set1_epi32(int(C[k])), shifts);       \
    __mmask16 mp = _mm512_test_epi32_mask(s, one);                             \
    __mmask16 mn = _mm512_test_epi32_mask(s, two);                             \
    P = _mm512_mask_add_ps(P, mp, P, x);                                       \
    N = _mm512_mask_add_ps(N, mn, N, x);                                       \
  }
      SPARQ_TERNARY_ROW(c0, p0, n0)
      SPARQ_TERNARY_ROW(c1, p1, n1)
      SPARQ_TERNARY_ROW(c2, p2, n2)
      SPARQ_TERNARY_ROW(c3, p3, n3)
    }
    __m512 ps[4] = {p0, p1, p2, p3}, ns[4] = {n0, n1, n2, n3};
    for (int i = 0; i < 4; ++i) {
      int64_t row = r + i;
      const float *s = scales + (perRow ? 2 * row : 0);
      float a = s[0], b = s[1];
      y[row] +=
          a * _mm512_reduce_add_ps(ps[i]) - b * _mm512_reduce_add_ps(ns[i]);
    }
  }
  for (; r < rows; ++r) {
    __m512 p = _mm512_setzero_ps(), n = p;
    const uint32_t *c = codes + r * words;
    for (int64_t k = 0; k < words; ++k) {
      __m512 x = _mm512_loadu_ps(xPadded + k * 16);
      SPARQ_TERNARY_ROW(c, p, n)
    }
#undef SPARQ_TERNARY_ROW
    const float *s = scales + (perRow ? 2 * r : 0);
    float a = s[0], b = s[1];
    y[r] += a * _mm512_reduce_add_ps(p) - b * _mm512_reduce_add_ps(n);
  }
}

/// sum over 32 weights of one 16-byte run: low nibbles times xe, high
/// nibbles times xo (x de-interleaved by the caller), values from `lut`
/// (the code itself for int4, the codebook otherwise).
SPARQ_AVX512 static inline void nibbles16(const uint8_t *b, const float *xe,
                                          const float *xo, __m512 lut,
                                          bool useLut, __m512 &acc0,
                                          __m512 &acc1) {
  __m512i v = _mm512_cvtepu8_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i *>(b)));
  __m512i lo = _mm512_and_si512(v, _mm512_set1_epi32(15));
  __m512i hi = _mm512_srli_epi32(v, 4);
  __m512 flo = useLut ? _mm512_permutexvar_ps(lo, lut) : _mm512_cvtepi32_ps(lo);
  __m512 fhi = useLut ? _mm512_permutexvar_ps(hi, lut) : _mm512_cvtepi32_ps(hi);
  acc0 = _mm512_fmadd_ps(flo, _mm512_loadu_ps(xe), acc0);
  acc1 = _mm512_fmadd_ps(fhi, _mm512_loadu_ps(xo), acc1);
}

SPARQ_AVX512
void int4Gemv(const uint8_t *codes, int64_t rows, int64_t cols, int64_t group,
              const float *scales, const uint8_t *zeros, const float *xe,
              const float *xo, const float *xsum, float *y) {
  int64_t groups = cols / group, stride = cols / 2;
  __m512 none = _mm512_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t *row = codes + r * stride;
    float total = 0;
    for (int64_t g = 0; g < groups; ++g) {
      __m512 a0 = _mm512_setzero_ps(), a1 = a0;
      int64_t b0 = g * group / 2, b1 = b0 + group / 2, b = b0;
      for (; b + 16 <= b1; b += 16)
        nibbles16(row + b, xe + b, xo + b, none, false, a0, a1);
      float acc = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
      for (; b < b1; ++b)
        acc += float(row[b] & 15) * xe[b] + float(row[b] >> 4) * xo[b];
      float z = zeros ? float(zeros[r * groups + g]) : 8.0f;
      total += scales[r * groups + g] * (acc - z * xsum[g]);
    }
    y[r] += total;
  }
}

SPARQ_AVX512
void codebook4Gemv(const uint8_t *codes, int64_t rows, int64_t cols,
                   const float *table, const float *xe, const float *xo,
                   float *y) {
  int64_t stride = (cols + 1) / 2, pairs = cols / 2;
  __m512 lut = _mm512_loadu_ps(table);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t *row = codes + r * stride;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t b = 0;
    for (; b + 16 <= pairs; b += 16)
      nibbles16(row + b, xe + b, xo + b, lut, true, a0, a1);
    float acc = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; b < pairs; ++b)
      acc += table[row[b] & 15] * xe[b] + table[row[b] >> 4] * xo[b];
    y[r] += acc;
  }
}

} // namespace sparq::kernels::avx512

#else
namespace sparq::kernels::avx512 {
bool available() { return false; }
void ternaryGemv(const uint32_t *, int64_t, int64_t, const float *,
                 const float *, bool, float *) {}
void int4Gemv(const uint8_t *, int64_t, int64_t, int64_t, const float *,
              const uint8_t *, const float *, const float *, const float *,
              float *) {}
void codebook4Gemv(const uint8_t *, int64_t, int64_t, const float *,
                   const float *, const float *, float *) {}
} // namespace sparq::kernels::avx512
#endif
