//===- SparqOps.td - sparq domain ops ----------------------*- tablegen -*-===//

#ifndef SPARQ_OPS_TD
#define SPARQ_OPS_TD

include "dialects/SparqBase.td"
include "dialects/SparqAttrs.td"
include "mlir/IR/EnumAttr.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Sparq_RnnDirection : I32EnumAttr<"RnnDirection",
    "direction in which a recurrent op walks the sequence", [
  I32EnumAttrCase<"Forward", 0, "forward">,
  I32EnumAttrCase<"Reverse", 1, "reverse">,
  I32EnumAttrCase<"Bidirectional", 2, "bidirectional">
]> {
  let cppNamespace = "::mlir::sparq";
  let genSpecializedAttr = 0;
}
def Sparq_RnnDirectionAttr : EnumAttr<Sparq_Dialect, Sparq_RnnDirection,
                                      "direction">;

def Sparq_LstmOp : Sparq_Op<"lstm", [Pure]> {
  let summary = "LSTM layer with peepholes (ONNX LSTM semantics)";
  let description = [{
    A long short-term memory layer over a whole sequence, with the gate order,
    weight layout and outputs of ONNX `LSTM` (layout 0): gates i, o, f, c;
    `f(x) = sigmoid`, `g = h = tanh`. Every operand is present (the importer
    materializes zeros for absent ONNX inputs) so the op has one shape:

    - `input` [T, B, I], `w` [D, 4H, I], `r` [D, 4H, H], `bias` [D, 8H]
      (Wb then Rb), `initial_h`/`initial_c` [D, B, H], `peepholes` [D, 3H]
      (i, o, f), where D is 2 for `bidirectional`, else 1;
    - results `y` [T, D, B, H], `y_h` and `y_c` [D, B, H].

    `clip`, when present, clamps the gate pre-activations to [-clip, clip].
    It is the op the ESE speech engine accelerates; its weights may carry
    compression encodings.

    ```mlir
    %y, %yh, %yc = sparq.lstm forward %x, %w, %r, %b, %h0, %c0, %p
        {hidden_size = 32 : i64}
        : (tensor<5x2x16xf32>, tensor<1x128x16xf32>, tensor<1x128x32xf32>,
           tensor<1x256xf32>, tensor<1x2x32xf32>, tensor<1x2x32xf32>,
           tensor<1x96xf32>)
        -> (tensor<5x1x2x32xf32>, tensor<1x2x32xf32>, tensor<1x2x32xf32>)
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$input, AnyRankedTensor:$w, AnyRankedTensor:$r,
    AnyRankedTensor:$bias, AnyRankedTensor:$initial_h,
    AnyRankedTensor:$initial_c, AnyRankedTensor:$peepholes,
    Sparq_RnnDirectionAttr:$direction, I64Attr:$hidden_size,
    OptionalAttr<F32Attr>:$clip);
  let results = (outs AnyRankedTensor:$y, AnyRankedTensor:$y_h,
                      AnyRankedTensor:$y_c);
  let assemblyFormat = [{
    $direction $input `,` $w `,` $r `,` $bias `,` $initial_h `,` $initial_c
    `,` $peepholes attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumDirections() {
      return getDirection() == RnnDirection::Bidirectional ? 2 : 1;
    }
  }];
}

#endif // SPARQ_OPS_TD
