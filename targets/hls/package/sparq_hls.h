// sparq_hls.h - the datapath of sparq's ESE-style sparse engine, in C++ for
// an HLS tool (Vitis HLS style pragmas) and for C-simulation with g++.
//
// Standard integer types only (no vendor headers): activations int16 with
// SPARQ_ACT_FRAC fraction bits, weights 12-bit codes, products summed
// exactly in int64, rounded half up and saturated. The weights are the
// blobs of sparq's formats library (runtime/formats/Packed.h), read in
// place: interleaved CSC, per PE and column a range of entries, each a
// 4-bit count of the zeros before it and a 12-bit fixed-point (offset by
// 2048) or 4-bit codebook value. runtime/hls/Engine.h defines what this
// code computes; sparqc's C-simulation test holds it to that bit for bit.

#ifndef SPARQ_HLS_H
#define SPARQ_HLS_H

// HLS pragmas are written as the tools document them (II=1): no
// reformatting.
// clang-format off

#include <stdint.h>

#ifndef SPARQ_ACT_FRAC
#error "define SPARQ_ACT_FRAC (the activations' fraction bits) first"
#endif

typedef int16_t sparq_act;
typedef int64_t sparq_acc;

// Where one matrix's sections start in the weights, and how to read them.
struct sparq_matrix {
  uint64_t ptr, idx, val; // byte offsets of the blob's sections
  unsigned value_bits;    // 12 (fixed point) or 4 (codebook)
  int frac;               // fraction bits of the values
  const int16_t *table;   // codebook: the centroids; else 0
};

// Up to 17 bits at bit `pos` of a little-endian bit stream (three bytes
// read; the weights end with padding).
static inline uint32_t sparq_bits(const uint8_t *p, uint64_t pos,
                                  unsigned width) {
#pragma HLS INLINE
  const uint8_t *b = p + (pos >> 3);
  uint32_t v = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16);
  return (v >> (pos & 7)) & ((1u << width) - 1u);
}

static inline uint32_t sparq_word(const uint8_t *p, uint64_t at) {
#pragma HLS INLINE
  return (uint32_t)p[at] | ((uint32_t)p[at + 1] << 8) |
         ((uint32_t)p[at + 2] << 16) | ((uint32_t)p[at + 3] << 24);
}

static inline int64_t sparq_round_shift(int64_t a, int s) {
#pragma HLS INLINE
  return s > 0 ? (a + ((int64_t)1 << (s - 1))) >> s : a;
}

