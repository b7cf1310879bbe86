//===- LayerReport.h - per-layer statistics for `sparqc report` -*- C++ -*-===//
#ifndef SPARQ_COMPILER_LAYERREPORT_H
#define SPARQ_COMPILER_LAYERREPORT_H

#include <cstdint>
#include <string>
#include <vector>

namespace sparq {

/// One ONNX node as the report shows it.
struct LayerInfo {
  std::string name, opType;
  std::vector<std::vector<int64_t>> inputShapes, outputShapes;
  /// Elements and bytes of the node's weights (initializer inputs).
  int64_t parameters = 0, parameterBytes = 0;
  /// Multiply-accumulates of one inference (0 for data movement).
  int64_t macs = 0;
};

/// MACs of a node from its op type, attributes-free shapes and group count.
int64_t countMacs(const std::string &opType,
                  const std::vector<std::vector<int64_t>> &inputShapes,
                  const std::vector<std::vector<int64_t>> &outputShapes,
                  int64_t group);

/// The per-layer table with totals, as text.
std::string formatLayerTable(const std::vector<LayerInfo> &layers);

} // namespace sparq

#endif // SPARQ_COMPILER_LAYERREPORT_H
