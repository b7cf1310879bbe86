//===- HalideEmitter.h - graph IR to a Halide pipeline ----------*- C++ -*-===//
//
// The arm target writes the model as one Halide pipeline: a C++ program
// (pipeline.cpp, "the generator") that defines every tensor of the graph IR
// as a Halide Func, schedules it, and compiles the pipeline ahead of time
// for a Halide target (arm-64-linux by default) into a static library.
//
// Each value of @forward is a Func over Vars v0..v{r-1} (MLIR's dimension
// i is Var v{i}; Halide's innermost dimension is MLIR's last). Inputs and
// weights are ImageParams with their shapes and strides fixed, so bounds
// are static; the weights are read from model.weights at run time, not
// compiled into the code. Schedules:
//   - convolutions and matrix products are a reduction Func computed inside
//     a register tile (vectorized along the contiguous output axis, several
//     output channels unrolled) of the first Func after them that is
//     computed at root, so bias, ReLU and residual adds that follow are
//     applied per tile; weights of a MatMul/Gemm ([N, K]) are transposed at
//     compile time so that the tile reads them contiguously;
//   - elementwise Funcs with one pointwise consumer are inlined into it;
//   - every other Func is computed at root, vectorized at the target's
//     natural width and parallel over its outermost non-unit axis.
// Reductions are never split across threads: outputs do not depend on the
// thread count.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_TARGETS_ARM_HALIDEEMITTER_H
#define SPARQ_TARGETS_ARM_HALIDEEMITTER_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sparq::io {
class WeightsBlob;
} // namespace sparq::io

namespace sparq::arm {

/// A buffer the pipeline function takes, in its argument order: the
/// model's inputs, then its weights (at `offset` in model.weights), then
/// its outputs.
struct PipelineArgument {
  enum Kind { Input, Weight, Output } kind;
  /// The input's or output's position in the signature; the weight's
  /// offset in model.weights.
  uint64_t index;
  /// halide_type_code_t (0 int, 1 uint, 2 float) and bits.
  int code, bits;
  std::vector<int64_t> shape; // row-major, as the graph IR has it
};

struct Pipeline {
  std::string generator; // pipeline.cpp
  std::vector<PipelineArgument> arguments;
  /// One line per op, for the package's README and lit tests: the Func,
  /// the ONNX node and how it is scheduled.
  std::string scheduleSummary;
  /// Some layer sums int8 products: worth arm_dot_prod's sdot.
  bool dotProducts = false;
};

/// Writes `module`'s @forward as a Halide generator; its weights go into
/// `weights`. `header` is a comment block that opens the file. False with
/// `error` naming the node on an op the target cannot run.
bool emitPipeline(mlir::ModuleOp module, const std::string &header,
                  io::WeightsBlob &weights, Pipeline &pipeline,
                  std::string &error);

} // namespace sparq::arm

#endif // SPARQ_TARGETS_ARM_HALIDEEMITTER_H
