//===- ThreadPool.h - the host kernels' worker threads ----------*- C++ -*-===//
//
// A persistent pool: parallelFor splits a range into one contiguous part per
// thread, the caller's thread taking the first. Sized by setNumThreads
// (HostKernels.h; default SPARQ_NUM_THREADS, else 2). Kernels split outputs,
// never a sum, so their results do not depend on the size. Workers spin briefly
// before blocking. A call made while the pool is busy (another thread's kernel)
// runs serially rather than waiting.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_KERNELS_THREADPOOL_H
#define SPARQ_RUNTIME_KERNELS_THREADPOOL_H

#include <cstdint>
#include <functional>

namespace sparq::kernels {

/// fn(begin, end) over [0, n); no split when n < 2 * grain.
void parallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)> &fn);

/// The most threads a pool may have.
constexpr int kMaxThreads = 1024;

/// Threads parallelFor uses (the caller's included); at least 1, at most
/// kMaxThreads. The default: SPARQ_NUM_THREADS from the environment, else 2.
void setPoolThreads(int threads);
/// The threads parallelFor uses now.
int poolThreads();

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_THREADPOOL_H
