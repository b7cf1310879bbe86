# lit configuration for sparq's FileCheck tests (Dialect/, Passes/,
# Frontends/, Targets/).
import os

import lit.formats

config.name = "sparq"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.sparq_obj_root, "test")
config.excludes = ["unit", "e2e", "onnx-backend", "bad-inputs", "lit.cfg.py",
                   "Inputs"]

config.environment["PATH"] = os.pathsep.join(
    [config.sparq_tools_dir, config.llvm_tools_dir,
     config.environment.get("PATH", os.environ.get("PATH", ""))])
config.substitutions.append(("%python", "/usr/bin/python3"))
# The arm target's tools: Halide (its packages' generators), the aarch64
# cross compiler and qemu. Tests that build or run a package REQUIRE them.
import shutil
if config.halide_dir and os.path.exists(
        os.path.join(config.halide_dir, "include", "Halide.h")):
    config.available_features.add("halide")
    config.environment["SPARQ_HALIDE_DIR"] = config.halide_dir
if shutil.which("aarch64-linux-gnu-g++") and shutil.which("make"):
    config.available_features.add("aarch64-cross")
if shutil.which("qemu-aarch64"):
    config.available_features.add("qemu-aarch64")
config.substitutions.append(("%host_cxx", config.host_cxx))
config.substitutions.append(("%sparq_src", config.sparq_src_root))
config.substitutions.append(("%sparq_lib",
                             os.path.join(config.sparq_obj_root, "lib")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root,
                                                     "Frontends", "Inputs")))
