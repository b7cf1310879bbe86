//===- Resize.cpp - ONNX Resize and Upsample ------------------------------===//
//
// Shapes are static, so the sampling positions are too: for every resized
// axis the importer computes, on the host, a table of taps (source index and
// weight per output position) for the mode (nearest, linear, cubic) and the
// coordinate transformation. The IR is then one linalg.generic that reads
// the taps and blends the source elements.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

struct ResizeAttrs {
  std::string mode = "nearest", transform = "half_pixel",
              nearestMode = "round_prefer_floor";
  double cubicA = -0.75, extrapolation = 0;
  bool excludeOutside = false;
};

/// Taps of one axis: for each output position, `taps` (index, weight) pairs
/// and whether the position is inside the source (tf_crop_and_resize).
struct AxisTaps {
  int64_t taps = 1;
  std::vector<int64_t> index;  // [out * taps]
  std::vector<double> weight;  // [out * taps]
  std::vector<int64_t> inside; // [out]
};

/// The source coordinate of output position x. As the ONNX reference does,
/// align_corners and tf_crop_and_resize divide by the unrounded resized
/// length in * scale.
double sourceCoordinate(const ResizeAttrs &a, double x, double scale,
                        int64_t in, int64_t out, double roiStart,
                        double roiEnd) {
  const std::string &t = a.transform;
  double resized = in * scale;
  if (t == "asymmetric")
    return x / scale;
  if (t == "tf_half_pixel_for_nn")
    return (x + 0.5) / scale;
  if (t == "align_corners")
    return resized == 1 ? 0 : x * double(in - 1) / (resized - 1);
  if (t == "pytorch_half_pixel")
    return out > 1 ? (x + 0.5) / scale - 0.5 : 0;
  if (t == "tf_crop_and_resize")
    return out > 1 ? roiStart * (in - 1) +
                         x * (roiEnd - roiStart) * (in - 1) / double(out - 1)
                   : 0.5 * (roiStart + roiEnd) * (in - 1);
  if (t == "half_pixel_symmetric") {
    double adj = double(out) / (scale * in);
    double center = in / 2.0;
    double offset = center * (1 - adj);
    return offset + (x + 0.5) / scale - 0.5;
  }
  return (x + 0.5) / scale - 0.5; // half_pixel
}

/// A source coordinate made safe to round to an index. Coordinates come from
/// the model's scales and roi: past 2^40 from the input (or NaN) every tap
/// they pick is clamped to an edge or outside anyway, and converting them to
/// int64 would be undefined.
double tame(double c, int64_t in) {
  constexpr double kFar = double(int64_t(1) << 40);
  return std::isnan(c) ? 0.0 : std::clamp(c, -kFar, double(in) + kFar);
}

int64_t nearestIndex(const std::string &mode, double c, bool downsample) {
  if (mode == "floor")
    return static_cast<int64_t>(std::floor(c));
  if (mode == "ceil")
    return static_cast<int64_t>(std::ceil(c));
  double frac = c - std::floor(c);
  if (frac == 0.5) {
    if (mode == "round_prefer_ceil")
      return static_cast<int64_t>(std::ceil(c));
    return static_cast<int64_t>(std::floor(c));
  }
  (void)downsample;
  return static_cast<int64_t>(std::round(c));
}

double cubicWeight(double x, double a) {
  x = std::fabs(x);
  if (x <= 1)
    return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2)
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