static inline sparq_act sparq_saturate(int64_t v) {
#pragma HLS INLINE
  return (sparq_act)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

// sigmoid/tanh: 2048-entry tables over [-8, 8) in steps of 1/128.
static inline sparq_act sparq_lookup(const int16_t table[2048], sparq_act x) {
#pragma HLS INLINE
  int32_t i = ((int32_t)x >> (SPARQ_ACT_FRAC - 7)) + 1024;
  return table[i < 0 ? 0 : i > 2047 ? 2047 : i];
}

static inline int32_t sparq_value(const uint8_t *w, const sparq_matrix &m,
                                  uint32_t e) {
#pragma HLS INLINE
  uint32_t code =
      sparq_bits(w + m.val, (uint64_t)e * m.value_bits, m.value_bits);
  return m.table ? (int32_t)m.table[code]
                 : (int32_t)code - (int32_t)(1u << (m.value_bits - 1));
}

// y = W x rounded to the activations' fraction bits: ROWS x COLS on PES
// processing elements. Each column's activation is broadcast to every PE;
// PE p walks its entries of that column (rows p, p+PES, ...), one
// multiply-accumulate per cycle, into its own accumulators.
template <int PES, int ROWS, int COLS>
void sparq_spmv(const uint8_t *w, const sparq_matrix &m,
                const sparq_act x[COLS], int64_t y[ROWS]) {
  const int LOCAL = (ROWS + PES - 1) / PES;
  sparq_acc acc[PES][LOCAL];
#pragma HLS ARRAY_PARTITION variable=acc dim=1 complete
clear:
  for (int k = 0; k < LOCAL; ++k)
    for (int p = 0; p < PES; ++p) {
#pragma HLS UNROLL
      acc[p][k] = 0;
    }
broadcast:
  for (int j = 0; j < COLS; ++j) {
    const sparq_act xj = x[j];
  pe:
    for (int p = 0; p < PES; ++p) {
#pragma HLS UNROLL
      const uint64_t at = m.ptr + 4 * ((uint64_t)p * (COLS + 1) + j);
      const uint32_t end = sparq_word(w, at + 4);
      int local = -1;
    entries:
      for (uint32_t e = sparq_word(w, at); e < end; ++e) {
#pragma HLS PIPELINE II=1
        local += (int)sparq_bits(w + m.idx, (uint64_t)e * 4, 4) + 1;
        acc[p][local] += (sparq_acc)sparq_value(w, m, e) * xj;
      }
    }
  }
gather:
  for (int r = 0; r < ROWS; ++r) {
#pragma HLS PIPELINE II=1
    y[r] = sparq_round_shift(acc[r % PES][r / PES], m.frac);
  }
}

enum { SPARQ_NONE, SPARQ_RELU, SPARQ_SIGMOID, SPARQ_TANH };

// A Gemm/MatMul layer over STEPS vectors: act(W x + bias).
template <int PES, int ROWS, int COLS, int STEPS>
void sparq_dense(const uint8_t *w, const sparq_matrix &m, const int16_t *bias,
                 int act, const int16_t sig[2048], const int16_t tnh[2048],
                 const sparq_act *x, sparq_act *y) {
  static int64_t acc[ROWS];
steps:
  for (int t = 0; t < STEPS; ++t) {
    sparq_spmv<PES, ROWS, COLS>(w, m, x + t * COLS, acc);
  finish:
    for (int r = 0; r < ROWS; ++r) {
#pragma HLS PIPELINE II=1
      sparq_act v = sparq_saturate(acc[r] + (bias ? bias[r] : 0));
      if (act == SPARQ_RELU)
        v = v < 0 ? 0 : v;
      else if (act == SPARQ_SIGMOID)
        v = sparq_lookup(sig, v);
      else if (act == SPARQ_TANH)
        v = sparq_lookup(tnh, v);
      y[t * ROWS + r] = v;
    }
  }
}

// An ONNX LSTM (gates i, o, f, c; peepholes i, o, f) over STEPS inputs,
// from zero states; y gets every step's h. ESE's schedule: the input
// product W x_{t+1} needs no h, so it runs beside step t's element-wise
// work (the DATAFLOW region; gx is double-buffered), while R h_t waits for
// it.
template <int PES, int H, int IN, int STEPS>
void sparq_lstm(const uint8_t *w, const sparq_matrix &wx,
                const sparq_matrix &wh, const int16_t bias[8 * H],
                const int16_t peep[3 * H], int32_t clip,
                const int16_t sig[2048], const int16_t tnh[2048],
                const sparq_act *x, sparq_act *y) {
  static sparq_act h[H], c[H];
  static int64_t gx[2][4 * H], gh[4 * H];
init:
  for (int j = 0; j < H; ++j) {
    h[j] = 0;
    c[j] = 0;
  }
  sparq_spmv<PES, 4 * H, IN>(w, wx, x, gx[0]);
steps:
  for (int t = 0; t < STEPS; ++t) {
#pragma HLS DATAFLOW
    const int64_t *gxt = gx[t & 1];
    sparq_spmv<PES, 4 * H, H>(w, wh, h, gh);
  cells:
    for (int j = 0; j < H; ++j) {
#pragma HLS PIPELINE II=1
      int64_t pre[4];
      for (int g = 0; g < 4; ++g) {
        const int k = g * H + j;
        pre[g] = gxt[k] + gh[k] + bias[k] + bias[4 * H + k];
      }
      const sparq_act cp = c[j];
#define SPARQ_CLIP(v)                                                          \
  (clip < 0 ? (v) : (v) < -clip ? -clip : (v) > clip ? clip : (v))
      const int64_t pi =
          pre[0] + sparq_round_shift((int64_t)peep[j] * cp, SPARQ_ACT_FRAC);
      const int64_t pf =
          pre[2] +
          sparq_round_shift((int64_t)peep[2 * H + j] * cp, SPARQ_ACT_FRAC);
      const sparq_act i = sparq_lookup(sig, sparq_saturate(SPARQ_CLIP(pi)));
      const sparq_act f = sparq_lookup(sig, sparq_saturate(SPARQ_CLIP(pf)));
      const sparq_act g = sparq_lookup(tnh, sparq_saturate(SPARQ_CLIP(pre[3])));
      const sparq_act cn = sparq_saturate(
          sparq_round_shift((int64_t)f * cp + (int64_t)i * g, SPARQ_ACT_FRAC));
      const int64_t po =
          pre[1] + sparq_round_shift((int64_t)peep[H + j] * cn, SPARQ_ACT_FRAC);
      const sparq_act o = sparq_lookup(sig, sparq_saturate(SPARQ_CLIP(po)));
#undef SPARQ_CLIP
      c[j] = cn;
      y[t * H + j] = sparq_saturate(sparq_round_shift(
          (int64_t)o * sparq_lookup(tnh, cn), SPARQ_ACT_FRAC));
    }
    // The next step's input product, independent of the cells above.
    if (t + 1 < STEPS)
      sparq_spmv<PES, 4 * H, IN>(w, wx, x + (t + 1) * IN, gx[(t + 1) & 1]);
  update:
    for (int j = 0; j < H; ++j)
      h[j] = y[t * H + j];
  }
}

#endif // SPARQ_HLS_H
