// RUN: sparq-opt %s --sparq-detect-compression | FileCheck %s

// Zeros in whole kernels: kernel sparsity. One positive and one negative
// value (and 3/8 zeros): ternary, element-sparse. Four values used eight times each: a 2-bit codebook.
// Trained-looking values: left alone.
// CHECK-LABEL: func @f
// CHECK-DAG: tensor<2x2x2x2xf32, #sparq.encoding<sparsity = <pattern = kernel, format = dense>>>
// CHECK-DAG: tensor<2x4xf32, #sparq.encoding<sparsity = <pattern = element, format = dense>, quant = <ternary, wp = 5.000000e-01, wn = 2.500000e-01>>>
// CHECK-DAG: tensor<4x8xf32, #sparq.encoding<quant = <codebook, bits = 2>>>
// CHECK-DAG: arith.constant dense<{{.*}}> : tensor<2x3xf32>{{$}}
func.func @f(%x: tensor<1x2x3x3xf32>, %v: tensor<1x4xf32>, %u: tensor<1x8xf32>, %t: tensor<1x3xf32>) -> (tensor<1x2x2x2xf32>, tensor<1x2xf32>, tensor<1x4xf32>, tensor<1x2xf32>) {
  %z = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]], [[5.0, 6.0], [7.0, 8.0]]]]> : tensor<2x2x2x2xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x3x3xf32>, tensor<2x2x2x2xf32>) outs(%acc : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %tw = arith.constant dense<[[0.5, -0.25, 0.0, 0.5], [0.0, 0.0, -0.25, 0.5]]> : tensor<2x4xf32>
  %e2 = tensor.empty() : tensor<1x2xf32>
  %a2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y2 = linalg.matmul_transpose_b ins(%v, %tw : tensor<1x4xf32>, tensor<2x4xf32>) outs(%a2 : tensor<1x2xf32>) -> tensor<1x2xf32>
  %cw = arith.constant dense<[[1.5, 2.5, -1.0, 0.25, 1.5, 2.5, -1.0, 0.25], [1.5, 2.5, -1.0, 0.25, 1.5, 2.5, -1.0, 0.25], [1.5, 2.5, -1.0, 0.25, 1.5, 2.5, -1.0, 0.25], [1.5, 2.5, -1.0, 0.25, 1.5, 2.5, -1.0, 0.25]]> : tensor<4x8xf32>
  %e3 = tensor.empty() : tensor<1x4xf32>
  %a3 = linalg.fill ins(%z : f32) outs(%e3 : tensor<1x4xf32>) -> tensor<1x4xf32>
  %y3 = linalg.matmul_transpose_b ins(%u, %cw : tensor<1x8xf32>, tensor<4x8xf32>) outs(%a3 : tensor<1x4xf32>) -> tensor<1x4xf32>
  %dw = arith.constant dense<[[0.11, -0.52, 0.33], [0.74, 0.95, -0.16]]> : tensor<2x3xf32>
  %y4 = linalg.matmul_transpose_b ins(%t, %dw : tensor<1x3xf32>, tensor<2x3xf32>) outs(%a2 : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y, %y2, %y3, %y4 : tensor<1x2x2x2xf32>, tensor<1x2xf32>, tensor<1x4xf32>, tensor<1x2xf32>
}
