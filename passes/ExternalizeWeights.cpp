//===- ExternalizeWeights.cpp - weights out of the generated code ---------===//
//
// Weight bytes that reach LLVM as constant initializers cost compile time
// and memory in proportion to their size (LLVM builds a Constant per
// element, optimizes, emits and destroys them), and land in the object
// file. Here they leave the module at the last moment, in the LLVM dialect:
// the code keeps only offsets into one blob that the loader maps.
//
//===----------------------------------------------------------------------===//

#include "dialects/ConstantData.h"
#include "passes/Passes.h"
#include "runtime/io/WeightsFile.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/ADT/DenseMap.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_EXTERNALIZEWEIGHTS
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;

namespace {

/// The bytes of a global this pass can move: a constant whose value is a
/// dense array of byte-sized integers or floats (i1 and strings stay).
struct Movable {
  LLVM::GlobalOp global;
  ElementsAttr value;
  size_t bytes = 0;
};

std::optional<Movable> movable(LLVM::GlobalOp g, int64_t minBytes) {
  if (!g.getConstant() || !g.getInitializerRegion().empty())
    return std::nullopt;
  auto value = dyn_cast_or_null<ElementsAttr>(g.getValueOrNull());
  if (!value || !mlir::sparq::constantBytes(value))
    return std::nullopt;
  Type elem = value.getElementType();
  if (!isa<IntegerType, FloatType>(elem) ||
      elem.getIntOrFloatBitWidth() % 8 != 0)
    return std::nullopt;
  size_t bytes =
      size_t(value.getNumElements()) * (elem.getIntOrFloatBitWidth() / 8);
  if (int64_t(bytes) < minBytes)
    return std::nullopt;
  return Movable{g, value, bytes};
}

LLVM::GlobalOp defineI64(OpBuilder &b, Location loc, StringRef name,
                         uint64_t v) {
  return b.create<LLVM::GlobalOp>(loc, b.getI64Type(), /*isConstant=*/true,
                                  LLVM::Linkage::External, name,
                                  b.getI64IntegerAttr(int64_t(v)));
}

} // namespace

LogicalResult mlir::sparq::externalizeWeights(ModuleOp module,
                                              ::sparq::io::WeightsBlob &blob,
                                              int64_t minBytes) {
  MLIRContext *ctx = module.getContext();
  for (const char *name :
       {kWeightsSymbol, kWeightsSizeSymbol, kWeightsDigestSymbol})
    if (module.lookupSymbol(name))
      return module.emitError() << "the module already has '" << name
                                << "': its weights were moved out before";

  // Globals whose every use is an addressof inside a function (the code
  // that reads them); a use anywhere else keeps the global where it is.
  llvm::DenseMap<StringAttr, SmallVector<LLVM::AddressOfOp>> uses;
  llvm::DenseSet<StringAttr> pinned;
  module.walk([&](LLVM::AddressOfOp a) {
    StringAttr name = a.getGlobalNameAttr().getAttr();
    if (a->getParentOfType<LLVM::LLVMFuncOp>())
      uses[name].push_back(a);
    else
      pinned.insert(name);
  });
  SmallVector<Movable> moving;
  size_t total = 0;
  for (auto g : module.getOps<LLVM::GlobalOp>())
    if (auto m = movable(g, minBytes);
        m && !pinned.contains(g.getSymNameAttr())) {
      total += ::sparq::io::alignedWeightBytes(m->bytes);
      moving.push_back(*m);
    }
  blob.reserve(blob.size() + total);

  OpBuilder b(ctx);
  b.setInsertionPointToStart(module.getBody());
  Location loc = module.getLoc();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  // The pointer the loader sets: null (zero-initialized) until then.
  auto base = b.create<LLVM::GlobalOp>(loc, ptr, /*isConstant=*/false,
                                       LLVM::Linkage::External, kWeightsSymbol,
                                       Attribute());
  {
    OpBuilder::InsertionGuard guard(b);
    b.createBlock(&base.getInitializerRegion());
    Value zero = b.create<LLVM::ZeroOp>(loc, ptr);
    b.create<LLVM::ReturnOp>(loc, zero);
  }

  // Globals of one value share its bytes (attributes are uniqued).
  llvm::DenseMap<Attribute, uint64_t> placed;
  for (Movable &m : moving) {
    auto [it, first] = placed.try_emplace(m.value, 0);
    if (first) {
      ArrayRef<char> raw = *mlir::sparq::constantBytes(m.value);
      it->second = mlir::sparq::isSplatConstant(m.value)
                       ? blob.append(raw.data(), m.bytes,
                                     size_t(m.value.getNumElements()))
                       : blob.append(raw.data(), m.bytes);
      // The blob has the bytes now: a dense_resource's own copy can go.
      mlir::sparq::releaseConstant(m.value);
    }
    uint64_t offset = it->second;
    for (LLVM::AddressOfOp a : uses.lookup(m.global.getSymNameAttr())) {
      b.setInsertionPoint(a);
      Location l = a.getLoc();
      Value slot = b.create<LLVM::AddressOfOp>(l, ptr, kWeightsSymbol);
      Value p = b.create<LLVM::LoadOp>(l, ptr, slot);
      Value off = b.create<LLVM::ConstantOp>(l, b.getI64Type(),
                                             b.getI64IntegerAttr(offset));
      Value at = b.create<LLVM::GEPOp>(l, ptr, b.getI8Type(), p,
                                       ValueRange{off}, /*inbounds=*/true);
      a.replaceAllUsesWith(at);
      a.erase();
    }
    m.global.erase();
  }
  b.setInsertionPointToEnd(module.getBody());
  defineI64(b, loc, kWeightsSizeSymbol, blob.size());
  defineI64(b, loc, kWeightsDigestSymbol, blob.digest());
  return success();
}

namespace {
struct ExternalizeWeightsPass
    : mlir::sparq::impl::ExternalizeWeightsBase<ExternalizeWeightsPass> {
  using ExternalizeWeightsBase::ExternalizeWeightsBase;
  void runOnOperation() override {
    if (file.empty()) {
      getOperation().emitError()
          << "sparq-externalize-weights needs file=PATH: the weights "
             "would be lost";
      return signalPassFailure();
    }
    ::sparq::io::WeightsBlob blob;
    if (failed(mlir::sparq::externalizeWeights(getOperation(), blob, minBytes)))
      return signalPassFailure();
    std::string error;
    if (!blob.write(file, error)) {
      getOperation().emitError() << error;
      return signalPassFailure();
    }
  }
};
} // namespace
