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

def FuseElementwise : Pass<"sparq-fuse-elementwise", "func::FuncOp"> {
  let summary = "Fuse elementwise linalg ops and reshapes, keeping named ops";
  let description = [{
    The patterns of upstream's linalg-fuse-elementwise-ops (elementwise
    producer-consumer fusion, reshapes folded by expansion, constant
    folding), except that named ops such as matmuls and convolutions are
    never rewritten into linalg.generic: they stay recognizable for the
    library and packed kernels.
  }];
  let dependentDialects = [
    "affine::AffineDialect", "linalg::LinalgDialect", "tensor::TensorDialect"
  ];
}

def FuseBevPool : Pass<"sparq-fuse-bev-pool", "func::FuncOp"> {
  let summary = "Fuse an exported lift-splat view transform into sparq.bev_pool";
  let description = [{
    Finds BEVFusion's camera-to-BEV pooling as a model exports it: the depth
    distribution times the context features (an outer product), data
    movement that flattens the frustum into points (transposes, reshapes, a
    gather of the points inside the grid) and a scatter-add of the points
    into a zero BEV grid by constant cells (ScatterElements or ScatterND with
    reduction add, imported as an scf.for). Every point's cell, depth
    probability and feature row are evaluated here, the points sorted by
    cell and cut into intervals, and the chain replaced by one
    `sparq.bev_pool` that never builds the frustum. The op records the bytes
    of the tensors the chain computed (`sparq.unfused_bytes`) and of its plan
    (`sparq.plan_bytes`) for `sparqc report`. A pattern whose indices are not
    compile-time constants is left as it is.
  }];
  let dependentDialects = [
    "linalg::LinalgDialect", "tensor::TensorDialect",
    "mlir::sparq::SparqDialect"
  ];
}

