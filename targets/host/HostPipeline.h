//===- HostPipeline.h - graph IR to LLVM for the host CPU -------*- C++ -*-===//
#ifndef SPARQ_TARGETS_HOST_HOSTPIPELINE_H
#define SPARQ_TARGETS_HOST_HOSTPIPELINE_H

#include "mlir/Support/LogicalResult.h"

#include <string>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace mlir::sparq {

/// Options of the host lowering; defined in one place, used by sparqc,
/// sparq-opt and the C++ API.
struct HostPipelineOptions {
  /// Fuse producer/consumer elementwise linalg ops on tensors.
  bool fuseElementwise = true;
  /// Call library kernels (OpenBLAS) for dense f32 GEMM and convolutions.
  bool libraryCalls = true;
  /// Move the weights out of the code into a weights blob after lowering
  /// (sparq-externalize-weights; the C++ API runs it, not the textual
  /// pipeline, since the blob stays in memory).
  bool externalWeights = true;
};

/// The host lowering as a textual list of module passes (graph IR on tensors
/// to the LLVM dialect), so users of `--pass-pipeline` see exactly what runs.
std::string hostLoweringPipeline(const HostPipelineOptions &options = {});

/// Adds the host lowering to `pm`.
llvm::LogicalResult buildHostPipeline(OpPassManager &pm,
                                      const HostPipelineOptions &options = {});

/// Registers `sparq-host-lowering` with the pass registry (for sparq-opt).
void registerHostPipeline();

} // namespace mlir::sparq

#endif // SPARQ_TARGETS_HOST_HOSTPIPELINE_H
