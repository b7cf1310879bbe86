//===- Importer.h - ONNX model to sparq graph IR ----------------*- C++ -*-===//
#ifndef SPARQ_FRONTENDS_ONNX_IMPORTER_H
#define SPARQ_FRONTENDS_ONNX_IMPORTER_H

#include "runtime/io/HostTensor.h"
#include "runtime/io/RunTimeDims.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sparq::onnx_import {

struct ImportOptions {
  /// Static shapes for graph inputs, by name; they specialize symbolic
  /// dimensions (a dynamic batch, say). Inputs not named keep the shape the
  /// model declares, which must then be static.
  std::map<std::string, std::vector<int64_t>> inputShapes;
  /// Values of integer graph inputs known when compiling (sparqc run knows
  /// its inputs). Ops that need compile-time operands (Reshape's shape,
  /// TopK's k, ...) may use them; the inputs stay function arguments, so the
  /// compiled function is specialized to these values.
  std::map<std::string, io::HostTensor> inputValues;
  /// Run-time dimensions, each with its upper bound: by input name and axis
  /// (`--dynamic ids:1<=128`), and by the name of a symbolic dimension the
  /// model declares (`--dynamic past_sequence_length<=2048`). An input axis
  /// with a dim_param shares its symbol with every axis of that dim_param.
  std::map<std::string, std::map<int64_t, int64_t>> dynamicAxes;
  std::map<std::string, int64_t> dynamicDimParams;
  /// Keep KV caches in place: a graph output that is Concat(past, new) along
  /// a run-time axis of the graph input `past` (used by nothing else but
  /// Shape) stops being an output; `past` becomes a buffer of the axis's
  /// bound, written in place, with its length a scalar int64 input
  /// (io::KvCacheSpec). Decoding then copies no cache per token.
  bool kvCacheInPlace = false;
  /// If positive, every dim_param of an input not bounded otherwise is a
  /// run-time dimension of this bound (sparqc generate: prompt + tokens).
  int64_t defaultRunTimeBound = 0;
  /// Name of the function the graph becomes (not "main": AOT objects link
  /// into programs that have their own).
  std::string entryName = "forward";
};

/// Element type and shape of a graph input or output, as the imported function
/// sees it (after specialization).
struct ValueInfo {
  std::string name;
  io::DType dtype;
  /// Static extents; a run-time axis holds its bound.
  std::vector<int64_t> shape;
  /// Per axis, the expression of a run-time axis; empty when all static.
  std::vector<std::optional<io::DimExpr>> dims;
};

/// What the importer saw of one node (for reports).
/// An integer weight as the report shows it.
struct IntegerWeight {
  std::vector<int64_t> shape;
  std::string format; // e.g. "int8/ch (QDQ)"
  int64_t elements = 0, nonzeros = 0, bytes = 0;
};

struct NodeSummary {
  std::string name, opType;
  std::vector<std::vector<int64_t>> inputShapes, outputShapes;
  /// Elements and bytes of inputs that are initializers (weights).
  int64_t parameters = 0, parameterBytes = 0;
  int64_t group = 1;
  /// A weight the node runs on as integers (a QDQ Conv's int8 weight).
  std::optional<IntegerWeight> integerWeight;
};

struct ImportedModel {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::vector<ValueInfo> inputs, outputs;
  std::vector<NodeSummary> nodes;
  /// The run-time dimensions the inputs' and outputs' dims refer to.
  std::vector<io::DimSymbol> symbols;
  /// The KV caches kept in place (ImportOptions::kvCacheInPlace).
  std::vector<io::KvCacheSpec> kvCaches;
};

/// Imports the ONNX model at `path` into a new module holding one function.
/// Errors are reported as diagnostics on `context` (the location names the
/// ONNX node) and the result is a failure.
mlir::FailureOr<ImportedModel> importOnnxFile(mlir::MLIRContext &context,
                                              const std::string &path,
                                              const ImportOptions &options);

/// Imports a serialized ONNX model held in memory (the fuzzer's entry).
/// External data files are looked up under `baseDir`.
mlir::FailureOr<ImportedModel> importOnnxBytes(mlir::MLIRContext &context,
                                               llvm::StringRef bytes,
                                               const std::string &baseDir,
                                               const ImportOptions &options);

/// Registers the dialects the importer produces.
void registerImporterDialects(mlir::DialectRegistry &registry);

} // namespace sparq::onnx_import

#endif // SPARQ_FRONTENDS_ONNX_IMPORTER_H
