//===- SparqBase.td - sparq dialect definition -------------*- tablegen -*-===//
//
// The sparq dialect holds what upstream MLIR lacks for compressed networks:
// compression encodings on weight tensors and the domain ops (LSTM, ...).
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_BASE_TD
#define SPARQ_BASE_TD

include "mlir/IR/OpBase.td"

def Sparq_Dialect : Dialect {
  let name = "sparq";
  let cppNamespace = "::mlir::sparq";
  let summary = "Compressed neural networks: encodings and domain ops.";
  let description = [{
    The `sparq` dialect describes how a weight tensor is compressed (an
    encoding attribute with a sparsity part and a quantization part) and
    provides the ops a compressed network needs that upstream dialects do not
    have, such as `sparq.lstm`. Everything else is expressed with upstream
    dialects (linalg, tensor, arith, math).
  }];
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

class Sparq_Op<string mnemonic, list<Trait> traits = []>
    : Op<Sparq_Dialect, mnemonic, traits>;

#endif // SPARQ_BASE_TD
