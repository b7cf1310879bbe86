// RUN: sparq-opt %s --sparq-detect-compression | FileCheck %s
// RUN: sparq-opt %s --pass-pipeline='builtin.module(sparq-detect-compression,func.func(sparq-lower-rnn))' | FileCheck %s --check-prefix=LOWER

// A pruned LSTM's W (3/4 zeros, [D=1, 4H=8, I=4]) is a weight of its own,
// viewed as the 8x4 matrix: one non-zero in every 4 inputs, 1:4. Its
// trained-looking R stays as it is.
// CHECK-LABEL: func @lstm
// CHECK: arith.constant {{.*}} : tensor<1x8x4xf32, #sparq.encoding<sparsity = <pattern = nm[1, 4], format = dense>>>
// CHECK: arith.constant dense<{{.*}}> : tensor<1x8x2xf32>{{$}}
// CHECK: sparq.lstm forward

// sparq-lower-rnn slices the direction with its encoding: the input
// projection's matmul reads an encoded 2-D weight.
// LOWER-LABEL: func @lstm
// LOWER: %[[W:.*]] = arith.constant {{.*}} : tensor<8x4xf32, #sparq.encoding<sparsity = <pattern = nm[1, 4], format = dense>>>
// LOWER: linalg.matmul_transpose_b ins(%{{.*}}, %[[W]] : tensor<3x4xf32>, tensor<8x4xf32, #sparq.encoding
// LOWER-NOT: sparq.lstm
func.func @lstm(%x: tensor<3x1x4xf32>) -> tensor<3x1x1x2xf32> {
  %w = arith.constant dense<[[[0.5, 0.0, 0.0, 0.0], [0.0, -0.25, 0.0, 0.0], [0.0, 0.0, 0.75, 0.0], [0.0, 0.0, 0.0, 1.5],
                              [0.3, 0.0, 0.0, 0.0], [0.0, 0.0, -0.6, 0.0], [0.0, 0.9, 0.0, 0.0], [0.0, 0.0, 0.0, -1.2]]]> : tensor<1x8x4xf32>
  %r = arith.constant dense<[[[0.11, -0.52], [0.33, 0.74], [0.95, -0.16], [0.27, 0.38], [-0.49, 0.51], [0.62, -0.73], [0.84, 0.05], [-0.96, 0.17]]]> : tensor<1x8x2xf32>
  %b = arith.constant dense<0.0> : tensor<1x16xf32>
  %h0 = arith.constant dense<0.0> : tensor<1x1x2xf32>
  %p = arith.constant dense<0.0> : tensor<1x6xf32>
  %y, %yh, %yc = sparq.lstm forward %x, %w, %r, %b, %h0, %h0, %p {hidden_size = 2 : i64}
      : (tensor<3x1x4xf32>, tensor<1x8x4xf32>, tensor<1x8x2xf32>, tensor<1x16xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x6xf32>)
      -> (tensor<3x1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>)
  return %y : tensor<3x1x1x2xf32>
}
