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

// A * B^T with a constant B [N, K] (a Linear's weight, output-major) and more
// rows than the kernel runs as GEMVs (4): B^T is laid out at compile time in
// the GEMM's panels of 64 columns, [ceil(N/64), K, 64], zero-padded, and the
// plain global goes, so that nothing is transposed or gathered per call.
// With few rows the call reads a transposed view of B (GEMVs on its rows).
// CHECK-DAG: func.func private @sparq_matmul_f32_panels(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
// CHECK-NOT: memref.global "private" constant @lin :
// The panel's rows, little-endian f32: (1, 4), (2, 5), (3, 6), each padded
// with zeros to 64.
// CHECK: memref.global "private" constant @lin_panels : memref<1x3x64xf32> = dense<"0x0000803F00008040{{(00000000)+}}000000400000A040{{(00000000)+}}000040400000C040{{(00000000)+}}">
// CHECK-NOT: memref.global "private" constant @lin :
// CHECK-LABEL: func @linear_many_rows
// CHECK: %[[P:.*]] = memref.get_global @lin_panels : memref<1x3x64xf32>
// CHECK: %[[CP:.*]] = memref.cast %[[P]]
// CHECK: call @sparq_matmul_f32_panels(%{{.*}}, %[[CP]], %{{.*}})
// CHECK-NOT: linalg.
memref.global "private" constant @lin : memref<2x3xf32> = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> {alignment = 64 : i64}
func.func @linear_many_rows(%a: memref<5x3xf32>, %c: memref<5x2xf32>) {
  %w = memref.get_global @lin : memref<2x3xf32>
  linalg.matmul_transpose_b ins(%a, %w : memref<5x3xf32>, memref<2x3xf32>) outs(%c : memref<5x2xf32>)
  return
}

// -----

// CHECK: memref.global "private" constant @lin4 : memref<2x3xf32>
// CHECK-NOT: @lin4_panels
// CHECK-LABEL: func @linear_few_rows
// CHECK: %[[W:.*]] = memref.get_global @lin4 : memref<2x3xf32>
// CHECK: %[[T:.*]] = memref.transpose %[[W]] (d0, d1) -> (d1, d0)
// CHECK: call @sparq_matmul_f32(
memref.global "private" constant @lin4 : memref<2x3xf32> = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> {alignment = 64 : i64}
func.func @linear_few_rows(%a: memref<4x3xf32>, %c: memref<4x2xf32>) {
  %w = memref.get_global @lin4 : memref<2x3xf32>
  linalg.matmul_transpose_b ins(%a, %w : memref<4x3xf32>, memref<2x3xf32>) outs(%c : memref<4x2xf32>)
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

// The clamp need not follow the conv directly: another conv in between
// (the downsample branch of a ResNet block) and the clamp's allocation. The
// kernel writes the clamp's buffer, allocated before the call now.
// CHECK-LABEL: func @clamp_after_other_op
// CHECK: %[[RELU:.*]] = memref.alloc() : memref<1x2x4x4xf32>
// CHECK: %[[CR:.*]] = memref.cast %[[RELU]]
// CHECK: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[HI:.*]] = arith.constant 0x7F800000 : f32
// CHECK-NEXT: call @sparq_conv2d_nchw_f32(%{{.*}}, %{{.*}}, %[[CR]], {{.*}}, %[[LO]], %[[HI]])
// CHECK: call @sparq_conv2d_nchw_f32
// CHECK-NOT: linalg.generic
// CHECK: linalg.copy ins(%[[RELU]]
func.func @clamp_after_other_op(%x: memref<1x2x4x4xf32>, %w: memref<2x2x1x1xf32>,
                                %out: memref<1x2x4x4xf32>, %out2: memref<1x2x4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %acc = memref.alloc() : memref<1x2x4x4xf32>
  linalg.fill ins(%zero : f32) outs(%acc : memref<1x2x4x4xf32>)
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x2x4x4xf32>, memref<2x2x1x1xf32>) outs(%acc : memref<1x2x4x4xf32>)
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x2x4x4xf32>, memref<2x2x1x1xf32>) outs(%out2 : memref<1x2x4x4xf32>)
  %relu = memref.alloc() : memref<1x2x4x4xf32>
  linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%acc : memref<1x2x4x4xf32>) outs(%relu : memref<1x2x4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  }
  memref.dealloc %acc : memref<1x2x4x4xf32>
  memref.copy %relu, %out : memref<1x2x4x4xf32> to memref<1x2x4x4xf32>
  memref.dealloc %relu : memref<1x2x4x4xf32>
  return
}

