//===- QuantizeActivations.cpp - int8 activations for packed GEMVs --------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_QUANTIZEACTIVATIONS
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

struct QuantizeActivationsPass
    : mlir::sparq::impl::QuantizeActivationsBase<QuantizeActivationsPass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    if (bits != 8) {
      getOperation().emitError()
          << "sparq-quantize-activations: only 8-bit activations are "
             "supported, got bits = "
          << unsigned(bits);
      return signalPassFailure();
    }
    for (Weight &w : selectWeights(getOperation(), {layers, false, false})) {
      if (w.isConv)
        continue;
      EncodingAttr enc = w.encoding();
      if (!enc || !EncodingAttr::supportsInt8Activations(enc.getSparsity(),
                                                         enc.getQuant())) {
        warnSkipped(w, "sparq-quantize-activations",
                    "is not stored as dense ternary, int4 or 4-bit codebook "
                    "codes");
        continue;
      }
      // The storage does not change: its cost stays.
      Attribute cost = w.cst->getAttr(kCostAttr);
      if (failed(setWeight(
              w, w.values(),
              EncodingAttr::get(ctx, enc.getSparsity(), enc.getQuant(), bits))))
        return signalPassFailure();
      if (cost)
        w.cst->setAttr(kCostAttr, cost);
    }
  }
};

} // namespace