AxisTaps axisTaps(const ResizeAttrs &a, int64_t in, int64_t out, double scale,
                  double roiStart, double roiEnd) {
  AxisTaps t;
  t.taps = a.mode == "nearest" ? 1 : a.mode == "linear" ? 2 : 4;
  for (int64_t o = 0; o < out; ++o) {
    double c =
        tame(sourceCoordinate(a, o, scale, in, out, roiStart, roiEnd), in);
    bool inside = true;
    if (a.transform == "tf_crop_and_resize" && (c < 0 || c > in - 1))
      inside = false;
    t.inside.push_back(inside);
    if (a.mode == "nearest") {
      int64_t i = nearestIndex(a.nearestMode, c, scale < 1);
      t.index.push_back(std::clamp<int64_t>(i, 0, in - 1));
      t.weight.push_back(1);
    } else if (a.mode == "linear") {
      double cc = std::clamp(c, 0.0, double(in - 1));
      int64_t i0 = static_cast<int64_t>(std::floor(cc));
      int64_t i1 = std::min(i0 + 1, in - 1);
      double f = cc - i0;
      t.index.insert(t.index.end(), {i0, i1});
      t.weight.insert(t.weight.end(), {1 - f, f});
    } else {
      int64_t i0 = static_cast<int64_t>(std::floor(c));
      double f = c - i0;
      double w[4], sum = 0;
      int64_t idx[4];
      for (int k = 0; k < 4; ++k) {
        int64_t i = i0 - 1 + k;
        w[k] = cubicWeight(f - (k - 1), a.cubicA);
        if (a.excludeOutside && (i < 0 || i >= in))
          w[k] = 0;
        idx[k] = std::clamp<int64_t>(i, 0, in - 1);
        sum += w[k];
      }
      for (int k = 0; k < 4; ++k) {
        t.index.push_back(idx[k]);
        t.weight.push_back(a.excludeOutside && sum != 0 ? w[k] / sum : w[k]);
      }
    }
  }
  return t;
}

/// Builds the resize of `x` to `outShape` given per-axis scales.
LogicalResult buildResizeCore(NodeContext &ctx, const ResizeAttrs &a,
                              const std::vector<int64_t> &outShape,
                              const std::vector<double> &scales,
                              const std::vector<double> &roi) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  const auto &in = ctx.shape(0);
  int64_t rank = in.size();
  io::DType dt = ctx.dtype(0);
  Type elem = ctx.elementType(dt);
  if (a.mode != "nearest" && !isFloat(dt))
    return ctx.error() << "mode '" << a.mode << "' expects a float input";
  // Resized axes get tap tables; the others read the loop index directly.
  std::vector<int64_t> axes;
  std::vector<AxisTaps> taps;
  // The tables are constants of the module, an index (and a weight) per
  // output and tap: bounded, so that an absurd size is an error, not
  // hundreds of megabytes of constants. 2^22 entries hold a 4K image's
  // bicubic tables more than a hundred times over.
  int64_t perOutput = (a.mode == "nearest"  ? 1
                       : a.mode == "linear" ? 4
                                            : 8) +
                      (a.transform == "tf_crop_and_resize");
  int64_t entries = 0;
  for (int64_t i = 0; i < rank; ++i) {
    if (outShape[i] == in[i] && scales[i] == 1.0 &&
        a.transform != "tf_crop_and_resize")
      continue;
    entries += std::min<int64_t>(outShape[i], int64_t(1) << 40) * perOutput;
    if (entries > (int64_t(1) << 22))
      return ctx.error() << "output size " << outShape[i] << " of axis " << i
                         << " needs resize tables past 2^22 entries";
    double rs = roi.empty() ? 0 : roi[i], re = roi.empty() ? 1 : roi[rank + i];
    axes.push_back(i);
    taps.push_back(axisTaps(a, in[i], outShape[i], scales[i], rs, re));
  }
  MLIRContext *mctx = b.getContext();
  SmallVector<Value> tables;
  SmallVector<AffineMap> maps;
  bool crop = a.transform == "tf_crop_and_resize";
  for (size_t k = 0; k < axes.size(); ++k) {
    int64_t o = outShape[axes[k]], nt = taps[k].taps;
    AffineMap m = AffineMap::get(rank, 0,
                                 {getAffineDimExpr(axes[k], mctx)}, mctx);
    for (int64_t t = 0; t < nt; ++t) {
      std::vector<int64_t> idx(o);
      std::vector<double> w(o);
      for (int64_t p = 0; p < o; ++p) {
        idx[p] = taps[k].index[p * nt + t];
        w[p] = taps[k].weight[p * nt + t];
      }
      tables.push_back(materializeConstant(
          b, loc, hostFromInts(io::DType::I64, {o}, idx)));
      maps.push_back(m);
      if (a.mode != "nearest") {
        tables.push_back(
            materializeConstant(b, loc, hostFromDoubles(dt, {o}, w)));
        maps.push_back(m);
      }
    }
    if (crop) {
      tables.push_back(materializeConstant(
          b, loc, hostFromInts(io::DType::Bool, {o}, taps[k].inside)));
      maps.push_back(m);
    }
  }
  Value src = ctx.value(0);
  Value r = buildIndexed(
      b, loc, outShape, elem, tables, maps,
      [&](OpBuilder &nb, Location nl, ValueRange idx,
          ValueRange args) -> Value {
        SmallVector<Value> base(idx.begin(), idx.end());
        // Walk the tap combinations: one read per combination.
        int64_t combos = 1;
        for (const AxisTaps &t : taps)
          combos *= t.taps;
        int64_t perTap = a.mode == "nearest" ? 1 : 2;
        Value acc;
        Value allInside;
        for (int64_t c = 0; c < combos; ++c) {
          SmallVector<Value> at = base;
          Value w;
          int64_t rem = c;
          size_t argPos = 0;
          for (size_t k = 0; k < axes.size(); ++k) {
            int64_t nt = taps[k].taps, t = rem % nt;
            rem /= nt;
            Value idx = args[argPos + t * perTap];
            at[axes[k]] = nb.create<arith::IndexCastOp>(nl, nb.getIndexType(),
                                                        idx);
            if (perTap == 2) {
              Value wk = args[argPos + t * perTap + 1];
              w = w ? nb.create<arith::MulFOp>(nl, w, wk).getResult() : wk;
            }
            argPos += nt * perTap;
            if (crop) {
              if (c == 0) {
                Value in = args[argPos];
                allInside = allInside
                                ? nb.create<arith::AndIOp>(nl, allInside, in)
                                      .getResult()
                                : in;
              }
              argPos += 1;
            }
          }
          Value v = nb.create<tensor::ExtractOp>(nl, src, at);
          if (w)
            v = nb.create<arith::MulFOp>(nl, v, w);
          acc = acc ? addS(nb, nl, acc, v) : v;
        }
        if (crop && allInside)
          acc = nb.create<arith::SelectOp>(
              nl, allInside, acc,
              scalarConstant(nb, nl, elem, a.extrapolation));
        return acc;
      });
  ctx.setOutput(0, r, dt);
  return success();
}

