//===- ArmTarget.cpp - the arm target's package ---------------------------===//
//
// `sparqc compile --target arm -o OUT` writes the model as a Halide
// generator (pipeline.cpp, HalideEmitter.h) with the package's fixed files,
// then builds it with the package's own Makefile: the generator is compiled
// against Halide and run on this machine, and compiles the pipeline for
// aarch64 Linux; the C API and the runner are cross-compiled.
//
// Halide runs in that subprocess, never inside sparqc: libHalide carries an
// LLVM of its own (21) beside the LLVM 19 sparq is built on, the generator
// is the one thing a user needs to rebuild the package for another Halide
// target, and sparq builds and runs its other targets where Halide is not
// installed. Where Halide is found: $SPARQ_HALIDE_DIR, else the directory
// found when sparq was configured (the venv's halide package).
//
//===----------------------------------------------------------------------===//

#include "targets/Target.h"
#include "targets/arm/HalideEmitter.h"
#include "targets/common/Package.h"

#include "compiler/Recipe.h"
#include "runtime/io/WeightsFile.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fs = std::filesystem;
using namespace sparq;

namespace sparq {
Target armTarget();
} // namespace sparq

namespace {

#include "targets/arm/PackageFiles.inc"

#ifndef SPARQ_DEFAULT_HALIDE_DIR
#define SPARQ_DEFAULT_HALIDE_DIR ""
#endif

std::string halideDir(std::string &error) {
  const char *env = std::getenv("SPARQ_HALIDE_DIR");
  std::string dir = env && *env ? env : SPARQ_DEFAULT_HALIDE_DIR;
  if (dir.empty() || !fs::exists(fs::path(dir) / "include" / "Halide.h")) {
    error =
        "the arm target needs Halide 21: install it (`pip install "
        "--no-deps halide` into sparq's venv, then reconfigure) or set "
        "SPARQ_HALIDE_DIR to its directory (the one with include/Halide.h)" +
        (dir.empty() ? std::string() : "; '" + dir + "' has none");
    return "";
  }
  return dir;
}

/// The tables and C API of model.cpp.
std::string modelSource(const arm::Pipeline &p, const io::WeightsBlob &w,
                        const std::string &header, const std::string &sig) {
  std::string s = header;
  s += "#include \"sparq_arm_runtime.h\"\n\nnamespace {\n\n";
  s += "// The weights this code was compiled with (model.weights).\n";
  s += "constexpr uint64_t kWeightsBytes = " + std::to_string(w.size()) +
       "ULL;\nconstexpr uint64_t kWeightsDigest = " +
       std::to_string(w.digest()) + "ULL;\n\n";
  s += "// The pipeline's buffers in its argument order: kind, the input's or\n"
       "// output's position or the weight's offset, type code and bits,\n"
       "// rank, shape.\nconst sparq_arm::Arg kArgs[] = {\n";
  for (const arm::PipelineArgument &a : p.arguments) {
    static const char *const kinds[] = {"Input", "Weight", "Output"};
    s += "    {sparq_arm::Arg::" + std::string(kinds[a.kind]) + ", " +
         std::to_string(a.index) + "ULL, " + std::to_string(a.code) + ", " +
         std::to_string(a.bits) + ", " + std::to_string(a.shape.size()) + ", {";
    for (size_t d = 0; d < a.shape.size(); ++d)
      s += (d ? ", " : "") + std::to_string(a.shape[d]);
    s += "}},\n";
  }
  s += "};\nconstexpr int kArgCount = " + std::to_string(p.arguments.size()) +
       ";\n\n} // namespace\n\n";
  s += R"(struct sparq_model : sparq_arm::Model {};

extern "C" sparq_model *sparq_model_load(const char *dir, char *error,
                                         size_t error_size) {
  sparq_model *m = new sparq_model;
  if (sparq_arm::load(m, dir, kWeightsBytes, kWeightsDigest))
    return m;
  if (error && error_size)
    std::snprintf(error, error_size, "%s", m->error.c_str());
  delete m;
  return nullptr;
}

extern "C" int sparq_model_run(sparq_model *m, const void *const *inputs,
                               void *const *outputs) {
  return sparq_arm::run(m, kArgs, kArgCount, inputs, outputs);
}

extern "C" const char *sparq_model_error(const sparq_model *m) {
  return m->error.c_str();
}

extern "C" double sparq_model_last_device_ms(const sparq_model *m) {
  return m->lastMs;
}

extern "C" void sparq_model_free(sparq_model *m) { delete m; }

// The signature (sparq_model.h).
)";
  return s + sig;
}

