// RUN: sparq-opt %s --sparq-quantize="bits=4 group=4" | FileCheck %s --check-prefix=INT
// RUN: not sparq-opt %s --sparq-quantize="bits=4 group=3" 2>&1 | FileCheck %s --check-prefix=BADGROUP
// RUN: sparq-opt %s --sparq-weight-share="bits=1" | FileCheck %s --check-prefix=SHARE
// RUN: not sparq-opt %s --sparq-quantize="bits=1 group=-2" 2>&1 | FileCheck %s --check-prefix=BADBITS
// RUN: not sparq-opt %s --sparq-weight-share="bits=9" 2>&1 | FileCheck %s --check-prefix=BADSHARE

// Int: the float weights stay (packing quantizes), the encoding says how.
// Convs get int8 per output channel.
// INT: dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]]> : tensor<1x8xf32, #sparq.encoding<quant = <int, bits = 4, group = 4, zero_points>>>
// INT: tensor<2x1x1x1xf32, #sparq.encoding<quant = <int, bits = 8>>>
// The options' values in the messages (once printed as garbage).
// BADBITS: error: sparq-quantize: expects 2..8 bits (got 1, conv 8) and group >= 0 (got -2)
// BADSHARE: error: sparq-weight-share: expects 1..8 bits, got 9
// BADGROUP: error: loc("fc"): sparq-quantize: layer 'fc': group 3 does not divide its 8 inputs
// k-means with 2 centroids: {1, 2, 3, 4} -> 2.5, {5, ..., 8} -> 6.5.
// SHARE: dense<{{\[}}[2.500000e+00, 2.500000e+00, 2.500000e+00, 2.500000e+00, 6.500000e+00, 6.500000e+00, 6.500000e+00, 6.500000e+00]]> : tensor<1x8xf32, #sparq.encoding<quant = <codebook, bits = 1>>>
func.func @f(%x: tensor<1x8xf32>, %img: tensor<1x1x2x2xf32>) -> (tensor<1x1xf32>, tensor<1x2x2x2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]> : tensor<1x8xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x1xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x1xf32>) -> tensor<1x1xf32>
  %y = linalg.matmul_transpose_b ins(%x, %w : tensor<1x8xf32>, tensor<1x8xf32>) outs(%acc : tensor<1x1xf32>) -> tensor<1x1xf32> loc("fc")
  %cw = arith.constant dense<[[[[0.5]]], [[[-0.25]]]]> : tensor<2x1x1x1xf32>
  %e2 = tensor.empty() : tensor<1x2x2x2xf32>
  %a2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%img, %cw : tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32>) outs(%a2 : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y, %c : tensor<1x1xf32>, tensor<1x2x2x2xf32>
}
