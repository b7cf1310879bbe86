//===- Quantize.h - ternarization and weight sharing ------------*- C++ -*-===//
//
// Value transformations done before packing: after them a weight holds only
// the values its layout can store, so pack() is lossless. (Int and fixed
// point are quantized by pack() itself; see Packed.h.)
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_FORMATS_QUANTIZE_H
#define SPARQ_RUNTIME_FORMATS_QUANTIZE_H

#include <cstdint>
#include <optional>
#include <vector>

namespace sparq::formats {

struct TernaryScales {
  float wp = 0, wn = 0;
};

/// Whether w holds at most one positive and one negative value (and zeros);
/// if so, their magnitudes.
std::optional<TernaryScales> ternaryValues(const float *w, int64_t n);

/// TTQ's assignment: codes[i] = +1 where w > delta, -1 where w < -delta,
/// else 0, with delta = t * max|w|. Returns the mean magnitude of each side
/// (TTQ's initial Wp and Wn; 0 for an empty side).
TernaryScales ternaryCodes(const float *w, int64_t n, double t, int8_t *codes);

/// TTQ: delta = t * max|w|; w > delta -> +Wp, w < -delta -> -Wn, else 0.
/// Wp/Wn are `given` when set, else the mean of each side's magnitudes
/// (the usual initialization when the model was not trained ternary).
/// Rewrites w in place and returns the scales.
TernaryScales ternarize(float *w, int64_t n, double t,
                        std::optional<TernaryScales> given = std::nullopt);

/// Deep Compression weight sharing: 1-D k-means with linear initialization
/// between min and max, `iters` Lloyd steps; every weight (every non-zero
/// when `keepZeros`, which stay 0) is replaced by its centroid. Returns the
/// centroids.
std::vector<float> shareWeights(float *w, int64_t n, int64_t clusters,
                                bool keepZeros, int iters = 30);

/// Number of distinct values in w, counting no further than `limit` + 1
/// (a trained fp32 weight stops after a few hundred values).
int64_t distinctValues(const float *w, int64_t n,
                       int64_t limit = INT64_MAX - 1);

} // namespace sparq::formats

#endif // SPARQ_RUNTIME_FORMATS_QUANTIZE_H
