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

def Sparq_GruOp : Sparq_Op<"gru", [Pure]> {
  let summary = "GRU layer (ONNX GRU semantics)";
  let description = [{
    A gated recurrent unit layer over a whole sequence, with the gate order
    and layouts of ONNX `GRU` (layout 0): gates z, r, h; `f = sigmoid`,
    `g = tanh`. `linear_before_reset` applies the reset gate after the
    recurrent projection. All operands are present:

    - `input` [T, B, I], `w` [D, 3H, I], `r` [D, 3H, H], `bias` [D, 6H],
      `initial_h` [D, B, H];
    - results `y` [T, D, B, H] and `y_h` [D, B, H].

    ```mlir
    %y, %yh = sparq.gru forward %x, %w, %r, %b, %h0 {hidden_size = 8 : i64}
        : (tensor<5x2x4xf32>, tensor<1x24x4xf32>, tensor<1x24x8xf32>,
           tensor<1x48xf32>, tensor<1x2x8xf32>)
        -> (tensor<5x1x2x8xf32>, tensor<1x2x8xf32>)
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$input, AnyRankedTensor:$w, AnyRankedTensor:$r,
    AnyRankedTensor:$bias, AnyRankedTensor:$initial_h,
    Sparq_RnnDirectionAttr:$direction, I64Attr:$hidden_size,
    UnitAttr:$linear_before_reset, OptionalAttr<F32Attr>:$clip);
  let results = (outs AnyRankedTensor:$y, AnyRankedTensor:$y_h);
  let assemblyFormat = [{
    $direction $input `,` $w `,` $r `,` $bias `,` $initial_h attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumDirections() {
      return getDirection() == RnnDirection::Bidirectional ? 2 : 1;
    }
  }];
}

def Sparq_RnnActivation : I32EnumAttr<"RnnActivation",
    "activation of a simple recurrent layer", [
  I32EnumAttrCase<"Tanh", 0, "tanh">,
  I32EnumAttrCase<"Relu", 1, "relu">,
  I32EnumAttrCase<"Sigmoid", 2, "sigmoid">
]> {
  let cppNamespace = "::mlir::sparq";
  let genSpecializedAttr = 0;
}
def Sparq_RnnActivationAttr : EnumAttr<Sparq_Dialect, Sparq_RnnActivation,
                                       "activation">;

def Sparq_RnnOp : Sparq_Op<"rnn", [Pure]> {
  let summary = "Simple recurrent layer (ONNX RNN semantics)";
  let description = [{
    `h_t = f(x_t W^T + h_{t-1} R^T + Wb + Rb)` over a whole sequence, with
    ONNX `RNN` layouts (layout 0): `input` [T, B, I], `w` [D, H, I],
    `r` [D, H, H], `bias` [D, 2H], `initial_h` [D, B, H]; results `y`
    [T, D, B, H] and `y_h` [D, B, H]. `activation` is f (one for every
    direction).

    ```mlir
    %y, %yh = sparq.rnn forward %x, %w, %r, %b, %h0
        {hidden_size = 8 : i64, activation = #sparq<activation tanh>}
        : (tensor<5x2x4xf32>, tensor<1x8x4xf32>, tensor<1x8x8xf32>,
           tensor<1x16xf32>, tensor<1x2x8xf32>)
        -> (tensor<5x1x2x8xf32>, tensor<1x2x8xf32>)
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$input, AnyRankedTensor:$w, AnyRankedTensor:$r,
    AnyRankedTensor:$bias, AnyRankedTensor:$initial_h,
    Sparq_RnnDirectionAttr:$direction, I64Attr:$hidden_size,
    Sparq_RnnActivationAttr:$activation, OptionalAttr<F32Attr>:$clip);
  let results = (outs AnyRankedTensor:$y, AnyRankedTensor:$y_h);
  let assemblyFormat = [{
    $direction $input `,` $w `,` $r `,` $bias `,` $initial_h attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumDirections() {
      return getDirection() == RnnDirection::Bidirectional ? 2 : 1;
    }
  }];
}

def Sparq_BevPoolOp : Sparq_Op<"bev_pool", [Pure]> {
  let summary = "BEVFusion's camera-to-BEV pooling over a compile-time plan";
  let description = [{
    Lift-splat pooling without the frustum tensor:

      result[cell, c] = sum over the plan's points k with cell(k) = cell of
                        depth[depth_index[k]] * features[feature_index[k], c]

    `depth` is the flattened depth distribution of every frustum point,
    `features` the context features as [rows, C], one row per pixel. The
    plan is a constant of the op: the points kept (inside the grid) sorted
    by cell, and intervals `interval_start` (one more entry than cells with
    points) with their cells `interval_cell`, increasing. The result has one
    row per BEV cell ([cells, C]), or with `channels_first` one row per
    channel ([C, cells]: what an NCHW consumer reads, with no transpose
    after it); cells without points are 0. Points of a cell are summed
    in the order of the model's scatter-add, so results equal it bit for bit.

    `sparq-fuse-bev-pool` builds it from an exported lift-splat (outer
    product, frustum points, scatter-add by constant cells).

    ```mlir
    %bev = sparq.bev_pool %depth, %feat {depth_index = dense<[0, 3, 1]>
        : tensor<3xi32>, feature_index = dense<[0, 1, 0]> : tensor<3xi32>,
        interval_start = dense<[0, 2, 3]> : tensor<3xi32>,
        interval_cell = dense<[1, 3]> : tensor<2xi32>}
        : (tensor<4xf32>, tensor<2x8xf32>) -> tensor<5x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$depth,
                       RankedTensorOf<[F32]>:$features,
                       ElementsAttr:$depth_index, ElementsAttr:$feature_index,
                       ElementsAttr:$interval_start,
                       ElementsAttr:$interval_cell,
                       UnitAttr:$channels_first);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $depth `,` $features attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumPoints() { return getDepthIndex().getNumElements(); }
    int64_t getNumIntervals() { return getIntervalCell().getNumElements(); }
    int64_t getNumCells() {
      return cast<RankedTensorType>(getType()).getDimSize(
          getChannelsFirst() ? 1 : 0);
    }
    int64_t getNumChannels() {
      return cast<RankedTensorType>(getType()).getDimSize(
          getChannelsFirst() ? 0 : 1);
    }
    /// The plan in runtime/formats/BevPoolPlan.h's byte layout, with the
    /// interval order computed: what the host and CUDA kernels read.
    std::vector<uint8_t> serializePlan();
  }];
}

def Sparq_CorrelationOp : Sparq_Op<"correlation", [Pure]> {
  let summary = "PatchNet's patchwise correlation, normalized by window energy";
  let description = [{
    Every patch of a template correlated with every window of the search
    region, divided by the window's norm:

      result[n, p, y, x] = sum_{c,i,j} patches[p, c, i, j] * w(n, c, i, j)
                           / sqrt(sum_{c,i,j} w(n, c, i, j)^2 + eps)
      w(n, c, i, j)      = search[n, c, y * stride + i, x * stride + j]

    `patches` [P, C, KH, KW] are the template's patches (computed, not
    weights: the template is an input), `search` is [N, C, H, W] and the
    result [N, P, (H - KH) / stride + 1, (W - KW) / stride + 1]. The energy
    of a window is computed once for all P patches.

    `sparq-fuse-correlation` builds it from what PyTorch exports: a Conv
    whose weights are the patches, divided by the square root of a Conv of
    the squared search with a box of ones (plus eps).

    ```mlir
    %r = sparq.correlation %search, %patches {stride = 2 : i64,
        eps = 1.0e-06 : f32}
        : (tensor<1x3x119x119xf32>, tensor<64x3x8x8xf32>)
        -> tensor<1x64x56x56xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$search,
                       RankedTensorOf<[F32]>:$patches,
                       I64Attr:$stride, F32Attr:$eps);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $search `,` $patches attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Multiply-accumulates of the correlation and of the windows' energy.
    int64_t getMacs();
  }];
}

def Sparq_RoiAlignOp : Sparq_Op<"roi_align", [Pure]> {
  let summary = "RoiAlign: each region of interest pooled to a fixed grid";
  let description = [{
    ONNX `RoiAlign`: for region r (`rois` [R, 4] as x1, y1, x2, y2 in input
    coordinates, times `spatial_scale`) of image `batch_indices[r]` of `x`
    [N, C, H, W], the result [R, C, output_height, output_width] holds each
    bin's average (`mode = "avg"`) or maximum (`"max"`) of bilinear samples
    on a `sampling_ratio` x `sampling_ratio` grid per bin (0: ceil of the
    bin's size, per region). `half_pixel` shifts the region by -0.5 pixel
    (ONNX's `coordinate_transformation_mode = "half_pixel"`); without it,
    regions are at least 1 x 1 (`"output_half_pixel"`, opset 10's only
    behaviour). Samples more than a pixel outside the image count as 0;
    "max" takes the largest weighted corner of each sample, as ONNX's
    reference does.

    ```mlir
    %y = sparq.roi_align %x, %rois, %idx {mode = "avg", output_height = 5 : i64,
        output_width = 5 : i64, sampling_ratio = 2 : i64,
        spatial_scale = 1.0 : f32, half_pixel}
        : (tensor<1x1x10x10xf32>, tensor<3x4xf32>, tensor<3xi64>)
        -> tensor<3x1x5x5xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$x, RankedTensorOf<[F32]>:$rois,
                       RankedTensorOf<[I64]>:$batch_indices, StrAttr:$mode,
                       I64Attr:$output_height, I64Attr:$output_width,
                       I64Attr:$sampling_ratio, F32Attr:$spatial_scale,
                       UnitAttr:$half_pixel);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $x `,` $rois `,` $batch_indices attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Sparq_NonZeroOp : Sparq_Op<"nonzero", [Pure]> {
  let summary = "NonZero: coordinates of the true elements, up to a bound";
  let description = [{
    ONNX `NonZero` on a mask: `result` [rank, bound] holds the coordinates
    of the mask's true elements in row-major order in its first `count`
    columns; the rest are zeros. `bound` is the mask's (largest) element
    count. The importer slices the first `count` columns: `count` is a
    run-time dimension the op computes (docs/design.md, "Data-dependent
    sizes").

    ```mlir
    %c, %n = sparq.nonzero %mask : tensor<2x3xi1> -> tensor<2x6xi64>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I1]>:$mask);
  let results = (outs RankedTensorOf<[I64]>:$result, Index:$count);
  let assemblyFormat = [{
    $mask attr-dict `:` type($mask) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Sparq_NonMaxSuppressionOp : Sparq_Op<"non_max_suppression", [Pure]> {
  let summary = "NonMaxSuppression: the boxes kept per batch and class";
  let description = [{
    ONNX `NonMaxSuppression` on `boxes` [B, N, 4] and `scores` [B, C, N]:
    per batch and class, boxes by descending score (ties by index) above
    `score_threshold` (when `has_score_threshold`), each kept unless its IoU
    with a kept box exceeds `iou_threshold`, at most `max_output` per class.
    `max_output`, `iou_threshold` and `score_threshold` are one-element
    tensors read at run time. The first `count` rows of `result` [bound, 3]
    are the kept (batch, class, box) triples in that order; `bound` is
    B * C * min(N, max_output when known), N's bound if N is a run-time
    dimension. `center_point_box` reads boxes as
    (cx, cy, w, h) instead of corners (y1, x1, y2, x2), in either order.

    ```mlir
    %sel, %n = sparq.non_max_suppression %boxes, %scores, %max, %iou, %thr
        {center_point_box = 0 : i64, has_score_threshold}
        : (tensor<1x6x4xf32>, tensor<1x1x6xf32>, tensor<1xi64>, tensor<1xf32>,
           tensor<1xf32>) -> tensor<6x3xi64>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$boxes,
                       RankedTensorOf<[F32]>:$scores,
                       RankedTensorOf<[I64]>:$max_output,
                       RankedTensorOf<[F32]>:$iou_threshold,
                       RankedTensorOf<[F32]>:$score_threshold,
                       I64Attr:$center_point_box,
                       UnitAttr:$has_score_threshold);
  let results = (outs RankedTensorOf<[I64]>:$result, Index:$count);
  let assemblyFormat = [{
    $boxes `,` $scores `,` $max_output `,` $iou_threshold `,` $score_threshold
    attr-dict `:` functional-type(operands, $result)
  }];
  let hasVerifier = 1;
}

def Sparq_UniqueOp : Sparq_Op<"unique", [Pure]> {
  let summary = "Unique: the distinct slices of a tensor along an axis";
  let description = [{
    ONNX `Unique` on `input` viewed as [outer, D, inner]: the distinct slices
    [outer, 1, inner] along the middle axis, sorted ascending
    (lexicographically, as flattened) when `sorted`, else in order of first
    occurrence. The first `count` entries of `unique` [outer, D, inner] (a
    3-D view of ONNX's Y), `indices` [D] (first occurrence) and `counts` [D]
    hold them; `inverse` [D] maps each input slice to its unique one. Without
    an axis, ONNX's Unique is the 1-D case, [1, size, 1].

    ```mlir
    %y, %i, %inv, %c, %n = sparq.unique %x {sorted} : tensor<1x6x1xf32>
        -> tensor<1x6x1xf32>, tensor<6xi64>, tensor<6xi64>, tensor<6xi64>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32, I64]>:$input, UnitAttr:$sorted);
  let results = (outs RankedTensorOf<[F32, I64]>:$unique,
                      RankedTensorOf<[I64]>:$indices,
                      RankedTensorOf<[I64]>:$inverse,
                      RankedTensorOf<[I64]>:$counts, Index:$count);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($unique) `,` type($indices)
    `,` type($inverse) `,` type($counts)
  }];
  let hasVerifier = 1;
}

#endif // SPARQ_OPS_TD
