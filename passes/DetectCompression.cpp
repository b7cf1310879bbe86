//===- DetectCompression.cpp - encode weights compressed by training ------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

#include "runtime/formats/Pruning.h"
#include "runtime/formats/Quantize.h"
#include "runtime/kernels/ThreadPool.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_DETECTCOMPRESSION
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

/// What the formats library finds in one weight's values: plain data, so
/// that the weights are scanned on the kernels' threads.
struct Findings {
  formats::SparsityInfo sparsity;
  /// Ternary per layer (its values), or per row when each row is ternary
  /// on its own.
  decltype(formats::ternaryValues(nullptr, 0)) layerTernary;
  bool rowTernary = false;
  /// Distinct values (up to 257) when not ternary.
  int64_t distinct = 0;
};

Findings scan(const float *v, int64_t rows, int64_t cols,
              const formats::WeightShape &shape) {
  Findings f;
  int64_t n = rows * cols;
  f.sparsity = formats::detectSparsity(v, shape);
  auto layer = formats::ternaryValues(v, n);
  if (layer && layer->wp > 0 && layer->wn > 0) {
    f.layerTernary = layer;
    return f;
  }
  if (rows >= 2) {
    f.rowTernary = true;
    for (int64_t r = 0; r < rows && f.rowTernary; ++r) {
      auto row = formats::ternaryValues(v + r * cols, cols);
      f.rowTernary = row && row->wp != 0 && row->wn != 0;
    }
    if (f.rowTernary)
      return f;
  }
  f.distinct = formats::distinctValues(v, n, 256);
  return f;
}

struct DetectCompressionPass
    : mlir::sparq::impl::DetectCompressionBase<DetectCompressionPass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    std::vector<Weight> weights;
    for (Weight &w : collectWeights(getOperation()))
      if (!w.encoding())
        weights.push_back(w);
    // Every weight scanned in place, several at a time.
    std::vector<std::vector<float>> scratch(weights.size());
    std::vector<const float *> values;
    std::vector<formats::WeightShape> shapes;
    std::vector<int64_t> rows, cols;
    for (size_t i = 0; i < weights.size(); ++i) {
      values.push_back(weights[i].floats(scratch[i]));
      shapes.push_back(formats::weightShape(weights[i].patternShape()));
      rows.push_back(weights[i].rows());
      cols.push_back(weights[i].cols());
    }
    std::vector<Findings> found(weights.size());
    ::sparq::kernels::parallelFor(
        weights.size(), 1, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i)
            found[i] = scan(values[i], rows[i], cols[i], shapes[i]);
        });
    for (size_t i = 0; i < weights.size(); ++i) {
      Weight &w = weights[i];
      const Findings &f = found[i];
      SparsityAttr sparsity;
      if (1.0 - f.sparsity.density() >= minSparsity && f.sparsity.nonzeros > 0)
        sparsity = sparsityFor(w, f.sparsity.pattern);
      QuantAttr quant;
      if (f.layerTernary)
        quant = QuantAttr::get(ctx, QuantKind::Ternary, 2, 0, false, false,
                               APFloat(f.layerTernary->wp),
                               APFloat(f.layerTernary->wn), 0, 0);
      else if (f.rowTernary)
        quant = QuantAttr::get(ctx, QuantKind::Ternary, 2, 0, false, true,
                               APFloat(0.0f), APFloat(0.0f), 0, 0);
      // Few distinct values: a codebook of the fewest bits that holds them
      // (and 0, which sparse storage needs for padding). Values must also
      // repeat (4 uses each on average among the non-zeros): a small or
      // pruned layer has few distinct values without being quantized.
      else if (f.distinct <= 256 && f.distinct > 1 &&
               f.distinct * 4 <= f.sparsity.nonzeros) {
        unsigned bits = 1;
        while ((int64_t(1) << bits) < f.distinct)
          ++bits;
        quant = QuantAttr::get(ctx, QuantKind::Codebook, bits, 0, false, false,
                               APFloat(0.0f), APFloat(0.0f), 0, 0);
      }
      if (!sparsity && !quant)
        continue;
      if (failed(setWeight(w, EncodingAttr::get(ctx, sparsity, quant, 0))))
        return signalPassFailure();
    }
  }
};

} // namespace
