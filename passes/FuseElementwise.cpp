//===- FuseElementwise.cpp - elementwise fusion that keeps named ops ------===//
//
// Upstream's linalg-fuse-elementwise-ops also folds reshapes into named ops
// by expanding them into linalg.generic: a matmul on a collapsed 3-D input
// becomes a generic, which no library or packed kernel matches. This pass
// applies the same patterns with a control function that leaves named ops
// (matmuls, convolutions) as they are.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_FUSEELEMENTWISE
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;

namespace {

/// Named ops, and generics a host kernel takes over whole (the
/// requantization after an int8 convolution, a QDQ Add): fusing would hide
/// them.
bool isNamedLinalgOp(Operation *op) {
  return op && isa<linalg::LinalgOp>(op) &&
         (!isa<linalg::GenericOp>(op) || op->hasAttr("sparq.requantize") ||
          op->hasAttr("sparq.qadd"));
}

/// Folding a splat constant operand into a generic's body replaces the op
/// by a new one without its discardable attributes: the kernel markers move
/// to the replacement.
struct KeepKernelMarkers : RewriterBase::Listener {
  void notifyOperationReplaced(Operation *op, ValueRange values) override {
    // Replacements may be null (results without uses).
    Operation *to = values.empty() || !values.front()
                        ? nullptr
                        : values.front().getDefiningOp();
    if (!to || to == op || !isa<linalg::GenericOp>(to))
      return;
    for (StringRef name : {"sparq.requantize", "sparq.qadd"})
      if (Attribute marker = op->getAttr(name))
        to->setAttr(name, marker);
  }
};

struct FuseElementwisePass
    : mlir::sparq::impl::FuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    linalg::ControlFusionFn control = [](OpOperand *fused) {
      Operation *producer = fused->get().getDefiningOp();
      return producer && producer->hasOneUse() && !isNamedLinalgOp(producer) &&
             !isNamedLinalgOp(fused->getOwner());
    };
    RewritePatternSet patterns(ctx);
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, control);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
    ctx->getLoadedDialect<linalg::LinalgDialect>()->getCanonicalizationPatterns(
        patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, control);
    KeepKernelMarkers keep;
    GreedyRewriteConfig config;
    config.useTopDownTraversal = true;
    config.listener = &keep;
    (void)applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                       config);
  }
};

} // namespace
