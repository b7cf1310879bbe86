// RUN: sparq-opt %s -split-input-file -verify-diagnostics

func.func @nonzero_bound(%m: tensor<2x3xi1>) -> tensor<2x5xi64> {
  // expected-error @+1 {{bound 5 is below the mask's 6 elements}}
  %r, %n = sparq.nonzero %m : tensor<2x3xi1> -> tensor<2x5xi64>
  return %r : tensor<2x5xi64>
}

// -----

func.func @nonzero_rank(%m: tensor<2x3xi1>) -> tensor<3x6xi64> {
  // expected-error @+1 {{result must be a static [2, bound]}}
  %r, %n = sparq.nonzero %m : tensor<2x3xi1> -> tensor<3x6xi64>
  return %r : tensor<3x6xi64>
}

// -----

func.func @nms_boxes(%b: tensor<1x6x3xf32>, %s: tensor<1x1x6xf32>, %k: tensor<1xi64>, %t: tensor<1xf32>) -> tensor<6x3xi64> {
  // expected-error @+1 {{expects boxes [B, N, 4] and scores [B, C, N]}}
  %r, %n = sparq.non_max_suppression %b, %s, %k, %t, %t {center_point_box = 0 : i64}
      : (tensor<1x6x3xf32>, tensor<1x1x6xf32>, tensor<1xi64>, tensor<1xf32>, tensor<1xf32>) -> tensor<6x3xi64>
  return %r : tensor<6x3xi64>
}

// -----

func.func @nms_center(%b: tensor<1x6x4xf32>, %s: tensor<1x1x6xf32>, %k: tensor<1xi64>, %t: tensor<1xf32>) -> tensor<6x3xi64> {
  // expected-error @+1 {{center_point_box must be 0 or 1}}
  %r, %n = sparq.non_max_suppression %b, %s, %k, %t, %t {center_point_box = 2 : i64}
      : (tensor<1x6x4xf32>, tensor<1x1x6xf32>, tensor<1xi64>, tensor<1xf32>, tensor<1xf32>) -> tensor<6x3xi64>
  return %r : tensor<6x3xi64>
}

// -----

func.func @nms_scalars(%b: tensor<1x6x4xf32>, %s: tensor<1x1x6xf32>, %k: tensor<2xi64>, %t: tensor<1xf32>) -> tensor<6x3xi64> {
  // expected-error @+1 {{expects one-element max_output and thresholds}}
  %r, %n = sparq.non_max_suppression %b, %s, %k, %t, %t {center_point_box = 0 : i64}
      : (tensor<1x6x4xf32>, tensor<1x1x6xf32>, tensor<2xi64>, tensor<1xf32>, tensor<1xf32>) -> tensor<6x3xi64>
  return %r : tensor<6x3xi64>
}

// -----

func.func @unique_sizes(%x: tensor<1x6x2xf32>) -> tensor<1x6x2xf32> {
  // expected-error @+1 {{indices, inverse and counts must be [6]}}
  %y, %i, %v, %c, %n = sparq.unique %x {sorted} : tensor<1x6x2xf32>
      -> tensor<1x6x2xf32>, tensor<5xi64>, tensor<6xi64>, tensor<6xi64>
  return %y : tensor<1x6x2xf32>
}
