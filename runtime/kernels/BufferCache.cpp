//===- BufferCache.cpp - reuse of large buffers between runs --------------===//

#include "runtime/kernels/BufferCache.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace {

struct Cache {
  std::mutex mutex;
  /// Live large blocks and their sizes (free() is not told the size).
  std::unordered_map<void *, size_t> live;
  /// Free blocks by size.
  std::unordered_map<size_t, std::vector<void *>> free;
  size_t freeBytes = 0;
};

Cache &cache() {
  static Cache *c = new Cache(); // never destroyed: used until exit
  return *c;
}

} // namespace

void *sparq::kernels::cachedMalloc(size_t bytes) {
  if (bytes < kMinCachedBytes)
    return std::malloc(bytes);
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  void *p = nullptr;
  auto it = c.free.find(bytes);
  if (it != c.free.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    c.freeBytes -= bytes;
  } else {
    p = std::malloc(bytes);
    if (!p)
      return nullptr;
  }
  c.live[p] = bytes;
  return p;
}

void sparq::kernels::cachedFree(void *ptr) {
  if (!ptr)
    return;
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.live.find(ptr);
  if (it == c.live.end()) {
    std::free(ptr);
    return;
  }
  size_t bytes = it->second;
  c.live.erase(it);
  if (c.freeBytes + bytes > kMaxCachedBytes) {
    std::free(ptr);
    return;
  }
  c.free[bytes].push_back(ptr);
  c.freeBytes += bytes;
}

void sparq::kernels::releaseCachedBuffers() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto &[size, blocks] : c.free)
    for (void *p : blocks)
      std::free(p);
  c.free.clear();
  c.freeBytes = 0;
}

size_t sparq::kernels::cachedBytes() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.freeBytes;
}
