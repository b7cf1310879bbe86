// RUN: sparq-opt %s --sparq-lower-rnn -split-input-file | FileCheck %s

// The input projection of all steps is one matmul; the recurrence an scf.for
// over the sequence with one recurrent matmul per step; a reverse direction
// walks t = T-1-iv.
// CHECK-LABEL: func @lstm_bidirectional
// CHECK-NOT: sparq.lstm
// CHECK: linalg.matmul
// CHECK: scf.for
// CHECK: linalg.matmul
// CHECK: math.tanh
// CHECK: scf.yield
// CHECK: linalg.matmul
// CHECK: scf.for
// CHECK: arith.subi
// CHECK: scf.yield
// CHECK: return
func.func @lstm_bidirectional(%x: tensor<5x2x4xf32>, %w: tensor<2x32x4xf32>,
    %r: tensor<2x32x8xf32>, %b: tensor<2x64xf32>, %h: tensor<2x2x8xf32>,
    %c: tensor<2x2x8xf32>, %p: tensor<2x24xf32>) -> (tensor<5x2x2x8xf32>, tensor<2x2x8xf32>) {
  %y, %yh, %yc = sparq.lstm bidirectional %x, %w, %r, %b, %h, %c, %p {hidden_size = 8 : i64}
      : (tensor<5x2x4xf32>, tensor<2x32x4xf32>, tensor<2x32x8xf32>, tensor<2x64xf32>,
         tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x24xf32>)
      -> (tensor<5x2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>)
  return %y, %yc : tensor<5x2x2x8xf32>, tensor<2x2x8xf32>
}

// -----

// clip clamps the gate pre-activations.
// CHECK-LABEL: func @lstm_clip
// CHECK: arith.constant 2.500000e+00
// CHECK: arith.minimumf
// CHECK: arith.maximumf
func.func @lstm_clip(%x: tensor<3x1x2xf32>, %w: tensor<1x16x2xf32>,
    %r: tensor<1x16x4xf32>, %b: tensor<1x32xf32>, %h: tensor<1x1x4xf32>,
    %c: tensor<1x1x4xf32>, %p: tensor<1x12xf32>) -> tensor<3x1x1x4xf32> {
  %y, %yh, %yc = sparq.lstm forward %x, %w, %r, %b, %h, %c, %p {hidden_size = 4 : i64, clip = 2.5 : f32}
      : (tensor<3x1x2xf32>, tensor<1x16x2xf32>, tensor<1x16x4xf32>, tensor<1x32xf32>,
         tensor<1x1x4xf32>, tensor<1x1x4xf32>, tensor<1x12xf32>)
      -> (tensor<3x1x1x4xf32>, tensor<1x1x4xf32>, tensor<1x1x4xf32>)
  return %y : tensor<3x1x1x4xf32>
}

// -----

// GRU (default linear_before_reset = 0): the reset gate scales h before the
// second recurrent matmul.
// CHECK-LABEL: func @gru
// CHECK-NOT: sparq.gru
// CHECK: scf.for
// CHECK: linalg.matmul
// CHECK: linalg.generic
// CHECK: linalg.matmul
// CHECK: math.tanh
func.func @gru(%x: tensor<3x2x4xf32>, %w: tensor<1x24x4xf32>, %r: tensor<1x24x8xf32>,
    %b: tensor<1x48xf32>, %h: tensor<1x2x8xf32>) -> tensor<3x1x2x8xf32> {
  %y, %yh = sparq.gru forward %x, %w, %r, %b, %h {hidden_size = 8 : i64}
      : (tensor<3x2x4xf32>, tensor<1x24x4xf32>, tensor<1x24x8xf32>, tensor<1x48xf32>,
         tensor<1x2x8xf32>) -> (tensor<3x1x2x8xf32>, tensor<1x2x8xf32>)
  return %y : tensor<3x1x2x8xf32>
}

// -----

// CHECK-LABEL: func @rnn_relu
// CHECK-NOT: sparq.rnn
// CHECK: scf.for
// CHECK: arith.maximumf
func.func @rnn_relu(%x: tensor<3x2x4xf32>, %w: tensor<1x8x4xf32>, %r: tensor<1x8x8xf32>,
    %b: tensor<1x16xf32>, %h: tensor<1x2x8xf32>) -> tensor<1x2x8xf32> {
  %y, %yh = sparq.rnn reverse %x, %w, %r, %b, %h {hidden_size = 8 : i64, activation = #sparq<activation relu>}
      : (tensor<3x2x4xf32>, tensor<1x8x4xf32>, tensor<1x8x8xf32>, tensor<1x16xf32>,
         tensor<1x2x8xf32>) -> (tensor<3x1x2x8xf32>, tensor<1x2x8xf32>)
  return %yh : tensor<1x2x8xf32>
}
