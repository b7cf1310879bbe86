//===- CudaEmitter.h - graph IR to a CUDA C++ source ------------*- C++ -*-===//
//
// The cuda target writes CUDA C++ from the graph IR the compiler holds (on
// tensors, after the graph passes): every tensor a buffer in one device
// arena at an offset fixed at compile time, every op a launch or a library
// call in program order. linalg.generic (elementwise chains already fused,
// broadcasts, reductions, gathers) becomes one generated kernel each, one
// thread per point of its parallel loops with the reductions looped inside;
// GEMMs call cuBLAS and convolutions cuDNN; sparq.bev_pool runs the same
// kernel as runtime/cuda (its source is embedded). Shapes are static, so
// every launch's geometry is a number in the source. An op the target
// cannot run is an error naming its ONNX node.
//
// Launches and library calls go through macros (SPARQ_LAUNCH, sparq_gemm,
// sparq_conv) so that the same source also compiles for the CPU against
// test/cuda_emulation/sparq_cuda_emulation.h: that is how the generated
// kernels' numerics are tested where no GPU is.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_TARGETS_CUDA_CUDAEMITTER_H
#define SPARQ_TARGETS_CUDA_CUDAEMITTER_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>

namespace sparq::io {
class WeightsBlob;
} // namespace sparq::io

namespace sparq::cuda {

/// Writes the model's source (model.cu) for `module`'s @forward; large and
/// small constants alike go into `weights`, which the code reads from the
/// package's model.weights. `header` is a comment block that opens the
/// file. False with `error` naming the node on an op it cannot emit.
bool emitModel(mlir::ModuleOp module, const std::string &header,
               io::WeightsBlob &weights, std::string &source,
               std::string &error);

} // namespace sparq::cuda

#endif // SPARQ_TARGETS_CUDA_CUDAEMITTER_H
