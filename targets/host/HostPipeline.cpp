//===- HostPipeline.cpp - graph IR to LLVM for the host CPU ---------------===//

#include "targets/host/HostPipeline.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

std::string
mlir::sparq::hostLoweringPipeline(const HostPipelineOptions &options) {
  std::string p;
  // Graph level, on tensors: expand domain ops, then fuse elementwise chains.
  p += "func.func(sparq-lower-rnn,canonicalize";
  if (options.fuseElementwise)
    p += ",sparq-fuse-elementwise";
  p += "),";
  // Compressed weights become packed blobs read by packed kernels (or, with
  // the library calls off, dense constants again).
  p += std::string("sparq-pack-weights{kernels=") +
       (options.libraryCalls ? "true" : "false") + "},";
  // Fused domain ops become kernel calls on the buffers of their operands.
  p += "sparq-host-bev-pool,sparq-host-correlation,sparq-host-roi-align,"
       "sparq-host-data-dependent,";
  // Every tensor.empty its own allocation before CSE could merge them: ops
  // sharing one init would bufferize into one reused buffer, and a conv
  // writing the buffer its padded input was copied from keeps that copy.
  p += "func.func(empty-tensor-to-alloc-tensor),canonicalize,cse,";
  // Tensors to buffers; outputs become caller-allocated out-params.
  p += "one-shot-bufferize{allow-return-allocs-from-loops "
       "bufferize-function-boundaries "
       "function-boundary-type-conversion=identity-layout-map},"
       // (hoist-static-allocs would save one copy per output, but crashes in
       // MLIR 19 when a function returns its argument.)
       "buffer-results-to-out-params,"
       "buffer-deallocation-pipeline,convert-bufferization-to-memref,";
  if (options.libraryCalls)
    p += "sparq-host-library-calls,";
  // Loops, then LLVM.
  p += "func.func(convert-linalg-to-loops),lower-affine,convert-scf-to-cf,"
       "expand-strided-metadata,lower-affine,finalize-memref-to-llvm,"
       "convert-math-to-llvm,convert-math-to-libm,arith-expand,"
       "convert-arith-to-llvm,convert-index-to-llvm,convert-func-to-llvm,"
       "convert-cf-to-llvm,reconcile-unrealized-casts";
  return p;
}

LogicalResult
mlir::sparq::buildHostPipeline(OpPassManager &pm,
                               const HostPipelineOptions &options) {
  return parsePassPipeline(hostLoweringPipeline(options), pm);
}

void mlir::sparq::registerHostPipeline() {
  PassPipelineRegistration<>(
      "sparq-host-lowering",
      "Lower sparq graph IR (tensors) to the LLVM dialect for the host CPU",
      [](OpPassManager &pm) {
        if (failed(buildHostPipeline(pm)))
          llvm::report_fatal_error("invalid built-in host pipeline");
      });
}
