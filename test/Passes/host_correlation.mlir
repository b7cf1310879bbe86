// RUN: sparq-opt %s --sparq-host-correlation | FileCheck %s

// The op becomes a call of the host kernel on its operands' buffers, a new
// output buffer, the stride and eps.
// CHECK: func.func private @sparq_correlation(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, i64, f32) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @corr
// CHECK-DAG: %[[S:.*]] = bufferization.to_memref %arg0 read_only : memref<1x2x9x9xf32>
// CHECK-DAG: %[[P:.*]] = bufferization.to_memref %arg1 read_only : memref<4x2x2x2xf32>
// CHECK-DAG: %[[O:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x4x4x4xf32>
// CHECK-DAG: %[[STRIDE:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999997E-7 : f32
// CHECK: call @sparq_correlation(%{{.*}}, %{{.*}}, %{{.*}}, %[[STRIDE]], %[[EPS]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[O]] restrict writable : memref<1x4x4x4xf32>
// CHECK: return %[[R]]
func.func @corr(%s: tensor<1x2x9x9xf32>, %p: tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32> {
  %0 = sparq.correlation %s, %p {stride = 2 : i64, eps = 1.0e-6 : f32}
      : (tensor<1x2x9x9xf32>, tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}
