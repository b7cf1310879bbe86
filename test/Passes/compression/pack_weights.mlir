// RUN: sparq-opt %s --sparq-pack-weights | FileCheck %s
// RUN: sparq-opt %s --sparq-pack-weights --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --sparq-host-library-calls | FileCheck %s --check-prefix=CALLS
// RUN: sparq-opt %s --sparq-pack-weights=kernels=false | FileCheck %s --check-prefix=DECODE

// The weight becomes a byte blob and a placeholder naming it.
// CHECK-DAG: memref.global "private" constant @__sparq_packed_0 : memref<{{[0-9]+}}xi8> = dense<{{.*}}> {alignment = 64 : i64}
// CHECK-DAG: memref.global "private" @__sparq_weight_0 : memref<4x4xf32> {sparq.layer = "fc", sparq.layout = "csr", sparq.packed = @__sparq_packed_0}
// CHECK-LABEL: func @f
// CHECK: %[[G:.*]] = memref.get_global @__sparq_weight_0 : memref<4x4xf32>
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[G]] restrict : memref<4x4xf32>
// CHECK: linalg.matmul_transpose_b ins(%{{.*}}, %[[T]] :

// After bufferization the matmul is a call of the packed kernel on the blob;
// the placeholder is gone.
// CALLS-NOT: @__sparq_weight_0
// CALLS: func.func private @sparq_packed_linear_f32(memref<?xi8, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64)
// CALLS: memref.get_global @__sparq_packed_0
// CALLS: call @sparq_packed_linear_f32
// CALLS-NOT: @__sparq_weight_0

// Without packed kernels the weight decodes back to a plain constant.
// DECODE-NOT: #sparq.encoding
// DECODE: arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 2.000000e+00, 0.000000e+00]{{.*}} : tensor<4x4xf32>
// DECODE-NOT: memref.global
func.func @f(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %w = arith.constant dense<[[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]> : tensor<4x4xf32, #sparq.encoding<sparsity = <pattern = element, format = csr>>>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  %y = linalg.matmul_transpose_b ins(%x, %w : tensor<1x4xf32>, tensor<4x4xf32, #sparq.encoding<sparsity = <pattern = element, format = csr>>>) outs(%acc : tensor<1x4xf32>) -> tensor<1x4xf32> loc("fc")
  return %y : tensor<1x4xf32>
}
