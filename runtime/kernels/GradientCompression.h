//===- GradientCompression.h - DGC's local work on a gradient ---*- C++ -*-===//
//
// Deep Gradient Compression (Lin et al., ICLR 2018) on one worker, for the
// Python package's DDP communication hook (python/sparq/dgc.py):
//   momentum correction   u <- m*u + g;  v <- v + u
//   top-k by sampling     the threshold is the top-k of a ~1% sample of |v|
//   momentum masking      u and v are zeroed where an entry was sent
// and the message of the selected entries (formats/GradientMessage.h).
// Results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_GRADIENTCOMPRESSION_H
#define SPARQ_RUNTIME_KERNELS_GRADIENTCOMPRESSION_H

#include <cstdint>
#include <vector>

namespace sparq::kernels {

/// u <- m*u + g, then v <- v + u when v is not null. Rounded as written (no
/// fused multiply-add), so a plain reference gives the same bits.
void accumulateGradient(float *u, float *v, const float *g, int64_t n,
                        float momentum);

#if defined(__CUDACC__)
#define SPARQ_HOST_DEVICE __host__ __device__
#else
#define SPARQ_HOST_DEVICE
#endif

struct SelectOptions {
  double sampleFraction = 0.01; // of the entries, at least kMinSample
  double tolerance = 0.3;       // a count below (1 - tolerance) k: exact
  uint64_t seed = 0;            // of the sample's positions
};

/// How a selection went.
struct SelectStats {
  float threshold = 0;     // the sample's estimate
  int64_t sampled = 0;     // entries in the sample (0: exact from the start)
  int64_t aboveSample = 0; // entries at or above the estimate
  bool trimmed = false;    // more than k: cut to the k largest
  bool exact = false;      // too few: the k largest of all entries
};

/// The positions (ascending) of at most k entries of largest |v|, none zero
/// or NaN. The threshold is the 1.25k*s/n-th largest |v| of a random sample
/// of s positions, one in each of s equal strata (s: the fraction asked, and
/// enough that about 32 sampled entries reach it). When more than k entries
/// reach it, the k largest of them are kept, so a worker never sends more than
/// its budget (DGC accepts up to 1.3k; sparq's exchange is sized by k); when
/// fewer than (1 - tolerance) k do, the threshold is recomputed exactly. Ties
/// go to the earlier position.
std::vector<int64_t> selectLargest(const float *v, int64_t n, int64_t k,
                                   const SelectOptions &options = {},
                                   SelectStats *stats = nullptr);

/// How selectLargest samples n values to keep k: `samples` positions (0:
/// the selection is exact from the start) and the threshold's rank among
/// them (1 = the largest).
struct SamplePlan {
  int64_t samples = 0, rank = 0;
};
SamplePlan samplePlan(int64_t n, int64_t k, const SelectOptions &options);

/// The j-th sampled position: stratum j of `samples` equal strata of [0, n),
/// at the j-th draw of SplitMix64 (Steele et al.) from `seed`. Shared with
/// the CUDA kernels so that both sample the same values.
SPARQ_HOST_DEVICE inline int64_t
samplePosition(int64_t j, int64_t n, int64_t samples, uint64_t seed) {
  uint64_t z = seed + uint64_t(j + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  int64_t lo = j * n / samples, hi = (j + 1) * n / samples;
  // The high half of a 64x64-bit product: a position in [lo, hi).
#if defined(__CUDA_ARCH__)
  return lo + int64_t(__umul64hi(z, uint64_t(hi - lo)));
#else
  return lo + int64_t((unsigned __int128)z * uint64_t(hi - lo) >> 64);
#endif
}

/// Momentum factor masking: u[p] = v[p] = 0 at every position (u may be null).
void clearSelected(float *u, float *v, const int64_t *positions, int64_t count);

/// One parameter's gradient in a bucket: momentum u, accumulation v (null for
/// a parameter sent dense), gradient g (null: v is selected as it is), n
/// values at `offset` in the bucket, at most k sent.
struct GradientPart {
  float *u = nullptr, *v = nullptr;
  const float *g = nullptr;
  int64_t n = 0, offset = 0, k = 0;
  uint64_t seed = 0;
};

/// DGC's whole local step on a bucket: accumulateGradient on every part with g,
/// selectLargest on those with v, clearSelected, and the message of what
/// was selected (positions offset into the bucket). Large parts use every
/// thread; small ones run side by side, one thread each.
std::vector<uint8_t> compressGradients(const std::vector<GradientPart> &parts,
                                       float momentum,
                                       const SelectOptions &options = {});

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_GRADIENTCOMPRESSION_H
