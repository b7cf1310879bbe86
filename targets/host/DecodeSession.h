//===- DecodeSession.h - token-by-token decoding with a KV cache -*- C++
//-*-===//
//
// A decoder compiled with its KV caches in place (CompileOptions::
// kvCacheInPlace) takes each cache as a buffer of its bound and the cache's
// length as a scalar input; the new keys and values are written into the
// buffer after the old ones. A DecodeSession owns those buffers and the
// length: each step() runs the model on the new tokens' inputs, and the
// caches grow in place. Prefill (many tokens) and decode (one) are the same
// compiled model.
//
//===----------------------------------------------------------------------===//
#ifndef SPARQ_TARGETS_HOST_DECODESESSION_H
#define SPARQ_TARGETS_HOST_DECODESESSION_H

#include "targets/host/HostExecutable.h"

#include <string>
#include <vector>

namespace sparq {

class DecodeSession {
public:
  /// `exe` must keep KV caches in place (exe.kvCaches() not empty) and
  /// outlive the session. Caches start empty.
  explicit DecodeSession(HostExecutable &exe);

  /// The inputs step() takes, in order: the model's inputs other than the
  /// caches and their lengths.
  const std::vector<TensorSpec> &stepInputs() const { return inputSpecs; }

  /// Runs the model on `inputs` (as stepInputs()); the caches keep their
  /// entries and gain the new ones. `outputs` are the model's outputs other
  /// than the caches.
  bool step(const std::vector<const io::HostTensor *> &inputs,
            std::vector<io::HostTensor> &outputs, std::string &error);

  /// Entries in the caches.
  int64_t length() const { return cacheLength; }
  /// The most entries a cache holds.
  int64_t capacity() const;
  /// Empties the caches (their buffers are kept).
  void reset() { cacheLength = 0; }

private:
  HostExecutable &exe;
  std::vector<TensorSpec> inputSpecs;
  /// Per input of the model: -1 a step input, -2 the length, else a cache.
  std::vector<int> role;
  std::vector<io::HostTensor> buffers;
  io::HostTensor lengthScalar;
  int64_t cacheLength = 0;
};

} // namespace sparq

#endif // SPARQ_TARGETS_HOST_DECODESESSION_H
