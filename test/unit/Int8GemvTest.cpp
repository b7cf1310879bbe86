//===- Int8GemvTest.cpp - GEMVs on int8 activations vs a reference --------===//
//
// Layout::actBits = 8: the tables (what a slot's code adds: Wp x0 - Wn x1,
// c[q] x, ...) of each block of columns are quantized to int8 with scale
// max |entry| / 127, or, for int4, x itself is (entry q = q * xq). The
// reference below computes that from the decoded weight and x, by its own
// loops, in double; the kernels must match it at every SIMD level (the
// int8 kernel where the CPU has VNNI, f32 kernels on the same entries
// elsewhere) and stay within the rounding of the entries of the exact f32
// product.
//
//===----------------------------------------------------------------------===//

#include "runtime/formats/Packed.h"
#include "runtime/formats/Quantize.h"
#include "runtime/kernels/PackedKernels.h"
#include "test/unit/TestData.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

using namespace sparq::formats;
using namespace sparq::kernels;

namespace {

/// What a block's rounding may cost a row: half a step per slot.
struct Reference {
  std::vector<double> y, bound;
};

/// Table kinds (ternary, codebook): slot s covers columns [s * per, (s + 1) *
/// per); entries(s, e) is entry e (e < 16 * tables) of its tables and
/// code(r, s) the entry row r's weights select; combine(r, t, sum) is what
/// table t's sum adds to row r, before the block's scale.
template <typename Entries, typename Code, typename Combine>
Reference tableReference(int64_t rows, int64_t slots, int64_t slotsPerBlock,
                         int tables, Entries entries, Code code,
                         Combine combine) {
  Reference ref{std::vector<double>(rows, 0), std::vector<double>(rows, 0)};
  for (int64_t s0 = 0; s0 < slots; s0 += slotsPerBlock) {
    int64_t s1 = std::min(slots, s0 + slotsPerBlock);
    float max = 0;
    for (int64_t s = s0; s < s1; ++s)
      for (int e = 0; e < 16 * tables; ++e)
        max = std::max(max, std::fabs(entries(s, e)));
    float inv = max > 0 ? 127 / max : 0.0f;
    double scale = max / 127;
    for (int64_t r = 0; r < rows; ++r)
      for (int t = 0; t < tables; ++t) {
        int64_t sum = 0;
        double count = 0;
        for (int64_t s = s0; s < s1; ++s) {
          sum += int64_t(std::nearbyint(entries(s, 16 * t + code(r, s)) * inv));
          count += 1;
        }
        double c = combine(r, t, double(sum));
        ref.y[r] += scale * c;
        ref.bound[r] += std::fabs(combine(r, t, count)) * scale / 2;
      }
  }
  return ref;
}

struct Shape {
  const char *name;
  Layout layout;
  std::vector<int64_t> cols;
  std::vector<int64_t> rows = {1, 15, 16, 37, 600};
};

std::vector<Shape> shapes() {
  Layout tl;
  tl.quant = Quant::Ternary;
  tl.actBits = 8;
  Layout tc = tl;
  tc.perChannel = true;
  Layout i4 = tl;
  i4.quant = Quant::Int;
  i4.bits = 4;
  i4.group = 128;
  i4.zeroPoints = true;
  Layout i4s = i4, i4g64 = i4, i4g256 = i4, i4g192 = i4, i4row = i4;
  i4s.zeroPoints = false;
  i4g64.group = 64;
  i4g256.group = 256;
  i4g192.group = 192;
  i4row.group = 0;
  Layout cb = tl;
  cb.quant = Quant::Codebook;
  cb.bits = 4;
  return {{"ternary", tl, {16, 70, 200, 1000}},
          {"ternary/ch", tc, {16, 70, 1000}},
          {"int4g128", i4, {128, 384}},
          {"int4g128/sym", i4s, {256}},
          {"int4g64", i4g64, {192}},
          {"int4g256", i4g256, {512}},
          {"int4g192", i4g192, {576}},
          {"int4/row", i4row, {8, 70, 1000}},
          // Past 8192 words the kernel takes the columns in blocks: ending
          // where groups do (192: 8184 words), or, a row's single group
          // being longer, carrying its sums from block to block.
          {"int4g192/wide", i4g192, {67200}, {16, 37}},
          {"int4/row wide", i4row, {70000}, {17}},
          {"cb4", cb, {128, 200, 301}}};
}

Reference reference(const PackedView &v, const std::vector<float> &wd,
                    const std::vector<float> &x) {
  const Layout &l = v.layout();
  int64_t rows = v.rows(), cols = v.cols();
  auto at = [&](const std::vector<float> &a, int64_t i) {
    return i < cols ? a[i] : 0.0f; // columns past the last are zero
  };
  if (l.quant == Quant::Int) {
    // Blocks of x's scale end where groups do.
    int64_t block = l.group == 0 ? 128 : std::gcd<int64_t>(l.group, 128);
    Reference ref{std::vector<double>(rows, 0), std::vector<double>(rows, 0)};
    for (int64_t c0 = 0; c0 < cols; c0 += block) {
      int64_t c1 = std::min(cols, c0 + block);
      float max = 0;
      for (int64_t c = c0; c < c1; ++c)
        max = std::max(max, std::fabs(x[c]));
      float inv = max > 0 ? 127 / max : 0.0f;
      double scale = max / 127;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = c0; c < c1; ++c) {
          ref.y[r] += scale * wd[r * cols + c] * std::nearbyint(x[c] * inv);
          ref.bound[r] += std::fabs(wd[r * cols + c]) * scale / 2;
        }
    }
    return ref;
  }
  if (l.quant == Quant::Codebook) {
    const float *table = v.section<float>(Section::Table);
    int64_t slots = (cols + 7) / 8 * 8;
    std::vector<int> codes(rows * cols);
    for (int64_t i = 0; i < rows * cols; ++i)
      codes[i] = int(std::find(table, table + 16, wd[i]) - table);
    return tableReference(
        rows, slots, 128, 1,
        [&](int64_t s, int e) { return table[e] * at(x, s); },
        [&](int64_t r, int64_t s) {
          return s < cols ? codes[r * cols + s] : 0;
        },
        [](int64_t, int, double sum) { return sum; });
  }
  // Ternary: slot s is columns (2s, 2s + 1), entry c0 | c1 << 2.
  const Header &h = v.header();
  const float *scales = v.section<float>(Section::Scales);
  auto codeOf = [&](int64_t r, int64_t c) {
    float e = c < cols ? wd[r * cols + c] : 0.0f;
    return e > 0 ? 1 : e < 0 ? 2 : 0;
  };
  int64_t slots = (cols + 15) / 16 * 8;
  auto code = [&](int64_t r, int64_t s) {
    return codeOf(r, 2 * s) | codeOf(r, 2 * s + 1) << 2;
  };
  if (!l.perChannel) {
    const float val[4] = {0, h.wp, -h.wn, 0};
    return tableReference(
        rows, slots, 64, 1,
        [&](int64_t s, int e) {
          return val[e & 3] * at(x, 2 * s) + val[e >> 2 & 3] * at(x, 2 * s + 1);
        },
        code, [](int64_t, int, double sum) { return sum; });
  }
  // Per row: a table of the +1 codes' x, one of the -1 codes'.
  return tableReference(
      rows, slots, 64, 2,
      [&](int64_t s, int e) {
        int want = e < 16 ? 1 : 2;
        return float((e & 3) == want) * at(x, 2 * s) +
               float((e >> 2 & 3) == want) * at(x, 2 * s + 1);
      },
      code,
      [&](int64_t r, int t, double sum) {
        return t == 0 ? scales[2 * r] * sum : -scales[2 * r + 1] * sum;
      });
}

