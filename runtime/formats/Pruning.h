//===- Pruning.h - magnitude pruning, granularity, PE balance ---*- C++ -*-===//
//
// The algorithms behind sparq-prune, sparq-detect-compression and
// sparq-pe-balance, kept here so that the Python package prunes during
// training with exactly what the compiler does.
//
// A weight has shape [K, C, R, S] (conv) or [K, C] (read as [K, C, 1, 1]);
// its matrix view is [K, C*R*S].
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_FORMATS_PRUNING_H
#define SPARQ_RUNTIME_FORMATS_PRUNING_H

#include <cstdint>
#include <string>
#include <vector>

namespace sparq::formats {

struct WeightShape {
  int64_t k = 1, c = 1, r = 1, s = 1;
  int64_t rows() const { return k; }
  int64_t cols() const { return c * r * s; }
  int64_t size() const { return k * c * r * s; }
  bool isConv() const { return r * s > 1; }
};

/// From a tensor shape of rank 1..4 (rank 3 folds the trailing dims into R,S).
WeightShape weightShape(const std::vector<int64_t> &shape);

enum class Granularity { Element, Vector, Kernel, Filter, Channel, Block, NM };
enum class GroupNorm { L1, L2, Max };

struct PruneSpec {
  Granularity granularity = Granularity::Element;
  int64_t blockRows = 1, blockCols = 1; // Block
  int64_t n = 2, m = 4;                 // NM
  GroupNorm norm = GroupNorm::L1;
  double ratio = 0.5; // fraction of groups removed (not used by NM)
};

/// Parses "element", "vector", "kernel", "filter", "channel", "block4x4",
/// "nm2:4" (also "2:4"); false if the name is unknown.
bool parseGranularity(const std::string &name, PruneSpec &spec);
std::string granularityName(const PruneSpec &spec);

/// Keep-mask (1 = keep) of magnitude pruning at the spec's granularity: each
/// group is scored by its norm and the round(ratio * groups) smallest are
/// removed (DSD: sort |w|, threshold at the ratio). N:M keeps the n largest of
/// every m consecutive weights along the input dimension. Ties go to the
/// earlier group, so masks are deterministic. On a matrix (or a 1x1 conv)
/// vector and kernel groups are single weights. Throws std::invalid_argument
/// for a spec the shape cannot take.
std::vector<uint8_t> pruneMask(const float *w, const WeightShape &shape,
                               const PruneSpec &spec);

/// w <- w * mask.
void applyMask(float *w, const std::vector<uint8_t> &mask);

/// What sparsity a weight already has.
struct SparsityInfo {
  int64_t nonzeros = 0, size = 0;
  double density() const { return size ? double(nonzeros) / size : 1.0; }
  /// The coarsest granularity whose all-zero groups hold every zero
  /// (filter, channel, kernel, vector, block, N:M, else element).
  PruneSpec pattern;
};
SparsityInfo detectSparsity(const float *w, const WeightShape &shape);

/// Non-zeros of each PE when rows are interleaved over `pes` (row i -> PE i %
/// pes), and the balance efficiency mean/max.
struct PeLoad {
  std::vector<int64_t> nonzeros;
  double efficiency() const;
};
PeLoad peLoad(const float *w, int64_t rows, int64_t cols, int64_t pes);

/// ESE load-balance-aware pruning: every PE's interleaved sub-matrix is pruned
/// by magnitude to the same density (1 - ratio), so PEs with equal rows get
/// equal non-zeros. Returns the keep-mask of the [rows, cols] matrix.
std::vector<uint8_t> balancedPruneMask(const float *w, int64_t rows,
                                       int64_t cols, int64_t pes, double ratio);

/// Keep-mask of the largest round((1 - ratio) * n) of `scores`. Ties go to
/// the earlier entry, so masks are deterministic.
std::vector<uint8_t> keepLargest(const std::vector<double> &scores,
                                 double ratio);

} // namespace sparq::formats

#endif // SPARQ_RUNTIME_FORMATS_PRUNING_H
