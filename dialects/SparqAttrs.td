//===- SparqAttrs.td - sparq compression encodings ---------*- tablegen -*-===//

#ifndef SPARQ_ATTRS_TD
#define SPARQ_ATTRS_TD

include "dialects/SparqBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/TensorEncoding.td"

def Sparq_SparsityPattern : I32EnumAttr<"SparsityPattern",
    "granularity at which weights are pruned", [
  I32EnumAttrCase<"Element", 0, "element">,
  I32EnumAttrCase<"Vector", 1, "vector">,
  I32EnumAttrCase<"Kernel", 2, "kernel">,
  I32EnumAttrCase<"Filter", 3, "filter">,
  I32EnumAttrCase<"Channel", 4, "channel">,
  I32EnumAttrCase<"Block", 5, "block">,
  I32EnumAttrCase<"NM", 6, "nm">
]> {
  let cppNamespace = "::mlir::sparq";
  let genSpecializedAttr = 0;
}

def Sparq_StorageFormat : I32EnumAttr<"StorageFormat",
    "how the non-zeros of a sparse weight are stored", [
  I32EnumAttrCase<"Dense", 0, "dense">,
  I32EnumAttrCase<"CSR", 1, "csr">,
  I32EnumAttrCase<"CSC", 2, "csc">,
  I32EnumAttrCase<"BCSR", 3, "bcsr">,
  I32EnumAttrCase<"NM", 4, "nm">,
  I32EnumAttrCase<"InterleavedCSC", 5, "interleaved_csc">
]> {
  let cppNamespace = "::mlir::sparq";
  let genSpecializedAttr = 0;
}

def Sparq_QuantKind : I32EnumAttr<"QuantKind",
    "how the values of a weight are quantized", [
  I32EnumAttrCase<"Ternary", 0, "ternary">,
  I32EnumAttrCase<"Int", 1, "int">,
  I32EnumAttrCase<"Codebook", 2, "codebook">,
  I32EnumAttrCase<"Fixed", 3, "fixed">
]> {
  let cppNamespace = "::mlir::sparq";
  let genSpecializedAttr = 0;
}

class Sparq_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Sparq_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Sparq_SparsityAttr : Sparq_Attr<"Sparsity", "sparsity"> {
  let summary = "Sparsity part of a compression encoding";
  let description = [{
    Says at which granularity a weight is sparse and how its non-zeros are
    stored. Conv weights are `[K, C, R, S]`; every other weight is viewed as a
    2-D matrix `[rows, prod(rest)]`.

    Patterns: `element` (single weights), `vector` (a row of a kernel, along
    S), `kernel` (a whole R x S kernel), `filter` (a whole C x R x S filter),
    `channel` (an input channel across all filters), `block[R, C]` (an R x C
    block of the 2-D view), `nm[N, M]` (at most N non-zeros in every M
    consecutive weights along the input dimension).

    Formats: `dense`, `csr`, `csc`, `bcsr` (blocks are the pattern's
    groups: `block[R, C]`, or the 1 x S, 1 x R*S or 1 x C*R*S run of the
    2-D view a vector, kernel or filter occupies), `nm`
    (needs an N:M pattern), and `interleaved_csc` with `pes` processing
    elements and an `index_bits`-bit relative index (the EIE/ESE layout:
    row i belongs to PE i mod P).

    ```mlir
    #sparq.sparsity<pattern = kernel, format = csr>
    #sparq.sparsity<pattern = block[4, 4], format = bcsr>
    #sparq.sparsity<pattern = nm[2, 4], format = nm>
    #sparq.sparsity<pattern = element, format = interleaved_csc, pes = 32, index_bits = 4>
    ```
  }];
  let parameters = (ins
    "SparsityPattern":$pattern,
    ArrayRefParameter<"int64_t", "block shape [R, C] or [N, M]">:$group,
    "StorageFormat":$format,
    "unsigned":$pes,
    "unsigned":$indexBits
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Sparq_QuantAttr : Sparq_Attr<"Quant", "quant"> {
  let summary = "Quantization part of a compression encoding";
  let description = [{
    Says how the (non-zero) values of a weight are represented.

    - `ternary`: 2-bit codes for {-Wn, 0, +Wp} (TTQ). `wp`/`wn` are the
      per-layer scales; `per_channel` says they are stored per output
      channel beside the codes instead.
    - `int`: `bits`-bit integers, weight-only, with a scale per group of
      `group` weights along the input dimension (0: one group per output
      channel); `zero_points` makes it asymmetric (AWQ-style).
    - `codebook`: `bits`-bit indices into a table of 2^bits shared values
      (k-means weight sharing).
    - `fixed`: fixed point Qm.n with `int_bits` = m and `frac_bits` = n
      (plus a sign bit).

    ```mlir
    #sparq.quant<ternary, wp = 5.000000e-01, wn = 2.500000e-01>
    #sparq.quant<int, bits = 4, group = 128, zero_points>
    #sparq.quant<codebook, bits = 4>
    #sparq.quant<fixed, int_bits = 3, frac_bits = 8>
    ```
  }];
  let parameters = (ins
    "QuantKind":$kind,
    "unsigned":$bits,
    "int64_t":$groupSize,
    "bool":$zeroPoints,
    "bool":$perChannel,
    APFloatParameter<"positive scale, TTQ ternary only">:$wp,
    APFloatParameter<"negative scale (stored positive), TTQ ternary only">:$wn,
    "unsigned":$intBits,
    "unsigned":$fracBits
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of bits stored per (non-zero) value.
    unsigned getValueBits() const;
  }];
}

def Sparq_EncodingAttr : Sparq_Attr<"Encoding", "encoding",
    [DeclareAttrInterfaceMethods<VerifiableTensorEncoding>]> {
  let summary = "Compression encoding of a weight tensor";
  let description = [{
    Attached to a weight's `tensor` type as its encoding. Either part may be
    absent: a pruned fp32 weight has only `sparsity`, a ternary dense one only
    `quant`. `act_bits = 8` (sparq-quantize-activations) makes the
    matrix-vector products on the weight quantize their activations to int8
    per block of 128 columns (W2A8, W4A8): dense ternary, int4 and 4-bit
    codebook weights only.

    ```mlir
    tensor<64x64x3x3xf32, #sparq.encoding<
        sparsity = <pattern = kernel, format = csr>,
        quant = <ternary, wp = 5.000000e-01, wn = 2.500000e-01>>>
    tensor<512x512xf32, #sparq.encoding<
        quant = <int, bits = 4, group = 128, zero_points>, act_bits = 8>>
    ```
  }];
  let parameters = (ins
    OptionalParameter<"SparsityAttr">:$sparsity,
    OptionalParameter<"QuantAttr">:$quant,
    DefaultValuedParameter<"unsigned", "0",
        "activation bits of its matrix-vector products (0: f32)">:$act_bits
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Whether weights stored so can take int8 activations (act_bits = 8).
    static bool supportsInt8Activations(SparsityAttr sparsity,
                                        QuantAttr quant);
  }];
}

#endif // SPARQ_ATTRS_TD