TEST(Int8Gemv, MatchesQuantizedReferenceAtEveryLevel) {
  std::vector<SimdLevel> simd = sparq::test::simdLevels();
  if (simd.front() != SimdLevel::Avx512Vnni)
    std::printf("note: no AVX-512 VNNI + VBMI here; the int8 kernel itself "
                "is not run, its f32 fallbacks are\n");
  std::mt19937 rng(31);
  std::normal_distribution<float> d(0, 1);
  int checked = 0;
  for (const Shape &s : shapes())
    for (int64_t rows : s.rows)
      for (int64_t cols : s.cols) {
        std::string what = std::string(s.name) + " " + std::to_string(rows) +
                           "x" + std::to_string(cols);
        std::vector<float> w =
            sparq::test::weightFor(s.layout, rows, cols, 1.0, rng, 0.3);
        std::vector<uint8_t> blob = pack(w.data(), rows, cols, s.layout);
        PackedView v(blob.data(), blob.size());
        std::vector<float> wd(rows * cols), x(cols);
        decodeRows(v, 0, rows, wd.data());
        for (float &e : x)
          e = d(rng);
        x[cols / 3] *= 20; // an outlier: its block's scale is coarser
        Reference ref = reference(v, wd, x);
        for (SimdLevel level : simd) {
          SCOPED_TRACE(what + ", SIMD level " + simdName(level));
          ASSERT_EQ(limitSimd(level), level);
          std::vector<float> y(rows, 0.5f);
          packedGemv(v, x.data(), y.data(), true);
          for (int64_t r = 0; r < rows; ++r) {
            double exact = 0.5;
            for (int64_t c = 0; c < cols; ++c)
              exact += double(wd[r * cols + c]) * x[c];
            ASSERT_NEAR(y[r], 0.5 + ref.y[r], 1e-5 * (1 + ref.bound[r] * 127))
                << "row " << r;
            ASSERT_LE(std::fabs(y[r] - exact), ref.bound[r] * 1.001 + 1e-4)
                << "row " << r << " exact " << exact;
          }
          ++checked;
        }
      }
  limitSimd(SimdLevel::Avx512Vnni);
  EXPECT_GT(checked, 100);
}

TEST(Int8Gemv, LayoutChecks) {
  Layout l;
  l.quant = Quant::Ternary;
  l.actBits = 8;
  EXPECT_EQ(checkLayout(l, 4, 32), "");
  EXPECT_EQ(describe(l), "dense+ternary+a8");
  l.actBits = 4;
  EXPECT_NE(checkLayout(l, 4, 32).find("int8 (8), got 4"), std::string::npos);
  l.actBits = 8;
  l.format = Format::CSR;
  EXPECT_NE(checkLayout(l, 4, 32).find("need dense"), std::string::npos);
  Layout i;
  i.quant = Quant::Int;
  i.bits = 8;
  i.actBits = 8;
  EXPECT_NE(checkLayout(i, 4, 32).find("need dense"), std::string::npos);
  i.bits = 4;
  i.group = 12;
  EXPECT_NE(checkLayout(i, 4, 36).find("multiple of 8"), std::string::npos);
  i.group = 16;
  EXPECT_EQ(checkLayout(i, 4, 32), "");
}

} // namespace
