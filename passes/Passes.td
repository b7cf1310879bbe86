//===- Passes.td - sparq passes ----------------------------*- tablegen -*-===//

#ifndef SPARQ_PASSES_TD
#define SPARQ_PASSES_TD

include "mlir/Pass/PassBase.td"

def LowerRnn : Pass<"sparq-lower-rnn", "func::FuncOp"> {
  let summary = "Lower sparq.lstm to linalg and scf on tensors";
  let description = [{
    Expands each `sparq.lstm` into upstream ops: the input projection of all
    time steps is one `linalg.matmul`; the recurrence is an `scf.for` over the
    sequence whose body does the recurrent matmul and one fused
    `linalg.generic` for the gates, cell and hidden state. Bidirectional
    layers run the two directions one after the other.
  }];
  let dependentDialects = [
    "arith::ArithDialect", "linalg::LinalgDialect", "math::MathDialect",
    "scf::SCFDialect", "tensor::TensorDialect"
  ];
}

#endif // SPARQ_PASSES_TD
