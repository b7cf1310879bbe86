//===- Compiler.h - sparq's embeddable C++ API ------------------*- C++ -*-===//
//
// Load a model, compile it with options, run it. This is what sparqc, the
// tests and the Python package call. Errors are returned as text (the
// diagnostics the compiler emitted), never thrown.
//
//===----------------------------------------------------------------------===//
#ifndef SPARQ_COMPILER_COMPILER_H
#define SPARQ_COMPILER_COMPILER_H

#include "compiler/LayerReport.h"
#include "compiler/Recipe.h"
#include "runtime/io/HostTensor.h"
#include "targets/host/HostExecutable.h"
#include "targets/host/HostPipeline.h"

#include "mlir/Support/LogicalResult.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class MLIRContext;
class ModuleOp;
class Value;
} // namespace mlir

namespace sparq {
namespace onnx_import {
struct ImportOptions;
struct ImportedModel;
} // namespace onnx_import

/// The function a compiled model exports, with the C interface
/// `_mlir_ciface_forward(inputs..., outputs...)` taking memref descriptors.
inline constexpr const char *kEntryName = "forward";

/// Every option of a compilation, in one place.
struct CompileOptions {
  /// Static shapes for graph inputs (specializes symbolic dimensions).
  std::map<std::string, std::vector<int64_t>> inputShapes;
  /// Values of small integer inputs to specialize on (see ImportOptions).
  std::map<std::string, io::HostTensor> inputValues;
  /// Run-time dimensions with their bounds, by input and axis and by
  /// dim_param (see ImportOptions).
  std::map<std::string, std::map<int64_t, int64_t>> dynamicAxes;
  std::map<std::string, int64_t> dynamicDimParams;
  /// Keep KV caches in place for token-by-token decoding (see
  /// ImportOptions::kvCacheInPlace and DecodeSession).
  bool kvCacheInPlace = false;
  /// Bound of every dim_param not bounded otherwise (0: none; see
  /// ImportOptions::defaultRunTimeBound).
  int64_t defaultRunTimeBound = 0;
  /// Compression asked for by flags; it runs first on the graph IR.
  CompressionRecipe compression;

  /// Specializes on an example input, as `sparqc run -i` and
  /// sparq.compile do: its shape becomes the input's (unless inputShapes
  /// has one), and a small one (isFoldableExample) is also a value the
  /// importer may fold at compile time: a Reshape's shape, Resize's scales,
  /// TopK's k. The value is copied.
  void addExample(const std::string &name, const io::HostTensor &t);
  /// At most 64 values, rank 0 or 1.
  static bool isFoldableExample(const std::vector<int64_t> &shape);
  /// AWQ before int quantization: an .npz of the model's inputs to run for
  /// calibration activations (compiler/Awq.h); empty for none.
  std::string awqCalibration;
  /// A pass pipeline (textual, anchored on builtin.module) run on the graph
  /// IR after the recipe, before the target lowering; empty for none.
  std::string passPipeline;
  mlir::sparq::HostPipelineOptions host;
  /// The Halide target the arm target compiles its pipeline for (empty:
  /// arm-64-linux; "host" or x86-64-...: this machine, for comparisons).
  std::string halideTarget;
  /// LLVM optimization level for the JIT/object code.
  int optLevel = 3;
  /// Print the time of each phase (import, graph passes, lowering, LLVM
  /// code generation, writing) and of each pass to stderr, when the
  /// Compiler is destroyed.
  bool timing = false;
};

/// Threads the host kernels use, for every model this process runs: at
/// least 1. The default is SPARQ_NUM_THREADS from the environment, else 2.
/// Outputs do not depend on it: kernels split outputs, never a sum.
void setNumThreads(int threads);
int numThreads();

class Compiler {
public:
  Compiler();
  ~Compiler();
  Compiler(const Compiler &) = delete;
  Compiler &operator=(const Compiler &) = delete;

  /// Imports the ONNX model at `path` into graph IR.
  bool importOnnx(const std::string &path, const CompileOptions &options);
  /// Imports a serialized ONNX model held in memory; external data files
  /// are looked up under `baseDir` (none when empty).
  bool importOnnxBytes(llvm::StringRef bytes, const std::string &baseDir,
                       const CompileOptions &options);
  /// Runs the compression recipe and `options.passPipeline` on the graph IR.
  bool runGraphPipeline(const CompileOptions &options);
  /// Fills each layer's `weights` from the graph IR as it is now: how every
  /// weight is stored, packed sizes measured by packing. Call after
  /// runGraphPipeline, before lowering.
  bool collectCompression();
  /// Lowers the graph IR to the LLVM dialect for the host; the weights
  /// leave the module for weights() (unless options.host.externalWeights is
  /// off).
  bool lowerForHost(const CompileOptions &options);
  /// The weights lowerForHost moved out of the code, which the code reads
  /// through `__sparq_weights` (runtime/io/WeightsFile.h); null before.
  const io::WeightsBlob *weights() const;
  /// JIT-compiles the lowered module.
  std::unique_ptr<HostExecutable> jit(const CompileOptions &options);
  /// importOnnx + runGraphPipeline + lowerForHost + jit.
  std::unique_ptr<HostExecutable> compileForHost(const std::string &path,
                                                 const CompileOptions &options);

  /// Makes f32 `values` of the imported function extra outputs, named
  /// `prefix` and their output index (static shapes; for calibration).
  void appendOutputs(llvm::ArrayRef<mlir::Value> values,
                     const std::string &prefix);

  /// Times what the caller does next (writing outputs, say) as a phase of
  /// the --mlir-timing report, until the returned scope ends; inert unless
  /// an earlier call had options.timing.
  mlir::TimingScope phase(llvm::StringRef name);

  /// The current IR as text (large constants elided unless `full`; with
  /// locations if `debugInfo`).
  std::string printIR(bool full = false, bool debugInfo = false);
  mlir::ModuleOp module();
  /// The path of the model imported from a file ("" otherwise).
  std::string modelPath() const;
  mlir::MLIRContext &context();

  const std::vector<TensorSpec> &inputs() const { return inputSpecs; }
  const std::vector<TensorSpec> &outputs() const { return outputSpecs; }
  /// The run-time dims the specs refer to (empty for a static model).
  const std::vector<io::DimSymbol> &symbols() const { return dimSymbols; }
  const std::vector<LayerInfo> &layers() const { return layerInfos; }
  /// The domain patterns the graph passes fused (sparq.bev_pool), for the
  /// report; call after runGraphPipeline.
  std::vector<FusionInfo> fusions();
  /// What went wrong, one diagnostic per line.
  const std::string &error() const { return errors; }
  /// What the passes warned of (e.g. a layer a compression pass left
  /// alone), in order.
  const std::vector<std::string> &warnings() const { return warningList; }

private:
  /// What importOnnx and importOnnxBytes share: `import` reads the model
  /// (`what` names it in errors), the rest records its specs and layers.
  bool
  importModel(const CompileOptions &options, const std::string &what,
              llvm::function_ref<mlir::FailureOr<onnx_import::ImportedModel>(
                  const onnx_import::ImportOptions &)>
                  import);

  struct Impl;
  std::unique_ptr<Impl> impl;
  std::vector<TensorSpec> inputSpecs, outputSpecs;
  std::vector<io::DimSymbol> dimSymbols;
  std::vector<io::KvCacheSpec> kvCaches;
  std::vector<LayerInfo> layerInfos;
  std::string errors;
  std::vector<std::string> warningList;
};

} // namespace sparq

#endif // SPARQ_COMPILER_COMPILER_H
