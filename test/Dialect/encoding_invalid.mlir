// RUN: sparq-opt %s -split-input-file -verify-diagnostics

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'sparsity'}}
// expected-error @+1 {{pattern 'block' expects 2 sizes, got 1}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<sparsity = <pattern = block[4], format = bcsr>>>)

// -----

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'sparsity'}}
// expected-error @+1 {{N:M sparsity expects N < M, got 4:2}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<sparsity = <pattern = nm[4, 2], format = nm>>>)

// -----

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'sparsity'}}
// expected-error @+1 {{format 'bcsr' expects a block, vector, kernel or filter pattern}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<sparsity = <pattern = element, format = bcsr>>>)

// -----

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'sparsity'}}
// expected-error @+1 {{format 'interleaved_csc' expects pes >= 1}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<sparsity = <pattern = element, format = interleaved_csc, index_bits = 4>>>)

// -----

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'sparsity'}}
// expected-error @+1 {{format 'interleaved_csc' expects 1 <= index_bits <= 16, got 0}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<sparsity = <pattern = element, format = interleaved_csc, pes = 4>>>)

// -----

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'sparsity'}}
// expected-error @+1 {{unknown sparsity pattern 'diagonal'}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<sparsity = <pattern = diagonal, format = csr>>>)

// -----

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'quant'}}
// expected-error @+1 {{ternary expects positive finite 'wp' and 'wn'}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<quant = <ternary, wp = -1.0, wn = 0.5>>>)

// -----

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'quant'}}
// expected-error @+1 {{int quantization expects 2 <= bits <= 8, got 12}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<quant = <int, bits = 12>>>)

// -----

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'quant'}}
// expected-error @+1 {{codebook expects 1 <= bits <= 8, got 9}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<quant = <codebook, bits = 9>>>)

// -----

// expected-error @+2 {{failed to parse Sparq_EncodingAttr parameter 'quant'}}
// expected-error @+1 {{'group' and 'zero_points' apply to int only}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<quant = <codebook, bits = 4, group = 8>>>)

// -----

// expected-error @+1 {{pattern 'kernel' expects a 4-D conv weight [K, C, R, S], got rank 2}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<sparsity = <pattern = kernel, format = csr>>>)

// -----

// expected-error @+1 {{N:M sparsity expects the input dimension (6) to be a multiple of M (4)}}
func.func @f(%a: tensor<8x6xf32, #sparq.encoding<sparsity = <pattern = nm[2, 4], format = nm>>>)

// -----

// expected-error @+1 {{int groups of 128 expect the input dimension (64) to be a multiple of the group size}}
func.func @f(%a: tensor<8x64xf32, #sparq.encoding<quant = <int, bits = 4, group = 128>>>)

// -----

// expected-error @+1 {{compressed weights must be float, got 'i32'}}
func.func @f(%a: tensor<8x8xi32, #sparq.encoding<quant = <codebook, bits = 4>>>)

// -----

// expected-error @+1 {{encoding expects a sparsity or a quant part}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<>>)

// -----

// expected-error @+1 {{act_bits expects 0 (f32) or 8 (int8), got 4}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<quant = <ternary, wp = 1.0, wn = 1.0>, act_bits = 4>>)

// -----

// expected-error @+1 {{act_bits = 8 expects a dense ternary, int4 (groups a multiple of 8) or 4-bit codebook weight}}
func.func @f(%a: tensor<8x8xf32, #sparq.encoding<sparsity = <pattern = element, format = csr>, quant = <ternary, wp = 1.0, wn = 1.0>, act_bits = 8>>)

// -----

// expected-error @+1 {{act_bits = 8 expects a dense ternary, int4 (groups a multiple of 8) or 4-bit codebook weight}}
func.func @f(%a: tensor<8x16xf32, #sparq.encoding<quant = <int, bits = 8, group = 8>, act_bits = 8>>)
