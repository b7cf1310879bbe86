/* A plain NEON 3x3 convolution (NCHW, f32, stride 1), as one writes it by
 * hand with intrinsics: four outputs of a row at a time, accumulated over
 * input channels and taps with one fmla each. bench/arm_hot_loops.py counts
 * the instructions of its inner loop per multiply-accumulate against those
 * of the arm target's Halide pipelines. */
#include <arm_neon.h>

void reference_conv3x3(const float *in, const float *w, const float *bias,
                       float *out, int channels, int filters, int height,
                       int width) {
  int ow = width - 2, oh = height - 2;
  for (int f = 0; f < filters; ++f)
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x + 4 <= ow; x += 4) {
        float32x4_t acc = vdupq_n_f32(bias[f]);
        for (int c = 0; c < channels; ++c) {
          const float *row = in + (c * height + y) * width + x;
          const float *k = w + (f * channels + c) * 9;
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx)
              acc = vfmaq_f32(acc, vld1q_f32(row + ky * width + kx),
                              vdupq_n_f32(k[ky * 3 + kx]));
        }
        vst1q_f32(out + (f * oh + y) * ow + x, acc);
      }
}
