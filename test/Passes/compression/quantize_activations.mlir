// RUN: sparq-opt %s --sparq-quantize-activations 2>&1 | FileCheck %s
// RUN: sparq-opt %s --sparq-quantize-activations="layers=fc1" 2>&1 | FileCheck %s --check-prefix=ONE
// RUN: not sparq-opt %s --sparq-quantize-activations="bits=4" 2>&1 | FileCheck %s --check-prefix=BITS

// int4 and ternary MatMul weights take int8 activations; their cost (the
// storage) stays. A CSR weight is left alone with a warning; the conv,
// which never runs as a matrix-vector product, silently.
// CHECK: warning: {{.*}}sparq-quantize-activations: layer 'fc3' is not stored as dense ternary, int4 or 4-bit codebook codes; left as it is
// CHECK-DAG: {sparq.cost = [1, 2, 3]} dense<{{.*}}> : tensor<2x8xf32, #sparq.encoding<quant = <int, bits = 4, group = 8, zero_points>, act_bits = 8>>
// CHECK-DAG: tensor<2x8xf32, #sparq.encoding<quant = <ternary, wp = 1.000000e+00, wn = 1.000000e+00>, act_bits = 8>>
// CHECK-DAG: tensor<2x8xf32, #sparq.encoding<sparsity = <pattern = element, format = csr>, quant = <ternary, wp = 1.000000e+00, wn = 1.000000e+00>>>
// CHECK-DAG: tensor<2x1x1x1xf32, #sparq.encoding<quant = <ternary, wp = 5.000000e-01, wn = 2.500000e-01>>>

// ONE-NOT: warning
// ONE-COUNT-2: quant = <int, bits = 4, group = 8, zero_points>, act_bits = 8
// ONE-NOT: act_bits

// BITS: error: sparq-quantize-activations: only 8-bit activations are supported, got bits = 4
#i4 = #sparq.encoding<quant = <int, bits = 4, group = 8, zero_points>>
#t = #sparq.encoding<quant = <ternary, wp = 1.0, wn = 1.0>>
#tcsr = #sparq.encoding<sparsity = <pattern = element, format = csr>, quant = <ternary, wp = 1.0, wn = 1.0>>
#tconv = #sparq.encoding<quant = <ternary, wp = 0.5, wn = 0.25>>
func.func @f(%x: tensor<1x8xf32>, %img: tensor<1x1x2x2xf32>) -> (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2x2x2xf32>) {
  %w1 = arith.constant {sparq.cost = [1, 2, 3]} dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]]> : tensor<2x8xf32, #i4>
  %w2 = arith.constant dense<[[1.0, -1.0, 0.0, 1.0, 1.0, -1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0, -1.0, -1.0, 0.0, 1.0]]> : tensor<2x8xf32, #t>
  %w3 = arith.constant dense<[[1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x8xf32, #tcsr>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y1 = linalg.matmul_transpose_b ins(%x, %w1 : tensor<1x8xf32>, tensor<2x8xf32, #i4>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32> loc("fc1")
  %y2 = linalg.matmul_transpose_b ins(%x, %w2 : tensor<1x8xf32>, tensor<2x8xf32, #t>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32> loc("fc2")
  %y3 = linalg.matmul_transpose_b ins(%x, %w3 : tensor<1x8xf32>, tensor<2x8xf32, #tcsr>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32> loc("fc3")
  %cw = arith.constant dense<[[[[0.5]]], [[[-0.25]]]]> : tensor<2x1x1x1xf32, #tconv>
  %e2 = tensor.empty() : tensor<1x2x2x2xf32>
  %a2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%img, %cw : tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32, #tconv>) outs(%a2 : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y1, %y2, %y3, %c : tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2x2x2xf32>
}
