//===- Registry.cpp - the table of targets --------------------------------===//

#include "targets/Target.h"

#include <filesystem>

namespace sparq {
// One `Target <name>Target();` per folder, from targets/CMakeLists.txt.
#define SPARQ_TARGET(name) Target name##Target();
#include "targets/TargetList.inc"
#undef SPARQ_TARGET
} // namespace sparq

using namespace sparq;

const std::vector<Target> &sparq::targets() {
  static const std::vector<Target> all = {
#define SPARQ_TARGET(name) name##Target(),
#include "targets/TargetList.inc"
#undef SPARQ_TARGET
  };
  return all;
}

const Target *sparq::findTarget(const std::string &name, std::string *error) {
  for (const Target &t : targets())
    if (name == t.name)
      return &t;
  if (error)
    *error = "target '" + name +
             "' is not built in (built in: " + targetNames() + ")";
  return nullptr;
}

std::string sparq::targetNames() {
  std::string names;
  for (const Target &t : targets())
    names += (names.empty() ? "" : ", ") + std::string(t.name);
  return names;
}

bool sparq::buildPackage(Compiler &compiler, const std::string &target,
                         const CompileOptions &options,
                         const PackageRequest &request, std::string &error) {
  const Target *t = findTarget(target);
  if (!t) {
    error = "target '" + target +
            "' is not built in (built in: " + targetNames() + ")";
    return false;
  }
  if (t->build(compiler, options, request, error))
    return true;
  if (error.empty())
    error = compiler.error();
  return false;
}

bool sparq::createPackageDir(const std::string &dir, std::string &error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    error = "cannot create output directory '" + dir + "': " + ec.message();
  return !ec;
}
