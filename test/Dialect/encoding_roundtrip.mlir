// RUN: sparq-opt %s | sparq-opt | FileCheck %s

// CHECK-LABEL: func @sparsity_patterns
// CHECK-SAME: #sparq.encoding<sparsity = <pattern = element, format = csr>>
// CHECK-SAME: #sparq.encoding<sparsity = <pattern = vector, format = csc>>
// CHECK-SAME: #sparq.encoding<sparsity = <pattern = kernel, format = csr>>
// CHECK-SAME: #sparq.encoding<sparsity = <pattern = filter, format = dense>>
// CHECK-SAME: #sparq.encoding<sparsity = <pattern = block[4, 4], format = bcsr>>
// CHECK-SAME: #sparq.encoding<sparsity = <pattern = nm[2, 4], format = nm>>
// CHECK-SAME: #sparq.encoding<sparsity = <pattern = element, format = interleaved_csc, pes = 32, index_bits = 4>>
func.func @sparsity_patterns(
    %a: tensor<64x64xf32, #sparq.encoding<sparsity = <pattern = element, format = csr>>>,
    %b: tensor<8x8x3x3xf32, #sparq.encoding<sparsity = <pattern = vector, format = csc>>>,
    %c: tensor<8x8x3x3xf32, #sparq.encoding<sparsity = <pattern = kernel, format = csr>>>,
    %d: tensor<8x8x3x3xf32, #sparq.encoding<sparsity = <pattern = filter, format = dense>>>,
    %e: tensor<64x64xf32, #sparq.encoding<sparsity = <pattern = block[4, 4], format = bcsr>>>,
    %f: tensor<64x64xf32, #sparq.encoding<sparsity = <pattern = nm[2, 4], format = nm>>>,
    %g: tensor<1024x512xf32, #sparq.encoding<sparsity = <pattern = element, format = interleaved_csc, pes = 32, index_bits = 4>>>) {
  return
}

// CHECK-LABEL: func @quantizations
// CHECK-SAME: #sparq.encoding<quant = <ternary, wp = 5.000000e-01, wn = 2.500000e-01>>
// CHECK-SAME: #sparq.encoding<quant = <ternary, per_channel>>
// CHECK-SAME: #sparq.encoding<quant = <int, bits = 4, group = 128, zero_points>>
// CHECK-SAME: #sparq.encoding<quant = <int, bits = 8>>
// CHECK-SAME: #sparq.encoding<quant = <codebook, bits = 4>>
// CHECK-SAME: #sparq.encoding<quant = <fixed, int_bits = 3, frac_bits = 8>>
func.func @quantizations(
    %a: tensor<64x64xf32, #sparq.encoding<quant = <ternary, wp = 0.5, wn = 0.25>>>,
    %b: tensor<64x64xf32, #sparq.encoding<quant = <ternary, per_channel>>>,
    %c: tensor<64x256xf32, #sparq.encoding<quant = <int, bits = 4, group = 128, zero_points>>>,
    %d: tensor<64x256xf32, #sparq.encoding<quant = <int, bits = 8>>>,
    %e: tensor<64x64xf32, #sparq.encoding<quant = <codebook, bits = 4>>>,
    %f: tensor<64x64xf32, #sparq.encoding<quant = <fixed, int_bits = 3, frac_bits = 8>>>) {
  return
}

// Both parts at once: a pruned, ternary conv weight (DSD + TTQ), and an
// ESE-style LSTM weight: interleaved CSC over 32 PEs with 4-bit codebook values.
// CHECK-LABEL: func @combined
// CHECK-SAME: sparsity = <pattern = kernel, format = csr>, quant = <ternary, wp = 1.000000e+00, wn = 1.000000e+00>
// CHECK-SAME: sparsity = <pattern = element, format = interleaved_csc, pes = 32, index_bits = 4>, quant = <codebook, bits = 4>
func.func @combined(
    %a: tensor<64x64x3x3xf32, #sparq.encoding<sparsity = <pattern = kernel, format = csr>, quant = <ternary, wp = 1.0, wn = 1.0>>>,
    %b: tensor<4096x1024xf32, #sparq.encoding<sparsity = <pattern = element, format = interleaved_csc, pes = 32, index_bits = 4>, quant = <codebook, bits = 4>>>) {
  return
}

// Int8 activations for the GEMVs on a quantized weight (W4A8, W2A8); the
// default, f32, is not printed.
// CHECK-LABEL: func @activations
// CHECK-SAME: quant = <int, bits = 4, group = 128, zero_points>, act_bits = 8
// CHECK-SAME: quant = <ternary, wp = 5.000000e-01, wn = 5.000000e-01>, act_bits = 8
// CHECK-SAME: quant = <codebook, bits = 4>>>)
func.func @activations(
    %a: tensor<256x256xf32, #sparq.encoding<quant = <int, bits = 4, group = 128, zero_points>, act_bits = 8>>,
    %b: tensor<64x64xf32, #sparq.encoding<sparsity = <pattern = element, format = dense>, quant = <ternary, wp = 0.5, wn = 0.5>, act_bits = 8>>,
    %c: tensor<64x64xf32, #sparq.encoding<quant = <codebook, bits = 4>, act_bits = 0>>) {
  return
}
