//===- MemRef.h - the memref descriptor generated code passes ---*- C++ -*-===//
//
// The layout of a ranked memref as MLIR's LLVM lowering passes it to a
// function with the C interface (`llvm.emit_c_interface`): a pointer to this
// struct. Plain C++ so the runtime does not depend on MLIR.
//
//===----------------------------------------------------------------------===//
#ifndef SPARQ_RUNTIME_KERNELS_MEMREF_H
#define SPARQ_RUNTIME_KERNELS_MEMREF_H

#include <cstdint>
#include <vector>

namespace sparq::kernels {

template <typename T, int Rank> struct MemRef {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];

  T *data() const { return aligned + offset; }
  /// True if the innermost dimension is contiguous.
  bool unitInner() const { return strides[Rank - 1] == 1 || sizes[Rank - 1] == 1; }
};

/// A row-major memref over `data` with `sizes`: how a program that links
/// compiled code (or a test) describes its own buffers.
template <typename T, int Rank>
MemRef<T, Rank> rowMajor(T *data, const int64_t (&sizes)[Rank]) {
  MemRef<T, Rank> m;
  m.allocated = m.aligned = data;
  m.offset = 0;
  int64_t stride = 1;
  for (int i = Rank - 1; i >= 0; --i) {
    m.sizes[i] = sizes[i];
    m.strides[i] = stride;
    stride *= sizes[i];
  }
  return m;
}

/// Index `index` of dimension `dim` of `m`, a memref one rank lower (a
/// grouped convolution's group of [N, G, C, H, W] or [G, F, C, KH, KW]).
template <typename T, int Rank>
MemRef<T, Rank - 1> sliceOf(const MemRef<T, Rank> &m, int dim, int64_t index) {
  MemRef<T, Rank - 1> r;
  r.allocated = m.allocated;
  r.aligned = m.aligned;
  r.offset = m.offset + index * m.strides[dim];
  for (int i = 0, j = 0; i < Rank; ++i)
    if (i != dim) {
      r.sizes[j] = m.sizes[i];
      r.strides[j++] = m.strides[i];
    }
  return r;
}

/// `m`'s elements in row-major order: its own data when contiguous, else a
/// copy in `scratch`.
template <int Rank>
const float *contiguous(const MemRef<float, Rank> &m,
                        std::vector<float> &scratch) {
  int64_t expect = 1, n = 1;
  bool dense = true;
  for (int d = Rank - 1; d >= 0; --d) {
    if (m.sizes[d] != 1 && m.strides[d] != expect)
      dense = false;
    expect *= m.sizes[d];
  }
  n = expect;
  if (dense)
    return m.data();
  scratch.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, at = m.offset;
    for (int d = Rank - 1; d >= 0; --d) {
      at += (rest % m.sizes[d]) * m.strides[d];
      rest /= m.sizes[d];
    }
    scratch[i] = m.aligned[at];
  }
  return scratch.data();
}

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_MEMREF_H
