// RUN: sparq-opt %s --sparq-host-library-calls -split-input-file | FileCheck %s

// CHECK-DAG: func.func private @sparq_matmul_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func @gemm
// CHECK: memref.cast %{{.*}} : memref<4x8xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
// CHECK: call @sparq_matmul_f32(
// CHECK-NOT: linalg.matmul
func.func @gemm(%a: memref<4x8xf32>, %b: memref<8x16xf32>, %c: memref<4x16xf32>) {
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x16xf32>) outs(%c : memref<4x16xf32>)
  return
}

// -----

// The memrefs are input, filter, output and bias (empty: none); then
// strides, dilations, padding (top, left), accumulate, clamp (lo, hi). A
// plain conv accumulates and does not clamp.
// CHECK: func.func private @sparq_conv2d_nchw_f32({{.*}}, memref<?xf32, strided<[?], offset: ?>>, i64, i64, i64, i64, i64, i64, i64, f32, f32) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func @conv
// CHECK: %[[NOBIAS:.*]] = memref.alloca() : memref<0xf32>
// CHECK: %[[CB:.*]] = memref.cast %[[NOBIAS]]
// CHECK: %[[NOLO:.*]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[NOHI:.*]] = arith.constant 0x7F800000 : f32
// CHECK-NEXT: call @sparq_conv2d_nchw_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[CB]], %c2_i64, %c2_i64_{{[0-9]+}}, %c1_i64, %c1_i64_{{[0-9]+}}, %c0_i64, %c0_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %[[NOLO]], %[[NOHI]])
func.func @conv(%x: memref<1x3x9x9xf32>, %w: memref<8x3x3x3xf32>, %y: memref<1x8x4x4xf32>) {
  linalg.conv_2d_nchw_fchw {strides = dense<2> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x3x9x9xf32>, memref<8x3x3x3xf32>) outs(%y : memref<1x8x4x4xf32>)
  return
}

// -----

// What bufferization leaves around a padded depthwise conv with ReLU6: the
// pad buffer, its fill and copy, the zero init and the clamp all fold into
// the call, which reads %x with padding 1 and writes %out directly.
// CHECK-LABEL: func @depthwise_pad_relu6
// CHECK-SAME: (%[[X:.*]]: memref<1x8x6x6xf32>, %{{.*}}: memref<8x3x3xf32>, %[[OUT:.*]]: memref<1x8x6x6xf32>)
// CHECK-NOT: linalg.
// CHECK-NOT: memref.alloc()
// CHECK: %[[CX:.*]] = memref.cast %[[X]]
// CHECK: %[[CO:.*]] = memref.cast %[[OUT]]
// CHECK: %[[OVERWRITE:.*]] = arith.constant 0 : i64
// CHECK-NEXT: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[HI:.*]] = arith.constant 6.000000e+00 : f32
// CHECK-NEXT: call @sparq_depthwise_conv2d_nchw_f32(%[[CX]], %{{.*}}, %[[CO]], %{{.*}}, %c1_i64, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %[[OVERWRITE]], %[[LO]], %[[HI]])
// CHECK-NOT: linalg.
// CHECK: return
func.func @depthwise_pad_relu6(%x: memref<1x8x6x6xf32>, %w: memref<8x3x3xf32>, %out: memref<1x8x6x6xf32>) {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %padded = memref.alloc() : memref<1x8x8x8xf32>
  linalg.map outs(%padded : memref<1x8x8x8xf32>) () { linalg.yield %zero : f32 }
  %interior = memref.subview %padded[0, 0, 1, 1] [1, 8, 6, 6] [1, 1, 1, 1]
      : memref<1x8x8x8xf32> to memref<1x8x6x6xf32, strided<[512, 64, 8, 1], offset: 9>>
  memref.copy %x, %interior : memref<1x8x6x6xf32> to memref<1x8x6x6xf32, strided<[512, 64, 8, 1], offset: 9>>
  %acc = memref.alloc() : memref<1x8x6x6xf32>
  linalg.fill ins(%zero : f32) outs(%acc : memref<1x8x6x6xf32>)
  linalg.depthwise_conv_2d_nchw_chw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%padded, %w : memref<1x8x8x8xf32>, memref<8x3x3xf32>) outs(%acc : memref<1x8x6x6xf32>)
  linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%acc : memref<1x8x6x6xf32>) outs(%out : memref<1x8x6x6xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.maximumf %in, %zero : f32
    %n = arith.minimumf %m, %six : f32
    linalg.yield %n : f32
  }
  memref.dealloc %padded : memref<1x8x8x8xf32>
  memref.dealloc %acc : memref<1x8x6x6xf32>
  return
}

