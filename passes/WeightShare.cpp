//===- WeightShare.cpp - k-means codebooks (Deep Compression) -------------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

#include "runtime/formats/Quantize.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_WEIGHTSHARE
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

struct WeightSharePass : mlir::sparq::impl::WeightShareBase<WeightSharePass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    if (bits < 1 || bits > 8) {
      getOperation().emitError()
          << "sparq-weight-share: expects 1..8 bits, got " << unsigned(bits);
      return signalPassFailure();
    }
    for (Weight &w :
         selectWeights(getOperation(), {layers, skipFirst, skipLast})) {
      EncodingAttr enc = w.encoding();
      if (enc && enc.getQuant()) {
        warnSkipped(w, "sparq-weight-share", "is already quantized");
        continue;
      }
      // A sparse weight keeps its zeros; 0 takes one codebook entry.
      bool sparse = enc && enc.getSparsity();
      int64_t clusters = (int64_t(1) << bits) - (sparse ? 1 : 0);
      if (clusters < 1)
        continue;
      std::vector<float> v = w.values();
      formats::shareWeights(v.data(), v.size(), clusters, sparse);
      QuantAttr quant =
          QuantAttr::get(ctx, QuantKind::Codebook, bits, 0, false, false,
                         APFloat(0.0f), APFloat(0.0f), 0, 0);
      if (failed(setWeight(w, v, withQuant(ctx, enc, quant))))
        return signalPassFailure();
    }
  }
};

} // namespace
