//===- LayerReport.h - per-layer statistics for `sparqc report` -*- C++ -*-===//
#ifndef SPARQ_COMPILER_LAYERREPORT_H
#define SPARQ_COMPILER_LAYERREPORT_H

#include <cstdint>
#include <string>
#include <vector>

namespace sparq {

/// How one weight of a layer is stored (sparq-compressed or not).
struct WeightStats {
  std::vector<int64_t> shape;
  std::string pattern = "-"; // pruning granularity ("-": none)
  std::string format = "dense";
  int64_t elements = 0, nonzeros = 0;
  /// fp32 bytes and the bytes as stored (index bits, scales included).
  int64_t denseBytes = 0, bytes = 0;
  /// Non-zeros per PE and balance efficiency (mean/max) before and after
  /// balancing, for weights sparq-pe-balance interleaved.
  std::vector<int64_t> peNonzeros, peNonzerosBefore;
  double peBefore = -1, peAfter = -1;
  /// A picture of the non-zeros of the [rows, cols] matrix: gridRows x
  /// gridCols cells, each the density of the weights it covers.
  int64_t gridRows = 0, gridCols = 0;
  std::vector<float> grid;

  double density() const {
    return elements ? double(nonzeros) / elements : 1.0;
  }
};

/// One ONNX node as the report shows it.
struct LayerInfo {
  std::string name, opType;
  std::vector<std::vector<int64_t>> inputShapes, outputShapes;
  /// Elements and bytes of the node's weights (initializer inputs).
  int64_t parameters = 0, parameterBytes = 0;
  /// Multiply-accumulates of one inference (0 for data movement).
  int64_t macs = 0;
  /// The node's weights as compiled (filled by Compiler::collectCompression).
  std::vector<WeightStats> weights;
  /// A weight the importer already runs as integers (a QDQ Conv's int8
  /// weight): collectCompression reports it as is.
  std::vector<WeightStats> integerWeights;

  /// Parameter bytes as stored: compressed weights at their packed size.
  int64_t storedBytes() const;
  /// MACs left when multiplications by pruned weights are skipped.
  int64_t effectiveMacs() const;
};

/// A domain pattern the graph passes fused into one sparq op (today BEV
/// pooling, sparq-fuse-bev-pool), with what the fusion saves.
struct FusionInfo {
  std::string op;   // the sparq op: "bev_pool"
  std::string name; // the ONNX node it replaced
  std::string detail;
  /// Bytes of the tensors the unfused chain computed per inference, and of
  /// the compile-time data the fused op reads instead.
  int64_t unfusedBytes = 0, fusedBytes = 0;
};

/// MACs of a node from its op type, attributes-free shapes and group count.
int64_t countMacs(const std::string &opType,
                  const std::vector<std::vector<int64_t>> &inputShapes,
                  const std::vector<std::vector<int64_t>> &outputShapes,
                  int64_t group);

/// The per-layer table with totals, as text: shapes, parameters, bytes and
/// MACs, and for layers with weights their pattern, format, density, bits
/// per weight, bytes dense -> stored, ratio, MACs dense -> effective and PE
/// balance.
std::string formatLayerTable(const std::vector<LayerInfo> &layers,
                             const std::vector<FusionInfo> &fusions = {});

/// The same as JSON: {"layers": [...], "totals": {...}, "fusions": [...]};
/// every layer has a `ratio` (dense bytes / stored bytes).
std::string formatLayerJson(const std::vector<LayerInfo> &layers,
                            const std::vector<FusionInfo> &fusions = {});

/// A self-contained HTML page: the table, a picture of each weight's
/// sparsity pattern and the per-PE load bars.
std::string formatLayerHtml(const std::vector<LayerInfo> &layers,
                            const std::string &title);

} // namespace sparq

#endif // SPARQ_COMPILER_LAYERREPORT_H
