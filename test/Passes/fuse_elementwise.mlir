// RUN: sparq-opt %s --pass-pipeline='builtin.module(func.func(sparq-fuse-elementwise))' -split-input-file | FileCheck %s

// The ops a host kernel takes over keep their marker (sparq.requantize,
// sparq.qadd) when the pass folds a splat constant operand into their body,
// and are not fused with their neighbours: the sign flip after the
// requantization stays its own op, as the kernel call absorbs it.
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (0, d1, 0, 0)>
// CHECK-LABEL: func @markers_survive
// CHECK: %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: %[[Q:.*]] = linalg.generic
// CHECK-SAME: ins(%{{.*}} : tensor<1x2x3x3xi32>)
// CHECK-SAME: sparq.requantize = {bounds = array<i64: 0, 255>
// CHECK: arith.mulf %{{.*}}, %[[HALF]]
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[Q]] :
// CHECK: arith.xori
func.func @markers_survive(%acc: tensor<1x2x3x3xi32>) -> tensor<1x2x3x3xi8> {
  %scale = arith.constant dense<0.5> : tensor<1x2x1x1xf32>
  %e = tensor.empty() : tensor<1x2x3x3xi8>
  %q = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"],
                       sparq.requantize = {bounds = array<i64: 0, 255>, shift = array<i32: 0, 0>,
                                           scale = array<f32: 0.5, 0.5>, offset = array<f32: 0.0, 0.0>}}
      ins(%acc, %scale : tensor<1x2x3x3xi32>, tensor<1x2x1x1xf32>) outs(%e : tensor<1x2x3x3xi8>) {
  ^bb0(%a: i32, %s: f32, %o: i8):
    %f = arith.sitofp %a : i32 to f32
    %p = arith.mulf %f, %s : f32
    %i = arith.fptoui %p : f32 to i8
    linalg.yield %i : i8
  } -> tensor<1x2x3x3xi8>
  %e2 = tensor.empty() : tensor<1x2x3x3xi8>
  %flip = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%q : tensor<1x2x3x3xi8>) outs(%e2 : tensor<1x2x3x3xi8>) {
  ^bb0(%x: i8, %o: i8):
    %m = arith.constant -128 : i8
    %r = arith.xori %x, %m : i8
    linalg.yield %r : i8
  } -> tensor<1x2x3x3xi8>
  return %flip : tensor<1x2x3x3xi8>
}