// -----

// A residual connection: conv, then add of the block's input %r and ReLU
// into %sum. %r dies at the add, so the kernel accumulates into %r and
// clamps; %r takes the place of %sum (and is freed where %sum was).
// CHECK-LABEL: func @residual_add_relu
// CHECK-SAME: (%[[X:.*]]: memref<1x2x4x4xf32>, %{{.*}}: memref<2x2x1x1xf32>, %[[OUT:.*]]: memref<1x2x4x4xf32>)
// CHECK: %[[R:.*]] = memref.alloc() : memref<1x2x4x4xf32>
// CHECK: linalg.copy ins(%[[X]] {{.*}} outs(%[[R]]
// CHECK: %[[CR:.*]] = memref.cast %[[R]]
// CHECK: arith.constant 0 : i64
// CHECK-NEXT: arith.constant 0 : i64
// CHECK-NEXT: %[[ACCUMULATE:.*]] = arith.constant 1 : i64
// CHECK-NEXT: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[HI:.*]] = arith.constant 0x7F800000 : f32
// CHECK-NEXT: call @sparq_conv2d_nchw_f32(%{{.*}}, %{{.*}}, %[[CR]], %{{.*}}, {{.*}}, %[[ACCUMULATE]], %[[LO]], %[[HI]])
// CHECK-NOT: linalg.generic
// CHECK-NEXT: linalg.copy ins(%[[R]] {{.*}} outs(%[[OUT]]
// CHECK-NEXT: memref.dealloc %[[R]]
// CHECK-NEXT: return
func.func @residual_add_relu(%x: memref<1x2x4x4xf32>, %w: memref<2x2x1x1xf32>, %out: memref<1x2x4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %r = memref.alloc() : memref<1x2x4x4xf32>
  memref.copy %x, %r : memref<1x2x4x4xf32> to memref<1x2x4x4xf32>
  %acc = memref.alloc() : memref<1x2x4x4xf32>
  linalg.fill ins(%zero : f32) outs(%acc : memref<1x2x4x4xf32>)
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x2x4x4xf32>, memref<2x2x1x1xf32>) outs(%acc : memref<1x2x4x4xf32>)
  %sum = memref.alloc() : memref<1x2x4x4xf32>
  linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>,
                                   affine_map<(a, b, c, d) -> (a, b, c, d)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%acc, %r : memref<1x2x4x4xf32>, memref<1x2x4x4xf32>) outs(%sum : memref<1x2x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %b, %a : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  }
  memref.dealloc %acc : memref<1x2x4x4xf32>
  memref.dealloc %r : memref<1x2x4x4xf32>
  memref.copy %sum, %out : memref<1x2x4x4xf32> to memref<1x2x4x4xf32>
  memref.dealloc %sum : memref<1x2x4x4xf32>
  return
}

// -----

// The residual is read again after the add: no fold.
// CHECK-LABEL: func @residual_still_read
// CHECK: call @sparq_conv2d_nchw_f32
// CHECK: linalg.generic
func.func @residual_still_read(%x: memref<1x2x4x4xf32>, %w: memref<2x2x1x1xf32>, %out: memref<1x2x4x4xf32>,
                               %other: memref<1x2x4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %r = memref.alloc() : memref<1x2x4x4xf32>
  memref.copy %x, %r : memref<1x2x4x4xf32> to memref<1x2x4x4xf32>
  %acc = memref.alloc() : memref<1x2x4x4xf32>
  linalg.fill ins(%zero : f32) outs(%acc : memref<1x2x4x4xf32>)
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x2x4x4xf32>, memref<2x2x1x1xf32>) outs(%acc : memref<1x2x4x4xf32>)
  linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>,
                                   affine_map<(a, b, c, d) -> (a, b, c, d)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%acc, %r : memref<1x2x4x4xf32>, memref<1x2x4x4xf32>) outs(%out : memref<1x2x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  memref.copy %r, %other : memref<1x2x4x4xf32> to memref<1x2x4x4xf32>
  memref.dealloc %acc : memref<1x2x4x4xf32>
  memref.dealloc %r : memref<1x2x4x4xf32>
  return
}

