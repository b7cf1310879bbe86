//===- HostExecutable.h - JIT-compiled model on the host CPU ----*- C++ -*-===//
#ifndef SPARQ_TARGETS_HOST_HOSTEXECUTABLE_H
#define SPARQ_TARGETS_HOST_HOSTEXECUTABLE_H

#include "runtime/io/HostTensor.h"
#include "runtime/io/WeightsFile.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
class ModuleOp;
} // namespace mlir

namespace sparq {

/// Name, element type and (static) shape of a model input or output.
struct TensorSpec {
  std::string name;
  io::DType dtype = io::DType::F32;
  std::vector<int64_t> shape;
  int64_t numElements() const;
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
  static std::unique_ptr<HostExecutable>
  create(mlir::ModuleOp llvmModule, const std::string &entry,
         std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs,
         int optLevel, std::shared_ptr<const io::WeightsBlob> weights,
         std::string &error);

  /// Runs the model. `inputs` are matched by position to inputSpecs(); each
  /// must have its dtype and shape. `outputs` is resized and filled.
  bool run(const std::vector<const io::HostTensor *> &inputs,
           std::vector<io::HostTensor> &outputs, std::string &error);

  const std::vector<TensorSpec> &inputSpecs() const { return inputs; }
  const std::vector<TensorSpec> &outputSpecs() const { return outputs; }

  /// Writes the compiled object code (for AOT use).
  bool dumpObject(const std::string &path, std::string &error);

private:
  HostExecutable() = default;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  std::string entry;
  /// The packed entry point (`_mlir_ciface_<entry>` behind a void** shim).
  void (*packedEntry)(void **) = nullptr;
  std::vector<TensorSpec> inputs, outputs;
  std::shared_ptr<const io::WeightsBlob> weights;
};

} // namespace sparq

#endif // SPARQ_TARGETS_HOST_HOSTEXECUTABLE_H
