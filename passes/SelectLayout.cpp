//===- SelectLayout.cpp - storage of each weight by a cost model ----------===//

#include "passes/Passes.h"
#include "passes/Weights.h"

#include "runtime/formats/Packed.h"
#include "runtime/kernels/ThreadPool.h"

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
std::optional<Cost> measure(const float *v, int64_t rows, int64_t cols,
                            const formats::Layout &l) {
  try {
    std::vector<uint8_t> blob = formats::pack(v, rows, cols, l);
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
    // Each weight's candidates: its encoding, or for a sparse one dense and
    // the formats its pattern allows (the first dense).
    struct Choice {
      Weight w;
      SmallVector<EncodingAttr> candidates;
      std::vector<std::optional<Cost>> costs;
      std::vector<float> scratch;
      const float *values = nullptr;
    };
    std::vector<Choice> choices;
    for (Weight &w : collectWeights(getOperation())) {
      EncodingAttr enc = w.encoding();
      if (!enc)
        continue;
      Choice c{w, {}, {}, {}, nullptr};
      SparsityAttr s = enc.getSparsity();
      if (s && s.getFormat() != StorageFormat::InterleavedCSC) {
        auto with = [&](StorageFormat f) {
          return withSparsity(
              ctx, enc,
              SparsityAttr::get(ctx, s.getPattern(), s.getGroup(), f, 0, 0));
        };
        c.candidates = {with(StorageFormat::Dense), with(StorageFormat::CSR)};
        SparsityPattern p = s.getPattern();
        if (p == SparsityPattern::Block || p == SparsityPattern::Vector ||
            p == SparsityPattern::Kernel || p == SparsityPattern::Filter)
          c.candidates.push_back(with(StorageFormat::BCSR));
        if (p == SparsityPattern::NM)
          c.candidates.push_back(with(StorageFormat::NM));
      } else {
        c.candidates = {enc};
      }
      c.costs.resize(c.candidates.size());
      choices.push_back(std::move(c));
    }
    // Packing every candidate for real is the costly part: all of them on
    // the kernels' threads, each pack's bytes dropped once measured.
    std::vector<std::pair<size_t, size_t>> jobs;
    std::vector<formats::Layout> layouts;
    for (size_t i = 0; i < choices.size(); ++i) {
      Choice &c = choices[i];
      c.values = c.w.floats(c.scratch);
      for (size_t j = 0; j < c.candidates.size(); ++j) {
        jobs.push_back({i, j});
        layouts.push_back(toLayout(c.candidates[j], c.w.type().getShape()));
      }
    }
    std::vector<int64_t> rows, cols;
    for (Choice &c : choices) {
      rows.push_back(c.w.rows());
      cols.push_back(c.w.cols());
    }
    ::sparq::kernels::parallelFor(jobs.size(), 1, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        auto [i, j] = jobs[q];
        choices[i].costs[j] =
            measure(choices[i].values, rows[i], cols[i], layouts[q]);
      }
    });
    for (Choice &c : choices) {
      Weight &w = c.w;
      std::optional<Cost> chosen = c.costs[0];
      EncodingAttr best = c.candidates[0];
      if (!chosen) {
        layerError(w, "sparq-select-layout")
            << "cannot store the weight "
            << (c.candidates.size() > 1 ? "densely with " : "as ")
            << formats::describe(toLayout(best, w.type().getShape()));
        return signalPassFailure();
      }
      if (c.candidates.size() > 1) {
        double limit = (1.0 - minSaving) * chosen->bytes;
        std::optional<Cost> bestSparse;
        EncodingAttr bestSparseEnc;
        for (size_t j = 1; j < c.candidates.size(); ++j) {
          const std::optional<Cost> &cost = c.costs[j];
          if (cost && (!bestSparse || cost->bytes < bestSparse->bytes ||
                       (cost->bytes == bestSparse->bytes &&
                        cost->refs < bestSparse->refs))) {
            bestSparse = cost;
            bestSparseEnc = c.candidates[j];
          }
        }
        if (bestSparse && bestSparse->bytes <= limit) {
          chosen = bestSparse;
          best = bestSparseEnc;
        }
        if (failed(setWeight(w, best)))
          return signalPassFailure();
      }
      int64_t rows = w.rows(), cols = w.cols();
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