// -----

// A max pool as the importer writes it, after bufferization: its -inf
// padding and -inf init fold into the call (window 3x3, stride 2, padding
// 1, overwrite); the window's shape buffer goes too.
// CHECK: func.func private @sparq_maxpool2d_nchw_f32(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, i64, i64, i64, i64, i64, i64, i64, i64, i64) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func @maxpool
// CHECK-SAME: (%[[X:.*]]: memref<1x2x8x8xf32>, %[[OUT:.*]]: memref<1x2x4x4xf32>)
// CHECK-NOT: memref.alloc
// CHECK-NOT: linalg.
// CHECK: %[[CX:.*]] = memref.cast %[[X]]
// CHECK: %[[CO:.*]] = memref.cast %[[OUT]]
// CHECK: call @sparq_maxpool2d_nchw_f32(%[[CX]], %[[CO]], %c3_i64, %c3_i64_{{[0-9]+}}, %c2_i64, %c2_i64_{{[0-9]+}}, %c1_i64, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %c0_i64)
// CHECK-NEXT: return
func.func @maxpool(%x: memref<1x2x8x8xf32>, %out: memref<1x2x4x4xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %padded = memref.alloc() : memref<1x2x10x10xf32>
  linalg.map outs(%padded : memref<1x2x10x10xf32>) () { linalg.yield %ninf : f32 }
  %interior = memref.subview %padded[0, 0, 1, 1] [1, 2, 8, 8] [1, 1, 1, 1]
      : memref<1x2x10x10xf32> to memref<1x2x8x8xf32, strided<[200, 100, 10, 1], offset: 11>>
  memref.copy %x, %interior : memref<1x2x8x8xf32> to memref<1x2x8x8xf32, strided<[200, 100, 10, 1], offset: 11>>
  linalg.fill ins(%ninf : f32) outs(%out : memref<1x2x4x4xf32>)
  %window = memref.alloc() : memref<3x3xf32>
  linalg.generic {indexing_maps = [affine_map<(n, c, y, x, ky, kx) -> (n, c, y * 2 + ky, x * 2 + kx)>,
                                   affine_map<(n, c, y, x, ky, kx) -> (ky, kx)>,
                                   affine_map<(n, c, y, x, ky, kx) -> (n, c, y, x)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%padded, %window : memref<1x2x10x10xf32>, memref<3x3xf32>) outs(%out : memref<1x2x4x4xf32>) {
  ^bb0(%in: f32, %k: f32, %o: f32):
    %m = arith.maximumf %in, %o : f32
    linalg.yield %m : f32
  }
  memref.dealloc %window : memref<3x3xf32>
  memref.dealloc %padded : memref<1x2x10x10xf32>
  return
}

// -----

// A sum pool (an average pool before its division) stays a loop.
// CHECK-LABEL: func @sum_pool
// CHECK-NOT: call @sparq_maxpool2d_nchw_f32
// CHECK: linalg.generic
func.func @sum_pool(%x: memref<1x2x8x8xf32>, %out: memref<1x2x3x3xf32>) {
  %window = memref.alloc() : memref<3x3xf32>
  linalg.generic {indexing_maps = [affine_map<(n, c, y, x, ky, kx) -> (n, c, y * 2 + ky, x * 2 + kx)>,
                                   affine_map<(n, c, y, x, ky, kx) -> (ky, kx)>,
                                   affine_map<(n, c, y, x, ky, kx) -> (n, c, y, x)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %window : memref<1x2x8x8xf32>, memref<3x3xf32>) outs(%out : memref<1x2x3x3xf32>) {
  ^bb0(%in: f32, %k: f32, %o: f32):
    %m = arith.addf %in, %o : f32
    linalg.yield %m : f32
  }
  memref.dealloc %window : memref<3x3xf32>
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

// -----

// A packed weight is read through its placeholder global: the get_global
// between the zero fill and the conv does not keep the fill.
memref.global "private" constant @__sparq_packed_0 : memref<64xi8> = dense<0> {alignment = 64 : i64}
memref.global "private" @__sparq_weight_0 : memref<3x4x3x3xf32> {sparq.layer = "conv", sparq.layout = "ternary", sparq.packed = @__sparq_packed_0}
// CHECK-LABEL: func @packed_zero_init
// CHECK-NOT: linalg.fill
// CHECK: %[[BLOB:.*]] = memref.get_global @__sparq_packed_0 : memref<64xi8>
// CHECK: %[[OVERWRITE:.*]] = arith.constant 0 : i64
// CHECK: call @sparq_packed_conv2d_nchw_f32(%{{.*}}, {{.*}}, %[[OVERWRITE]],
// CHECK-NOT: linalg.
func.func @packed_zero_init(%x: memref<1x4x5x5xf32>, %out: memref<1x3x3x3xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<1x3x3x3xf32>)
  %w = memref.get_global @__sparq_weight_0 : memref<3x4x3x3xf32>
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x4x5x5xf32>, memref<3x4x3x3xf32>) outs(%out : memref<1x3x3x3xf32>)
  return
}

// -----

// An int8 x int8 -> int32 convolution (a QDQ model's): the padding's fill
// (the activations' zero point, -8 here) folds into the call as its value,
// and the zero init into overwriting. The memrefs are input, weight,
// output; then the pad value, biased (0: the input is int8), strides,
// dilations, padding, accumulate.
// CHECK: func.func private @sparq_conv2d_nchw_s8s8_i32(memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xi32, strided<[?, ?, ?, ?], offset: ?>>, i64, i64, i64, i64, i64, i64, i64, i64, i64) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func @int8_conv_zero_point_padding
// CHECK-SAME: (%[[X:.*]]: memref<1x4x6x6xi8>, %{{.*}}: memref<8x4x3x3xi8>, %[[OUT:.*]]: memref<1x8x6x6xi32>)
// CHECK-NOT: linalg.
// CHECK-NOT: memref.alloc()
// CHECK: %[[CX:.*]] = memref.cast %[[X]]
// CHECK: %[[CO:.*]] = memref.cast %[[OUT]]
// CHECK: %[[PAD:.*]] = arith.constant -8 : i64
// CHECK: %[[INT8:.*]] = arith.constant 0 : i64
// CHECK: call @sparq_conv2d_nchw_s8s8_i32(%[[CX]], %{{.*}}, %[[CO]], %[[PAD]], %[[INT8]], %c1_i64, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %c1_i64_{{[0-9]+}}, %c0_i64{{.*}})
// CHECK-NOT: linalg.
func.func @int8_conv_zero_point_padding(%x: memref<1x4x6x6xi8>, %w: memref<8x4x3x3xi8>, %out: memref<1x8x6x6xi32>) {
  %zp = arith.constant -8 : i8
  %zero = arith.constant 0 : i32
  %padded = memref.alloc() : memref<1x4x8x8xi8>
  linalg.fill ins(%zp : i8) outs(%padded : memref<1x4x8x8xi8>)
  %interior = memref.subview %padded[0, 0, 1, 1] [1, 4, 6, 6] [1, 1, 1, 1]
      : memref<1x4x8x8xi8> to memref<1x4x6x6xi8, strided<[256, 64, 8, 1], offset: 9>>
  memref.copy %x, %interior : memref<1x4x6x6xi8> to memref<1x4x6x6xi8, strided<[256, 64, 8, 1], offset: 9>>
  linalg.fill ins(%zero : i32) outs(%out : memref<1x8x6x6xi32>)
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%padded, %w : memref<1x4x8x8xi8>, memref<8x4x3x3xi8>) outs(%out : memref<1x8x6x6xi32>)
  memref.dealloc %padded : memref<1x4x8x8xi8>
  return
}

