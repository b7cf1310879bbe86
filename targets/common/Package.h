//===- Package.h - what every source-writing target's package holds -*- C++
//-*-===//
//
// The cuda and arm packages share their C API (package/sparq_model.h), the
// runner (package/runner.cpp), the weights reader (package/sparq_weights.h)
// and model.json; these write the generated parts of them.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_TARGETS_COMMON_PACKAGE_H
#define SPARQ_TARGETS_COMMON_PACKAGE_H

#include "compiler/Compiler.h"
#include "targets/Target.h"

#include <string>
#include <vector>

namespace sparq::package {

/// What a source-writing target's build starts with, from the compiler
/// and the request: --emit llvm refused (the target writes `what`), --emit
/// mlir printed, elementwise chains fused into one generic each (one kernel,
/// one Func), and the model's name and graph passes for the file headers.
struct SourceBuild {
  std::string model;  // the ONNX file's name, or "a model in memory"
  std::string passes; // the recipe and --pass-pipeline, or "none"
};
bool startSourceBuild(Compiler &compiler, const CompileOptions &options,
                      const PackageRequest &request, const std::string &target,
                      const std::string &what, SourceBuild &build,
                      std::string &error);

/// numpy's name of a dtype ("float32"), or "" for none.
const char *numpyName(io::DType d);
/// The signature functions of sparq_model.h as C++ source; "" with `error`
/// set (naming `target`) for a tensor without a static shape of rank <= 8
/// and a numeric type.
std::string signatureSource(const std::vector<TensorSpec> &inputs,
                            const std::vector<TensorSpec> &outputs,
                            const std::string &target, std::string &error);
/// model.json: the signature and the weights file's size.
std::string modelJson(const std::vector<TensorSpec> &inputs,
                      const std::vector<TensorSpec> &outputs,
                      uint64_t weightsBytes);
/// `from` with every "@KEY@" of `keys` replaced: the packages' README and
/// build files are templates.
std::string fill(std::string from,
                 const std::vector<std::pair<std::string, std::string>> &keys);
/// Writes `text` to `path`; false with `error` set.
bool writeFile(const std::string &path, const std::string &text,
               std::string &error);

} // namespace sparq::package

#endif // SPARQ_TARGETS_COMMON_PACKAGE_H
