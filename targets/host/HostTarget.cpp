//===- HostTarget.cpp - the host target's package -------------------------===//
//
// `sparqc compile --target host -o OUT`: the model lowered for this CPU and
// compiled ahead of time into OUT/model.o (code only, with the C interface
// _mlir_ciface_forward), its weights in OUT/model.weights (which a program
// maps and points __sparq_weights at; runtime/io/WeightsFile.h), the graph
// IR as compiled (OUT/model.mlir, constants elided) and the signature
// (OUT/model.json).
//
//===----------------------------------------------------------------------===//

#include "targets/Target.h"

#include <filesystem>
#include <fstream>
#include <iostream>

namespace fs = std::filesystem;
using namespace sparq;

namespace sparq {
Target hostTarget();
} // namespace sparq

namespace {

/// The inputs' or outputs' JSON: name, dtype, shape (a run-time axis holds
/// its bound) and, where some axis is set at run time, its expression.
std::string specsJson(const Compiler &compiler,
                      const std::vector<TensorSpec> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    s += std::string(i ? ", " : "") +
         "{\"name\": " + io::jsonString(v[i].name) + ", \"dtype\": \"" +
         io::dtypeName(v[i].dtype) + "\", \"shape\": [";
    for (size_t k = 0; k < v[i].shape.size(); ++k)
      s += (k ? ", " : "") + std::to_string(v[i].shape[k]);
    s += "]";
    if (!v[i].dims.empty()) {
      s += ", \"dims\": [";
      for (size_t k = 0; k < v[i].dims.size(); ++k)
        s += std::string(k ? ", " : "") +
             (v[i].dims[k]
                  ? io::jsonString(v[i].dims[k]->str(compiler.symbols()))
                  : "null");
      s += "]";
    }
    s += "}";
  }
  return s + "]";
}

bool buildHost(Compiler &compiler, const CompileOptions &options,
               const PackageRequest &request, std::string &error) {
  std::ostream &out = request.out ? *request.out : std::cout;
  if (request.emit == "source") {
    error = "the host target writes an object file (model.o), not source: "
            "use --emit llvm for its code";
    return false;
  }
  if (request.emit == "mlir" && request.outDir.empty()) {
    out << compiler.printIR(false, request.debugInfo);
    return true;
  }
  // The graph IR as a record of what was compiled, constants elided: in
  // full it is twice the weights' bytes as hex text (93 MB for ResNet-18,
  // 28 GB for a 7 B model), and the weights are in model.weights.
  std::string graphIR;
  {
    mlir::TimingScope scope = compiler.phase("print graph IR");
    graphIR = compiler.printIR(/*full=*/false);
  }
  if (request.emit == "mlir")
    out << compiler.printIR(false, request.debugInfo);
  if (!compiler.lowerForHost(options))
    return false;
  if (request.emit == "llvm") {
    out << compiler.printIR(false, request.debugInfo);
    if (request.outDir.empty())
      return true;
  }
  auto exe = compiler.jit(options);
  if (!exe)
    return false;
  if (request.outDir.empty())
    return true;
  if (!createPackageDir(request.outDir, error))
    return false;
  fs::path dir(request.outDir);
  mlir::TimingScope writing = compiler.phase("write outputs");
  std::ofstream((dir / "model.mlir").string()) << graphIR;
  if (!exe->dumpObject((dir / "model.o").string(), error))
    return false;
  const io::WeightsBlob *weights = compiler.weights();
  if (weights && !weights->write((dir / "model.weights").string(), error))
    return false;
  std::ofstream sig((dir / "model.json").string());
  sig << "{\"entry\": \"_mlir_ciface_" << kEntryName
      << "\", \"inputs\": " << specsJson(compiler, compiler.inputs())
      << ", \"outputs\": " << specsJson(compiler, compiler.outputs());
  if (!compiler.symbols().empty()) {
    sig << ", \"symbols\": [";
    for (size_t k = 0; k < compiler.symbols().size(); ++k) {
      const io::DimSymbol &d = compiler.symbols()[k];
      sig << (k ? ", " : "") << "{\"name\": " << io::jsonString(d.name)
          << ", \"bound\": " << d.bound << ", \"input\": " << d.input
          << ", \"axis\": " << d.axis << "}";
    }
    sig << "]";
    // Counts the model computes (input -1) come back in one more out-param,
    // int64 [K] after the outputs, in this order; the outputs that read
    // them are written at their bounds, the valid block first on each axis.
    std::string computed;
    for (const io::DimSymbol &d : compiler.symbols())
      if (d.computed())
        computed += (computed.empty() ? "" : ", ") + io::jsonString(d.name);
    if (!computed.empty())
      sig << ", \"computed_dims\": [" << computed << "]";
  }
  if (weights)
    sig << ", \"weights\": {\"file\": \"model.weights\", \"bytes\": "
        << weights->size() << ", \"digest\": \"" << std::hex
        << weights->digest() << std::dec << "\"}";
  sig << "}\n";
  return true;
}

} // namespace

// The table's entry (Registry.cpp, from targets/CMakeLists.txt).
Target sparq::hostTarget() {
  return {"host",
          "this CPU, ahead of time: model.o (code, C interface "
          "_mlir_ciface_forward), model.weights, model.json (signature), "
          "model.mlir (graph IR)",
          buildHost};
}
