//===- BevPoolPlan.cpp - BEV pooling plan and its byte layout -------------===//

#include "runtime/formats/BevPoolPlan.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

using namespace sparq::formats;

namespace {
constexpr uint32_t kMagic = 0x50425153; // "SQBP" little-endian
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 32;

void checkInt32(int64_t v, const char *what) {
  if (v < 0 || v > std::numeric_limits<int32_t>::max())
    throw std::length_error(std::string("BEV pooling plan: ") + what +
                            " does not fit in int32");
}
} // namespace

BevPoolPlanView BevPoolPlan::view() const {
  BevPoolPlanView v;
  v.depthIndex = depthIndex.data();
  v.featIndex = featIndex.data();
  v.start = start.data();
  v.cell = cell.data();
  v.order = order.data();
  v.cells = cells;
  v.points = int64_t(depthIndex.size());
  v.intervals = int64_t(cell.size());
  return v;
}

BevPoolPlan sparq::formats::planBevPool(const int64_t *cell,
                                        const int64_t *depthIndex,
                                        const int64_t *featIndex,
                                        int64_t points, int64_t cells) {
  checkInt32(points, "the point count");
  checkInt32(cells, "the cell count");
  std::vector<int64_t> kept;
  kept.reserve(points);
  for (int64_t p = 0; p < points; ++p)
    if (cell[p] >= 0 && cell[p] < cells) {
      checkInt32(depthIndex[p], "a depth index");
      checkInt32(featIndex[p], "a feature row");
      kept.push_back(p);
    }
  // Stable: a cell's points keep their order, and so do its sums.
  std::stable_sort(kept.begin(), kept.end(),
                   [&](int64_t a, int64_t b) { return cell[a] < cell[b]; });
  BevPoolPlan plan;
  plan.cells = cells;
  plan.depthIndex.reserve(kept.size());
  plan.featIndex.reserve(kept.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    int64_t p = kept[i];
    if (i == 0 || cell[p] != cell[kept[i - 1]]) {
      plan.start.push_back(int32_t(i));
      plan.cell.push_back(int32_t(cell[p]));
    }
    plan.depthIndex.push_back(int32_t(depthIndex[p]));
    plan.featIndex.push_back(int32_t(featIndex[p]));
  }
  plan.start.push_back(int32_t(kept.size()));
  plan.order = bevPoolOrder(plan.view());
  return plan;
}

std::vector<int32_t> sparq::formats::bevPoolOrder(const BevPoolPlanView &plan) {
  std::vector<int32_t> order(plan.intervals);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return plan.featIndex[plan.start[a]] < plan.featIndex[plan.start[b]];
  });
  return order;
}

std::vector<uint8_t>
sparq::formats::serializeBevPoolPlan(const BevPoolPlanView &plan) {
  size_t words = size_t(2 * plan.points + 3 * plan.intervals + 1);
  std::vector<uint8_t> bytes(kHeaderBytes + 4 * words);
  uint8_t *o = bytes.data();
  auto put = [&](const void *src, size_t n) {
    std::memcpy(o, src, n);
    o += n;
  };
  put(&kMagic, 4);
  put(&kVersion, 4);
  put(&plan.cells, 8);
  put(&plan.points, 8);
  put(&plan.intervals, 8);
  put(plan.depthIndex, 4 * plan.points);
  put(plan.featIndex, 4 * plan.points);
  put(plan.start, 4 * (plan.intervals + 1));
  put(plan.cell, 4 * plan.intervals);
  put(plan.order, 4 * plan.intervals);
  return bytes;
}

namespace {
bool fail(std::string &error, const std::string &what) {
  error = "BEV pooling plan: " + what;
  return false;
}
} // namespace

bool sparq::formats::readBevPoolPlan(const uint8_t *data, size_t size,
                                     BevPoolPlanView &plan,
                                     std::string &error) {
  auto fail = [&](const std::string &what) { return ::fail(error, what); };
  if (size < kHeaderBytes)
    return fail("truncated header");
  uint32_t magic, version;
  int64_t cells, points, intervals;
  std::memcpy(&magic, data, 4);
  std::memcpy(&version, data + 4, 4);
  std::memcpy(&cells, data + 8, 8);
  std::memcpy(&points, data + 16, 8);
  std::memcpy(&intervals, data + 24, 8);
  if (magic != kMagic || version != kVersion)
    return fail("not a version-1 plan");
  int64_t limit = std::numeric_limits<int32_t>::max();
  if (cells < 0 || cells > limit || points < 0 || points > limit ||
      intervals < 0 || intervals > points || (points > 0 && intervals == 0))
    return fail("bad counts");
  if (size != kHeaderBytes + 4 * size_t(2 * points + 3 * intervals + 1))
    return fail("size does not match its counts");
  auto *w = reinterpret_cast<const int32_t *>(data + kHeaderBytes);
  plan.depthIndex = w;
  plan.featIndex = w + points;
  plan.start = w + 2 * points;
  plan.cell = plan.start + intervals + 1;
  plan.order = plan.cell + intervals;
  plan.cells = cells;
  plan.points = points;
  plan.intervals = intervals;
  return true;
}

bool sparq::formats::checkBevPoolPlan(const BevPoolPlanView &plan,
                                      int64_t depthSize, int64_t featRows,
                                      std::string &error) {
  auto fail = [&](const std::string &what) { return ::fail(error, what); };
  int64_t points = plan.points, intervals = plan.intervals, cells = plan.cells;
  if (plan.start[0] != 0 || plan.start[intervals] != points)
    return fail("intervals do not cover the points");
  for (int64_t i = 0; i < intervals; ++i) {
    if (plan.start[i] >= plan.start[i + 1])
      return fail("interval " + std::to_string(i) + " is empty or reversed");
    if (plan.cell[i] < 0 || plan.cell[i] >= cells ||
        (i > 0 && plan.cell[i] <= plan.cell[i - 1]))
      return fail("cells not increasing within [0, cells)");
    if (plan.order && (plan.order[i] < 0 || plan.order[i] >= intervals))
      return fail("order out of range");
  }
  for (int64_t p = 0; p < points; ++p)
    if (plan.depthIndex[p] < 0 || plan.depthIndex[p] >= depthSize ||
        plan.featIndex[p] < 0 || plan.featIndex[p] >= featRows)
      return fail("point " + std::to_string(p) + " reads out of range");
  return true;
}