def FuseCorrelation : Pass<"sparq-fuse-correlation", "func::FuncOp"> {
  let summary = "Fuse PatchNet's exported patchwise correlation into sparq.correlation";
  let description = [{
    Finds a division of a convolution whose weights are computed (the
    template's patches) by the square root of a convolution of the squared
    input with a box of ones at the same stride (plus an eps), broadcast
    over the output channels: PatchNet's energy-normalized patchwise
    correlation as PyTorch exports it. The chain becomes one
    `sparq.correlation` of the search region and the patches, which records
    the bytes of the tensors the chain computed (`sparq.unfused_bytes`).
  }];
  let dependentDialects = [
    "linalg::LinalgDialect", "mlir::sparq::SparqDialect"
  ];
}

def HostDataDependent : Pass<"sparq-host-data-dependent", "ModuleOp"> {
  let summary = "Lower ops with data-dependent sizes to host kernel calls";
  let description = [{
    Before bufferization: `sparq.nonzero`, `sparq.non_max_suppression` and
    `sparq.unique` become calls of their kernels
    (runtime/kernels/DataDependent.h) on new buffers at the ops' bounds; the
    kernels' return value is the op's `count`.
  }];
  let dependentDialects = [
    "arith::ArithDialect", "bufferization::BufferizationDialect",
    "func::FuncDialect", "memref::MemRefDialect", "tensor::TensorDialect"
  ];
}

def HostRoiAlign : Pass<"sparq-host-roi-align", "ModuleOp"> {
  let summary = "Lower sparq.roi_align to a call of the host kernel";
  let description = [{
    Before bufferization: the op becomes a call of `sparq_roi_align`
    (runtime/kernels/RoiAlign.h) on the buffers of the features, the
    regions and the batch indices, a new output buffer and the attributes.
  }];
  let dependentDialects = [
    "bufferization::BufferizationDialect", "func::FuncDialect",
    "memref::MemRefDialect"
  ];
}

def HostCorrelation : Pass<"sparq-host-correlation", "ModuleOp"> {
  let summary = "Lower sparq.correlation to a call of the host kernel";
  let description = [{
    Before bufferization: the op becomes a call of `sparq_correlation`
    (runtime/kernels/Correlation.h) on the buffers of the search region and
    the patches, a new output buffer, the stride and eps.
  }];
  let dependentDialects = [
    "bufferization::BufferizationDialect", "func::FuncDialect",
    "memref::MemRefDialect"
  ];
}

def HostBevPool : Pass<"sparq-host-bev-pool", "ModuleOp"> {
  let summary = "Lower sparq.bev_pool to a call of the host kernel";
  let description = [{
    Before bufferization: the op's plan becomes a constant byte global in
    the layout of runtime/formats/BevPoolPlan.h, and the op a call of
    `sparq_bev_pool` (runtime/kernels/BevPool.h) on the buffers of its
    operands, a new output buffer and whether it is channels-first.
  }];
  let dependentDialects = [
    "bufferization::BufferizationDialect", "func::FuncDialect",
    "memref::MemRefDialect"
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

//===----------------------------------------------------------------------===//
// Compression (graph IR). Weights are f32 constants feeding
// linalg.conv_2d_nchw_fchw or linalg.matmul_transpose_b; each pass rewrites
// their values and the #sparq.encoding of their type.
//===----------------------------------------------------------------------===//

def DetectCompression : Pass<"sparq-detect-compression", "ModuleOp"> {
  let summary = "Encode weights that are already sparse, ternary or few-valued";
  let description = [{
    Finds weights pruned or quantized while training and records what they
    are, losslessly: the coarsest sparsity granularity whose all-zero groups
    hold every zero (filter, channel, kernel, vector, block, N:M, else
    element) when at least `min-sparsity` of the weights are zero; ternary
    when the non-zeros take one positive and one negative value; a codebook
    of the fewest bits when they take at most 256 values, each used four
    times on average. Values are not changed. sparq-select-layout then picks the storage.
  }];
  let dependentDialects = ["mlir::sparq::SparqDialect"];
  let options = [
    Option<"minSparsity", "min-sparsity", "double", /*default=*/"0.1",
           "Fraction of zeros from which a weight counts as sparse">
  ];
}

def Prune : Pass<"sparq-prune", "ModuleOp"> {
  let summary = "Magnitude pruning at a granularity (DSD)";
  let description = [{
    Per layer, removes the `ratio` fraction of weight groups with the
    smallest norm: `element` (DSD: sort |w|, threshold at the ratio),
    `vector` (a row of a kernel), `kernel`, `filter`, `channel`,
    `blockRxC` of the weight matrix, or `N:M` (the N largest of every M
    inputs; the ratio is implied). The encoding records the pattern.
  }];
  let dependentDialects = ["mlir::sparq::SparqDialect"];
  let options = [
    Option<"ratio", "ratio", "double", /*default=*/"0.5",
           "Fraction of groups removed">,
    Option<"granularity", "granularity", "std::string",
           /*default=*/"\"element\"",
           "element, vector, kernel, filter, channel, blockRxC or N:M">,
    Option<"norm", "norm", "std::string", /*default=*/"\"l1\"",
           "Group score: l1, l2 or max">,
    Option<"layers", "layers", "std::string", /*default=*/"\"\"",
           "Comma-separated layer-name patterns ('*' wildcards); empty: all">,
    Option<"skipFirst", "skip-first", "bool", /*default=*/"false",
           "Leave the first weight layer alone">,
    Option<"skipLast", "skip-last", "bool", /*default=*/"false",
           "Leave the last weight layer alone">
  ];
}

def SelectLayout : Pass<"sparq-select-layout", "ModuleOp"> {
  let summary = "Choose each compressed weight's storage with a cost model";
  let description = [{
    For every weight with a sparsity part, packs it in each candidate
    format (dense, CSR, BCSR with the pruning block, N:M for an N:M
    pattern; interleaved CSC stays as sparq-pe-balance chose it) and keeps
    the smallest in bytes, index bits included. Sparse storage must save at
    least `min-saving` of the dense bytes, else the weight stays dense; ties
    go to fewer memory references (one per stored value plus one per index,
    as in the granularity-of-sparsity cost model). The choice is the
    encoding's format; the cost is the `sparq.cost` attribute of the
    constant: packed bytes, dense f32 bytes, memory references.
  }];
  let dependentDialects = ["mlir::sparq::SparqDialect"];
  let options = [
    Option<"minSaving", "min-saving", "double", /*default=*/"0.2",
           "Fraction of the dense bytes sparse storage must save">
  ];
}

def Ternarize : Pass<"sparq-ternarize", "ModuleOp"> {
  let summary = "Trained ternary quantization (TTQ), packed at 2 bits";
  let description = [{
    delta = threshold * max|w|; w > delta becomes +Wp, w < -delta becomes
    -Wn, the rest 0. A weight that is already ternary keeps its Wp/Wn;
    otherwise they are the mean magnitude of each side. The first and last
    layers stay fp32 unless asked (TTQ keeps them full precision).
  }];
  let dependentDialects = ["mlir::sparq::SparqDialect"];
  let options = [
    Option<"threshold", "threshold", "double", /*default=*/"0.05",
           "t in delta = t * max|w|">,
    Option<"perChannel", "per-channel", "bool", /*default=*/"false",
           "Wp/Wn per output channel">,
    Option<"layers", "layers", "std::string", /*default=*/"\"\"",
           "Comma-separated layer-name patterns ('*' wildcards); empty: all">,
    Option<"skipFirst", "skip-first", "bool", /*default=*/"true",
           "Leave the first weight layer alone">,
    Option<"skipLast", "skip-last", "bool", /*default=*/"true",
           "Leave the last weight layer alone">
  ];
}

def Quantize : Pass<"sparq-quantize", "ModuleOp"> {
  let summary = "Weight-only integer quantization (AWQ-style groups)";
  let description = [{
    MatMul/Gemm weights get `bits`-bit integers with a scale (and, unless
    `symmetric`, a zero point) per group of `group` inputs (AWQ: scale =
    (max - min) / (2^N - 1), zero = clamp(-round(min / scale), 0,
    2^N - 1)); conv weights get `conv-bits` per output channel (0 leaves
    them alone). The constant keeps the float weights; packing quantizes,
    so decode(pack(w)) is the weight the compiled model uses.
  }];
  let dependentDialects = ["mlir::sparq::SparqDialect"];
  let options = [
    Option<"bits", "bits", "unsigned", /*default=*/"4",
           "Bits of MatMul/Gemm weights">,
    Option<"group", "group", "int64_t", /*default=*/"128",
           "Inputs per scale (0: one per output channel)">,
    Option<"symmetric", "symmetric", "bool", /*default=*/"false",
           "No zero points">,
    Option<"convBits", "conv-bits", "unsigned", /*default=*/"8",
           "Bits of conv weights, per output channel (0: leave fp32)">,
    Option<"layers", "layers", "std::string", /*default=*/"\"\"",
           "Comma-separated layer-name patterns ('*' wildcards); empty: all">,
    Option<"skipFirst", "skip-first", "bool", /*default=*/"false",
           "Leave the first weight layer alone">,
    Option<"skipLast", "skip-last", "bool", /*default=*/"false",
           "Leave the last weight layer alone">
  ];
}

def QuantizeActivations : Pass<"sparq-quantize-activations", "ModuleOp"> {
  let summary = "int8 activations for the matrix-vector products on "
                "quantized MatMul/Gemm weights (W2A8, W4A8)";
  let description = [{
    Sets `act_bits = 8` on the encoding of each MatMul/Gemm weight stored
    as dense ternary, int4 (groups a multiple of 8) or 4-bit codebook
    codes; others are left alone with a warning, conv weights silently
    (they never run as matrix-vector products). Where such a weight meets
    a single activation row (batch 1, a decoder step), the product
    quantizes x to int8 per block of 128 columns (scale max|x| / 127; for
    ternary and codebooks the tables of x's products are what is quantized)
    and sums in int32: on AVX-512 VNNI about twice the f32 lookups' speed,
    for a rounding error of half a step per block and slot. Products with
    more rows stay f32. Run it last: it needs the final storage.
  }];
  let dependentDialects = ["mlir::sparq::SparqDialect"];
  let options = [
    Option<"bits", "bits", "unsigned", /*default=*/"8",
           "Bits of the activations (8)">,
    Option<"layers", "layers", "std::string", /*default=*/"\"\"",
           "Comma-separated layer-name patterns ('*' wildcards); empty: all">
  ];
}

def WeightShare : Pass<"sparq-weight-share", "ModuleOp"> {
  let summary = "k-means weight sharing: a 2^bits-entry codebook per layer";
  let description = [{
    Deep Compression: 1-D k-means over each layer's weights (linear
    initialization), every weight replaced by its centroid. The zeros of a
    sparse weight stay zero and take one codebook entry.
  }];
  let dependentDialects = ["mlir::sparq::SparqDialect"];
  let options = [
    Option<"bits", "bits", "unsigned", /*default=*/"4", "Bits per index">,
    Option<"layers", "layers", "std::string", /*default=*/"\"\"",
           "Comma-separated layer-name patterns ('*' wildcards); empty: all">,
    Option<"skipFirst", "skip-first", "bool", /*default=*/"false",
           "Leave the first weight layer alone">,
    Option<"skipLast", "skip-last", "bool", /*default=*/"false",
           "Leave the last weight layer alone">
  ];
}

def PeBalance : Pass<"sparq-pe-balance", "ModuleOp"> {
  let summary = "ESE load-balance-aware pruning into interleaved CSC";
  let description = [{
    Rows of each MatMul/Gemm/LSTM weight are interleaved over `pes`
    processing elements (row i to PE i mod P); each PE's sub-matrix is
    pruned by magnitude to the same density, so every PE has the same work,
    and the weight is stored as interleaved CSC with an `index-bits`
    relative index. The constant's `sparq.pe_balance` attribute holds the
    per-PE non-zeros and the balance efficiency (mean/max) that plain
    magnitude pruning to the same ratio would give ("before") and the
    balanced one ("after"). With ratio 0 an already sparse weight is only
    re-encoded.
  }];
  let dependentDialects = ["mlir::sparq::SparqDialect"];
  let options = [
    Option<"pes", "pes", "unsigned", /*default=*/"32",
           "Processing elements">,
    Option<"ratio", "ratio", "double", /*default=*/"0.9",
           "Fraction of weights removed">,
    Option<"indexBits", "index-bits", "unsigned", /*default=*/"4",
           "Bits of the relative index">,
    Option<"layers", "layers", "std::string", /*default=*/"\"\"",
           "Comma-separated layer-name patterns ('*' wildcards); empty: all">,
    Option<"skipFirst", "skip-first", "bool", /*default=*/"false",
           "Leave the first weight layer alone">,
    Option<"skipLast", "skip-last", "bool", /*default=*/"false",
           "Leave the last weight layer alone">
  ];
}

//===----------------------------------------------------------------------===//
// Target preparation
//===----------------------------------------------------------------------===//

def PackWeights : Pass<"sparq-pack-weights", "ModuleOp"> {
  let summary = "Pack encoded weights into byte blobs for packed kernels";
  let description = [{
    Runs before bufferization. Each weight with a `#sparq.encoding` is
    packed by runtime/formats into a `memref.global` of bytes. Its convs
    and matmuls then read a placeholder global (no data) that names the
    blob in its `sparq.packed` attribute; sparq-host-library-calls turns
    them into calls of the packed kernels. Other uses, and every use when
    `kernels` is false, get the decoded dense weight (a warning says so).
  }];
  let options = [
    Option<"kernels", "kernels", "bool", /*default=*/"true",
           "Use packed kernels (false: decode every weight to dense)">
  ];
  let dependentDialects = [
    "arith::ArithDialect", "bufferization::BufferizationDialect",
    "memref::MemRefDialect"
  ];
}

def ExternalizeWeights : Pass<"sparq-externalize-weights", "ModuleOp"> {
  let summary = "Move large constant globals out of the code into a weights file";
  let description = [{
    On a module in the LLVM dialect (the end of the host lowering), takes
    every constant `llvm.mlir.global` of at least `min-bytes` bytes whose
    value is a dense integer or float array (dense and packed weights
    alike), appends its bytes to the weights blob (`runtime/io/WeightsFile.h`,
    64-byte aligned) and erases it. Each `llvm.mlir.addressof` of it becomes
    a load of the module's `__sparq_weights` pointer plus the constant's
    offset; the module defines `__sparq_weights` (null until the loader
    sets it to the mapped file's payload) and the payload's size and digest
    as `__sparq_weights_size` and `__sparq_weights_digest`, which the loader
    checks against the file. LLVM then never sees the weight bytes: compile
    time and memory stop growing with them, and the object holds code only.
    With `file`, the blob is written there (the C++ API keeps it in memory
    instead and hands it to the JIT or to `sparqc compile`).
  }];
  let options = [
    Option<"file", "file", "std::string", /*default=*/"\"\"",
           "Write the weights file here">,
    Option<"minBytes", "min-bytes", "int64_t", /*default=*/"256",
           "Constants smaller than this stay in the code">
  ];
  let dependentDialects = ["LLVM::LLVMDialect"];
}

#endif // SPARQ_PASSES_TD
