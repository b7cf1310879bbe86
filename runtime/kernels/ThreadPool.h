//===- ThreadPool.h - the host kernels' worker threads ----------*- C++ -*-===//
//
// A persistent pool: parallelFor splits a range into one contiguous part per
// thread, the caller's thread taking the first. Sized by setNumThreads
// (HostKernels.h, default 2). Workers spin briefly before blocking. A call
// made while the pool is busy (another thread's kernel) runs serially rather
// than waiting.
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

/// Threads parallelFor uses (the caller's included); at least 1.
void setPoolThreads(int threads);

} // namespace sparq::kernels

#endif // SPARQ_RUNTIME_KERNELS_THREADPOOL_H