LogicalResult buildResize(NodeContext &ctx) {
  ResizeAttrs a;
  a.mode = ctx.attrString("mode", "nearest");
  if (a.mode != "nearest" && a.mode != "linear" && a.mode != "cubic")
    return ctx.error() << "unsupported mode '" << a.mode << "'";
  a.transform = ctx.attrString("coordinate_transformation_mode",
                               ctx.opset < 11 ? "asymmetric" : "half_pixel");
  a.nearestMode = ctx.attrString("nearest_mode", "round_prefer_floor");
  a.cubicA = ctx.attrFloat("cubic_coeff_a", -0.75f);
  a.excludeOutside = ctx.attrInt("exclude_outside", 0);
  a.extrapolation = ctx.attrFloat("extrapolation_value", 0);
  if (ctx.attrInt("antialias", 0))
    return ctx.error() << "antialias is not supported";
  std::string policy = ctx.attrString("keep_aspect_ratio_policy", "stretch");
  const auto &in = ctx.shape(0);
  int64_t rank = in.size();
  std::vector<int64_t> axes = ctx.attrInts("axes");
  if (axes.empty())
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  for (int64_t &x : axes) {
    x = normalizeAxis(x, rank);
    if (x < 0)
      return ctx.error() << "axes are out of range for rank " << rank;
  }
  size_t scalesIdx = ctx.opset < 11 ? 1 : 2, sizesIdx = 3;
  std::vector<double> roi;
  if (ctx.opset >= 11 && ctx.hasInput(1) && numElements(ctx.shape(1)) > 0) {
    auto r = ctx.constFloats(1, "roi");
    if (failed(r))
      return failure();
    if (r->size() != 2 * axes.size())
      return ctx.error() << "roi has " << r->size() << " entries for "
                         << axes.size() << " axes";
    std::vector<double> full(2 * rank, 0);
    for (int64_t i = 0; i < rank; ++i)
      full[rank + i] = 1;
    for (size_t k = 0; k < axes.size(); ++k) {
      full[axes[k]] = (*r)[k];
      full[rank + axes[k]] = (*r)[axes.size() + k];
    }
    roi = full;
  }
  std::vector<double> scales(rank, 1.0);
  std::vector<int64_t> out = in;
  bool haveSizes = ctx.hasInput(sizesIdx) && numElements(ctx.shape(sizesIdx)) > 0;
  if (haveSizes) {
    auto s = ctx.constInts(sizesIdx, "sizes");
    if (failed(s))
      return failure();
    if (s->size() != axes.size())
      return ctx.error() << "sizes has " << s->size() << " entries for "
                         << axes.size() << " axes";
    if (policy != "stretch") {
      // One scale for all axes, the smaller or larger one.
      double sc = policy == "not_larger" ? INFINITY : 0;
      for (size_t k = 0; k < axes.size(); ++k) {
        double r = double((*s)[k]) / in[axes[k]];
        sc = policy == "not_larger" ? std::min(sc, r) : std::max(sc, r);
      }
      for (int64_t x : axes) {
        double o = std::round(sc * in[x]);
        // Checked as a double: past 2^63 (or NaN) it does not convert.
        if (!(o >= 0 && o <= double(kMaxElements)))
          return ctx.error() << "output size " << o << " is out of range";
        scales[x] = sc;
        out[x] = static_cast<int64_t>(o);
      }
    } else {
      for (size_t k = 0; k < axes.size(); ++k) {
        if ((*s)[k] < 0 || (*s)[k] > kMaxElements)
          return ctx.error() << "sizes " << shapeStr(*s) << " are out of range";
        out[axes[k]] = (*s)[k];
        scales[axes[k]] = double((*s)[k]) / in[axes[k]];
      }
    }
  } else if (ctx.hasInput(scalesIdx)) {
    auto s = ctx.constFloats(scalesIdx, "scales");
    if (failed(s))
      return failure();
    if (s->size() != axes.size())
      return ctx.error() << "scales has " << s->size() << " entries for "
                         << axes.size() << " axes";
    for (size_t k = 0; k < axes.size(); ++k) {
      if ((*s)[k] <= 0)
        return ctx.error() << "scales must be positive";
      double o = std::floor(in[axes[k]] * (*s)[k]);
      if (!(o <= double(kMaxElements)))
        return ctx.error() << "scale " << (*s)[k] << " makes an output size of "
                           << o << ", out of range";
      scales[axes[k]] = (*s)[k];
      out[axes[k]] = static_cast<int64_t>(o);
    }
  } else {
    return ctx.error() << "expects scales or sizes";
  }
  if (!fitsLimits(out))
    return ctx.error() << "output of shape " << shapeStr(out)
                       << " is too large";
  return buildResizeCore(ctx, a, out, scales, roi);
}

