//===- Target.h - the compilation targets, in one table ---------*- C++ -*-===//
//
// A target is a folder under targets/ that lowers the compressed graph IR
// and writes a package. Each one defines a Target (targets/CMakeLists.txt
// lists the folders and generates the table); `sparqc compile --target`,
// the C++ API (buildPackage) and the Python package reach targets only
// through this table, so adding one is a new folder.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_TARGETS_TARGET_H
#define SPARQ_TARGETS_TARGET_H

#include "compiler/Compiler.h"

#include <ostream>
#include <string>
#include <vector>

namespace sparq {

/// What a package build is asked for, besides the compile options.
struct PackageRequest {
  /// Where the package goes (created); empty: compile and check, write
  /// nothing.
  std::string outDir;
  /// "mlir": print the graph IR as compiled; "llvm": the IR after the
  /// target's lowering; printed to `out`.
  std::string emit;
  bool debugInfo = false;
  std::ostream *out = nullptr;
};

struct Target {
  const char *name;
  /// One line for `sparqc compile --help`: what the package holds.
  const char *summary;
  /// Lowers the graph `compiler` holds (imported, graph passes run) and
  /// writes the package. On failure returns false with `error` set (or
  /// compiler.error()), naming the ONNX node where one is to blame.
  bool (*build)(Compiler &compiler, const CompileOptions &options,
                const PackageRequest &request, std::string &error);
};

/// Every target built in, in the order targets/CMakeLists.txt lists them.
const std::vector<Target> &targets();
/// The target called `name`, or null with `error` (if given) saying so and
/// listing the targets built in.
const Target *findTarget(const std::string &name, std::string *error = nullptr);
/// "host" or "host, cuda": for messages.
std::string targetNames();

/// Creates a package's folder `dir` (and its parents); false with `error`.
bool createPackageDir(const std::string &dir, std::string &error);

/// Builds `target`'s package from the graph `compiler` holds; false with
/// `error` set for an unknown target or a failed build.
bool buildPackage(Compiler &compiler, const std::string &target,
                  const CompileOptions &options, const PackageRequest &request,
                  std::string &error);

} // namespace sparq

#endif // SPARQ_TARGETS_TARGET_H
