// RUN: sparq-opt %s -split-input-file --sparq-prune="granularity=element ratio=0.5" | FileCheck %s --check-prefix=ELEM
// RUN: sparq-opt %s -split-input-file --sparq-prune="granularity=kernel ratio=0.5" | FileCheck %s --check-prefix=KERNEL
// RUN: sparq-opt %s -split-input-file --sparq-prune="granularity=2:4" | FileCheck %s --check-prefix=NM
// RUN: sparq-opt %s -split-input-file --sparq-prune="granularity=element ratio=0.5 layers=fc2" | FileCheck %s --check-prefix=LAYERS
// RUN: not sparq-opt %s -split-input-file --sparq-prune="granularity=blob" 2>&1 | FileCheck %s --check-prefix=BAD

// DSD: the half with the smallest magnitudes goes; the pattern is recorded.
// ELEM-LABEL: func @linear
// ELEM: arith.constant dense<{{\[}}[0.000000e+00, -4.000000e+00, 0.000000e+00, 3.000000e+00], [5.000000e+00, 0.000000e+00, -6.000000e+00, 0.000000e+00]]> : tensor<2x4xf32, #sparq.encoding<sparsity = <pattern = element, format = dense>>>
// On a matrix, kernels are single weights.
// KERNEL-LABEL: func @linear
// KERNEL: tensor<2x4xf32, #sparq.encoding<sparsity = <pattern = element, format = dense>>>
// N:M keeps the 2 largest of every 4 inputs.
// NM-LABEL: func @linear
// NM: dense<{{\[}}[0.000000e+00, -4.000000e+00, 0.000000e+00, 3.000000e+00], [5.000000e+00, 0.000000e+00, -6.000000e+00, 0.000000e+00]]> : tensor<2x4xf32, #sparq.encoding<sparsity = <pattern = nm[2, 4], format = dense>>>
// LAYERS-LABEL: func @linear
// LAYERS-NOT: #sparq.encoding
// BAD: error: sparq-prune: unknown granularity 'blob'
func.func @linear(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, -4.0, 0.5, 3.0], [5.0, -0.25, -6.0, 2.0]]> : tensor<2x4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul_transpose_b ins(%x, %w : tensor<1x4xf32>, tensor<2x4xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32> loc("fc1")
  return %y : tensor<1x2xf32>
}

// -----

// Kernel granularity on a conv: the 2x2 kernel with the smaller L1 norm
// (filter 1) goes whole.
// KERNEL-LABEL: func @conv
// KERNEL: dense<{{\[}}{{\[}}{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]], {{\[}}{{\[}}[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]]]]> : tensor<2x1x2x2xf32, #sparq.encoding<sparsity = <pattern = kernel, format = dense>>>
func.func @conv(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant dense<[[[[1.0, 2.0], [3.0, 4.0]]], [[[0.5, -0.5], [1.0, 1.0]]]]> : tensor<2x1x2x2xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>) outs(%acc : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> loc("conv")
  return %y : tensor<1x2x2x2xf32>
}
