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

/// Whether `m` is row-major and dense (unit dimensions aside).
template <typename T, int Rank> bool isDense(const MemRef<T, Rank> &m) {
  int64_t expect = 1;
  for (int d = Rank - 1; d >= 0; --d) {
    if (m.sizes[d] != 1 && m.strides[d] != expect)
      return false;
    expect *= m.sizes[d];
  }
  return true;
}

/// Where element `i` (row-major order) of `m` is, from m.aligned.
template <typename T, int Rank>
int64_t elementOffset(const MemRef<T, Rank> &m, int64_t i) {
  int64_t at = m.offset;
  for (int d = Rank - 1; d >= 0; --d) {
    at += (i % m.sizes[d]) * m.strides[d];
    i /= m.sizes[d];
  }
  return at;
}

template <typename T, int Rank> int64_t numElements(const MemRef<T, Rank> &m) {
  int64_t n = 1;
  for (int d = 0; d < Rank; ++d)
    n *= m.sizes[d];
  return n;
}

/// `m`'s elements in row-major order: its own data when dense, else a
/// copy in `scratch`.
template <typename T, int Rank>
const T *contiguous(const MemRef<T, Rank> &m, std::vector<T> &scratch) {
  if (isDense(m))
    return m.data();
  scratch.resize(numElements(m));
  for (int64_t i = 0; i < int64_t(scratch.size()); ++i)
    scratch[i] = m.aligned[elementOffset(m, i)];
  return scratch.data();
}

/// Where a kernel writes `m`'s elements row-major: `m` itself when dense,
/// else `scratch`, which writeBack then copies into `m`.
template <typename T, int Rank>
T *outputOf(const MemRef<T, Rank> &m, std::vector<T> &scratch) {
  if (isDense(m))
    return m.data();
  scratch.resize(numElements(m));
  return scratch.data();
}
template <typename T, int Rank>
void writeBack(const MemRef<T, Rank> &m, const std::vector<T> &scratch) {
  for (int64_t i = 0; i < int64_t(scratch.size()); ++i)
    m.aligned[elementOffset(m, i)] = scratch[i];
}

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_MEMREF_H
