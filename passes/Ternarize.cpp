//===- Ternarize.cpp - trained ternary quantization (TTQ) -----------------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

#include "runtime/formats/Quantize.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_TERNARIZE
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

/// TTQ on n weights; keeps the scales of weights that are already ternary.
formats::TernaryScales ternarizeSpan(float *v, int64_t n, double t) {
  auto found = formats::ternaryValues(v, n);
  if (found && found->wp > 0 && found->wn > 0)
    return *found;
  formats::TernaryScales s = formats::ternarize(v, n, t);
  // A side without weights has no scale; the attribute wants both positive.
  if (s.wp == 0)
    s.wp = s.wn;
  if (s.wn == 0)
    s.wn = s.wp;
  return s;
}

struct TernarizePass : mlir::sparq::impl::TernarizeBase<TernarizePass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    if (!(threshold >= 0 && threshold < 1)) {
      getOperation().emitError() << "sparq-ternarize: threshold "
                                 << double(threshold) << " is not in [0, 1)";
      return signalPassFailure();
    }
    for (Weight &w :
         selectWeights(getOperation(), {layers, skipFirst, skipLast})) {
      EncodingAttr enc = w.encoding();
      if (enc && enc.getQuant() &&
          enc.getQuant().getKind() != QuantKind::Ternary) {
        warnSkipped(w, "sparq-ternarize", "is already quantized");
        continue;
      }
      std::vector<float> v = w.values();
      QuantAttr quant;
      if (perChannel) {
        for (int64_t r = 0; r < w.rows(); ++r)
          ternarizeSpan(v.data() + r * w.cols(), w.cols(), threshold);
        quant = QuantAttr::get(ctx, QuantKind::Ternary, 2, 0, false, true,
                               APFloat(0.0f), APFloat(0.0f), 0, 0);
      } else {
        formats::TernaryScales s = ternarizeSpan(v.data(), v.size(), threshold);
        if (s.wp == 0)
          continue; // all zero
        quant = QuantAttr::get(ctx, QuantKind::Ternary, 2, 0, false, false,
                               APFloat(s.wp), APFloat(s.wn), 0, 0);
      }
      if (failed(setWeight(w, v, withQuant(ctx, enc, quant))))
        return signalPassFailure();
    }
  }
};

} // namespace
