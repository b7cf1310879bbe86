//===- PeBalance.cpp - ESE load-balance-aware pruning ---------------------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

#include "runtime/formats/Pruning.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_PEBALANCE
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

struct PeBalancePass : mlir::sparq::impl::PeBalanceBase<PeBalancePass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    if (pes < 1 || !(ratio >= 0 && ratio < 1) || indexBits < 1 ||
        indexBits > 16) {
      getOperation().emitError() << "sparq-pe-balance: expects pes >= 1 (got "
                                 << unsigned(pes) << "), ratio in [0, 1) (got "
                                 << double(ratio) << ") and 1..16 index bits"
                                 << " (got " << unsigned(indexBits) << ")";
      return signalPassFailure();
    }
    Builder b(ctx);
    for (Weight &w :
         selectWeights(getOperation(), {layers, skipFirst, skipLast})) {
      // ESE balances the matrix-vector products: MatMul/Gemm/LSTM weights.
      if (w.isConv)
        continue;
      int64_t rows = w.rows(), cols = w.cols();
      std::vector<float> v = w.values(), plain = v;
      formats::PeLoad before;
      if (ratio > 0) {
        formats::PruneSpec spec;
        spec.ratio = ratio;
        formats::applyMask(
            plain.data(),
            formats::pruneMask(plain.data(), {rows, cols, 1, 1}, spec));
        before = formats::peLoad(plain.data(), rows, cols, pes);
        formats::applyMask(v.data(), formats::balancedPruneMask(
                                         v.data(), rows, cols, pes, ratio));
      } else {
        before = formats::peLoad(v.data(), rows, cols, pes);
      }
      formats::PeLoad after = formats::peLoad(v.data(), rows, cols, pes);
      auto sparsity =
          SparsityAttr::get(ctx, SparsityPattern::Element, {},
                            StorageFormat::InterleavedCSC, pes, indexBits);
      if (failed(setWeight(w, v, withSparsity(ctx, w.encoding(), sparsity))))
        return signalPassFailure();
      w.cst->setAttr(
          kBalanceAttr,
          b.getDictionaryAttr(
              {b.getNamedAttr("pes", b.getI64IntegerAttr(pes)),
               b.getNamedAttr("before", b.getF64FloatAttr(before.efficiency())),
               b.getNamedAttr("after", b.getF64FloatAttr(after.efficiency())),
               b.getNamedAttr("nonzeros_before",
                              b.getDenseI64ArrayAttr(before.nonzeros)),
               b.getNamedAttr("nonzeros",
                              b.getDenseI64ArrayAttr(after.nonzeros))}));
    }
  }
};

} // namespace
