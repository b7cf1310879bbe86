// RUN: sparq-opt %s | sparq-opt | FileCheck %s

// CHECK-LABEL: func @lstm_bidirectional
// CHECK: sparq.lstm bidirectional
// CHECK-SAME: hidden_size = 8
func.func @lstm_bidirectional(%x: tensor<5x2x4xf32>, %w: tensor<2x32x4xf32>,
    %r: tensor<2x32x8xf32>, %b: tensor<2x64xf32>, %h: tensor<2x2x8xf32>,
    %c: tensor<2x2x8xf32>, %p: tensor<2x24xf32>) -> tensor<5x2x2x8xf32> {
  %y, %yh, %yc = sparq.lstm bidirectional %x, %w, %r, %b, %h, %c, %p {hidden_size = 8 : i64}
      : (tensor<5x2x4xf32>, tensor<2x32x4xf32>, tensor<2x32x8xf32>, tensor<2x64xf32>,
         tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x24xf32>)
      -> (tensor<5x2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>)
  return %y : tensor<5x2x2x8xf32>
}
