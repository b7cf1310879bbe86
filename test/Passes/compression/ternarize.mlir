// RUN: sparq-opt %s --sparq-ternarize="skip-first=false skip-last=false" | FileCheck %s
// RUN: sparq-opt %s --sparq-ternarize | FileCheck %s --check-prefix=DEFAULT
// RUN: sparq-opt %s --sparq-ternarize="skip-first=false skip-last=false per-channel=true" | FileCheck %s --check-prefix=CHANNEL

// delta = 0.05 * 2 = 0.1: +-0.05 become 0; Wp = mean(2, 1, 0.5) = 7/6,
// Wn = mean(1, 0.5) = 0.75.
// CHECK-LABEL: func @f
// CHECK: dense<{{\[}}[1.16666663, -7.500000e-01, 0.000000e+00, 0.000000e+00], [-7.500000e-01, 1.16666663, 1.16666663, 0.000000e+00]]> : tensor<2x4xf32, #sparq.encoding<quant = <ternary, wp = 1.16666663, wn = 7.500000e-01>>>
// TTQ keeps the first and last layers in fp32 unless asked.
// DEFAULT-NOT: #sparq.encoding
// Per channel: row 1 has delta = 0.05, Wp = mean(1, 0.5), Wn = 0.5.
// CHANNEL: dense<{{\[}}[2.000000e+00, -1.000000e+00, 0.000000e+00, 0.000000e+00], [-5.000000e-01, 7.500000e-01, 7.500000e-01, 0.000000e+00]]> : tensor<2x4xf32, #sparq.encoding<quant = <ternary, per_channel>>>
func.func @f(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[2.0, -1.0, 0.05, -0.05], [-0.5, 1.0, 0.5, 0.0]]> : tensor<2x4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul_transpose_b ins(%x, %w : tensor<1x4xf32>, tensor<2x4xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
