//===- CudaTarget.cpp - the cuda target's package -------------------------===//
//
// `sparqc compile --target cuda -o OUT` writes a self-contained package:
// model.cu (the generated kernels and the C API's run), the package's
// runtime header, sparq_model.h, runner.cpp (.npy in and out),
// CMakeLists.txt (nvcc, sm_80 and sm_90, cuBLAS, cuDNN), model.weights,
// model.json (the signature), model.mlir (the graph IR it came from) and a
// README. The files other than model.cu are copies of targets/cuda/package
// (and runtime/cuda/BevPoolKernel.cuh), embedded at build time.
//
//===----------------------------------------------------------------------===//

#include "targets/Target.h"
#include "targets/cuda/CudaEmitter.h"

#include "compiler/Recipe.h"
#include "runtime/io/WeightsFile.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <filesystem>
#include <fstream>
#include <iostream>

namespace fs = std::filesystem;
using namespace sparq;

namespace sparq {
Target cudaTarget();
} // namespace sparq

namespace {

#include "targets/cuda/PackageFiles.inc"

/// numpy's name of a dtype, as sparq_model.h's API gives it.
const char *numpyName(io::DType d) {
  switch (d) {
  case io::DType::F32:
    return "float32";
  case io::DType::F64:
    return "float64";
  case io::DType::I64:
    return "int64";
  case io::DType::I32:
    return "int32";
  case io::DType::I16:
    return "int16";
  case io::DType::I8:
    return "int8";
  case io::DType::U8:
    return "uint8";
  case io::DType::Bool:
    return "bool";
  default:
    return "";
  }
}

/// The signature functions of sparq_model.h, for model.cu.
std::string signature(const std::vector<TensorSpec> &ins,
                      const std::vector<TensorSpec> &outs, std::string &error) {
  std::string s;
  for (const auto &[kind, specs] :
       {std::pair("input", &ins), std::pair("output", &outs)}) {
    std::string names, dtypes, shapes, ranks;
    for (const TensorSpec &t : *specs) {
      if (!*numpyName(t.dtype) || !t.dims.empty() || t.shape.size() > 8) {
        error = std::string(kind) + " '" + t.name +
                "' needs a static shape of rank <= 8 and a numeric type on "
                "the cuda target";
        return "";
      }
      std::string n;
      for (char c : t.name)
        n += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
      names += "\"" + n + "\", ";
      dtypes += std::string("\"") + numpyName(t.dtype) + "\", ";
      ranks += std::to_string(t.shape.size()) + ", ";
      shapes += "{";
      for (int64_t d : t.shape)
        shapes += std::to_string(d) + ", ";
      shapes += "}, ";
    }
    std::string k = kind, K = k == "input" ? "In" : "Out";
    s += "static const char *const k" + K + "Names[] = {" + names +
         "nullptr};\nstatic const char *const k" + K + "Types[] = {" + dtypes +
         "nullptr};\nstatic const int k" + K + "Ranks[] = {" + ranks +
         "0};\nstatic const int64_t k" + K + "Shapes[][8] = {" + shapes +
         "{}};\n";
    s += "extern \"C\" int sparq_model_num_" + k + "s(void) { return " +
         std::to_string(specs->size()) + "; }\n";
    s += "extern \"C\" const char *sparq_model_" + k +
         "_name(int i) { return k" + K + "Names[i]; }\n";
    s += "extern \"C\" const char *sparq_model_" + k +
         "_dtype(int i) { return k" + K + "Types[i]; }\n";
    s += "extern \"C\" int sparq_model_" + k +
         "_shape(int i, int64_t *dims) {\n  for (int d = 0; d < k" + K +
         "Ranks[i]; ++d)\n    dims[d] = k" + K + "Shapes[i][d];\n  return k" +
         K + "Ranks[i];\n}\n";
  }
  return s;
}

std::string specsJson(const std::vector<TensorSpec> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    s += std::string(i ? ", " : "") + "{\"name\": \"" + v[i].name +
         "\", \"dtype\": \"" + numpyName(v[i].dtype) + "\", \"shape\": [";
    for (size_t k = 0; k < v[i].shape.size(); ++k)
      s += (k ? ", " : "") + std::to_string(v[i].shape[k]);
    s += "]}";
  }
  return s + "]";
}

