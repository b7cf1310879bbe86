// RUN: sparq-opt %s -split-input-file -verify-diagnostics

func.func @channels(%s: tensor<1x3x9x9xf32>, %p: tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32> {
  // expected-error @+1 {{patches have 2 channels, the search region 3}}
  %0 = sparq.correlation %s, %p {stride = 2 : i64, eps = 0.0 : f32}
      : (tensor<1x3x9x9xf32>, tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}

// -----

func.func @shape(%s: tensor<1x2x9x9xf32>, %p: tensor<4x2x2x2xf32>) -> tensor<1x4x8x8xf32> {
  // expected-error @+1 {{result must be 1x4x4x4}}
  %0 = sparq.correlation %s, %p {stride = 2 : i64, eps = 0.0 : f32}
      : (tensor<1x2x9x9xf32>, tensor<4x2x2x2xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

func.func @stride(%s: tensor<1x2x9x9xf32>, %p: tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32> {
  // expected-error @+1 {{stride must be at least 1, got 0}}
  %0 = sparq.correlation %s, %p {stride = 0 : i64, eps = 0.0 : f32}
      : (tensor<1x2x9x9xf32>, tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}

// -----

func.func @eps(%s: tensor<1x2x9x9xf32>, %p: tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32> {
  // expected-error @+1 {{eps must be a number >= 0}}
  %0 = sparq.correlation %s, %p {stride = 2 : i64, eps = -1.0 : f32}
      : (tensor<1x2x9x9xf32>, tensor<4x2x2x2xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}
