//===- CycleModel.h - cycles, utilization and resources of the engine -*- C++
//-*-===//
//
// A model of the engine Engine.h describes, clocked per cycle at the level
// that decides its speed:
//   - the activation broadcast: one activation (a column) per cycle to
//     every PE, each PE with a queue of `queueDepth` activations;
//   - each PE does one stored entry (multiply-accumulate) per cycle and
//     starts column j when it has finished column j-1 and j is in its queue;
//     so a PE with more entries than the others holds the broadcast back
//     once its queue is full (load imbalance costs cycles);
//   - the weights stream from off-chip memory through ports of
//     `portBytes` bytes per cycle (16 bits per entry: value and index);
//   - the element-wise unit (`lanes` lanes) finishes a layer's outputs
//     (bias, activation; an LSTM's gates, cell and hidden state) after the
//     products. The scheduler overlaps an LSTM step's input product W x_t
//     with the previous step's element-wise work, as ESE does; R h_{t-1}
//     waits for h_{t-1}.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_HLS_CYCLEMODEL_H
#define SPARQ_RUNTIME_HLS_CYCLEMODEL_H

#include "runtime/hls/Engine.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sparq::hls {

struct CycleParams {
  unsigned queueDepth = 8;
  unsigned lanes = 16;     // element-wise lanes
  unsigned portBytes = 64; // weight bytes per cycle (a 512-bit AXI port)
  unsigned macLatency = 6; // multiply-accumulate pipeline depth
  double clockMHz = 200;
};

/// One sparse matrix-vector product.
struct ProductCycles {
  int64_t cycles = 0;
  int64_t entries = 0, nonzeros = 0;
  /// Mean over PEs of stored entries / the busiest PE's: 1 when balanced.
  double balance = 1;
};

/// Cycles of y = W x on matrix `m` with `pes` PEs (entries per PE and
/// column read from its blob).
ProductCycles productCycles(const Matrix &m, unsigned pes,
                            const CycleParams &p = {});

struct LayerCycles {
  std::string node;
  int64_t cycles = 0; // all steps
  double balance = 1; // of its matrices, weighted by entries
};

struct CycleReport {
  int64_t cycles = 0; // per inference (all steps, all layers)
  double microseconds = 0;
  /// Useful multiply-accumulates (true non-zeros) / (PEs x cycles).
  double peUtilization = 0;
  /// Stored entries (padding included: a PE is busy with them) / (PEs x
  /// cycles).
  double peBusy = 0;
  double balance = 1;
  double gops = 0;      // 2 x non-zero MACs per second
  double denseGops = 0; // the dense model's operations in that time
  int64_t dsp = 0, bram18k = 0;
  std::vector<LayerCycles> layers;
  /// As JSON (one object).
  std::string json() const;
};

CycleReport modelCycles(const EngineModel &m, const CycleParams &p = {});

} // namespace sparq::hls

#endif // SPARQ_RUNTIME_HLS_CYCLEMODEL_H