LogicalResult buildUpsample(NodeContext &ctx) {
  ResizeAttrs a;
  a.mode = ctx.attrString("mode", "nearest");
  if (a.mode == "bilinear")
    a.mode = "linear";
  a.transform = "asymmetric";
  a.nearestMode = "floor";
  std::vector<double> scales;
  if (ctx.hasInput(1)) {
    auto s = ctx.constFloats(1, "scales");
    if (failed(s))
      return failure();
    scales = *s;
  } else {
    auto f = ctx.attrFloats("scales");
    scales.assign(f.begin(), f.end());
  }
  const auto &in = ctx.shape(0);
  if (scales.size() != in.size())
    return ctx.error() << "expects one scale per dimension";
  std::vector<int64_t> out;
  for (size_t i = 0; i < in.size(); ++i) {
    double o = std::floor(in[i] * scales[i]);
    // Checked as a double: past 2^63 (or NaN) it does not convert.
    if (!(scales[i] > 0 && o <= double(kMaxElements)))
      return ctx.error() << "scale " << scales[i] << " is out of range";
    out.push_back(static_cast<int64_t>(o));
  }
  if (!fitsLimits(out))
    return ctx.error() << "output of shape " << shapeStr(out)
                       << " is too large";
  return buildResizeCore(ctx, a, out, scales, {});
}

} // namespace

void onnx_import::registerResizeOps(OpTable &t) {
  t["Resize"] = buildResize;
  t["Upsample"] = buildUpsample;
}
