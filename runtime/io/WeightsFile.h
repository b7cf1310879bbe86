//===- WeightsFile.h - a compiled model's weights, beside its code -*- C++
//-*-===//
//
// Weights are data, not code: the compiler gathers every large constant of
// a lowered model (dense and packed weights alike) into one blob and the
// generated code reads it through one pointer, `__sparq_weights`, at fixed
// offsets. On disk the blob is `model.weights`:
//
//   bytes 0-63   header: "SPARQWT1", u64 version (1), u64 payload bytes,
//                u64 digest of the payload, zeros
//   bytes 64-    payload: each constant 64-byte aligned (the alignment the
//                generated code assumes), zero padding between
//
// The code also holds the payload's size and digest (`__sparq_weights_size`,
// `__sparq_weights_digest`), so that a weights file from another model or
// another compilation is refused at load instead of computing garbage. The
// loader maps the file read-only (shared between processes, paged in on
// first use) and does not hash it again: the header's digest must match.
//
//===----------------------------------------------------------------------===//
#ifndef SPARQ_RUNTIME_IO_WEIGHTSFILE_H
#define SPARQ_RUNTIME_IO_WEIGHTSFILE_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sparq::io {

/// The alignment of every constant in the payload, and of the payload.
inline constexpr size_t kWeightsAlignment = 64;
/// The header's size: the payload starts here in the file.
inline constexpr size_t kWeightsHeaderBytes = 64;
/// `bytes` rounded up to kWeightsAlignment: the room a constant takes.
inline constexpr size_t alignedWeightBytes(size_t bytes) {
  return (bytes + kWeightsAlignment - 1) / kWeightsAlignment *
         kWeightsAlignment;
}

/// The payload being built: constants appended at aligned offsets, in
/// memory aligned like the mapped file's payload.
class WeightsBlob {
public:
  WeightsBlob();
  ~WeightsBlob();
  WeightsBlob(const WeightsBlob &) = delete;
  WeightsBlob &operator=(const WeightsBlob &) = delete;

  /// Appends `bytes` bytes, `count` copies of the `bytes / count`-byte
  /// pattern at `data` (count 1: the bytes as they are); returns the offset.
  uint64_t append(const void *data, size_t bytes, size_t count = 1);
  const uint8_t *data() const { return buffer; }
  uint64_t size() const { return used; }
  /// weightsDigest of the payload, computed once per content.
  uint64_t digest() const;
  /// Writes header and payload to `path`.
  bool write(const std::string &path, std::string &error) const;
  /// Room for `bytes` bytes of payload in all (one allocation when the
  /// total is known ahead).
  void reserve(size_t bytes);

private:
  uint8_t *buffer = nullptr;
  size_t used = 0, capacity = 0;
  mutable uint64_t cachedDigest = 0;
  mutable bool digestValid = false;
};

/// A weights file mapped read-only.
class MappedWeights {
public:
  ~MappedWeights();
  /// Maps `path` and checks its header against the code's `size` and
  /// `digest`. On failure says why in `error`.
  static std::unique_ptr<MappedWeights> open(const std::string &path,
                                             uint64_t size, uint64_t digest,
                                             std::string &error);
  const uint8_t *data() const { return base + kWeightsHeaderBytes; }
  uint64_t size() const { return payload; }

private:
  MappedWeights() = default;
  uint8_t *base = nullptr;
  size_t mapped = 0;
  uint64_t payload = 0;
};

/// Digest of `bytes` bytes: FNV-1a in four lanes of 8-byte words (a check
/// that code and file belong together, not a cryptographic hash).
uint64_t weightsDigest(const uint8_t *data, uint64_t bytes);

} // namespace sparq::io

#endif // SPARQ_RUNTIME_IO_WEIGHTSFILE_H
