//===- BufferCache.h - reuse of large buffers between runs ------*- C++ -*-===//
//
// A compiled model allocates the same buffers, of the same sizes, on every
// run. Handing large ones back to the system (munmap) and faulting fresh
// pages in on the next run costs as much as a layer's compute; this cache
// keeps them for reuse instead. The host code's malloc/free resolve here.
//
//===----------------------------------------------------------------------===//
#ifndef SPARQ_RUNTIME_KERNELS_BUFFERCACHE_H
#define SPARQ_RUNTIME_KERNELS_BUFFERCACHE_H

#include <cstddef>

namespace sparq::kernels {

/// malloc/free for generated code: blocks of at least kMinCachedBytes are
/// kept on free and reused for a later request of the same size, up to
/// kMaxCachedBytes in all; smaller ones go straight to the C library.
void *cachedMalloc(size_t bytes);
void cachedFree(void *ptr);
/// Returns every cached block to the system (for tests and long-lived hosts).
void releaseCachedBuffers();
/// Bytes currently held in the cache.
size_t cachedBytes();

inline constexpr size_t kMinCachedBytes = 64 * 1024;
inline constexpr size_t kMaxCachedBytes = size_t(1) << 30;

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_BUFFERCACHE_H