// -----

// The same with constant weights (a MatMulInteger's 1x1 conv of its rows,
// whose sums no QuantizeLinear takes): the weights are packed at compile
// time into a global of their own, the plain ones go, and the call takes
// the blob, so nothing is packed per run.
// CHECK: func.func private @sparq_packed_conv2d_nchw_s8s8_i32(memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?x?x?x?xi32, strided<[?, ?, ?, ?], offset: ?>>, i64, i64, i64, i64, i64, i64, i64, i64, i64) attributes {llvm.emit_c_interface}
// CHECK-NOT: memref.global "private" constant @wm :
// CHECK: memref.global "private" constant @wm_s8conv : memref<{{[0-9]+}}xi8> = dense<"0x
// CHECK-NOT: memref.global "private" constant @wm :
// CHECK-LABEL: func @int8_matmul_packed_weights
// CHECK-SAME: (%[[X:.*]]: memref<1x8x1x5xi8>, %[[OUT:.*]]: memref<1x6x1x5xi32>)
// CHECK-NOT: linalg.
// CHECK: %[[BLOB:.*]] = memref.get_global @wm_s8conv
// CHECK: call @sparq_packed_conv2d_nchw_s8s8_i32(%{{.*}}, %{{.*}}, %{{.*}}, %c0_i64, %c0_i64{{.*}})
// CHECK-NOT: linalg.
memref.global "private" constant @wm : memref<6x8x1x1xi8> = dense<-7> {alignment = 64 : i64}
func.func @int8_matmul_packed_weights(%x: memref<1x8x1x5xi8>, %out: memref<1x6x1x5xi32>) {
  %zero = arith.constant 0 : i32
  %w = memref.get_global @wm : memref<6x8x1x1xi8>
  linalg.fill ins(%zero : i32) outs(%out : memref<1x6x1x5xi32>)
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x8x1x5xi8>, memref<6x8x1x1xi8>) outs(%out : memref<1x6x1x5xi32>)
  return
}

