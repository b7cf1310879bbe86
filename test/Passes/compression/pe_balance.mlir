// RUN: sparq-opt %s --sparq-pe-balance="pes=2 ratio=0.5" | FileCheck %s

// Rows 0 and 2 go to PE 0, rows 1 and 3 to PE 1. Plain magnitude pruning
// to 50% would keep the 8 large weights of PE 0 and none of PE 1 (balance
// 0.5); balanced pruning keeps the 4 largest of each PE (balance 1).
// CHECK: arith.constant {sparq.pe_balance = {after = 1.000000e+00 : f64, before = 5.000000e-01 : f64, nonzeros = array<i64: 4, 4>, nonzeros_before = array<i64: 8, 0>, pes = 2 : i64}}
// CHECK-SAME: dense<{{\[}}[9.000000e+00, 9.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+00, 2.000000e+00, 0.000000e+00, 0.000000e+00], [9.000000e+00, 9.000000e+00, 0.000000e+00, 0.000000e+00], [3.000000e+00, 4.000000e+00, 0.000000e+00, 0.000000e+00]]>
// CHECK-SAME: tensor<4x4xf32, #sparq.encoding<sparsity = <pattern = element, format = interleaved_csc, pes = 2, index_bits = 4>>>
func.func @f(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %w = arith.constant dense<[[9.0, 9.0, 8.0, 8.0], [1.0, 2.0, 0.5, 0.25], [9.0, 9.0, 8.0, 8.0], [3.0, 4.0, 0.5, 0.25]]> : tensor<4x4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  %y = linalg.matmul_transpose_b ins(%x, %w : tensor<1x4xf32>, tensor<4x4xf32>) outs(%acc : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}
