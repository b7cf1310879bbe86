//===- ThreadPool.cpp - the packed kernels' worker threads ----------------===//

#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

using namespace sparq::kernels;

namespace {

/// Spins while `cond()` holds, for at most kSpin: a model's kernels follow
/// each other within microseconds, and waking a blocked thread costs tens
/// of them. Past that, the caller blocks on its condition variable.
template <typename Cond> void spinWhile(Cond cond) {
  constexpr auto kSpin = std::chrono::microseconds(100);
  auto start = std::chrono::steady_clock::now();
  for (unsigned i = 1; cond(); ++i) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0 && std::chrono::steady_clock::now() - start > kSpin)
      return;
  }
}

class Pool {
public:
  ~Pool() { resize(1); }

  void resize(int threads) {
    std::lock_guard<std::mutex> busy(callMutex);
    {
      std::lock_guard<std::mutex> l(m);
      stop = true;
    }
    wake.notify_all();
    for (std::thread &t : workers)
      t.join();
    workers.clear();
    stop = false;
    size = std::max(1, threads);
    uint64_t start = generation;
    for (int i = 1; i < size; ++i)
      workers.emplace_back([this, i, start] { work(i, start); });
  }

  int threads() const { return size; }

  void run(int64_t n, int64_t grain,
           const std::function<void(int64_t, int64_t)> &fn) {
    int parts =
        static_cast<int>(std::min<int64_t>(size, grain > 0 ? n / grain : n));
    std::unique_lock<std::mutex> busy(callMutex, std::try_to_lock);
    if (parts < 2 || !busy.owns_lock()) {
      if (n > 0)
        fn(0, n);
      return;
    }
    {
      std::lock_guard<std::mutex> l(m);
      task = &fn;
      total = n;
      active = parts;
      pending = parts - 1;
      ++generation;
    }
    wake.notify_all();
    fn(0, n / parts);
    spinWhile([&] { return pending.load() != 0; });
    std::unique_lock<std::mutex> l(m);
    done.wait(l, [&] { return pending == 0; });
    task = nullptr;
  }

private:
  /// `seen`: the last run before this worker was made (not its business; a
  /// run that starts before the thread does is).
  void work(int index, uint64_t seen) {
    std::unique_lock<std::mutex> l(m);
    for (;;) {
      l.unlock();
      spinWhile([&] { return !stop.load() && generation.load() == seen; });
      l.lock();
      wake.wait(l, [&] { return stop || generation != seen; });
      if (stop)
        return;
      seen = generation;
      if (index >= active)
        continue;
      const auto *fn = task;
      int64_t begin = total * index / active,
              end = total * (index + 1) / active;
      l.unlock();
      if (begin < end)
        (*fn)(begin, end);
      l.lock();
      if (--pending == 0)
        done.notify_one();
    }
  }

  std::mutex callMutex; // one parallelFor at a time
  std::mutex m;
  std::condition_variable wake, done;
  std::vector<std::thread> workers;
  const std::function<void(int64_t, int64_t)> *task = nullptr;
  int64_t total = 0;
  int size = 1, active = 0;
  // Atomic as well as guarded by `m`: spinning threads read them unlocked.
  std::atomic<int> pending{0};
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stop{false};
};

/// SPARQ_NUM_THREADS, else 2 (the machines sparq is measured on have 2
/// cores; more threads than cores only spin).
int defaultThreads() {
  const char *env = std::getenv("SPARQ_NUM_THREADS");
  if (!env || !*env)
    return 2;
  char *end = nullptr;
  long n = std::strtol(env, &end, 10);
  if (*end || n < 1 || n > kMaxThreads) {
    std::fprintf(stderr,
                 "sparq: ignoring SPARQ_NUM_THREADS=%s (expected 1 to %d)\n",
                 env, kMaxThreads);
    return 2;
  }
  return int(n);
}

Pool &pool() {
  static Pool *p = [] {
    auto *created = new Pool(); // never destroyed: kernels may run at exit
    created->resize(defaultThreads());
    return created;
  }();
  return *p;
}

} // namespace

void sparq::kernels::parallelFor(
    int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> &fn) {
  pool().run(n, grain, fn);
}

void sparq::kernels::setPoolThreads(int threads) {
  pool().resize(std::min(threads, kMaxThreads));
}

int sparq::kernels::poolThreads() { return pool().threads(); }
