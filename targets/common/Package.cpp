//===- Package.cpp - what every source-writing target's package holds -----===//

#include "targets/common/Package.h"

#include "compiler/Recipe.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace sparq::package {

bool startSourceBuild(Compiler &compiler, const CompileOptions &options,
                      const PackageRequest &request, const std::string &target,
                      const std::string &what, SourceBuild &build,
                      std::string &error) {
  std::ostream &out = request.out ? *request.out : std::cout;
  if (request.emit == "llvm") {
    error = "the " + target + " target writes " + what +
            ", not LLVM IR: use --emit mlir for the graph IR or --emit source";
    return false;
  }
  if (request.emit == "mlir")
    out << compiler.printIR(false, request.debugInfo);
  build.model =
      compiler.modelPath().empty()
          ? std::string("a model in memory")
          : std::filesystem::path(compiler.modelPath()).filename().string();
  build.passes = recipePipeline(options.compression);
  if (!options.passPipeline.empty())
    build.passes += (build.passes.empty() ? "" : ",") + options.passPipeline;
  if (build.passes.empty())
    build.passes = "none";
  mlir::PassManager pm(compiler.module()->getContext());
  std::string diag;
  llvm::raw_string_ostream os(diag);
  if (mlir::failed(mlir::parsePassPipeline(
          "func.func(canonicalize,sparq-fuse-elementwise,canonicalize),cse", pm,
          os)) ||
      mlir::failed(pm.run(compiler.module()))) {
    error = target + " target: the elementwise fusion failed " + diag;
    return false;
  }
  return true;
}

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

std::string signatureSource(const std::vector<TensorSpec> &ins,
                            const std::vector<TensorSpec> &outs,
                            const std::string &target, std::string &error) {
  std::string s;
  for (const auto &[kind, specs] :
       {std::pair("input", &ins), std::pair("output", &outs)}) {
    std::string names, dtypes, shapes, ranks;
    for (const TensorSpec &t : *specs) {
      if (!*numpyName(t.dtype) || !t.dims.empty() || t.shape.size() > 8) {
        error = std::string(kind) + " '" + t.name +
                "' needs a static shape of rank <= 8 and a numeric type on "
                "the " +
                target + " target";
        return "";
      }
      // A C string literal: quotes and backslashes escaped, control
      // characters as 3-digit octal (which, unlike \x, ends by itself).
      std::string n;
      for (char c : t.name) {
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\%03o", c);
          n += buf;
          continue;
        }
        n += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
      }
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

namespace {
std::string specsJson(const std::vector<TensorSpec> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    s += std::string(i ? ", " : "") +
         "{\"name\": " + io::jsonString(v[i].name) + ", \"dtype\": \"" +
         numpyName(v[i].dtype) + "\", \"shape\": [";
    for (size_t k = 0; k < v[i].shape.size(); ++k)
      s += (k ? ", " : "") + std::to_string(v[i].shape[k]);
    s += "]}";
  }
  return s + "]";
}

} // namespace

std::string modelJson(const std::vector<TensorSpec> &inputs,
                      const std::vector<TensorSpec> &outputs,
                      uint64_t weightsBytes) {
  return "{\"inputs\": " + specsJson(inputs) +
         ", \"outputs\": " + specsJson(outputs) +
         ", \"weights\": {\"file\": \"model.weights\", \"bytes\": " +
         std::to_string(weightsBytes) + "}}\n";
}

bool writeFile(const std::string &path, const std::string &text,
               std::string &error) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f)
    error = "cannot write '" + path + "'";
  return static_cast<bool>(f);
}

std::string fill(std::string from,
                 const std::vector<std::pair<std::string, std::string>> &keys) {
  for (const auto &[k, v] : keys)
    for (size_t at = from.find(k); at != std::string::npos;
         at = from.find(k, at + v.size()))
      from.replace(at, k.size(), v);
  return from;
}

} // namespace sparq::package