bool write(const fs::path &path, const std::string &text, std::string &error) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f)
    error = "cannot write '" + path.string() + "'";
  return static_cast<bool>(f);
}

bool buildCuda(Compiler &compiler, const CompileOptions &options,
               const PackageRequest &request, std::string &error) {
  std::ostream &out = request.out ? *request.out : std::cout;
  if (request.emit == "llvm") {
    error = "the cuda target writes CUDA C++ (model.cu in the package), not "
            "LLVM IR: use --emit mlir for the graph IR";
    return false;
  }
  if (request.emit == "mlir")
    out << compiler.printIR(false, request.debugInfo);
  std::string model = compiler.modelPath().empty()
                          ? std::string("a model in memory")
                          : fs::path(compiler.modelPath()).filename().string();
  std::string recipe = recipePipeline(options.compression);
  if (!options.passPipeline.empty())
    recipe += (recipe.empty() ? "" : ",") + options.passPipeline;
  std::string header =
      "// model.cu - generated by sparqc (sparq's cuda target) from " + model +
      ".\n// Graph passes: " + (recipe.empty() ? "none" : recipe) +
      ".\n// Kernels are named after the ONNX nodes they compute; the graph IR "
      "they\n// come from is model.mlir. Do not edit: recompile the model.\n\n";
  // Elementwise chains into one generic each (one kernel), as the host
  // lowering does on tensors.
  {
    mlir::PassManager pm(compiler.module()->getContext());
    std::string diag;
    llvm::raw_string_ostream os(diag);
    if (mlir::failed(mlir::parsePassPipeline(
            "func.func(canonicalize,sparq-fuse-elementwise,canonicalize),cse",
            pm, os)) ||
        mlir::failed(pm.run(compiler.module()))) {
      error = "cuda target: the elementwise fusion failed " + diag;
      return false;
    }
  }
  io::WeightsBlob weights;
  std::string source;
  if (!cuda::emitModel(compiler.module(), header, weights, source, error))
    return false;
  std::string sig = signature(compiler.inputs(), compiler.outputs(), error);
  if (!error.empty())
    return false;
  source += "\n// The signature (sparq_model.h).\n" + sig;
  if (request.outDir.empty())
    return true;
  if (!createPackageDir(request.outDir, error))
    return false;
  fs::path dir(request.outDir);
  std::string readme = kReadme;
  readme.replace(readme.find("@MODEL@"), 7, model);
  bool bev = source.find("BevPoolKernel.cuh") != std::string::npos;
  bool bits = source.find("#include \"BitPack.h\"") != std::string::npos;
  return write(dir / "model.cu", source, error) &&
         write(dir / "sparq_model.h", kSparqModelH, error) &&
         write(dir / "sparq_cuda_runtime.h", kSparqCudaRuntimeH, error) &&
         (!bev || write(dir / "BevPoolKernel.cuh", kBevPoolKernelCuh, error)) &&
         (!bits || write(dir / "BitPack.h", kBitPackH, error)) &&
         write(dir / "runner.cpp", kRunnerCpp, error) &&
         write(dir / "CMakeLists.txt", kCMakeLists, error) &&
         write(dir / "README.md", readme, error) &&
         write(dir / "model.mlir", compiler.printIR(false), error) &&
         write(dir / "model.json",
               "{\"inputs\": " + specsJson(compiler.inputs()) +
                   ", \"outputs\": " + specsJson(compiler.outputs()) +
                   ", \"weights\": {\"file\": \"model.weights\", \"bytes\": " +
                   std::to_string(weights.size()) + "}}\n",
               error) &&
         weights.write((dir / "model.weights").string(), error);
}

} // namespace

// The table's entry (Registry.cpp, from targets/CMakeLists.txt).
Target sparq::cudaTarget() {
  return {"cuda",
          "NVIDIA GPUs (sm_80, sm_90): a CUDA package, model.cu (kernels, "
          "cuBLAS, cuDNN) with a C API, runner, CMakeLists.txt, model.weights",
          buildCuda};
}
