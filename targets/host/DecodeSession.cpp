//===- DecodeSession.cpp - token-by-token decoding with a KV cache --------===//

#include "targets/host/DecodeSession.h"

#include <cassert>

using namespace sparq;

DecodeSession::DecodeSession(HostExecutable &exe) : exe(exe) {
  const auto &caches = exe.kvCaches();
  assert(!caches.empty() && "the model keeps no KV cache in place");
  const auto &specs = exe.inputSpecs();
  role.assign(specs.size(), -1);
  for (size_t k = 0; k < caches.size(); ++k) {
    role[caches[k].input] = static_cast<int>(k);
    role[caches[k].lengthInput] = -2;
    io::HostTensor &buf = buffers.emplace_back();
    buf.name = specs[caches[k].input].name;
    buf.dtype = specs[caches[k].input].dtype;
    buf.shape = specs[caches[k].input].shape;
    // Zeros: entries past the length are never read, but stay defined.
    buf.data.assign(buf.numBytes(), 0);
  }
  for (size_t i = 0; i < specs.size(); ++i)
    if (role[i] == -1)
      inputSpecs.push_back(specs[i]);
  lengthScalar.name = "kv_length";
  lengthScalar.dtype = io::DType::I64;
  lengthScalar.data.assign(sizeof(int64_t), 0);
}

int64_t DecodeSession::capacity() const {
  return exe.kvCaches().front().capacity;
}

bool DecodeSession::step(const std::vector<const io::HostTensor *> &inputs,
                         std::vector<io::HostTensor> &outputs,
                         std::string &error) {
  if (inputs.size() != inputSpecs.size()) {
    error = "expected " + std::to_string(inputSpecs.size()) + " inputs, got " +
            std::to_string(inputs.size());
    return false;
  }
  for (const io::KvCacheSpec &c : exe.kvCaches())
    if (c.lengthInput != exe.kvCaches().front().lengthInput) {
      error = "the model's KV caches have different lengths (" +
              exe.inputSpecs()[c.input].name + "); a session keeps one";
      return false;
    }
  *lengthScalar.as<int64_t>() = cacheLength;
  std::vector<const io::HostTensor *> args;
  size_t next = 0;
  for (int r : role)
    args.push_back(r == -1   ? inputs[next++]
                   : r == -2 ? &lengthScalar
                             : &buffers[r]);
  // The caches are written through these (HostExecutable::run passes
  // inputs as they are; the model marks only the caches writable).
  std::vector<int64_t> symbols;
  if (!exe.run(args, outputs, error, &symbols))
    return false;
  // Every cache appended the same entries (one length symbol).
  int64_t n = cacheLength;
  exe.kvCaches().front().appended.evaluate(symbols, n);
  cacheLength = n;
  return true;
}
