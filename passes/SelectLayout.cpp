//===- SelectLayout.cpp - storage of each weight by a cost model ----------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

#include "runtime/formats/Packed.h"

namespace mlir::sparq {
#define GEN_PASS_DEF_SELECTLAYOUT
#include "passes/Passes.h.inc"
} // namespace mlir::sparq

using namespace mlir;
using namespace mlir::sparq;

namespace {

struct Cost {
  uint64_t bytes = 0, refs = 0;
};

/// Packs for real: the bytes are exact. Memory references: one per stored
/// value, one per index, one per pointer (the granularity paper's model:
/// coarse groups need one index per group, not per weight).
std::optional<Cost> measure(const std::vector<float> &v, int64_t rows,
                            int64_t cols, const formats::Layout &l) {
  try {
    std::vector<uint8_t> blob = formats::pack(v.data(), rows, cols, l);
    formats::PackedView p(blob.data(), blob.size());
    const formats::Header &h = p.header();
    Cost c;
    c.bytes = p.payloadBytes();
    uint64_t values = h.entries;
    if (l.format == formats::Format::BCSR)
      values *= l.blockRows * l.blockCols;
    c.refs = values + (l.isSparse() ? h.entries : 0) +
             p.sectionBytes(formats::Ptr) / 4;
    return c;
  } catch (const formats::FormatError &) {
    return std::nullopt;
  }
}

struct SelectLayoutPass
    : mlir::sparq::impl::SelectLayoutBase<SelectLayoutPass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    Builder b(ctx);
    for (Weight &w : collectWeights(getOperation())) {
      EncodingAttr enc = w.encoding();
      if (!enc)
        continue;
      std::vector<float> v = w.values();
      int64_t rows = w.rows(), cols = w.cols();
      SparsityAttr s = enc.getSparsity();
      std::optional<Cost> chosen;
      if (s && s.getFormat() != StorageFormat::InterleavedCSC) {
        // Candidates: dense and the formats the pattern allows.
        SmallVector<StorageFormat> formatsToTry = {StorageFormat::CSR};
        SparsityPattern p = s.getPattern();
        if (p == SparsityPattern::Block || p == SparsityPattern::Vector ||
            p == SparsityPattern::Kernel || p == SparsityPattern::Filter)
          formatsToTry.push_back(StorageFormat::BCSR);
        if (s.getPattern() == SparsityPattern::NM)
          formatsToTry.push_back(StorageFormat::NM);
        auto with = [&](StorageFormat f) {
          return withSparsity(
              ctx, enc,
              SparsityAttr::get(ctx, s.getPattern(), s.getGroup(), f, 0, 0));
        };
        EncodingAttr best = with(StorageFormat::Dense);
        chosen = measure(v, rows, cols, toLayout(best, w.type().getShape()));
        if (!chosen) {
          layerError(w, "sparq-select-layout")
              << "cannot store the weight densely with "
              << formats::describe(toLayout(best, w.type().getShape()));
          return signalPassFailure();
        }
        double limit = (1.0 - minSaving) * chosen->bytes;
        std::optional<Cost> bestSparse;
        EncodingAttr bestSparseEnc;
        for (StorageFormat f : formatsToTry) {
          EncodingAttr e = with(f);
          std::optional<Cost> c =
              measure(v, rows, cols, toLayout(e, w.type().getShape()));
          if (c &&
              (!bestSparse || c->bytes < bestSparse->bytes ||
               (c->bytes == bestSparse->bytes && c->refs < bestSparse->refs))) {
            bestSparse = c;
            bestSparseEnc = e;
          }
        }
        if (bestSparse && bestSparse->bytes <= limit) {
          chosen = bestSparse;
          best = bestSparseEnc;
        }
        if (failed(setWeight(w, best)))
          return signalPassFailure();
      } else {
        chosen = measure(v, rows, cols, toLayout(enc, w.type().getShape()));
        if (!chosen) {
          layerError(w, "sparq-select-layout")
              << "cannot store the weight as "
              << formats::describe(toLayout(enc, w.type().getShape()));
          return signalPassFailure();
        }
      }
      w.cst->setAttr(
          kCostAttr,
          b.getDictionaryAttr(
              {b.getNamedAttr("bytes", b.getI64IntegerAttr(chosen->bytes)),
               b.getNamedAttr("dense_bytes",
                              b.getI64IntegerAttr(rows * cols * 4)),
               b.getNamedAttr("refs", b.getI64IntegerAttr(chosen->refs))}));
    }
  }
};

} // namespace
