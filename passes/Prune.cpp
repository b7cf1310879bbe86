//===- Prune.cpp - magnitude pruning at a granularity (DSD) ---------------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

#include "runtime/formats/Pruning.h"

#include <stdexcept>

namespace mlir::sparq {
#define GEN_PASS_DEF_PRUNE
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

struct PrunePass : mlir::sparq::impl::PruneBase<PrunePass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    formats::PruneSpec spec;
    if (!formats::parseGranularity(granularity, spec)) {
      module.emitError() << "sparq-prune: unknown granularity '" << granularity
                         << "' (element, vector, kernel, filter, channel, "
                            "blockRxC or N:M)";
      return signalPassFailure();
    }
    if (norm == "l1")
      spec.norm = formats::GroupNorm::L1;
    else if (norm == "l2")
      spec.norm = formats::GroupNorm::L2;
    else if (norm == "max")
      spec.norm = formats::GroupNorm::Max;
    else {
      module.emitError() << "sparq-prune: unknown norm '" << norm
                         << "' (l1, l2 or max)";
      return signalPassFailure();
    }
    if (!(ratio >= 0 && ratio <= 1)) {
      module.emitError() << "sparq-prune: ratio " << double(ratio)
                         << " is not in [0, 1]";
      return signalPassFailure();
    }
    spec.ratio = ratio;
    for (Weight &w : selectWeights(module, {layers, skipFirst, skipLast})) {
      std::vector<float> v = w.values();
      try {
        formats::applyMask(
            v.data(),
            formats::pruneMask(v.data(), formats::weightShape(w.patternShape()),
                               spec));
      } catch (const std::invalid_argument &e) {
        layerError(w, "sparq-prune") << e.what();
        return signalPassFailure();
      }
      if (failed(setWeight(
              w, v,
              withSparsity(&getContext(), w.encoding(), sparsityFor(w, spec)))))
        return signalPassFailure();
    }
  }
};

} // namespace