// -----

// A QDQ convolution as the import writes it, bufferized: the uint8
// activations' sign flip (to int8) into a temporary, padded with the zero
// point, the int8 conv into int32 sums, then the requantization to uint8
// (marked sparq.requantize with its bounds and per-channel shift, scale
// and offset; the offset here is folded into the body, as a splat
// constant operand would be). One call: it reads the uint8 source as
// biased input (no flip, no padded copy), the weights packed at compile
// time into a global of their own (the plain ones go), the parameters from
// the attribute as globals, and requantizes into the output; no
// temporaries are left.
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (0, d1, 0, 0)>
// CHECK: func.func private @sparq_packed_conv2d_nchw_s8s8_requant(memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?xi32, strided<[?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) attributes {llvm.emit_c_interface}
// CHECK-NOT: memref.global "private" constant @w :
// CHECK-DAG: memref.global "private" constant @__sparq_requant_offset : memref<8xf32> = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]>
// CHECK-DAG: memref.global "private" constant @__sparq_requant_scale : memref<8xf32> = dense<2.500000e-01>
// CHECK-DAG: memref.global "private" constant @__sparq_requant_shift : memref<8xi32> = dense<[1, 2, 3, 4, 5, 6, 7, 8]>
// CHECK-DAG: memref.global "private" constant @w_s8conv : memref<{{[0-9]+}}xi8> = dense<"0x
// CHECK-NOT: memref.global "private" constant @w :
// CHECK-LABEL: func @qdq_conv_requantized
// CHECK-SAME: (%[[X:.*]]: memref<1x4x6x6xi8>, %[[Y:.*]]: memref<1x8x6x6xi8>)
// CHECK-NOT: memref.alloc
// CHECK-NOT: linalg.
// CHECK-DAG: %[[BLOB:.*]] = memref.get_global @w_s8conv
// CHECK-DAG: %[[SHIFT:.*]] = memref.get_global @__sparq_requant_shift
// CHECK-DAG: %[[SCALE:.*]] = memref.get_global @__sparq_requant_scale
// CHECK-DAG: %[[OFFSET:.*]] = memref.get_global @__sparq_requant_offset
// CHECK-DAG: %[[CX:.*]] = memref.cast %[[X]]
// CHECK-DAG: %[[CY:.*]] = memref.cast %[[Y]]
// CHECK-DAG: %[[CB:.*]] = memref.cast %[[BLOB]]
// CHECK-DAG: %[[PAD:.*]] = arith.constant -123 : i64
// CHECK-DAG: %[[BIASED:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[LO:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[HI:.*]] = arith.constant 255 : i64
// CHECK-DAG: %[[CSHIFT:.*]] = memref.cast %[[SHIFT]]
// CHECK-DAG: %[[CSCALE:.*]] = memref.cast %[[SCALE]]
// CHECK-DAG: %[[COFFSET:.*]] = memref.cast %[[OFFSET]]
// CHECK: call @sparq_packed_conv2d_nchw_s8s8_requant(%[[CX]], %[[CB]], %[[CY]], %[[CSHIFT]], %[[CSCALE]], %[[COFFSET]], %[[PAD]], %[[BIASED]], {{.*}}, %[[LO]], %[[HI]])
// CHECK-NOT: linalg.
// CHECK-NOT: memref.dealloc
// CHECK: return
memref.global "private" constant @w : memref<8x4x3x3xi8> = dense<3> {alignment = 64 : i64}
memref.global "private" constant @shift : memref<1x8x1x1xi32> = dense<[[[[1]], [[2]], [[3]], [[4]], [[5]], [[6]], [[7]], [[8]]]]>
memref.global "private" constant @scale : memref<1x8x1x1xf32> = dense<0.25>
func.func @qdq_conv_requantized(%x: memref<1x4x6x6xi8>, %y: memref<1x8x6x6xi8>) {
  %flipped = memref.alloc() : memref<1x4x6x6xi8>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : memref<1x4x6x6xi8>) outs(%flipped : memref<1x4x6x6xi8>) {
  ^bb0(%a: i8, %b: i8):
    %m = arith.constant -128 : i8
    %r = arith.xori %a, %m : i8
    linalg.yield %r : i8
  }
  %zp = arith.constant -123 : i8
  %padded = memref.alloc() : memref<1x4x8x8xi8>
  linalg.fill ins(%zp : i8) outs(%padded : memref<1x4x8x8xi8>)
  %interior = memref.subview %padded[0, 0, 1, 1] [1, 4, 6, 6] [1, 1, 1, 1]
      : memref<1x4x8x8xi8> to memref<1x4x6x6xi8, strided<[256, 64, 8, 1], offset: 9>>
  memref.copy %flipped, %interior : memref<1x4x6x6xi8> to memref<1x4x6x6xi8, strided<[256, 64, 8, 1], offset: 9>>
  memref.dealloc %flipped : memref<1x4x6x6xi8>
  %zero = arith.constant 0 : i32
  %acc = memref.alloc() : memref<1x8x6x6xi32>
  linalg.fill ins(%zero : i32) outs(%acc : memref<1x8x6x6xi32>)
  %w = memref.get_global @w : memref<8x4x3x3xi8>
  linalg.conv_2d_nchw_fchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%padded, %w : memref<1x4x8x8xi8>, memref<8x4x3x3xi8>) outs(%acc : memref<1x8x6x6xi32>)
  memref.dealloc %padded : memref<1x4x8x8xi8>
  %shift = memref.get_global @shift : memref<1x8x1x1xi32>
  %scale = memref.get_global @scale : memref<1x8x1x1xf32>
  linalg.generic {indexing_maps = [#id, #ch, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"],
                  sparq.requantize = {bounds = array<i64: 3, 255>, shift = array<i32: 1, 2, 3, 4, 5, 6, 7, 8>,
                                      scale = array<f32: 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25>,
                                      offset = array<f32: 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0>}}
      ins(%acc, %shift, %scale : memref<1x8x6x6xi32>, memref<1x8x1x1xi32>, memref<1x8x1x1xf32>) outs(%y : memref<1x8x6x6xi8>) {
  ^bb0(%s: i32, %sh: i32, %sc: f32, %o: i8):
    %v = arith.subi %s, %sh : i32
    %f = arith.sitofp %v : i32 to f32
    %p = arith.mulf %f, %sc : f32
    %d = linalg.index 1 : index
    %di = arith.index_cast %d : index to i32
    %df = arith.sitofp %di : i32 to f32
    %one = arith.constant 1.0 : f32
    %of = arith.addf %df, %one : f32
    %q = arith.addf %p, %of : f32
    %lo = arith.constant 3.0 : f32
    %hi = arith.constant 255.0 : f32
    %c1 = arith.maximumf %q, %lo : f32
    %c2 = arith.minimumf %c1, %hi : f32
    %r = math.roundeven %c2 : f32
    %i = arith.fptoui %r : f32 to i32
    %t = arith.trunci %i : i32 to i8
    linalg.yield %t : i8
  }
  memref.dealloc %acc : memref<1x8x6x6xi32>
  return
}

