//===- GradientCompressionCuda.h - DGC's local work on a GPU ----*- C++ -*-===//
//
// kernels::compressGradients and formats::addGradientMessage for gradients
// in GPU memory (sparq.dgc's hook when DDP runs on CUDA). The same
// algorithm step for step — the sample's positions, the threshold, the
// trimming, ties to the earlier position, the message layout, rounding
// without FMA — so a GPU and a CPU worker send identical bytes for the same
// gradients (test/unit/GradientCompressionCudaTest.cpp checks it on a GPU).
// No CUDA types here: the stream is a cudaStream_t passed as void*.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_CUDA_GRADIENTCOMPRESSIONCUDA_H
#define SPARQ_RUNTIME_CUDA_GRADIENTCOMPRESSIONCUDA_H

#include "runtime/kernels/GradientCompression.h"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace sparq::gpu {

/// A CUDA error, with the call and its message.
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Whether a CUDA device can be used here; if not, why (for a skip).
bool deviceAvailable(std::string *why = nullptr);

/// The most bytes the message of these parts can take.
size_t messageCapacity(const std::vector<kernels::GradientPart> &parts);

/// compressGradients with u, v and g in device memory: writes the message
/// into `message` (device, `capacity` bytes) and returns its size. Runs on
/// `stream` and waits for it (the selection's sizes decide what follows).
size_t compressGradients(const std::vector<kernels::GradientPart> &parts,
                         float momentum, const kernels::SelectOptions &options,
                         uint8_t *message, size_t capacity, void *stream);

/// out[0, n) += each message, in order: `workers` rows of `bytes` in device
/// memory (padded with zeros, as all_gather returns them). Throws CudaError
/// for a malformed message, as formats::addGradientMessage does.
void addGradientMessages(const uint8_t *messages, int64_t workers,
                         int64_t bytes, float *out, int64_t n, void *stream);

} // namespace sparq::gpu

#endif // SPARQ_RUNTIME_CUDA_GRADIENTCOMPRESSIONCUDA_H
