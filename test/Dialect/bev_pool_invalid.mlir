// RUN: sparq-opt %s -split-input-file -verify-diagnostics

func.func @channels(%d: tensor<4xf32>, %f: tensor<2x8xf32>) -> tensor<5x7xf32> {
  // expected-error @+1 {{result has 7 channels, features 8}}
  %0 = sparq.bev_pool %d, %f {depth_index = dense<[0]> : tensor<1xi32>,
      feature_index = dense<[0]> : tensor<1xi32>,
      interval_start = dense<[0, 1]> : tensor<2xi32>,
      interval_cell = dense<[0]> : tensor<1xi32>}
      : (tensor<4xf32>, tensor<2x8xf32>) -> tensor<5x7xf32>
  return %0 : tensor<5x7xf32>
}

// -----

func.func @sizes(%d: tensor<4xf32>, %f: tensor<2x8xf32>) -> tensor<5x8xf32> {
  // expected-error @+1 {{feature_index expects 2 i32 values, got 'tensor<1xi32>'}}
  %0 = sparq.bev_pool %d, %f {depth_index = dense<[0, 1]> : tensor<2xi32>,
      feature_index = dense<[0]> : tensor<1xi32>,
      interval_start = dense<[0, 2]> : tensor<2xi32>,
      interval_cell = dense<[0]> : tensor<1xi32>}
      : (tensor<4xf32>, tensor<2x8xf32>) -> tensor<5x8xf32>
  return %0 : tensor<5x8xf32>
}

// -----

func.func @feature_row(%d: tensor<4xf32>, %f: tensor<2x8xf32>) -> tensor<5x8xf32> {
  // expected-error @+1 {{point 1 reads out of range}}
  %0 = sparq.bev_pool %d, %f {depth_index = dense<[0, 1]> : tensor<2xi32>,
      feature_index = dense<[0, 2]> : tensor<2xi32>,
      interval_start = dense<[0, 2]> : tensor<2xi32>,
      interval_cell = dense<[0]> : tensor<1xi32>}
      : (tensor<4xf32>, tensor<2x8xf32>) -> tensor<5x8xf32>
  return %0 : tensor<5x8xf32>
}

// -----

func.func @cells(%d: tensor<4xf32>, %f: tensor<2x8xf32>) -> tensor<5x8xf32> {
  // expected-error @+1 {{cells not increasing within [0, cells)}}
  %0 = sparq.bev_pool %d, %f {depth_index = dense<[0, 1]> : tensor<2xi32>,
      feature_index = dense<[0, 1]> : tensor<2xi32>,
      interval_start = dense<[0, 1, 2]> : tensor<3xi32>,
      interval_cell = dense<[3, 2]> : tensor<2xi32>}
      : (tensor<4xf32>, tensor<2x8xf32>) -> tensor<5x8xf32>
  return %0 : tensor<5x8xf32>
}