// -----

// A QDQ Add as the import marks it (sparq.qadd: zero points, signedness,
// scales and offset, bounds) on contiguous bytes: one call of the byte
// kernel on the buffers flattened, the scalars in the attribute's order.
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func @qdq_add
// CHECK-SAME: (%[[A:.*]]: memref<1x4x3x5xi8>, %[[B:.*]]: memref<1x4x3x5xi8>, %[[Y:.*]]: memref<1x4x3x5xi8>)
// CHECK-NOT: linalg.
// CHECK-DAG: %[[FA:.*]] = memref.collapse_shape %[[A]] {{\[\[}}0, 1, 2, 3]] : memref<1x4x3x5xi8> into memref<60xi8>
// CHECK-DAG: %[[FB:.*]] = memref.collapse_shape %[[B]]
// CHECK-DAG: %[[FY:.*]] = memref.collapse_shape %[[Y]]
// CHECK-DAG: %[[ZA:.*]] = arith.constant 130 : i64
// CHECK-DAG: %[[ZB:.*]] = arith.constant -5 : i64
// CHECK-DAG: %[[SA:.*]] = arith.constant 1.250000e+00 : f32
// CHECK-DAG: %[[SB:.*]] = arith.constant 7.500000e-01 : f32
// CHECK-DAG: %[[OFF:.*]] = arith.constant 1.000000e+01 : f32
// CHECK-DAG: %[[HI:.*]] = arith.constant 255 : i64
// CHECK: call @sparq_qadd_i8(%{{.*}}, %{{.*}}, %{{.*}}, %[[ZA]], %[[ZB]], %{{.*}}, %{{.*}}, %[[SA]], %[[SB]], %[[OFF]], %{{.*}}, %[[HI]])
// CHECK-NOT: linalg.
func.func @qdq_add(%a: memref<1x4x3x5xi8>, %b: memref<1x4x3x5xi8>, %y: memref<1x4x3x5xi8>) {
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"],
                  sparq.qadd = {zeros = array<i64: 130, -5>, unsigned = array<i64: 1, 0>,
                                scales = array<f32: 1.25, 0.75, 10.0>, bounds = array<i64: 10, 255>}}
      ins(%a, %b : memref<1x4x3x5xi8>, memref<1x4x3x5xi8>) outs(%y : memref<1x4x3x5xi8>) {
  ^bb0(%x: i8, %z: i8, %o: i8):
    linalg.yield %x : i8
  }
  return
}

