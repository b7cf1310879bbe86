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

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_MEMREF_H
