//===- EngineFromGraph.h - the graph IR as an ESE engine model -*- C++ -*-===//
//
// The hls target runs models whose layers the engine has: Gemm/MatMul with
// a constant weight (its bias, then Relu, Sigmoid or Tanh fused after it),
// and forward LSTMs of batch 1 (peepholes and clip included; a projection
// is the MatMul that follows). Reshapes between them are free. Anything
// else is an error naming its ONNX node.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_TARGETS_HLS_ENGINEFROMGRAPH_H
#define SPARQ_TARGETS_HLS_ENGINEFROMGRAPH_H

#include "compiler/Compiler.h"
#include "runtime/hls/Engine.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace sparq::hls {

/// Builds the engine model of `module`'s entry function for `pes` PEs
/// (0: the PEs of its first interleaved-CSC weight, else 32). `opTypes`
/// maps ONNX node names to their op types. False with `error` naming the
/// node the engine cannot run.
bool engineFromGraph(mlir::ModuleOp module,
                     const std::vector<LayerInfo> &layers, unsigned pes,
                     EngineModel &model, std::string &error);

} // namespace sparq::hls

#endif // SPARQ_TARGETS_HLS_ENGINEFROMGRAPH_H