// -----

// A bias broadcast into the output just before (a folded BatchNorm): the
// kernel starts from the bias, collapsed to [C], and overwrites.
// CHECK-LABEL: func @bias_init
// CHECK-SAME: (%{{.*}}: memref<1x4x5x5xf32>, %{{.*}}: memref<3x4x3x3xf32>, %[[B:.*]]: memref<1x3x1x1xf32>, %{{.*}}: memref<1x3x3x3xf32>)
// CHECK-NOT: linalg.generic
// CHECK: %[[C:.*]] = memref.collapse_shape %[[B]] {{\[\[}}0, 1, 2, 3]] : memref<1x3x1x1xf32> into memref<3xf32>
// CHECK: %[[CB:.*]] = memref.cast %[[C]] : memref<3xf32> to memref<?xf32, strided<[?], offset: ?>>
// CHECK: %[[OVERWRITE:.*]] = arith.constant 0 : i64
// CHECK: call @sparq_conv2d_nchw_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[CB]], {{.*}}, %[[OVERWRITE]],
// CHECK-NOT: linalg.
func.func @bias_init(%x: memref<1x4x5x5xf32>, %w: memref<3x4x3x3xf32>, %b: memref<1x3x1x1xf32>, %out: memref<1x3x3x3xf32>) {
  linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, 0, 0)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%b : memref<1x3x1x1xf32>) outs(%out : memref<1x3x3x3xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x4x5x5xf32>, memref<3x4x3x3xf32>) outs(%out : memref<1x3x3x3xf32>)
  return
}

// -----

// A broadcast along the channels is not a bias: it stays a loop and the
// conv accumulates onto it.
// CHECK-LABEL: func @not_a_bias
// CHECK: linalg.generic
// CHECK: %[[ACC:.*]] = arith.constant 1 : i64
// CHECK: call @sparq_conv2d_nchw_f32({{.*}}, %[[ACC]],
func.func @not_a_bias(%x: memref<1x4x5x5xf32>, %w: memref<3x4x3x3xf32>, %b: memref<1x1x1x3xf32>, %out: memref<1x3x3x3xf32>) {
  linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (0, 0, 0, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%b : memref<1x1x1x3xf32>) outs(%out : memref<1x3x3x3xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x4x5x5xf32>, memref<3x4x3x3xf32>) outs(%out : memref<1x3x3x3xf32>)
  return
}

// -----

// The output is read again after the clamp: the conv keeps its own buffer
// and the clamp stays a loop.
// CHECK-LABEL: func @clamp_output_still_read
// CHECK: call @sparq_conv2d_nchw_f32
// CHECK: linalg.generic
func.func @clamp_output_still_read(%x: memref<1x2x4x4xf32>, %w: memref<2x2x1x1xf32>,
                                   %out: memref<1x2x4x4xf32>, %other: memref<1x2x4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %acc = memref.alloc() : memref<1x2x4x4xf32>
  linalg.fill ins(%zero : f32) outs(%acc : memref<1x2x4x4xf32>)
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x2x4x4xf32>, memref<2x2x1x1xf32>) outs(%acc : memref<1x2x4x4xf32>)
  linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%acc : memref<1x2x4x4xf32>) outs(%out : memref<1x2x4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  }
  memref.copy %acc, %other : memref<1x2x4x4xf32> to memref<1x2x4x4xf32>
  memref.dealloc %acc : memref<1x2x4x4xf32>
  return
}

// -----

// Other element types keep the loops.
// CHECK-LABEL: func @int_matmul
// CHECK: linalg.matmul
func.func @int_matmul(%a: memref<4x8xi32>, %b: memref<8x16xi32>, %c: memref<4x16xi32>) {
  linalg.matmul ins(%a, %b : memref<4x8xi32>, memref<8x16xi32>) outs(%c : memref<4x16xi32>)
  return
}
