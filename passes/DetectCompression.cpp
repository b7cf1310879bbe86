//===- DetectCompression.cpp - encode weights compressed by training ------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

#include "runtime/formats/Pruning.h"
#include "runtime/formats/Quantize.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_DETECTCOMPRESSION
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

/// Ternary per layer, or per row when each row is ternary on its own.
QuantAttr detectTernary(MLIRContext *ctx, const std::vector<float> &v,
                        int64_t rows, int64_t cols) {
  auto layer = formats::ternaryValues(v.data(), v.size());
  if (layer && layer->wp > 0 && layer->wn > 0)
    return QuantAttr::get(ctx, QuantKind::Ternary, 2, 0, false, false,
                          APFloat(layer->wp), APFloat(layer->wn), 0, 0);
  if (rows < 2)
    return {};
  for (int64_t r = 0; r < rows; ++r) {
    auto row = formats::ternaryValues(v.data() + r * cols, cols);
    if (!row || row->wp == 0 || row->wn == 0)
      return {};
  }
  return QuantAttr::get(ctx, QuantKind::Ternary, 2, 0, false, true,
                        APFloat(0.0f), APFloat(0.0f), 0, 0);
}

struct DetectCompressionPass
    : mlir::sparq::impl::DetectCompressionBase<DetectCompressionPass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    for (Weight &w : collectWeights(getOperation())) {
      if (w.encoding())
        continue;
      std::vector<float> v = w.values();
      formats::SparsityInfo info =
          formats::detectSparsity(v.data(), formats::weightShape(w.shape()));
      SparsityAttr sparsity;
      if (1.0 - info.density() >= minSparsity && info.nonzeros > 0)
        sparsity = sparsityFor(w, info.pattern);
      QuantAttr quant = detectTernary(ctx, v, w.rows(), w.cols());
      if (!quant) {
        // Few distinct values: a codebook of the fewest bits that holds
        // them (and 0, which sparse storage needs for padding).
        // Values must also repeat (4 uses each on average): a small layer
        // has few distinct values without being quantized.
        int64_t distinct = formats::distinctValues(v.data(), v.size(), 256);
        if (distinct <= 256 && distinct > 1 &&
            distinct * 4 <= int64_t(v.size())) {
          unsigned bits = 1;
          while ((int64_t(1) << bits) < distinct)
            ++bits;
          quant = QuantAttr::get(ctx, QuantKind::Codebook, bits, 0, false,
                                 false, APFloat(0.0f), APFloat(0.0f), 0, 0);
        }
      }
      if (!sparsity && !quant)
        continue;
      if (failed(setWeight(w, EncodingAttr::get(ctx, sparsity, quant, 0))))
        return signalPassFailure();
    }
  }
};

} // namespace