// -----

// A max pool on uint8 (maxui: a QDQ model's activations): the byte kernel,
// its zero padding read implicitly.
#x = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2 * 2 + d4, d3 * 2 + d5)>
#k = affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>
#o = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func @maxpool_u8
// CHECK-NOT: linalg.
// CHECK-NOT: memref.alloc
// CHECK: call @sparq_maxpool2d_nchw_u8(
// CHECK-NOT: linalg.
func.func @maxpool_u8(%x: memref<1x2x6x6xi8>, %out: memref<1x2x3x3xi8>) {
  %zero = arith.constant 0 : i8
  %padded = memref.alloc() : memref<1x2x8x8xi8>
  linalg.fill ins(%zero : i8) outs(%padded : memref<1x2x8x8xi8>)
  %interior = memref.subview %padded[0, 0, 1, 1] [1, 2, 6, 6] [1, 1, 1, 1]
      : memref<1x2x8x8xi8> to memref<1x2x6x6xi8, strided<[128, 64, 8, 1], offset: 9>>
  memref.copy %x, %interior : memref<1x2x6x6xi8> to memref<1x2x6x6xi8, strided<[128, 64, 8, 1], offset: 9>>
  linalg.fill ins(%zero : i8) outs(%out : memref<1x2x3x3xi8>)
  %window = memref.alloc() : memref<3x3xi8>
  linalg.generic {indexing_maps = [#x, #k, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%padded, %window : memref<1x2x8x8xi8>, memref<3x3xi8>) outs(%out : memref<1x2x3x3xi8>) {
  ^bb0(%in: i8, %w: i8, %acc: i8):
    %m = arith.maxui %in, %acc : i8
    linalg.yield %m : i8
  }
  memref.dealloc %window : memref<3x3xi8>
  memref.dealloc %padded : memref<1x2x8x8xi8>
  return
}

// -----

// An int8 depthwise convolution followed by its requantization: one call
// of the depthwise byte kernel with the uint8 source (its sign flip
// folded), the weights as they are, the parameters from the attribute.
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func @qdq_depthwise
// CHECK-SAME: (%[[X:.*]]: memref<1x3x5x5xi8>, %[[W:.*]]: memref<3x3x3xi8>, %[[Y:.*]]: memref<1x3x3x3xi8>)
// CHECK-NOT: linalg.
// CHECK-NOT: memref.alloc
// CHECK: call @sparq_depthwise_nchw_s8s8_requant(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c0_i64, %c1_i64
// CHECK-NOT: linalg.
func.func @qdq_depthwise(%x: memref<1x3x5x5xi8>, %w: memref<3x3x3xi8>, %y: memref<1x3x3x3xi8>) {
  %flipped = memref.alloc() : memref<1x3x5x5xi8>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : memref<1x3x5x5xi8>) outs(%flipped : memref<1x3x5x5xi8>) {
  ^bb0(%a: i8, %b: i8):
    %m = arith.constant -128 : i8
    %r = arith.xori %a, %m : i8
    linalg.yield %r : i8
  }
  %zero = arith.constant 0 : i32
  %acc = memref.alloc() : memref<1x3x3x3xi32>
  linalg.fill ins(%zero : i32) outs(%acc : memref<1x3x3x3xi32>)
  linalg.depthwise_conv_2d_nchw_chw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%flipped, %w : memref<1x3x5x5xi8>, memref<3x3x3xi8>) outs(%acc : memref<1x3x3x3xi32>)
  memref.dealloc %flipped : memref<1x3x5x5xi8>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"],
                  sparq.requantize = {bounds = array<i64: 0, 255>, shift = array<i32: 1, 2, 3>,
                                      scale = array<f32: 0.5, 0.25, 0.125>, offset = array<f32: 9.0, 8.0, 7.0>}}
      ins(%acc : memref<1x3x3x3xi32>) outs(%y : memref<1x3x3x3xi8>) {
  ^bb0(%s: i32, %o: i8):
    %t = arith.trunci %s : i32 to i8
    linalg.yield %t : i8
  }
  memref.dealloc %acc : memref<1x3x3x3xi32>
  return
}

