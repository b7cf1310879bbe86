// RUN: sparq-opt %s --sparq-host-library-calls | FileCheck %s

// CHECK-DAG: func.func private @sparq_matmul_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
// CHECK-DAG: func.func private @sparq_conv2d_nchw_f32({{.*}}, i64, i64, i64, i64) attributes {llvm.emit_c_interface}
// CHECK-DAG: func.func private @sparq_depthwise_conv2d_nchw_f32(

// CHECK-LABEL: func @gemm
// CHECK: memref.cast %{{.*}} : memref<4x8xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
// CHECK: call @sparq_matmul_f32(
// CHECK-NOT: linalg.matmul
func.func @gemm(%a: memref<4x8xf32>, %b: memref<8x16xf32>, %c: memref<4x16xf32>) {
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x16xf32>) outs(%c : memref<4x16xf32>)
  return
}

// Strides and dilations travel as i64 arguments (sh, sw, dh, dw).
// CHECK-LABEL: func @conv
// CHECK: call @sparq_conv2d_nchw_f32(%{{.*}}, %{{.*}}, %{{.*}}, %c2_i64, %c2_i64_{{[0-9]+}}, %c1_i64, %c1_i64_{{[0-9]+}})
func.func @conv(%x: memref<1x3x9x9xf32>, %w: memref<8x3x3x3xf32>, %y: memref<1x8x4x4xf32>) {
  linalg.conv_2d_nchw_fchw {strides = dense<2> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x3x9x9xf32>, memref<8x3x3x3xf32>) outs(%y : memref<1x8x4x4xf32>)
  return
}

// CHECK-LABEL: func @depthwise
// CHECK: call @sparq_depthwise_conv2d_nchw_f32(
func.func @depthwise(%x: memref<1x8x6x6xf32>, %w: memref<8x3x3xf32>, %y: memref<1x8x4x4xf32>) {
  linalg.depthwise_conv_2d_nchw_chw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x8x6x6xf32>, memref<8x3x3xf32>) outs(%y : memref<1x8x4x4xf32>)
  return
}

// Other element types keep the loops.
// CHECK-LABEL: func @int_matmul
// CHECK: linalg.matmul
func.func @int_matmul(%a: memref<4x8xi32>, %b: memref<8x16xi32>, %c: memref<4x16xi32>) {
  linalg.matmul ins(%a, %b : memref<4x8xi32>, memref<8x16xi32>) outs(%c : memref<4x16xi32>)
  return
}
