//===- sparq-opt.cpp - MLIR optimizer driver with sparq registered --------===//

#include "dialects/SparqDialect.h"
#include "passes/Passes.h"
#include "targets/host/HostPipeline.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::sparq::registerSparqPasses();
  mlir::sparq::registerHostPipeline();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::sparq::SparqDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "sparq optimizer driver\n", registry));
}
