// RUN: sparq-opt %s -split-input-file -verify-diagnostics

func.func @wrong_w(%x: tensor<5x2x4xf32>, %w: tensor<1x16x4xf32>,
    %r: tensor<1x32x8xf32>, %b: tensor<1x64xf32>, %h: tensor<1x2x8xf32>,
    %c: tensor<1x2x8xf32>, %p: tensor<1x24xf32>) {
  // expected-error @+1 {{'sparq.lstm' op w expects shape [1, 32, 4], got [1, 16, 4]}}
  %y, %yh, %yc = sparq.lstm forward %x, %w, %r, %b, %h, %c, %p {hidden_size = 8 : i64}
      : (tensor<5x2x4xf32>, tensor<1x16x4xf32>, tensor<1x32x8xf32>, tensor<1x64xf32>,
         tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x24xf32>)
      -> (tensor<5x1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>)
  return
}

// -----

func.func @bidirectional_needs_two(%x: tensor<5x2x4xf32>, %w: tensor<1x32x4xf32>,
    %r: tensor<1x32x8xf32>, %b: tensor<1x64xf32>, %h: tensor<1x2x8xf32>,
    %c: tensor<1x2x8xf32>, %p: tensor<1x24xf32>) {
  // expected-error @+1 {{'sparq.lstm' op w expects shape [2, 32, 4], got [1, 32, 4]}}
  %y, %yh, %yc = sparq.lstm bidirectional %x, %w, %r, %b, %h, %c, %p {hidden_size = 8 : i64}
      : (tensor<5x2x4xf32>, tensor<1x32x4xf32>, tensor<1x32x8xf32>, tensor<1x64xf32>,
         tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x24xf32>)
      -> (tensor<5x2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>)
  return
}

// -----

func.func @rank(%x: tensor<5x4xf32>, %w: tensor<1x32x4xf32>,
    %r: tensor<1x32x8xf32>, %b: tensor<1x64xf32>, %h: tensor<1x2x8xf32>,
    %c: tensor<1x2x8xf32>, %p: tensor<1x24xf32>) {
  // expected-error @+1 {{'sparq.lstm' op input expects rank 3 [T, B, I], got rank 2}}
  %y, %yh, %yc = sparq.lstm forward %x, %w, %r, %b, %h, %c, %p {hidden_size = 8 : i64}
      : (tensor<5x4xf32>, tensor<1x32x4xf32>, tensor<1x32x8xf32>, tensor<1x64xf32>,
         tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x24xf32>)
      -> (tensor<5x1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>)
  return
}
