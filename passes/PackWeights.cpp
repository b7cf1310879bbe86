//===- PackWeights.cpp - encoded weights to packed byte blobs -------------===//

#include "dialects/ConstantData.h"
#include "passes/Passes.h"
#include "passes/Weights.h"

#include "runtime/formats/Packed.h"
#include "runtime/kernels/ThreadPool.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_PACKWEIGHTS
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

/// The weight as the packed bytes give it back, as a plain constant.
Value decodedConstant(OpBuilder &b, Location loc, RankedTensorType type,
                      const std::vector<uint8_t> &blob) {
  formats::PackedView p(blob.data(), blob.size());
  std::vector<float> dense(p.rows() * p.cols());
  formats::decodeRows(p, 0, p.rows(), dense.data());
  auto plain = RankedTensorType::get(type.getShape(), type.getElementType());
  return b.create<arith::ConstantOp>(loc, plain,
                                     constantAttr(plain, std::move(dense)));
}

struct PackWeightsPass : mlir::sparq::impl::PackWeightsBase<PackWeightsPass> {
  using Base::Base;
  /// Replaces the weight's constant by its packed bytes: a global the
  /// kernels read (or, without kernels, the decoded values).
  void replaceWeight(const Weight &w, std::vector<uint8_t> blob, int64_t &count,
                     OpBuilder &mb) {
    MLIRContext *ctx = &getContext();
    EncodingAttr enc = w.encoding();
    Location loc = w.cst.getLoc();
    if (!kernels) {
      OpBuilder b(w.cst);
      w.cst->replaceAllUsesWith(
          decodedConstant(b, loc, w.type(), blob).getDefiningOp());
      Attribute old = w.cst.getValue();
      w.cst->erase();
      releaseConstant(old);
      return;
    }
    std::string id = std::to_string(count++);
    auto bytesType =
        MemRefType::get({int64_t(blob.size())}, IntegerType::get(ctx, 8));
    ElementsAttr data = constantAttr(
        RankedTensorType::get(bytesType.getShape(), bytesType.getElementType()),
        std::move(blob));
    auto packed = mb.create<memref::GlobalOp>(
        loc, "__sparq_packed_" + id, mb.getStringAttr("private"), bytesType,
        data, /*constant=*/true, mb.getI64IntegerAttr(64));
    // A global without data: what the kernels' weight operand refers to
    // until sparq-host-library-calls replaces them by packed calls. Were
    // one left, linking would fail rather than read zeros.
    auto weightType =
        MemRefType::get(w.type().getShape(), w.type().getElementType());
    auto placeholder = mb.create<memref::GlobalOp>(
        loc, "__sparq_weight_" + id, mb.getStringAttr("private"), weightType,
        Attribute(), /*constant=*/false, IntegerAttr());
    placeholder->setAttr("sparq.packed",
                         FlatSymbolRefAttr::get(packed.getSymNameAttr()));
    placeholder->setAttr("sparq.layer", mb.getStringAttr(w.layer));
    placeholder->setAttr("sparq.layout",
                         mb.getStringAttr(formats::describe(
                             toLayout(enc, w.type().getShape()))));
    for (OpOperand &use : llvm::make_early_inc_range(w.cst->getUses())) {
      OpBuilder b(use.getOwner());
      Value m = b.create<memref::GetGlobalOp>(loc, weightType,
                                              placeholder.getSymName());
      Value t = b.create<bufferization::ToTensorOp>(
          loc,
          RankedTensorType::get(weightType.getShape(),
                                weightType.getElementType()),
          m, /*restrict=*/true, /*writable=*/false);
      use.set(t);
    }
    Attribute old = w.cst.getValue();
    w.cst->erase();
    releaseConstant(old);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    int64_t count = 0;
    std::vector<Weight> all;
    for (Weight &w : collectWeights(module))
      if (w.encoding())
        all.push_back(w);
    // A few weights at a time packed on the kernels' threads, then each
    // replaced and its floats freed: the packed bytes of one window at
    // most are held beside the floats.
    size_t window = 2 * ::sparq::kernels::poolThreads();
    for (size_t w0 = 0; w0 < all.size(); w0 += window) {
      ArrayRef<Weight> part =
          ArrayRef<Weight>(all).slice(w0, std::min(window, all.size() - w0));
      std::vector<std::vector<float>> scratch(part.size());
      std::vector<const float *> values;
      std::vector<formats::Layout> layouts;
      for (size_t i = 0; i < part.size(); ++i) {
        values.push_back(part[i].floats(scratch[i]));
        layouts.push_back(
            toLayout(part[i].encoding(), part[i].type().getShape()));
      }
      std::vector<std::vector<uint8_t>> blobs;
      std::vector<std::string> errors;
      packInParallel(values, part, layouts, blobs, errors);
      for (size_t i = 0; i < part.size(); ++i)
        if (!errors[i].empty()) {
          layerError(part[i], "sparq-pack-weights") << errors[i];
          return signalPassFailure();
        }
      for (size_t i = 0; i < part.size(); ++i)
        replaceWeight(part[i], std::move(blobs[i]), count, mb);
    }
    // Encoded constants that are not weights of a conv or matmul: decode.
    SmallVector<arith::ConstantOp> rest;
    module.walk([&](arith::ConstantOp c) {
      auto t = dyn_cast<RankedTensorType>(c.getType());
      if (t && isa_and_nonnull<EncodingAttr>(t.getEncoding()))
        rest.push_back(c);
    });
    for (arith::ConstantOp c : rest) {
      auto t = cast<RankedTensorType>(c.getType());
      auto plain = RankedTensorType::get(t.getShape(), t.getElementType());
      auto attr = cast<ElementsAttr>(c.getValue());
      OpBuilder b(c);
      Value dense;
      if (t.getElementType().isF32() && t.getRank() >= 1) {
        // Its values are what the encoding stores: decode(pack(values)).
        emitWarning(c.getLoc())
            << "sparq-pack-weights: an encoded constant that no conv or "
               "matmul consumes is stored dense";
        std::vector<float> v = floatValues(attr);
        int64_t rows = t.getDimSize(0);
        try {
          dense = decodedConstant(
              b, c.getLoc(), t,
              formats::pack(
                  v.data(), rows, rows ? v.size() / rows : 0,
                  toLayout(cast<EncodingAttr>(t.getEncoding()), t.getShape())));
        } catch (const formats::FormatError &e) {
          emitError(c.getLoc()) << "sparq-pack-weights: " << e.what();
          return signalPassFailure();
        }
      } else {
        // The formats library packs f32 only: other types keep their values.
        emitWarning(c.getLoc())
            << "sparq-pack-weights: the encoding of a " << t.getElementType()
            << " constant is dropped; its values are used as they are";
        ElementsAttr value;
        if (auto d = dyn_cast<DenseElementsAttr>(attr))
          value = d.reshape(plain);
        else if (std::optional<ArrayRef<char>> raw = constantBytes(attr))
          value =
              constantAttr(plain, std::vector<char>(raw->begin(), raw->end()));
        if (!value) {
          emitError(c.getLoc()) << "sparq-pack-weights: the constant's data "
                                   "is no longer there";
          return signalPassFailure();
        }
        dense = b.create<arith::ConstantOp>(c.getLoc(), plain, value);
      }
      c->replaceAllUsesWith(dense.getDefiningOp());
      c->erase();
    }
  }
};

} // namespace
