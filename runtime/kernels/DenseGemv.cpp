//===- DenseGemv.cpp - dense f32 matrix-vector product --------------------===//
//
// y = W x for a dense row-major W: batch-1 linear layers. Written here
// rather than called in OpenBLAS because sgemv's order of summation changes
// with the rows a call gets, so that a GEMV split over threads gave other
// results than on one thread (OpenBLAS's Haswell/Zen kernels). Here each
// row's sum is the same sequence of operations wherever the row falls: the
// 4-row blocks and the 1-row remainder run the same steps per row.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/DenseGemm.h"
#include "runtime/kernels/PackedKernels.h"
#include "runtime/kernels/ThreadPool.h"

#include <algorithm>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

using namespace sparq::kernels;

namespace {
/// Rows a thread takes at least: fewer cost more to hand out than to do.
constexpr int64_t kRowGrain = 64;

/// Portable: one row, eight partial sums, then a fixed tree.
void rowsPortable(const float *w, int64_t ldw, int64_t r0, int64_t r1,
                  int64_t k, const float *x, float *y) {
  for (int64_t r = r0; r < r1; ++r) {
    const float *wr = w + r * ldw;
    float s[8] = {};
    int64_t kv = k / 8 * 8;
    for (int64_t j = 0; j < kv; j += 8)
      for (int l = 0; l < 8; ++l)
        s[l] += wr[j + l] * x[j + l];
    for (int64_t j = kv; j < k; ++j)
      s[j - kv] += wr[j] * x[j];
    y[r] += ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
/// AVX-512: R rows, one 16-lane sum each; the tail by masked loads.
template <int R>
SPARQ_TARGET_AVX512 inline void rows512(const float *w, int64_t ldw, int64_t k,
                                        const float *x, float *y) {
  __m512 acc[R];
  for (int i = 0; i < R; ++i)
    acc[i] = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= k; j += 16) {
    __m512 xv = _mm512_loadu_ps(x + j);
    for (int i = 0; i < R; ++i)
      acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(w + i * ldw + j), xv, acc[i]);
  }
  if (j < k) {
    __mmask16 m = __mmask16((1u << (k - j)) - 1);
    __m512 xv = _mm512_maskz_loadu_ps(m, x + j);
    for (int i = 0; i < R; ++i)
      acc[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i * ldw + j), xv,
                               acc[i]);
  }
  for (int i = 0; i < R; ++i)
    y[i] += _mm512_reduce_add_ps(acc[i]);
}

SPARQ_TARGET_AVX512 void rowsAvx512(const float *w, int64_t ldw, int64_t r0,
                                    int64_t r1, int64_t k, const float *x,
                                    float *y) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4)
    rows512<4>(w + r * ldw, ldw, k, x, y + r);
  for (; r < r1; ++r)
    rows512<1>(w + r * ldw, ldw, k, x, y + r);
}

/// AVX2: R rows, two 8-lane sums each (16 columns a step); the tail by
/// masked loads.
template <int R>
SPARQ_TARGET_AVX2 inline void rows256(const float *w, int64_t ldw, int64_t k,
                                      const float *x, float *y) {
  __m256 a0[R], a1[R];
  for (int i = 0; i < R; ++i)
    a0[i] = a1[i] = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= k; j += 16) {
    __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 8);
    for (int i = 0; i < R; ++i) {
      a0[i] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i * ldw + j), x0, a0[i]);
      a1[i] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i * ldw + j + 8), x1, a1[i]);
    }
  }
  if (j < k) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int left = int(k - j);
    __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane);
    __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(left - 8), lane);
    __m256 x0 = _mm256_maskload_ps(x + j, m0);
    __m256 x1 = _mm256_maskload_ps(x + j + 8, m1);
    for (int i = 0; i < R; ++i) {
      a0[i] =
          _mm256_fmadd_ps(_mm256_maskload_ps(w + i * ldw + j, m0), x0, a0[i]);
      a1[i] = _mm256_fmadd_ps(_mm256_maskload_ps(w + i * ldw + j + 8, m1), x1,
                              a1[i]);
    }
  }
  for (int i = 0; i < R; ++i) {
    __m256 s = _mm256_add_ps(a0[i], a1[i]);
    __m128 h =
        _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    y[i] += _mm_cvtss_f32(h);
  }
}

SPARQ_TARGET_AVX2 void rowsAvx2(const float *w, int64_t ldw, int64_t r0,
                                int64_t r1, int64_t k, const float *x,
                                float *y) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4)
    rows256<4>(w + r * ldw, ldw, k, x, y + r);
  for (; r < r1; ++r)
    rows256<1>(w + r * ldw, ldw, k, x, y + r);
}
#endif
} // namespace

void sparq::kernels::gemvF32(const float *w, int64_t ldw, int64_t m, int64_t k,
                             const float *x, float *y, bool accumulate) {
  if (!accumulate)
    std::fill(y, y + m, 0.0f);
  auto rows = &rowsPortable;
#if defined(__x86_64__) && defined(__GNUC__)
  SimdLevel level = simdLevel();
  if (level >= SimdLevel::Avx512)
    rows = &rowsAvx512;
  else if (level == SimdLevel::Avx2)
    rows = &rowsAvx2;
#endif
  // Small products stay on the calling thread.
  int64_t grain = m * k < (int64_t(1) << 16) ? m : kRowGrain;
  parallelFor(m, grain,
              [&](int64_t r0, int64_t r1) { rows(w, ldw, r0, r1, k, x, y); });
}
