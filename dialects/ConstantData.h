//===- ConstantData.h - weight-sized constants as releasable blobs -*- C++
//-*-===//
//
// A DenseElementsAttr lives as long as its MLIRContext: every copy a pass
// makes of a weight (transposed, packed, quantized) stays in memory to the
// end of the compile. Constants of kResourceMinBytes or more are therefore
// `dense_resource` blobs, which can share the bytes the importer read and
// be released once their last user is gone: a compile then holds about one
// copy of the weights at a time. Smaller constants stay `dense`, so folds
// and printed IR are unchanged for them.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_DIALECTS_CONSTANTDATA_H
#define SPARQ_DIALECTS_CONSTANTDATA_H

#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/BuiltinTypes.h"

#include <memory>
#include <optional>
#include <vector>

namespace mlir::sparq {

/// Constants this large or larger are dense_resource blobs.
constexpr int64_t kResourceMinBytes = 64 * 1024;

/// A constant of `type` over `bytes` (row-major, each element its type's
/// byte size; bool as one byte per element). Small ones are copied into a
/// DenseElementsAttr; large ones point at `bytes`, which `owner` keeps
/// alive until the blob is released.
ElementsAttr constantAttr(ShapedType type, ArrayRef<char> bytes,
                          std::shared_ptr<const void> owner);

/// The same over `values`, which a large constant takes over.
template <typename T>
ElementsAttr constantAttr(ShapedType type, std::vector<T> &&values) {
  auto owned = std::make_shared<std::vector<T>>(std::move(values));
  ArrayRef<char> bytes(reinterpret_cast<const char *>(owned->data()),
                       owned->size() * sizeof(T));
  return constantAttr(type, bytes, std::move(owned));
}

/// `attr`'s elements as a constant of `type` (the same shape and element
/// type, another encoding) without a copy of a large one: a dense_resource
/// hands its blob over, and `attr` reads as released afterwards.
ElementsAttr retypedConstant(ElementsAttr attr, ShapedType type);

/// The bytes of a dense or dense_resource constant, element after element
/// (one element for a splat; see isSplatConstant); nullopt for any other
/// attribute, a bool constant, or a released blob.
std::optional<ArrayRef<char>> constantBytes(Attribute attr);

/// Whether `attr` is a dense splat (its bytes are one element).
bool isSplatConstant(Attribute attr);

/// Frees the bytes of a dense_resource constant that nothing reads any
/// more, pages and all (returnFreedMemory); a no-op for other attributes.
/// Reading it afterwards gives nullopt.
void releaseConstant(Attribute attr);

/// Hands the pages of freed memory back to the system. malloc keeps a
/// freed weight's pages in its heap for reuse: without this, a compile's
/// peak memory would count every copy of a weight it had dropped.
void returnFreedMemory();

} // namespace mlir::sparq

#endif // SPARQ_DIALECTS_CONSTANTDATA_H
