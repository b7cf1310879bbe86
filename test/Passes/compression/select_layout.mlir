// RUN: sparq-opt %s -split-input-file --sparq-select-layout | FileCheck %s

// 1 non-zero in 16: CSR (4*5 + 2 + 4 = 26 bytes) beats dense (64).
// CHECK-LABEL: func @sparse
// CHECK: arith.constant {sparq.cost = {bytes = 26 : i64, dense_bytes = 64 : i64, refs = 7 : i64}} {{.*}} : tensor<4x4xf32, #sparq.encoding<sparsity = <pattern = element, format = csr>>>
func.func @sparse(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %w = arith.constant dense<[[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]> : tensor<4x4xf32, #sparq.encoding<sparsity = <pattern = element, format = dense>>>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  %y = linalg.matmul_transpose_b ins(%x, %w : tensor<1x4xf32>, tensor<4x4xf32, #sparq.encoding<sparsity = <pattern = element, format = dense>>>) outs(%acc : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}

// -----

// 3 of 4 non-zero: sparse storage does not pay, the weight stays dense.
// CHECK-LABEL: func @dense
// CHECK: arith.constant {sparq.cost = {bytes = 16 : i64, dense_bytes = 16 : i64, refs = 4 : i64}} {{.*}} : tensor<2x2xf32, #sparq.encoding<sparsity = <pattern = element, format = dense>>>
func.func @dense(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [3.0, 4.0]]> : tensor<2x2xf32, #sparq.encoding<sparsity = <pattern = element, format = dense>>>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul_transpose_b ins(%x, %w : tensor<1x2xf32>, tensor<2x2xf32, #sparq.encoding<sparsity = <pattern = element, format = dense>>>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// Whole 2x2 blocks: BCSR stores one index per block (3*4 + 2 + 16 = 30
// bytes), CSR one per weight (4*5 + 4*2 + 16 = 44).
// CHECK-LABEL: func @blocks
// CHECK: sparq.cost = {bytes = 30 : i64, dense_bytes = 64 : i64, refs = 8 : i64}{{.*}}#sparq.encoding<sparsity = <pattern = block[2, 2], format = bcsr>>
func.func @blocks(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %w = arith.constant dense<[[0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]> : tensor<4x4xf32, #sparq.encoding<sparsity = <pattern = block[2, 2], format = dense>>>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  %y = linalg.matmul_transpose_b ins(%x, %w : tensor<1x4xf32>, tensor<4x4xf32, #sparq.encoding<sparsity = <pattern = block[2, 2], format = dense>>>) outs(%acc : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}
