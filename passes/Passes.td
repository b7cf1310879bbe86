//===- Passes.td - sparq passes ----------------------------*- tablegen -*-===//

#ifndef SPARQ_PASSES_TD
#define SPARQ_PASSES_TD

include "mlir/Pass/PassBase.td"

def LowerRnn : Pass<"sparq-lower-rnn", "func::FuncOp"> {
  let summary = "Lower sparq.lstm, sparq.gru and sparq.rnn to linalg and scf";
  let description = [{
    Expands each recurrent layer (`sparq.lstm`, `sparq.gru`, `sparq.rnn`)
    into upstream ops: the input projection of all
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

def HostLibraryCalls : Pass<"sparq-host-library-calls", "ModuleOp"> {
  let summary = "Call library kernels for dense f32 GEMM and convolution";
  let description = [{
    On bufferized IR, replaces f32 `linalg.matmul`, `linalg.batch_matmul`,
    `linalg.conv_2d_nchw_fchw` and `linalg.depthwise_conv_2d_nchw_chw` by
    calls to the host kernels of `runtime/kernels` (OpenBLAS sgemm, im2col
    convolution, a vectorizable depthwise loop nest), where they beat the
    loops MLIR generates. The kernels take memref descriptors through the C
    interface. A convolution call also absorbs, when the pattern is plain,
    the zero padding of its input (read as if padded), the zero init of its
    output (the kernel overwrites) and a clamp right after it (ReLU, ReLU6):
    each would otherwise be a full pass over an activation tensor.
    It also turns `memref.copy` into `linalg.copy`, so that strided copies
    become loops LLVM vectorizes instead of calls to the generic runtime copy.
  }];
  let dependentDialects = [
    "arith::ArithDialect", "func::FuncDialect", "linalg::LinalgDialect",
    "memref::MemRefDialect"
  ];
}

#endif // SPARQ_PASSES_TD
