//===- Quantize.cpp - weight-only integer quantization --------------------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_QUANTIZE
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

struct QuantizePass : mlir::sparq::impl::QuantizeBase<QuantizePass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    auto badBits = [](unsigned b) { return b < 2 || b > 8; };
    if (badBits(bits) || (convBits != 0 && badBits(convBits)) || group < 0) {
      getOperation().emitError()
          << "sparq-quantize: expects 2..8 bits (got " << unsigned(bits)
          << ", conv " << unsigned(convBits) << ") and group >= 0 (got "
          << int64_t(group) << ")";
      return signalPassFailure();
    }
    for (Weight &w :
         selectWeights(getOperation(), {layers, skipFirst, skipLast})) {
      if (w.isConv && convBits == 0)
        continue;
      EncodingAttr enc = w.encoding();
      if (enc && (enc.getQuant() || enc.getSparsity())) {
        warnSkipped(w, "sparq-quantize",
                    enc.getQuant() ? "is already quantized"
                                   : "is sparse (int groups are stored dense; "
                                     "use a codebook)");
        continue;
      }
      QuantAttr quant;
      if (w.isConv) {
        // Per output channel, symmetric: the usual int8 conv weights.
        quant = QuantAttr::get(ctx, QuantKind::Int, convBits, 0, false, false,
                               APFloat(0.0f), APFloat(0.0f), 0, 0);
      } else {
        int64_t g = group;
        if (g > 0 && w.cols() % g) {
          layerError(w, "sparq-quantize")
              << "group " << g << " does not divide its " << w.cols()
              << " inputs";
          return signalPassFailure();
        }
        quant = QuantAttr::get(ctx, QuantKind::Int, bits, g, !symmetric, false,
                               APFloat(0.0f), APFloat(0.0f), 0, 0);
      }
      // The float weights stay: packing quantizes them (see the pass
      // description).
      if (failed(setWeight(w, withQuant(ctx, enc, quant))))
        return signalPassFailure();
    }
  }
};

} // namespace
