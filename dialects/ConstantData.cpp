//===- ConstantData.cpp - weight-sized constants as releasable blobs ------===//

#include "dialects/ConstantData.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

using namespace mlir;

ElementsAttr mlir::sparq::constantAttr(ShapedType type, ArrayRef<char> bytes,
                                       std::shared_ptr<const void> owner) {
  Type elem = type.getElementType();
  if (elem.isInteger(1)) {
    SmallVector<bool> bits(bytes.begin(), bytes.end());
    return DenseElementsAttr::get(type, ArrayRef<bool>(bits));
  }
  if (int64_t(bytes.size()) < kResourceMinBytes)
    return DenseElementsAttr::getFromRawBuffer(type, bytes);
  // The blob's deleter drops `owner`: the bytes go when the blob does.
  AsmResourceBlob blob(
      bytes, alignof(std::max_align_t),
      [owner = std::move(owner)](void *, size_t, size_t) mutable {
        owner.reset();
      },
      /*dataIsMutable=*/false);
  return DenseResourceElementsAttr::get(type, "sparq_constant",
                                        std::move(blob));
}

ElementsAttr mlir::sparq::retypedConstant(ElementsAttr attr, ShapedType type) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (dense.isSplat())
      return DenseElementsAttr::get(type, dense.getSplatValue<Attribute>());
    if (dense.getElementType().isInteger(1))
      return DenseElementsAttr::get(
          type, llvm::to_vector(dense.getValues<Attribute>()));
    return DenseElementsAttr::getFromRawBuffer(type, dense.getRawData());
  }
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  auto *entry = resource ? resource.getRawHandle().getResource() : nullptr;
  if (!entry || !entry->getBlob())
    return {};
  AsmResourceBlob blob = std::move(*entry->getBlob());
  entry->setBlob(AsmResourceBlob());
  return DenseResourceElementsAttr::get(type, "sparq_constant",
                                        std::move(blob));
}

std::optional<ArrayRef<char>> mlir::sparq::constantBytes(Attribute attr) {
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(attr)) {
    if (dense.getElementType().isInteger(1))
      return std::nullopt;
    return dense.getRawData();
  }
  if (auto resource = dyn_cast_or_null<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || resource.getElementType().isInteger(1))
      return std::nullopt;
    ArrayRef<char> data = blob->getData();
    // A released blob is empty; a constant of no elements is too.
    if (data.empty() && resource.getNumElements() != 0)
      return std::nullopt;
    return data;
  }
  return std::nullopt;
}

bool mlir::sparq::isSplatConstant(Attribute attr) {
  auto dense = dyn_cast_or_null<DenseElementsAttr>(attr);
  return dense && dense.isSplat();
}

void mlir::sparq::releaseConstant(Attribute attr) {
  auto resource = dyn_cast_or_null<DenseResourceElementsAttr>(attr);
  if (!resource)
    return;
  auto *entry = resource.getRawHandle().getResource();
  if (!entry || !entry->getBlob())
    return;
  entry->setBlob(AsmResourceBlob());
  returnFreedMemory();
}

void mlir::sparq::returnFreedMemory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}
