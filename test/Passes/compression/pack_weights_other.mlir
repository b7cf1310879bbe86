// RUN: sparq-opt %s -split-input-file --sparq-pack-weights --verify-diagnostics | FileCheck %s

// An encoded f32 constant that no conv or matmul consumes is decoded: its
// values become what the encoding stores (two values: a 1-bit codebook holds
// them exactly), and the encoding goes.
// CHECK-LABEL: func @f32
// CHECK: arith.constant dense<{{\[}}[3.000000e+00, 5.000000e+00], [5.000000e+00, 3.000000e+00]]> : tensor<2x2xf32>
func.func @f32() -> tensor<2x2xf32> {
  // expected-warning @+1 {{an encoded constant that no conv or matmul consumes is stored dense}}
  %c = arith.constant dense<[[3.0, 5.0], [5.0, 3.0]]> : tensor<2x2xf32, #sparq.encoding<quant = <codebook, bits = 1>>>
  %r = tensor.cast %c : tensor<2x2xf32, #sparq.encoding<quant = <codebook, bits = 1>>> to tensor<2x2xf32>
  return %r : tensor<2x2xf32>
}

// -----

// Other element types are not packed: the encoding is dropped, the values
// stay.
// CHECK-LABEL: func @f16
// CHECK: arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00]]> : tensor<1x2xf16>
func.func @f16() -> tensor<1x2xf16> {
  // expected-warning @+1 {{the encoding of a 'f16' constant is dropped; its values are used as they are}}
  %c = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf16, #sparq.encoding<quant = <codebook, bits = 1>>>
  %r = tensor.cast %c : tensor<1x2xf16, #sparq.encoding<quant = <codebook, bits = 1>>> to tensor<1x2xf16>
  return %r : tensor<1x2xf16>
}
