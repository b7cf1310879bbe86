//===- HostExecutable.h - JIT-compiled model on the host CPU ----*- C++ -*-===//
#ifndef SPARQ_TARGETS_HOST_HOSTEXECUTABLE_H
#define SPARQ_TARGETS_HOST_HOSTEXECUTABLE_H

#include "runtime/io/HostTensor.h"
#include "runtime/io/RunTimeDims.h"
#include "runtime/io/WeightsFile.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
class ModuleOp;
} // namespace mlir

namespace sparq {

/// Name, element type and shape of a model input or output.
struct TensorSpec {
  std::string name;
  io::DType dtype = io::DType::F32;
  /// Static extents; a run-time axis holds its bound.
  std::vector<int64_t> shape;
  /// Per axis, the expression of a run-time axis (RunTimeDims.h); empty
  /// when all extents are static.
  std::vector<std::optional<io::DimExpr>> dims;
  int64_t numElements() const;
  io::SymbolicShape symbolicShape() const { return {shape, dims}; }
};

/// A model lowered to the LLVM dialect and JIT-compiled. The entry function
/// takes every input and then every output as a memref (outputs are
/// caller-allocated out-params; see the host pipeline).
class HostExecutable {
public:
  ~HostExecutable();
  /// JIT-compiles `llvmModule` (already in the LLVM dialect) whose C-interface
  /// entry point is `_mlir_ciface_<entry>`. Machine code is generated here,
  /// not on the first run. `weights` is the blob the module's weights were
  /// moved to (sparq-externalize-weights), kept alive by the executable;
  /// null for a module that holds its weights itself.
  /// `symbols` are the run-time dims the specs' dims refer to.
  static std::unique_ptr<HostExecutable>
  create(mlir::ModuleOp llvmModule, const std::string &entry,
         std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs,
         std::vector<io::DimSymbol> symbols, int optLevel,
         std::shared_ptr<const io::WeightsBlob> weights, std::string &error);

  /// Runs the model. `inputs` are matched by position to inputSpecs(); each
  /// must have its dtype and shape (run-time axes any extent up to their
  /// bound, consistent with each other). `outputs` is resized and filled.
  /// `symbolValues`, if given, receives the run-time dims' values.
  bool run(const std::vector<const io::HostTensor *> &inputs,
           std::vector<io::HostTensor> &outputs, std::string &error,
           std::vector<int64_t> *symbolValues = nullptr);

  const std::vector<TensorSpec> &inputSpecs() const { return inputs; }
  const std::vector<TensorSpec> &outputSpecs() const { return outputs; }
  const std::vector<io::DimSymbol> &symbols() const { return dimSymbols; }
  /// The KV caches the model keeps in place (see io::KvCacheSpec): run()
  /// checks that each call's new entries fit. DecodeSession drives them.
  void setKvCaches(std::vector<io::KvCacheSpec> specs);
  const std::vector<io::KvCacheSpec> &kvCaches() const { return caches; }

  /// Writes the compiled object code (for AOT use).
  bool dumpObject(const std::string &path, std::string &error);

private:
  HostExecutable() = default;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  std::string entry;
  /// The packed entry point (`_mlir_ciface_<entry>` behind a void** shim).
  void (*packedEntry)(void **) = nullptr;
  std::vector<TensorSpec> inputs, outputs;
  std::vector<io::DimSymbol> dimSymbols;
  /// The symbols the model computes (in the order its counts come back),
  /// and per output whether its size reads one.
  std::vector<size_t> computedSymbols;
  std::vector<bool> outputSizedAfterCall;
  std::vector<io::KvCacheSpec> caches;
  std::shared_ptr<const io::WeightsBlob> weights;
};

} // namespace sparq

#endif // SPARQ_TARGETS_HOST_HOSTEXECUTABLE_H