/// Runs `make` in `dir` with `vars`; false with `error` holding the end of
/// its output.
bool runMake(const fs::path &dir, const std::vector<std::string> &vars,
             std::string &error) {
  llvm::ErrorOr<std::string> make = llvm::sys::findProgramByName("make");
  if (!make) {
    error = "the arm target builds its package with make, which is not "
            "installed";
    return false;
  }
  fs::path log = dir / "build.log";
  std::vector<llvm::StringRef> argv = {*make, "-C", dir.c_str()};
  for (const std::string &v : vars)
    argv.push_back(v);
  std::string logPath = log.string();
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logPath, logPath};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*make, argv, std::nullopt, redirects, 0, 0,
                                     &message);
  if (rc == 0)
    return true;
  std::ifstream f(log);
  std::stringstream text;
  text << f.rdbuf();
  std::string out = text.str();
  if (out.size() > 4000)
    out = "..." + out.substr(out.size() - 4000);
  error =
      "building the arm package failed (" +
      (message.empty() ? "make exited with " + std::to_string(rc) : message) +
      "; the log is " + logPath + "):\n" + out;
  return false;
}

bool buildArm(Compiler &compiler, const CompileOptions &options,
              const PackageRequest &request, std::string &error) {
  std::ostream &out = request.out ? *request.out : std::cout;
  package::SourceBuild build;
  if (!package::startSourceBuild(compiler, options, request, "arm",
                                 "a Halide pipeline (pipeline.cpp in the "
                                 "package)",
                                 build, error))
    return false;
  const std::string &model = build.model;
  std::string header =
      "// pipeline.cpp - generated by sparqc (sparq's arm target) from " +
      model + ".\n// Graph passes: " + build.passes +
      ".\n// Funcs are commented with the ONNX nodes they compute; the graph "
      "IR they\n// come from is model.mlir. Do not edit: recompile the "
      "model.\n\n";
  io::WeightsBlob weights;
  arm::Pipeline pipeline;
  if (!arm::emitPipeline(compiler.module(), header, weights, pipeline, error))
    return false;
  std::string sig = package::signatureSource(compiler.inputs(),
                                             compiler.outputs(), "arm", error);
  if (!error.empty())
    return false;
  if (request.emit == "source")
    out << pipeline.generator;
  if (request.outDir.empty())
    return true;
  std::string halide = halideDir(error);
  if (halide.empty())
    return false;
  // With int8 dot products, one library with two versions of the
  // pipeline: sdot (ARMv8.2 dotprod) where the CPU has it, else NEON alone.
  std::string target = !options.halideTarget.empty() ? options.halideTarget
                       : pipeline.dotProducts
                           ? "arm-64-linux-arm_dot_prod,arm-64-linux"
                           : "arm-64-linux";
  // "host", "host-profile", "x86-64-linux-avx2": this machine's g++.
  bool native = target.rfind("host", 0) == 0 || target.rfind("x86", 0) == 0;
  const char *envCxx = std::getenv("SPARQ_ARM_CXX");
  std::string cxx = native              ? "g++"
                    : envCxx && *envCxx ? envCxx
                                        : "aarch64-linux-gnu-g++";
  std::string ar = native ? "ar"
                   : cxx.size() > 3 && cxx.substr(cxx.size() - 3) == "g++"
                       ? cxx.substr(0, cxx.size() - 3) + "ar"
                       : "ar";
  if (!llvm::sys::findProgramByName(cxx)) {
    error = "the arm target cross-compiles with '" + cxx +
            "', which is not installed (apt-get install g++-aarch64-linux-gnu, "
            "or set SPARQ_ARM_CXX)";
    return false;
  }
  if (!createPackageDir(request.outDir, error))
    return false;
  fs::path dir(request.outDir);
  std::string modelHeader =
      "// model.cpp - generated by sparqc (sparq's arm target) from " + model +
      ": the C API of sparq_model.h around the Halide pipeline.\n\n";
  std::vector<std::pair<std::string, std::string>> keys = {
      {"@MODEL@", model},
      {"@HALIDE_DIR@", halide},
      {"@HALIDE_TARGET@", target},
      {"@TARGET_CXX@", cxx},
      {"@TARGET_AR@", ar}};
  auto write = [&](const char *name, const std::string &text) {
    return package::writeFile((dir / name).string(), text, error);
  };
  if (!(write("pipeline.cpp", pipeline.generator) &&
        write("model.cpp", modelSource(pipeline, weights, modelHeader, sig)) &&
        write("sparq_model.h", kSparqModelH) &&
        write("sparq_weights.h", kSparqWeightsH) &&
        write("sparq_arm_runtime.h", kSparqArmRuntimeH) &&
        write("runner.cpp", kRunnerCpp) &&
        write("Makefile", package::fill(kMakefile, keys)) &&
        write("README.md", package::fill(kReadme, keys)) &&
        write("schedule.txt", pipeline.scheduleSummary) &&
        write("model.mlir", compiler.printIR(false)) &&
        write("model.json",
              package::modelJson(compiler.inputs(), compiler.outputs(),
                                 weights.size())) &&
        weights.write((dir / "model.weights").string(), error)))
    return false;
  // A rebuild from scratch: the package's files are all new.
  return runMake(dir, {"clean"}, error) && runMake(dir, {}, error);
}

} // namespace

// The table's entry (Registry.cpp, from targets/CMakeLists.txt).
Target sparq::armTarget() {
  return {"arm",
          "aarch64 Linux (NEON) through Halide: the model as one Halide "
          "pipeline (pipeline.cpp, compiled ahead of time), a static library "
          "with a C API, a runner, model.weights",
          buildArm};
}
