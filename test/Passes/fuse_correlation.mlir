// RUN: sparq-opt %s --sparq-fuse-correlation --canonicalize | FileCheck %s
// PatchNet's normalized correlation as PyTorch exports it: a Conv whose
// weights are computed (the template's patches), divided by the square root
// of a Conv of the squared search with a box of ones, plus eps.

#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#scalar = affine_map<(d0, d1, d2, d3) -> ()>
#bcast = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>

// CHECK-LABEL: func.func @patchwise
// CHECK-SAME: (%[[S:.*]]: tensor<1x2x9x9xf32>, %[[P:.*]]: tensor<4x2x2x2xf32>)
// CHECK-NEXT: %[[R:.*]] = sparq.correlation %[[S]], %[[P]] {eps = 9.99999997E-7 : f32, sparq.unfused_bytes = {{[0-9]+}} : i64, stride = 2 : i64} : (tensor<1x2x9x9xf32>, tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT: return %[[R]]
func.func @patchwise(%s: tensor<1x2x9x9xf32>, %p: tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<1x2x9x9xf32>
  %sq = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %s : tensor<1x2x9x9xf32>, tensor<1x2x9x9xf32>) outs(%e0 : tensor<1x2x9x9xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x2x9x9xf32>
  %ones = arith.constant dense<1.0> : tensor<1x2x2x2xf32>
  %e1 = tensor.empty() : tensor<1x1x4x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %energy = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%sq, %ones : tensor<1x2x9x9xf32>, tensor<1x2x2x2xf32>) outs(%f1 : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %eps = arith.constant dense<1.0e-6> : tensor<f32>
  %e2 = tensor.empty() : tensor<1x1x4x4xf32>
  %plus = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%energy, %eps : tensor<1x1x4x4xf32>, tensor<f32>) outs(%e2 : tensor<1x1x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.addf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x1x4x4xf32>
  %e3 = tensor.empty() : tensor<1x1x4x4xf32>
  %norm = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%plus : tensor<1x1x4x4xf32>) outs(%e3 : tensor<1x1x4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = math.sqrt %a : f32
    linalg.yield %m : f32
  } -> tensor<1x1x4x4xf32>
  %e4 = tensor.empty() : tensor<1x4x4x4xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %corr = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%s, %p : tensor<1x2x9x9xf32>, tensor<4x2x2x2xf32>) outs(%f4 : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %e5 = tensor.empty() : tensor<1x4x4x4xf32>
  %r = linalg.generic {indexing_maps = [#id, #bcast, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%corr, %norm : tensor<1x4x4x4xf32>, tensor<1x1x4x4xf32>) outs(%e5 : tensor<1x4x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.divf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x4x4xf32>
  return %r : tensor<1x4x4x4xf32>
}

// The energy at another stride than the correlation: not PatchNet's; left.
// CHECK-LABEL: func.func @other_stride
// CHECK-NOT: sparq.correlation
// CHECK: return
func.func @other_stride(%s: tensor<1x2x9x9xf32>, %p: tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<1x2x9x9xf32>
  %sq = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %s : tensor<1x2x9x9xf32>, tensor<1x2x9x9xf32>) outs(%e0 : tensor<1x2x9x9xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x2x9x9xf32>
  %ones = arith.constant dense<1.0> : tensor<1x2x6x6xf32>
  %e1 = tensor.empty() : tensor<1x1x4x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %energy = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%sq, %ones : tensor<1x2x9x9xf32>, tensor<1x2x6x6xf32>) outs(%f1 : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %e3 = tensor.empty() : tensor<1x1x4x4xf32>
  %norm = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%energy : tensor<1x1x4x4xf32>) outs(%e3 : tensor<1x1x4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = math.sqrt %a : f32
    linalg.yield %m : f32
  } -> tensor<1x1x4x4xf32>
  %e4 = tensor.empty() : tensor<1x4x4x4xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %corr = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%s, %p : tensor<1x2x9x9xf32>, tensor<4x2x2x2xf32>) outs(%f4 : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %e5 = tensor.empty() : tensor<1x4x4x4xf32>
  %r = linalg.generic {indexing_maps = [#id, #bcast, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%corr, %norm : tensor<1x4x4x4xf32>, tensor<1x1x4x4xf32>) outs(%e5 : tensor<1x4x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.divf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x4x4xf32>
  return %r : tensor<1x4x4x4xf32>
}
