// RUN: sparq-opt %s -split-input-file -verify-diagnostics

func.func @negative_ratio(%x: tensor<1x2x8x8xf32>, %r: tensor<3x4xf32>, %i: tensor<3xi64>) -> tensor<3x2x2x2xf32> {
  // expected-error @+1 {{expects output sizes >= 1 and sampling_ratio >= 0}}
  %0 = sparq.roi_align %x, %r, %i {mode = "avg", output_height = 2 : i64, output_width = 2 : i64, sampling_ratio = -1 : i64, spatial_scale = 1.0 : f32}
      : (tensor<1x2x8x8xf32>, tensor<3x4xf32>, tensor<3xi64>) -> tensor<3x2x2x2xf32>
  return %0 : tensor<3x2x2x2xf32>
}

// -----

func.func @mode(%x: tensor<1x2x8x8xf32>, %r: tensor<3x4xf32>, %i: tensor<3xi64>) -> tensor<3x2x2x2xf32> {
  // expected-error @+1 {{mode must be "avg" or "max", got "mean"}}
  %0 = sparq.roi_align %x, %r, %i {mode = "mean", output_height = 2 : i64, output_width = 2 : i64, sampling_ratio = 0 : i64, spatial_scale = 1.0 : f32}
      : (tensor<1x2x8x8xf32>, tensor<3x4xf32>, tensor<3xi64>) -> tensor<3x2x2x2xf32>
  return %0 : tensor<3x2x2x2xf32>
}

// -----

func.func @shape(%x: tensor<1x2x8x8xf32>, %r: tensor<3x4xf32>, %i: tensor<2xi64>) -> tensor<3x2x2x2xf32> {
  // expected-error @+1 {{rois must be [R, 4] and batch_indices [R]}}
  %0 = sparq.roi_align %x, %r, %i {mode = "avg", output_height = 2 : i64, output_width = 2 : i64, sampling_ratio = 0 : i64, spatial_scale = 1.0 : f32, half_pixel}
      : (tensor<1x2x8x8xf32>, tensor<3x4xf32>, tensor<2xi64>) -> tensor<3x2x2x2xf32>
  return %0 : tensor<3x2x2x2xf32>
}

// -----

func.func @result(%x: tensor<1x2x8x8xf32>, %r: tensor<3x4xf32>, %i: tensor<3xi64>) -> tensor<3x2x3x2xf32> {
  // expected-error @+1 {{result must be [R, 2, 2, 2] with R of rois}}
  %0 = sparq.roi_align %x, %r, %i {mode = "max", output_height = 2 : i64, output_width = 2 : i64, sampling_ratio = 0 : i64, spatial_scale = 1.0 : f32}
      : (tensor<1x2x8x8xf32>, tensor<3x4xf32>, tensor<3xi64>) -> tensor<3x2x3x2xf32>
  return %0 : tensor<3x2x3x2xf32>
}

// -----

// R may be a run-time dimension, but X may not.
func.func @dynamic_x(%x: tensor<?x2x8x8xf32>, %r: tensor<?x4xf32>, %i: tensor<?xi64>) -> tensor<?x2x2x2xf32> {
  // expected-error @+1 {{expects static x [N, C, H, W]}}
  %0 = sparq.roi_align %x, %r, %i {mode = "max", output_height = 2 : i64, output_width = 2 : i64, sampling_ratio = 0 : i64, spatial_scale = 1.0 : f32}
      : (tensor<?x2x8x8xf32>, tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x2x2x2xf32>
  return %0 : tensor<?x2x2x2xf32>
}
