//===- FuzzImport.cpp - libFuzzer harness on the ONNX importer -----------===//
//
// Feeds each input as a serialized ONNX model through what every compilation
// does before the target lowering: import, verification, the layer report's
// arithmetic and the graph passes. Anything but a clean error (a crash, a
// sanitizer report, a hang, a huge allocation) is a bug.
// scripts/fuzz.sh runs it; docs/testing.md says how to read its findings.
//
//===----------------------------------------------------------------------===//

#include "compiler/LayerReport.h"
#include "frontends/onnx/Importer.h"
#include "passes/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace {
/// The graph passes every model meets on the way to a target.
constexpr const char *kGraphPipeline =
    "sparq-detect-compression,func.func(sparq-lower-rnn,canonicalize,"
    "sparq-fuse-elementwise)";

const mlir::DialectRegistry &registry() {
  static mlir::DialectRegistry *r = [] {
    // Only what the importer makes: loading every dialect per input would
    // cost more than most imports. Passes load what they add.
    auto *reg = new mlir::DialectRegistry;
    sparq::onnx_import::registerImporterDialects(*reg);
    return reg;
  }();
  return *r;
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  mlir::registerTransformsPasses();
  mlir::sparq::registerSparqPasses();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // A context is made afresh every 256 inputs: interned attributes and types
  // would otherwise pile up over millions of runs, and one per input spends
  // most of the time (under ASan) in the allocations of making it.
  static std::unique_ptr<mlir::MLIRContext> shared;
  static unsigned uses = 0;
  if (!shared || ++uses % 256 == 0)
    shared = std::make_unique<mlir::MLIRContext>(
        registry(), mlir::MLIRContext::Threading::DISABLED);
  mlir::MLIRContext &context = *shared;
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  sparq::onnx_import::ImportOptions options;
  // External data must not reach outside an empty directory.
  auto imported = sparq::onnx_import::importOnnxBytes(
      context, llvm::StringRef(reinterpret_cast<const char *>(data), size),
      "/nonexistent-sparq-fuzz", options);
  if (mlir::failed(imported))
    return 0;
  for (const auto &n : imported->nodes)
    (void)sparq::countMacs(n.opType, n.inputShapes, n.outputShapes, n.group);
  if (mlir::failed(mlir::verify(*imported->module))) {
    // The importer verifies what it built; a module it returns must verify.
    std::abort();
  }
  mlir::PassManager pm(&context);
  if (mlir::failed(mlir::parsePassPipeline(kGraphPipeline, pm)))
    std::abort();
  (void)pm.run(*imported->module);
  return 0;
}
