// RUN: sparq-opt %s --sparq-host-bev-pool | FileCheck %s

// The plan becomes bytes in runtime/formats/BevPoolPlan.h's layout: a
// 32-byte header, then 2 points x 2 + 3 intervals... as i32: (32 + 4 * (2 *
// 2 + 3 * 2 + 1)) = 76 bytes; the op a call on the operands' buffers.
// CHECK-DAG: memref.global "private" constant @__sparq_bev_plan_0 : memref<76xi8> = dense<[83, 81, 66, 80, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 2, 0
// CHECK-DAG: func.func private @sparq_bev_pool(memref<?xf32, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @pool
// CHECK-DAG: %[[D:.*]] = bufferization.to_memref %arg0 read_only : memref<4xf32>
// CHECK-DAG: %[[F:.*]] = bufferization.to_memref %arg1 read_only : memref<2x8xf32>
// CHECK-DAG: %[[P:.*]] = memref.get_global @__sparq_bev_plan_0 : memref<76xi8>
// CHECK-DAG: %[[O:.*]] = memref.alloc() {alignment = 64 : i64} : memref<5x8xf32>
// CHECK-DAG: %[[LAST:.*]] = arith.constant 0 : i64
// CHECK: call @sparq_bev_pool({{.*}}, %[[LAST]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[O]] restrict writable : memref<5x8xf32>
// CHECK: return %[[R]]
func.func @pool(%d: tensor<4xf32>, %f: tensor<2x8xf32>) -> tensor<5x8xf32> {
  %0 = sparq.bev_pool %d, %f {depth_index = dense<[3, 0]> : tensor<2xi32>,
      feature_index = dense<[1, 0]> : tensor<2xi32>,
      interval_start = dense<[0, 1, 2]> : tensor<3xi32>,
      interval_cell = dense<[1, 4]> : tensor<2xi32>}
      : (tensor<4xf32>, tensor<2x8xf32>) -> tensor<5x8xf32>
  return %0 : tensor<5x8xf32>
}

// Channels first: the output is [C, cells] and the kernel is told so.
// CHECK-LABEL: func.func @pool_channels_first
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<8x5xf32>
// CHECK-DAG: %[[FIRST:.*]] = arith.constant 1 : i64
// CHECK: call @sparq_bev_pool({{.*}}, %[[FIRST]])
func.func @pool_channels_first(%d: tensor<4xf32>, %f: tensor<2x8xf32>) -> tensor<8x5xf32> {
  %0 = sparq.bev_pool %d, %f {depth_index = dense<[3, 0]> : tensor<2xi32>,
      feature_index = dense<[1, 0]> : tensor<2xi32>,
      interval_start = dense<[0, 1, 2]> : tensor<3xi32>,
      interval_cell = dense<[1, 4]> : tensor<2xi32>, channels_first}
      : (tensor<4xf32>, tensor<2x8xf32>) -> tensor<8x5xf32>
  return %0 : tensor<8x5xf32>
}