// -----

// A grouped convolution ([N, G, C/G, H, W] views) is one call of the grouped
// kernel: f32 with an empty bias, accumulating into the initialized output
// (the trailing 1 before the clamp); int8 x int8 -> int32 likewise.
// CHECK-LABEL: func @grouped
// CHECK: %[[NB:.*]] = memref.alloca() : memref<0xf32>
// CHECK: call @sparq_grouped_conv2d_nchw_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c2{{.*}}, %c2{{.*}}, %c1{{.*}}, %c1{{.*}}, %c0{{.*}}, %c0{{.*}}, %c1{{.*}}, %cst{{.*}}, %cst{{.*}})
// CHECK-NOT: linalg.conv_2d_ngchw_gfchw
func.func @grouped(%x: memref<1x4x2x9x9xf32>, %w: memref<4x3x2x3x3xf32>, %y: memref<1x4x3x4x4xf32>) {
  linalg.conv_2d_ngchw_gfchw {strides = dense<2> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x4x2x9x9xf32>, memref<4x3x2x3x3xf32>) outs(%y : memref<1x4x3x4x4xf32>)
  return
}
// CHECK-LABEL: func @grouped_int8
// CHECK: call @sparq_grouped_conv2d_nchw_s8s8_i32(
// CHECK-NOT: linalg.conv_2d_ngchw_gfchw
func.func @grouped_int8(%x: memref<1x4x2x9x9xi8>, %w: memref<4x3x2x3x3xi8>, %y: memref<1x4x3x7x7xi32>) {
  linalg.conv_2d_ngchw_gfchw {strides = dense<1> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
    ins(%x, %w : memref<1x4x2x9x9xi8>, memref<4x3x2x3x3xi8>) outs(%y : memref<1x4x3x7x7xi32>)
  return
}
