//===- NeuralNet.cpp - ONNX conv, matmul, normalization, pooling ----------===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"
#include "runtime/io/SizeMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

Value cst(OpBuilder &b, Location loc, Type t, double v) {
  return scalarConstant(b, loc, t, v);
}

/// Window geometry shared by Conv and the pools.
struct Window {
  std::vector<int64_t> kernel, strides, dilations, padLo, padHi, out;
};

/// Resolves kernel/strides/dilations/pads/auto_pad for `spatial` input dims.
FailureOr<Window> resolveWindow(NodeContext &ctx, ArrayRef<int64_t> spatial,
                                std::vector<int64_t> kernel, bool ceilMode) {
  size_t s = spatial.size();
  Window w;
  w.kernel = std::move(kernel);
  w.strides = ctx.attrInts("strides");
  w.dilations = ctx.attrInts("dilations");
  std::vector<int64_t> pads = ctx.attrInts("pads");
  if (w.strides.empty())
    w.strides.assign(s, 1);
  if (w.dilations.empty())
    w.dilations.assign(s, 1);
  if (pads.empty())
    pads.assign(2 * s, 0);
  if (w.kernel.size() != s || w.strides.size() != s ||
      w.dilations.size() != s || pads.size() != 2 * s) {
    ctx.error() << "kernel_shape, strides, dilations and pads must match "
                << s << " spatial dimensions";
    return failure();
  }
  std::string autoPad = ctx.attrString("auto_pad", "NOTSET");
  for (size_t i = 0; i < s; ++i) {
    if (w.strides[i] <= 0 || w.dilations[i] <= 0 || w.kernel[i] <= 0) {
      ctx.error() << "kernel, strides and dilations must be positive";
      return failure();
    }
    // Beyond 2^31 a window or a pad is a corrupt value, and the arithmetic
    // below could overflow.
    constexpr int64_t kMaxWindow = int64_t(1) << 31;
    if (w.kernel[i] > kMaxWindow || w.strides[i] > kMaxWindow ||
        w.dilations[i] > kMaxWindow || spatial[i] > kMaxWindow) {
      ctx.error() << "kernel_shape, strides or dilations past 2^31 (kernel "
                  << shapeStr(w.kernel) << ")";
      return failure();
    }
    if (pads[i] < 0 || pads[i + s] < 0 || pads[i] > kMaxWindow ||
        pads[i + s] > kMaxWindow) {
      ctx.error() << "pads must be in [0, 2^31] (pads " << shapeStr(pads)
                  << ")";
      return failure();
    }
    int64_t in = spatial[i], k = (w.kernel[i] - 1) * w.dilations[i] + 1;
    int64_t lo = pads[i], hi = pads[i + s];
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      int64_t o = (in + w.strides[i] - 1) / w.strides[i];
      int64_t total = std::max<int64_t>(0, (o - 1) * w.strides[i] + k - in);
      lo = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      hi = total - lo;
    } else if (autoPad == "VALID") {
      lo = hi = 0;
    } else if (autoPad != "NOTSET") {
      ctx.error() << "unsupported auto_pad '" << autoPad << "'";
      return failure();
    }
    int64_t span = in + lo + hi - k;
    if (span < 0) {
      ctx.error() << "kernel " << shapeStr(w.kernel)
                  << " is larger than the padded input "
                  << shapeStr(spatial);
      return failure();
    }
    int64_t o = ceilMode ? (span + w.strides[i] - 1) / w.strides[i] + 1
                         : span / w.strides[i] + 1;
    // A ceil-mode window must start inside the input or its left padding.
    if (ceilMode && (o - 1) * w.strides[i] >= in + lo)
      --o;
    // Extra right padding so the last (ceil-mode) window is in bounds.
    hi = std::max(hi, (o - 1) * w.strides[i] + k - in - lo);
    w.padLo.push_back(lo);
    w.padHi.push_back(hi);
    w.out.push_back(o);
  }
  return w;
}

// --- Convolution -------------------------------------------------------------

} // namespace

bool onnx_import::convGroupsOnKernels(const NodeContext &ctx, size_t wAt) {
  if (ctx.rank(0) != 4 || ctx.rank(wAt) != 4)
    return false;
  int64_t g = ctx.attrInt("group", 1), c = ctx.shape(0)[1],
          f = ctx.shape(wAt)[0];
  return g == 1 ||
         (g > 0 && c % g == 0 && f % g == 0 && ctx.shape(wAt)[1] == c / g);
}

FailureOr<Value> onnx_import::buildConvCore(NodeContext &ctx, Value input,
                                            Value weight, Value bias,
                                            Value padValue, Type accType) {
  auto xs = cast<RankedTensorType>(input.getType()).getShape();
  auto ws = cast<RankedTensorType>(weight.getType()).getShape();
  int64_t rank = xs.size();
  if (rank < 3 || static_cast<int64_t>(ws.size()) != rank) {
    ctx.error() << "expects input and weight of one rank >= 3, got "
                << shapeStr(xs) << " and " << shapeStr(ws);
    return failure();
  }
  int64_t s = rank - 2, n = xs[0], c = xs[1], f = ws[0];
  int64_t g = ctx.attrInt("group", 1);
  // The batch may be a run-time dimension (crops of regions), for 2-D
  // convolutions without groups or depthwise: their kernels take it from
  // the buffers.
  if (llvm::any_of(xs, ShapedType::isDynamic)) {
    n = ctx.shape(0)[0];
    bool plainOrDepthwise = g == 1 || (g == c && f == c);
    if (!isRunTimeDim(n) || s != 2 || !plainOrDepthwise ||
        llvm::any_of(xs.drop_front(), ShapedType::isDynamic) ||
        !cast<RankedTensorType>(weight.getType()).hasStaticShape()) {
      ctx.error() << "a run-time extent is supported as the batch of 2-D "
                     "convolutions without groups or depthwise, got input "
                  << ctx.dims().shapeStr(ctx.shape(0)) << " and weight "
                  << ctx.dims().shapeStr(ctx.shape(1));
      return failure();
    }
  }
  if (g <= 0 || c % g || f % g || ws[1] != c / g) {
    ctx.error() << "weight " << shapeStr(ws) << " does not match " << c
                << " input channels in " << g << " groups";
    return failure();
  }
  std::vector<int64_t> kernel = ctx.attrInts("kernel_shape");
  std::vector<int64_t> wk(ws.begin() + 2, ws.end());
  if (kernel.empty())
    kernel = wk;
  if (kernel != wk) {
    ctx.error() << "kernel_shape " << shapeStr(kernel)
                << " does not match the weight " << shapeStr(ws);
    return failure();
  }
  auto win = resolveWindow(ctx, xs.drop_front(2), kernel, false);
  if (failed(win))
    return failure();
  if (bias && cast<RankedTensorType>(bias.getType()).getShape() !=
                  ArrayRef<int64_t>{f}) {
    ctx.error() << "bias expects shape [" << f << "], got "
                << shapeStr(cast<RankedTensorType>(bias.getType()).getShape());
    return failure();
  }

  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type inElem = cast<RankedTensorType>(input.getType()).getElementType();
  // The accumulator's type: the input's, unless given (int8 -> int32).
  Type elem = accType ? accType : inElem;

  std::vector<int64_t> lo(2, 0), hi(2, 0);
  lo.insert(lo.end(), win->padLo.begin(), win->padLo.end());
  hi.insert(hi.end(), win->padHi.begin(), win->padHi.end());
  Value x = padTensor(b, loc, input, lo, hi,
                      padValue ? padValue : cst(b, loc, inElem, 0));
  auto xp = cast<RankedTensorType>(x.getType()).getShape();
  int64_t cg = c / g, fg = f / g;

  // 2-D convolutions become linalg named ops, which the host target hands
  // to tuned kernels: without groups, depthwise, and grouped (ResNeXt,
  // RegNet, ShuffleNet) as conv_2d_ngchw_gfchw on [N, G, C/G, H, W] views,
  // whose kernel runs the plain one on each group's channels.
  bool depthwise = g == c && f == c;
  if (s == 2) {
    std::vector<int64_t> outShape = {n, f, win->out[0], win->out[1]};
    Value acc;
    if (bias)
      acc = broadcastTo(b, loc, reshapeTensor(b, loc, bias, {1, f, 1, 1}),
                        outShape);
    else
      acc = filledTensor(b, loc, outShape, elem, 0);
    auto strides = b.getI64VectorAttr(win->strides);
    auto dilations = b.getI64VectorAttr(win->dilations);
    if (g > 1 && !depthwise) {
      Value x5 = reshapeTensor(b, loc, x, {n, g, cg, xp[2], xp[3]});
      Value w5 =
          reshapeTensor(b, loc, weight, {g, fg, cg, kernel[0], kernel[1]});
      Value a5 =
          reshapeTensor(b, loc, acc, {n, g, fg, outShape[2], outShape[3]});
      Value y = b.create<linalg::Conv2DNgchwGfchwOp>(
                     loc, a5.getType(), ValueRange{x5, w5}, ValueRange{a5},
                     strides, dilations)
                    .getResult(0);
      return reshapeTensor(b, loc, y, outShape);
    }
    if (g == 1)
      return b
          .create<linalg::Conv2DNchwFchwOp>(loc, acc.getType(),
                                            ValueRange{x, weight},
                                            ValueRange{acc}, strides, dilations)
          .getResult(0);
    Value w3 = reshapeTensor(b, loc, weight, {c, kernel[0], kernel[1]});
    return b
        .create<linalg::DepthwiseConv2DNchwChwOp>(loc, acc.getType(),
                                                  ValueRange{x, w3},
                                                  ValueRange{acc}, strides,
                                                  dilations)
        .getResult(0);
  }

  // Accumulator [N, G, Fg, out...] starts at the bias.
  std::vector<int64_t> accShape = {n, g, fg};
  accShape.insert(accShape.end(), win->out.begin(), win->out.end());
  Value acc;
  if (bias) {
    std::vector<int64_t> bshape = {1, g, fg};
    bshape.insert(bshape.end(), s, 1);
    acc = broadcastTo(b, loc, reshapeTensor(b, loc, bias, bshape), accShape);
  } else {
    acc = filledTensor(b, loc, accShape, elem, 0);
  }

  std::vector<int64_t> xg = {n, g, cg};
  xg.insert(xg.end(), xp.begin() + 2, xp.end());
  std::vector<int64_t> wg = {g, fg, cg};
  wg.insert(wg.end(), kernel.begin(), kernel.end());
  Value x5 = reshapeTensor(b, loc, x, xg);
  Value w5 = reshapeTensor(b, loc, weight, wg);

  // Loops: n, g, f, o[s] | c, k[s].
  MLIRContext *mctx = b.getContext();
  int64_t loops = 3 + s + 1 + s;
  auto d = [&](int64_t i) { return getAffineDimExpr(i, mctx); };
  int64_t cDim = 3 + s;
  SmallVector<AffineExpr> xe = {d(0), d(1), d(cDim)}, we = {d(1), d(2), d(cDim)},
                          oe = {d(0), d(1), d(2)};
  for (int64_t i = 0; i < s; ++i) {
    xe.push_back(d(3 + i) * win->strides[i] +
                 d(cDim + 1 + i) * win->dilations[i]);
    we.push_back(d(cDim + 1 + i));
    oe.push_back(d(3 + i));
  }
  SmallVector<AffineMap> maps = {AffineMap::get(loops, 0, xe, mctx),
                                 AffineMap::get(loops, 0, we, mctx),
                                 AffineMap::get(loops, 0, oe, mctx)};
  SmallVector<utils::IteratorType> iters(3 + s, utils::IteratorType::parallel);
  iters.append(1 + s, utils::IteratorType::reduction);
  auto conv = b.create<linalg::GenericOp>(
      loc, TypeRange{acc.getType()}, ValueRange{x5, w5}, ValueRange{acc}, maps,
      iters, [](OpBuilder &nb, Location nl, ValueRange a) {
        nb.create<linalg::YieldOp>(
            nl, addS(nb, nl, a[2], mulS(nb, nl, a[0], a[1])));
      });
  std::vector<int64_t> outShape = {n, f};
  outShape.insert(outShape.end(), win->out.begin(), win->out.end());
  return reshapeTensor(b, loc, conv.getResult(0), outShape);
}

namespace {

LogicalResult buildConv(NodeContext &ctx) {
  if (ctx.numInputs() < 2)
    return ctx.error() << "expects an input and a weight";
  if (!isFloat(ctx.dtype(0)))
    return ctx.error() << "expects float tensors";
  if (ctx.rank(0) < 3 || ctx.rank(1) != ctx.rank(0))
    return ctx.error() << "expects input and weight of one rank >= 3, got "
                       << shapeStr(ctx.shape(0)) << " and "
                       << shapeStr(ctx.shape(1));
  auto onIntegers = buildConvOnIntegers(ctx);
  if (failed(onIntegers))
    return failure();
  if (*onIntegers)
    return success();
  auto r = buildConvCore(ctx, ctx.value(0), ctx.value(1),
                         ctx.hasInput(2) ? ctx.value(2) : Value());
  if (failed(r))
    return failure();
  // A run-time batch keeps its id.
  auto type = cast<RankedTensorType>(r->getType());
  std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
  if (type.isDynamicDim(0))
    shape[0] = ctx.shape(0)[0];
  ctx.setOutput(0, *r, ctx.dtype(0), shape);
  return success();
}

LogicalResult buildConvTranspose(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  if (rank < 3 || ctx.rank(1) != rank)
    return ctx.error() << "expects input and weight of one rank >= 3";
  const auto &xs = ctx.shape(0), &ws = ctx.shape(1);
  int64_t s = rank - 2, n = xs[0], c = xs[1];
  int64_t g = ctx.attrInt("group", 1);
  if (g <= 0 || c % g || ws[0] != c)
    return ctx.error() << "weight " << shapeStr(ws) << " does not match "
                       << c << " input channels";
  int64_t fg = ws[1], f = fg * g, cg = c / g;
  std::vector<int64_t> kernel(ws.begin() + 2, ws.end());
  std::vector<int64_t> strides = ctx.attrInts("strides"),
                       dil = ctx.attrInts("dilations"),
                       pads = ctx.attrInts("pads"),
                       outPad = ctx.attrInts("output_padding"),
                       outShapeAttr = ctx.attrInts("output_shape");
  if (strides.empty())
    strides.assign(s, 1);
  if (dil.empty())
    dil.assign(s, 1);
  if (outPad.empty())
    outPad.assign(s, 0);
  std::string autoPad = ctx.attrString("auto_pad", "NOTSET");
  size_t us = static_cast<size_t>(s);
  if (strides.size() != us || dil.size() != us || outPad.size() != us ||
      (!pads.empty() && pads.size() != 2 * us) ||
      (!outShapeAttr.empty() && outShapeAttr.size() < us))
    return ctx.error() << "strides, dilations, output_padding, pads and "
                          "output_shape must match "
                       << s << " spatial dimensions";
  // Past 2^31 a stride, dilation or pad is a corrupt value.
  constexpr int64_t kMaxWindow = int64_t(1) << 31;
  auto inRange = [&](int64_t v, int64_t lo) {
    return v >= lo && v <= kMaxWindow;
  };
  for (int64_t i = 0; i < s; ++i)
    if (!inRange(strides[i], 1) || !inRange(dil[i], 1) ||
        !inRange(outPad[i], 0) ||
        (!pads.empty() && (!inRange(pads[i], 0) || !inRange(pads[i + s], 0))))
      return ctx.error() << "strides and dilations must be in [1, 2^31], "
                            "pads and output_padding in [0, 2^31] (strides "
                         << shapeStr(strides) << ", dilations " << shapeStr(dil)
                         << ", pads " << shapeStr(pads) << ", output_padding "
                         << shapeStr(outPad) << ")";
  std::vector<int64_t> out(s), lo(s), hi(s);
  SizeMath m;
  for (int64_t i = 0; i < s; ++i) {
    int64_t full =
        m.add(m.add(m.mul(strides[i], m.sub(xs[2 + i], 1)), outPad[i]),
              m.add(m.mul(m.sub(kernel[i], 1), dil[i]), 1));
    if (!outShapeAttr.empty() || autoPad == "SAME_UPPER" ||
        autoPad == "SAME_LOWER") {
      int64_t target = !outShapeAttr.empty()
                           ? outShapeAttr[outShapeAttr.size() - s + i]
                           : m.mul(xs[2 + i], strides[i]);
      int64_t total = m.sub(full, target);
      bool upper = autoPad != "SAME_LOWER";
      lo[i] = upper ? total / 2 : total - total / 2;
      hi[i] = total - lo[i];
    } else if (!pads.empty()) {
      lo[i] = pads[i];
      hi[i] = pads[i + s];
    }
    out[i] = m.sub(m.sub(full, lo[i]), hi[i]);
    // The stride-dilated input and its padding below stay in range too.
    (void)m.add(m.add(m.mul(m.sub(xs[2 + i], 1), strides[i]), 1),
                m.mul(m.add(m.mul(m.sub(kernel[i], 1), dil[i]), outPad[i]), 2));
    if (m.ok() && out[i] <= 0)
      return ctx.error() << "output size " << out[i] << " in dimension " << i
                         << " is not positive";
  }
  if (!m.ok())
    return ctx.error() << "output size overflows (strides " << shapeStr(strides)
                       << ", output_shape " << shapeStr(outShapeAttr) << ")";
  // As a direct convolution over the stride-dilated input: scatter input
  // pixels with gaps of stride-1, pad by k-1-pad, flip the kernel.
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = ctx.elementType(ctx.dtype(0));
  std::vector<int64_t> dilShape = {n, c};
  for (int64_t i = 0; i < s; ++i)
    dilShape.push_back((xs[2 + i] - 1) * strides[i] + 1);
  Value x = ctx.value(0);
  if (llvm::any_of(strides, [](int64_t v) { return v != 1; })) {
    Value zeros = filledTensor(b, loc, dilShape, elem, 0);
    SmallVector<OpFoldResult> offs(rank, b.getIndexAttr(0)), sizes, st;
    for (int64_t i = 0; i < rank; ++i) {
      sizes.push_back(b.getIndexAttr(xs[i]));
      st.push_back(b.getIndexAttr(i < 2 ? 1 : strides[i - 2]));
    }
    x = b.create<tensor::InsertSliceOp>(loc, x, zeros, offs, sizes, st);
  }
  std::vector<int64_t> plo = {0, 0}, phi = {0, 0};
  for (int64_t i = 0; i < s; ++i) {
    int64_t k = (kernel[i] - 1) * dil[i];
    plo.push_back(k - lo[i]);
    phi.push_back(k - hi[i] + outPad[i]);
  }
  // Negative padding (large pads) crops.
  std::vector<int64_t> offs(rank, 0), sizes = dilShape, st(rank, 1);
  for (int64_t i = 2; i < rank; ++i) {
    if (plo[i] < 0) {
      offs[i] = -plo[i];
      sizes[i] += plo[i];
      plo[i] = 0;
    }
    if (phi[i] < 0) {
      sizes[i] += phi[i];
      phi[i] = 0;
    }
  }
  x = sliceTensor(b, loc, x, offs, sizes, st);
  x = padTensor(b, loc, x, plo, phi, cst(b, loc, elem, 0));
  auto xp = cast<RankedTensorType>(x.getType()).getShape();

  std::vector<int64_t> accShape = {n, g, fg};
  accShape.insert(accShape.end(), out.begin(), out.end());
  Value acc;
  if (ctx.hasInput(2)) {
    std::vector<int64_t> bshape = {1, g, fg};
    bshape.insert(bshape.end(), s, 1);
    acc = broadcastTo(b, loc, reshapeTensor(b, loc, ctx.value(2), bshape),
                      accShape);
  } else {
    acc = filledTensor(b, loc, accShape, elem, 0);
  }
  std::vector<int64_t> xg = {n, g, cg};
  xg.insert(xg.end(), xp.begin() + 2, xp.end());
  std::vector<int64_t> wg = {g, cg, fg};
  wg.insert(wg.end(), kernel.begin(), kernel.end());
  Value x5 = reshapeTensor(b, loc, x, xg);
  Value w5 = reshapeTensor(b, loc, ctx.value(1), wg);
  MLIRContext *mctx = b.getContext();
  int64_t loops = 3 + s + 1 + s, cDim = 3 + s;
  auto d = [&](int64_t i) { return getAffineDimExpr(i, mctx); };
  SmallVector<AffineExpr> xe = {d(0), d(1), d(cDim)}, we = {d(1), d(cDim), d(2)},
                          oe = {d(0), d(1), d(2)};
  for (int64_t i = 0; i < s; ++i) {
    xe.push_back(d(3 + i) + d(cDim + 1 + i) * dil[i]);
    // Flipped kernel.
    we.push_back(getAffineConstantExpr(kernel[i] - 1, mctx) -
                 d(cDim + 1 + i));
    oe.push_back(d(3 + i));
  }
  SmallVector<AffineMap> maps = {AffineMap::get(loops, 0, xe, mctx),
                                 AffineMap::get(loops, 0, we, mctx),
                                 AffineMap::get(loops, 0, oe, mctx)};
  SmallVector<utils::IteratorType> iters(3 + s, utils::IteratorType::parallel);
  iters.append(1 + s, utils::IteratorType::reduction);
  // The kernel dims appear only flipped; a window operand sizes them.
  (void)maps;
  std::vector<int64_t> winShape(kernel.begin(), kernel.end());
  Value window = emptyTensor(b, loc, winShape, elem);
  SmallVector<AffineExpr> ke;
  for (int64_t i = 0; i < s; ++i)
    ke.push_back(d(cDim + 1 + i));
  SmallVector<AffineMap> maps2 = {maps[0], maps[1],
                                  AffineMap::get(loops, 0, ke, mctx), maps[2]};
  // The channel dim c is sized by the input map's third result.
  auto conv = b.create<linalg::GenericOp>(
      loc, TypeRange{acc.getType()}, ValueRange{x5, w5, window},
      ValueRange{acc}, maps2, iters,
      [](OpBuilder &nb, Location nl, ValueRange a) {
        Value m = nb.create<arith::MulFOp>(nl, a[0], a[1]);
        nb.create<linalg::YieldOp>(nl,
                                   Value(nb.create<arith::AddFOp>(nl, a[3], m)));
      });
  std::vector<int64_t> outShape = {n, f};
  outShape.insert(outShape.end(), out.begin(), out.end());
  ctx.setOutput(0, reshapeTensor(b, loc, conv.getResult(0), outShape),
                ctx.dtype(0));
  return success();
}

// --- Matrix products ----------------------------------------------------------

/// numpy.matmul on two SSA tensors; or, `bm` null, on `a` and input
/// `weightInput`'s constant, which a 2-D one makes a weight, stored
/// output-major (materialized as given only where it is not).
FailureOr<Value> numpyMatmul(NodeContext &ctx, Value a, Value bm,
                             int weightInput = -1) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  const io::HostTensor *bConst =
      weightInput >= 0 ? ctx.constant(weightInput) : nullptr;
  auto at = cast<RankedTensorType>(a.getType());
  auto bt = bm ? cast<RankedTensorType>(bm.getType())
               : ctx.tensorType(ctx.shape(weightInput), ctx.dtype(weightInput));
  std::vector<int64_t> as(at.getShape().begin(), at.getShape().end()),
      bs(bt.getShape().begin(), bt.getShape().end());
  bool aVec = as.size() == 1, bVec = bs.size() == 1;
  if (as.empty() || bs.empty()) {
    ctx.error() << "matmul operands must have rank >= 1";
    return failure();
  }
  if (aVec)
    as.insert(as.begin(), 1);
  if (bVec)
    bs.push_back(1);
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  if (bs[bs.size() - 2] != k) {
    ctx.error() << "cannot multiply " << shapeStr(at.getShape()) << " by "
                << shapeStr(bt.getShape());
    return failure();
  }
  a = reshapeTensor(b, loc, a, as);
  auto bValue = [&] {
    if (!bm)
      bm = ctx.value(weightInput);
    return reshapeTensor(b, loc, bm, bs);
  };
  std::vector<int64_t> aBatch(as.begin(), as.end() - 2),
      bBatch(bs.begin(), bs.end() - 2), batch;
  if (!broadcastShapes({aBatch, bBatch}, batch)) {
    ctx.error() << "cannot broadcast the batch dims of "
                << shapeStr(at.getShape()) << " and "
                << shapeStr(bt.getShape());
    return failure();
  }
  Value r;
  if (!at.hasStaticShape() && bs.size() == 2 && !aVec && !bVec &&
      bt.hasStaticShape()) {
    // Run-time rows times a shared [K, N]: the leading dims collapse into
    // M and expand back, read off `a`.
    int64_t rank = as.size();
    SmallVector<ReassociationIndices> groups(1);
    for (int64_t i = 0; i < rank - 1; ++i)
      groups[0].push_back(i);
    groups.push_back({rank - 1});
    Value a2 = a;
    if (rank > 2)
      a2 = b.create<tensor::CollapseShapeOp>(
          loc,
          RankedTensorType::get({ShapedType::kDynamic, k}, at.getElementType()),
          a, groups);
    if (bConst)
      r = matmulWeight(
          b, loc, a2,
          materializeConstant(b, loc, ctx.transposedConstant(weightInput)));
    else
      r = matmul(b, loc, a2, bValue());
    if (rank == 2)
      return r;
    SmallVector<OpFoldResult> sizes = sizesOf(b, loc, a);
    sizes.back() = b.getIndexAttr(n);
    SmallVector<int64_t> outShape(as.begin(), as.end());
    outShape.back() = n;
    return b
        .create<tensor::ExpandShapeOp>(
            loc, RankedTensorType::get(outShape, at.getElementType()), r,
            groups, sizes)
        .getResult();
  }
  if (bBatch.empty() || numElements(bBatch) == 1) {
    // A shared right operand (weights): fold the batch into M.
    int64_t rows = numElements(batch) * m;
    Value a2 = reshapeTensor(b, loc, broadcastTo(b, loc, a, [&] {
                               std::vector<int64_t> s = batch;
                               s.insert(s.end(), {m, k});
                               return s;
                             }()),
                             {rows, k});
    if (bConst && bConst->shape.size() == 2) {
      // A 2-D constant is a weight: stored output-major (see matmulWeight).
      r = matmulWeight(
          b, loc, a2,
          materializeConstant(b, loc, ctx.transposedConstant(weightInput)));
    } else {
      r = matmul(b, loc, a2, reshapeTensor(b, loc, bValue(), {k, n}));
    }
  } else {
    std::vector<int64_t> sa = batch, sb = batch;
    sa.insert(sa.end(), {m, k});
    sb.insert(sb.end(), {k, n});
    Value a3 = broadcastTo(b, loc, a, sa);
    Value b3 = broadcastTo(b, loc, bValue(), sb);
    r = matmul(b, loc, a3, b3);
  }
  std::vector<int64_t> out = batch;
  if (!aVec)
    out.push_back(m);
  if (!bVec)
    out.push_back(n);
  return reshapeTensor(b, loc, r, out);
}

LogicalResult buildMatMul(NodeContext &ctx) {
  if (ctx.dtype(0) != ctx.dtype(1))
    return ctx.error() << "expects operands of one element type";
  auto onIntegers = buildMatMulOnIntegers(ctx);
  if (failed(onIntegers))
    return failure();
  if (*onIntegers)
    return success();
  std::vector<int64_t> out;
  if (ctx.input(0).isRunTimeShaped() || ctx.input(1).isRunTimeShaped()) {
    // Run-time extents: checked as ids here, where the types cannot tell
    // two run-time dims apart.
    std::vector<int64_t> as = ctx.shape(0), bs = ctx.shape(1);
    if (as.size() < 2 || bs.size() < 2)
      return ctx.error() << "1-D operands with run-time dimensions are not "
                            "supported yet";
    std::vector<int64_t> batch;
    if (as[as.size() - 1] != bs[bs.size() - 2] ||
        !broadcastShapes({std::vector<int64_t>(as.begin(), as.end() - 2),
                          std::vector<int64_t>(bs.begin(), bs.end() - 2)},
                         batch))
      return ctx.error() << "cannot multiply " << shapeStr(as) << " by "
                         << shapeStr(bs);
    bool bShared = bs.size() == 2 && !hasRunTimeDims(bs);
    std::vector<int64_t> aBatch(as.begin(), as.end() - 2);
    std::vector<int64_t> bBatch(bs.begin(), bs.end() - 2);
    if (!bShared && (aBatch != batch || bBatch != batch))
      return ctx.error() << "broadcasting the batch of " << shapeStr(as)
                         << " and " << shapeStr(bs)
                         << " with run-time dimensions is not supported yet";
    out = batch;
    out.push_back(as[as.size() - 2]);
    out.push_back(bs.back());
  }
  bool weight = ctx.dtype(1) == io::DType::F32 && ctx.constant(1);
  auto r = numpyMatmul(ctx, ctx.value(0), weight ? Value() : ctx.value(1),
                       weight ? 1 : -1);
  if (failed(r))
    return failure();
  if (out.empty())
    ctx.setOutput(0, *r, ctx.dtype(0));
  else
    ctx.setOutput(0, *r, ctx.dtype(0), out);
  return success();
}

LogicalResult buildGemm(NodeContext &ctx) {
  if (ctx.rank(0) != 2 || ctx.rank(1) != 2)
    return ctx.error() << "expects 2-D A and B, got " << shapeStr(ctx.shape(0))
                       << " and " << shapeStr(ctx.shape(1));
  auto onIntegers = buildMatMulOnIntegers(ctx);
  if (failed(onIntegers))
    return failure();
  if (*onIntegers)
    return success();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  double alpha = ctx.attrFloat("alpha", 1), beta = ctx.attrFloat("beta", 1);
  bool ta = ctx.attrInt("transA", 0), tb = ctx.attrInt("transB", 0);
  Value a = ctx.value(0), bm;
  if (ta)
    a = transposeTensor(b, loc, a, {1, 0});
  // A constant B is a weight: kept output-major ([N, K]), transposed once at
  // compile time if it comes as [K, N].
  bool weight = ctx.constant(1) != nullptr;
  if (weight) {
    bm = tb ? ctx.value(1)
            : materializeConstant(b, loc, ctx.transposedConstant(1));
  } else {
    bm = ctx.value(1);
    if (tb)
      bm = transposeTensor(b, loc, bm, {1, 0});
  }
  // A's rows may be a run-time dimension (one row per region).
  std::vector<int64_t> as = ctx.shape(0);
  if (ta)
    std::swap(as[0], as[1]);
  auto bs = cast<RankedTensorType>(bm.getType()).getShape();
  int64_t k = weight ? bs[1] : bs[0], n = weight ? bs[0] : bs[1];
  if (isRunTimeDim(as[1]) || hasRunTimeDims(ctx.shape(1)) ||
      (ctx.hasInput(2) && hasRunTimeDims(ctx.shape(2))))
    return ctx.error() << "supports a run-time number of rows of A only, got "
                       << ctx.dims().shapeStr(ctx.shape(0)) << " by "
                       << ctx.dims().shapeStr(ctx.shape(1));
  if (as[1] != k)
    return ctx.error() << "cannot multiply " << shapeStr(as) << " by "
                       << shapeStr(ctx.shape(1))
                       << (tb ? " transposed" : "");
  Type elem = ctx.elementType(ctx.dtype(0));
  std::vector<int64_t> out = {as[0], n};
  Value acc;
  if (ctx.hasInput(2) && beta != 0) {
    std::vector<int64_t> bc;
    if (!broadcastShapes({ctx.shape(2), out}, bc) || bc != out)
      return ctx.error() << "C of shape " << shapeStr(ctx.shape(2))
                         << " does not broadcast to " << shapeStr(out);
    Value c = ctx.value(2);
    acc = buildElementwise(b, loc, c, out, elem,
                           [&](OpBuilder &nb, Location nl, ValueRange v) {
                             if (beta == 1)
                               return v[0];
                             return mulS(nb, nl, v[0], cst(nb, nl, elem, beta));
                           });
  } else {
    acc = filledTensor(b, loc, out, elem, 0);
  }
  if (alpha != 1)
    a = buildElementwise(b, loc, a, as, elem,
                         [&](OpBuilder &nb, Location nl, ValueRange v) {
                           return mulS(nb, nl, v[0], cst(nb, nl, elem, alpha));
                         });
  Value r = weight ? matmulWeight(b, loc, a, bm, acc)
                   : b.create<linalg::MatmulOp>(loc, ValueRange{a, bm}, acc)
                         .getResult(0);
  ctx.setOutput(0, r, ctx.dtype(0), out);
  return success();
}

// --- Normalization ------------------------------------------------------------

/// x of [N, C, ...] times per-channel vectors: x * scale[c] + shift[c].
Value channelAffine(OpBuilder &b, Location loc, Value x, Value scale,
                    Value shift) {
  auto xt = cast<RankedTensorType>(x.getType());
  int64_t rank = xt.getRank();
  std::vector<int64_t> vs(rank, 1);
  vs[1] = xt.getDimSize(1);
  Value s = reshapeTensor(b, loc, scale, vs), t = reshapeTensor(b, loc, shift, vs);
  return buildElementwise(b, loc, ValueRange{x, s, t}, xt.getShape(),
                          xt.getElementType(),
                          [](OpBuilder &nb, Location nl, ValueRange a) {
                            Value m = nb.create<arith::MulFOp>(nl, a[0], a[1]);
                            return nb.create<arith::AddFOp>(nl, m, a[2])
                                .getResult();
                          });
}

LogicalResult buildBatchNorm(NodeContext &ctx) {
  if (ctx.numInputs() != 5 || ctx.rank(0) < 2)
    return ctx.error() << "expects X, scale, B, mean and var";
  if (ctx.attrInt("training_mode", 0))
    return ctx.error() << "training_mode is not supported (inference only)";
  int64_t c = ctx.shape(0)[1];
  for (size_t i = 1; i < 5; ++i)
    if (ctx.shape(i) != std::vector<int64_t>{c})
      return ctx.error() << "input " << i << " expects shape [" << c
                         << "], got " << shapeStr(ctx.shape(i));
  double eps = ctx.attrFloat("epsilon", 1e-5f);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  io::DType dt = ctx.dtype(0);
  Value scale, shift;
  if (ctx.constant(1) && ctx.constant(2) && ctx.constant(3) &&
      ctx.constant(4)) {
    // Fold to one multiply-add per element at compile time.
    auto g = hostToDoubles(*ctx.constant(1)), be = hostToDoubles(*ctx.constant(2)),
         mu = hostToDoubles(*ctx.constant(3)), var = hostToDoubles(*ctx.constant(4));
    std::vector<double> sc(c), sh(c);
    for (int64_t i = 0; i < c; ++i) {
      sc[i] = g[i] / std::sqrt(var[i] + eps);
      sh[i] = be[i] - mu[i] * sc[i];
    }
    scale = materializeConstant(b, loc, hostFromDoubles(dt, {c}, sc));
    shift = materializeConstant(b, loc, hostFromDoubles(dt, {c}, sh));
  } else {
    Type elem = ctx.elementType(dt);
    Value g = ctx.value(1), be = ctx.value(2), mu = ctx.value(3),
          var = ctx.value(4);
    scale = buildElementwise(b, loc, ValueRange{g, var}, {c}, elem,
                             [&](OpBuilder &nb, Location nl, ValueRange a) {
                               Value v = nb.create<arith::AddFOp>(
                                   nl, a[1], cst(nb, nl, elem, eps));
                               Value r = nb.create<math::RsqrtOp>(nl, v);
                               return nb.create<arith::MulFOp>(nl, a[0], r)
                                   .getResult();
                             });
    shift = buildElementwise(b, loc, ValueRange{be, mu, scale}, {c}, elem,
                             [](OpBuilder &nb, Location nl, ValueRange a) {
                               Value m = nb.create<arith::MulFOp>(nl, a[1], a[2]);
                               return nb.create<arith::SubFOp>(nl, a[0], m)
                                   .getResult();
                             });
  }
  ctx.setOutput(0, channelAffine(b, loc, ctx.value(0), scale, shift), dt);
  return success();
}

/// Mean and 1/sqrt(var + eps) of `x` over `axes`, kept as size-1 dims.
std::pair<Value, Value> moments(OpBuilder &b, Location loc, Value x,
                                ArrayRef<int64_t> axes, double eps) {
  auto xt = cast<RankedTensorType>(x.getType());
  Type elem = xt.getElementType();
  int64_t count = 1;
  for (int64_t a : axes)
    count *= xt.getDimSize(a);
  auto add = [](OpBuilder &nb, Location nl, Value e, Value acc) {
    return nb.create<arith::AddFOp>(nl, e, acc).getResult();
  };
  Value sum = buildReduction(b, loc, x, axes, true, 0, add);
  auto ks = cast<RankedTensorType>(sum.getType()).getShape();
  Value mean = buildElementwise(b, loc, sum, ks, elem,
                                [&](OpBuilder &nb, Location nl, ValueRange a) {
                                  return nb.create<arith::DivFOp>(
                                      nl, a[0], cst(nb, nl, elem, count))
                                      .getResult();
                                });
  Value centered = buildElementwise(
      b, loc, ValueRange{x, mean}, xt.getShape(), elem,
      [](OpBuilder &nb, Location nl, ValueRange a) {
        Value d = nb.create<arith::SubFOp>(nl, a[0], a[1]);
        return nb.create<arith::MulFOp>(nl, d, d).getResult();
      });
  Value sq = buildReduction(b, loc, centered, axes, true, 0, add);
  Value inv = buildElementwise(b, loc, sq, ks, elem,
                               [&](OpBuilder &nb, Location nl, ValueRange a) {
                                 Value v = nb.create<arith::DivFOp>(
                                     nl, a[0], cst(nb, nl, elem, count));
                                 v = nb.create<arith::AddFOp>(
                                     nl, v, cst(nb, nl, elem, eps));
                                 return nb.create<math::RsqrtOp>(nl, v)
                                     .getResult();
                               });
  return {mean, inv};
}

LogicalResult buildLayerNorm(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(ctx.attrInt("axis", -1), rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  double eps = ctx.attrFloat("epsilon", 1e-5f);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  auto xt = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> axes;
  for (int64_t i = axis; i < rank; ++i)
    axes.push_back(i);
  auto [mean, inv] = moments(b, loc, x, axes, eps);
  SmallVector<Value> ins = {x, mean, inv};
  bool hasScale = ctx.hasInput(1), hasBias = ctx.hasInput(2);
  if (hasScale)
    ins.push_back(ctx.value(1));
  if (hasBias)
    ins.push_back(ctx.value(2));
  std::vector<int64_t> out;
  std::vector<std::vector<int64_t>> shapes = {ctx.shape(0)};
  for (size_t i = 1; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i))
      shapes.push_back(ctx.shape(i));
  if (!broadcastShapes(shapes, out) || out != ctx.shape(0))
    return ctx.error() << "scale/bias do not broadcast to the input";
  Value y = buildElementwise(b, loc, ins, xt.getShape(), xt.getElementType(),
                             [&](OpBuilder &nb, Location nl, ValueRange a) {
                               Value v = nb.create<arith::SubFOp>(nl, a[0], a[1]);
                               v = nb.create<arith::MulFOp>(nl, v, a[2]);
                               size_t k = 3;
                               if (hasScale)
                                 v = nb.create<arith::MulFOp>(nl, v, a[k++]);
                               if (hasBias)
                                 v = nb.create<arith::AddFOp>(nl, v, a[k++]);
                               return v;
                             });
  ctx.setOutput(0, y, ctx.dtype(0));
  if (ctx.wantsOutput(1))
    ctx.setOutput(1, mean, ctx.dtype(0));
  if (ctx.wantsOutput(2))
    ctx.setOutput(2, inv, ctx.dtype(0));
  return success();
}

LogicalResult buildInstanceNorm(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  if (rank < 3)
    return ctx.error() << "expects rank >= 3";
  double eps = ctx.attrFloat("epsilon", 1e-5f);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  auto xt = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> axes;
  for (int64_t i = 2; i < rank; ++i)
    axes.push_back(i);
  auto [mean, inv] = moments(b, loc, x, axes, eps);
  std::vector<int64_t> vs(rank, 1);
  vs[1] = xt.getDimSize(1);
  Value s = reshapeTensor(b, loc, ctx.value(1), vs);
  Value t = reshapeTensor(b, loc, ctx.value(2), vs);
  Value y = buildElementwise(
      b, loc, ValueRange{x, mean, inv, s, t}, xt.getShape(),
      xt.getElementType(), [](OpBuilder &nb, Location nl, ValueRange a) {
        Value v = nb.create<arith::SubFOp>(nl, a[0], a[1]);
        v = nb.create<arith::MulFOp>(nl, v, a[2]);
        v = nb.create<arith::MulFOp>(nl, v, a[3]);
        return nb.create<arith::AddFOp>(nl, v, a[4]).getResult();
      });
  ctx.setOutput(0, y, ctx.dtype(0));
  return success();
}

/// Softmax-family on `x` over `axis` (after opset 13) or over the coerced
/// 2-D [prod(:axis), prod(axis:)] view (before).
enum class SoftKind { Softmax, LogSoftmax, Hardmax };

template <SoftKind K> LogicalResult buildSoftmax(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t defAxis = ctx.opset >= 13 ? -1 : 1;
  int64_t axis = normalizeAxis(ctx.attrInt("axis", defAxis), rank);
  if (axis < 0)
    return ctx.error() << "axis is out of range for rank " << rank;
  if (!isFloat(ctx.dtype(0)))
    return ctx.error() << "expects a float input";
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  auto shape = ctx.shape(0);
  SmallVector<int64_t> axes;
  if (ctx.opset < 13) {
    int64_t outer = numElements(ArrayRef<int64_t>(shape).take_front(axis));
    int64_t inner = numElements(ArrayRef<int64_t>(shape).drop_front(axis));
    x = reshapeTensor(b, loc, x, {outer, inner});
    axes = {1};
  } else {
    axes = {axis};
  }
  auto xt = cast<RankedTensorType>(x.getType());
  Type elem = xt.getElementType();
  auto maxF = [](OpBuilder &nb, Location nl, Value e, Value acc) {
    return nb.create<arith::MaximumFOp>(nl, e, acc).getResult();
  };
  Value mx = buildReduction(b, loc, x, axes, true, -INFINITY, maxF);
  Value y;
  if (K == SoftKind::Hardmax) {
    // One-hot of the first maximum: count maxima seen before via a prefix is
    // costly; use the first index of the max instead.
    int64_t ax = axes[0];
    int64_t rnk = xt.getRank();
    MLIRContext *mctx = b.getContext();
    SmallVector<AffineExpr> ke;
    for (int64_t i = 0; i < rnk; ++i)
      ke.push_back(i == ax ? getAffineConstantExpr(0, mctx)
                           : getAffineDimExpr(i, mctx));
    // First index where x == max, reduced with min.
    Value big = filledTensor(b, loc, cast<RankedTensorType>(mx.getType()).getShape(),
                             b.getI64Type(), xt.getDimSize(ax));
    SmallVector<AffineMap> maps = {
        AffineMap::getMultiDimIdentityMap(rnk, mctx),
        AffineMap::get(rnk, 0, ke, mctx), AffineMap::get(rnk, 0, ke, mctx)};
    SmallVector<utils::IteratorType> iters(rnk, utils::IteratorType::parallel);
    iters[ax] = utils::IteratorType::reduction;
    auto first = b.create<linalg::GenericOp>(
        loc, TypeRange{big.getType()}, ValueRange{x, mx}, ValueRange{big},
        maps, iters, [&](OpBuilder &nb, Location nl, ValueRange a) {
          Value i = nb.create<arith::IndexCastOp>(
              nl, nb.getI64Type(), nb.create<linalg::IndexOp>(nl, ax));
          Value eq = nb.create<arith::CmpFOp>(nl, arith::CmpFPredicate::OEQ,
                                              a[0], a[1]);
          Value cand = nb.create<arith::SelectOp>(nl, eq, i, a[2]);
          nb.create<linalg::YieldOp>(
              nl, Value(nb.create<arith::MinSIOp>(nl, cand, a[2])));
        });
    Value idx = first.getResult(0);
    SmallVector<AffineMap> maps2 = {AffineMap::get(rnk, 0, ke, mctx),
                                    AffineMap::getMultiDimIdentityMap(rnk, mctx)};
    Value init = emptyTensor(b, loc, xt.getShape(), elem);
    y = b.create<linalg::GenericOp>(
             loc, TypeRange{init.getType()}, ValueRange{idx}, ValueRange{init},
             maps2,
             SmallVector<utils::IteratorType>(rnk,
                                              utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location nl, ValueRange a) {
               Value i = nb.create<arith::IndexCastOp>(
                   nl, nb.getI64Type(), nb.create<linalg::IndexOp>(nl, ax));
               Value eq = nb.create<arith::CmpIOp>(
                   nl, arith::CmpIPredicate::eq, i, a[0]);
               Value r = nb.create<arith::SelectOp>(
                   nl, eq, cst(nb, nl, elem, 1), cst(nb, nl, elem, 0));
               nb.create<linalg::YieldOp>(nl, r);
             })
            .getResult(0);
  } else {
    Value e = buildElementwise(b, loc, ValueRange{x, mx}, xt.getShape(), elem,
                               [](OpBuilder &nb, Location nl, ValueRange a) {
                                 Value d = nb.create<arith::SubFOp>(nl, a[0], a[1]);
                                 return nb.create<math::ExpOp>(nl, d).getResult();
                               });
    auto add = [](OpBuilder &nb, Location nl, Value v, Value acc) {
      return nb.create<arith::AddFOp>(nl, v, acc).getResult();
    };
    Value sum = buildReduction(b, loc, e, axes, true, 0, add);
    if (K == SoftKind::Softmax) {
      y = buildElementwise(b, loc, ValueRange{e, sum}, xt.getShape(), elem,
                           [](OpBuilder &nb, Location nl, ValueRange a) {
                             return nb.create<arith::DivFOp>(nl, a[0], a[1])
                                 .getResult();
                           });
    } else {
      y = buildElementwise(b, loc, ValueRange{x, mx, sum}, xt.getShape(), elem,
                           [](OpBuilder &nb, Location nl, ValueRange a) {
                             Value d = nb.create<arith::SubFOp>(nl, a[0], a[1]);
                             Value l = nb.create<math::LogOp>(nl, a[2]);
                             return nb.create<arith::SubFOp>(nl, d, l)
                                 .getResult();
                           });
    }
  }
  ctx.setOutput(0, reshapeTensor(b, loc, y, shape), ctx.dtype(0));
  return success();
}

// --- Pooling --------------------------------------------------------------------

/// The divisor of an average pool at output index `idx` (N, C, spatial...):
/// how many window taps fall inside [lo, hi) of the (unpadded) input
/// coordinates, counted in closed form per dim and multiplied. Computed in
/// the loop, never tabulated while importing: a table would be as large as
/// the output, and its size comes from the model.
Value windowCount(OpBuilder &b, Location loc, const Window &w,
                  ArrayRef<int64_t> spatial, bool includePad, ValueRange idx,
                  Type elem) {
  auto c = [&](int64_t v) -> Value {
    return b.create<arith::ConstantIntOp>(loc, v, 64);
  };
  Type f64 = b.getF64Type();
  Value count =
      b.create<arith::ConstantFloatOp>(loc, APFloat(1.0), cast<FloatType>(f64));
  for (size_t i = 0; i < spatial.size(); ++i) {
    // Explicit pads count; the extra ceil-mode tail does not.
    int64_t lo = includePad ? -w.padLo[i] : 0;
    int64_t hi = includePad ? spatial[i] + w.padHi[i] : spatial[i];
    int64_t d = w.dilations[i], k = w.kernel[i];
    // Taps t in [0, K) with lo <= base + t * d < hi, base = o * s - padLo.
    Value o = b.create<arith::IndexCastOp>(loc, b.getI64Type(), idx[2 + i]);
    Value base = b.create<arith::SubIOp>(
        loc, b.create<arith::MulIOp>(loc, o, c(w.strides[i])), c(w.padLo[i]));
    Value first = b.create<arith::MaxSIOp>(
        loc, c(0),
        b.create<arith::CeilDivSIOp>(
            loc, b.create<arith::SubIOp>(loc, c(lo), base), c(d)));
    Value last = b.create<arith::MinSIOp>(
        loc, c(k - 1),
        b.create<arith::FloorDivSIOp>(
            loc, b.create<arith::SubIOp>(loc, c(hi - 1), base), c(d)));
    Value n = b.create<arith::MaxSIOp>(
        loc, c(0),
        b.create<arith::AddIOp>(loc, b.create<arith::SubIOp>(loc, last, first),
                                c(1)));
    count = b.create<arith::MulFOp>(loc, count,
                                    b.create<arith::SIToFPOp>(loc, f64, n));
  }
  if (elem != f64)
    count = b.create<arith::TruncFOp>(loc, elem, count);
  return count;
}

template <bool IsMax> LogicalResult buildPool(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  if (rank < 3)
    return ctx.error() << "expects an input of rank >= 3";
  if (IsMax && ctx.wantsOutput(1))
    return ctx.error() << "the Indices output is not supported";
  if (!isFloat(ctx.dtype(0)) && !IsMax)
    return ctx.error() << "expects a float input";
  const auto &xs = ctx.shape(0);
  ArrayRef<int64_t> spatial = ArrayRef<int64_t>(xs).drop_front(2);
  std::vector<int64_t> kernel = ctx.attrInts("kernel_shape");
  if (kernel.size() != spatial.size())
    return ctx.error() << "kernel_shape must have " << spatial.size()
                       << " entries";
  // The explicit pads before ceil-mode widening, for count_include_pad.
  bool ceilMode = ctx.attrInt("ceil_mode", 0);
  auto win = resolveWindow(ctx, spatial, kernel, ceilMode);
  if (failed(win))
    return failure();
  // The batch may be a run-time dimension; the rest is static.
  if (llvm::any_of(ArrayRef<int64_t>(xs).drop_front(), isRunTimeDim))
    return ctx.error() << "a run-time extent is supported as the batch only, "
                          "got "
                       << ctx.dims().shapeStr(xs);
  std::vector<int64_t> outShape = {xs[0], xs[1]};
  outShape.insert(outShape.end(), win->out.begin(), win->out.end());
  // Checked before the window counts below are tabulated per output.
  if (!fitsLimits(ctx.dims().boundShape(outShape)))
    return ctx.error() << "output of shape " << shapeStr(outShape)
                       << " is too large";
  Window explicitWin = *win;
  {
    auto plain = resolveWindow(ctx, spatial, kernel, false);
    if (succeeded(plain))
      explicitWin.padHi = plain->padHi;
  }
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  // A max pool of dequantized uint8/int8 activations runs on the integers
  // (dequantizing per tensor is increasing, so max commutes with it), and
  // its output remembers them, so that the QuantizeLinear after it is a no-op.
  const GraphValue::Dequantized *dq =
      IsMax ? perTensorDequantized(ctx.input(0)) : nullptr;
  io::DType dtype = dq ? dq->source->dtype : ctx.dtype(0);
  Value input = dq ? dq->source->value : ctx.value(0);
  Type elem = ctx.elementType(dtype);
  int64_t s = spatial.size();
  std::vector<int64_t> lo = {0, 0}, hi = {0, 0};
  lo.insert(lo.end(), win->padLo.begin(), win->padLo.end());
  hi.insert(hi.end(), win->padHi.begin(), win->padHi.end());
  bool uns = isUnsigned(dtype);
  // The identity of max: -inf, the least signed value, or 0 if unsigned.
  double padVal = IsMax && !uns ? -INFINITY : 0;
  Value x =
      padTensor(b, loc, input, lo, hi, scalarConstant(b, loc, elem, padVal));
  Value acc = filledTensor(b, loc, outShape, elem, padVal);
  Value window = emptyTensor(b, loc, kernel, elem);
  MLIRContext *mctx = b.getContext();
  int64_t loops = 2 + 2 * s;
  auto d = [&](int64_t i) { return getAffineDimExpr(i, mctx); };
  SmallVector<AffineExpr> xe = {d(0), d(1)}, ke, oe = {d(0), d(1)};
  for (int64_t i = 0; i < s; ++i) {
    xe.push_back(d(2 + i) * win->strides[i] +
                 d(2 + s + i) * win->dilations[i]);
    ke.push_back(d(2 + s + i));
    oe.push_back(d(2 + i));
  }
  SmallVector<AffineMap> maps = {AffineMap::get(loops, 0, xe, mctx),
                                 AffineMap::get(loops, 0, ke, mctx),
                                 AffineMap::get(loops, 0, oe, mctx)};
  SmallVector<utils::IteratorType> iters(2 + s, utils::IteratorType::parallel);
  iters.append(s, utils::IteratorType::reduction);
  Value pooled =
      b.create<linalg::GenericOp>(
           loc, TypeRange{acc.getType()}, ValueRange{x, window},
           ValueRange{acc}, maps, iters,
           [&](OpBuilder &nb, Location nl, ValueRange a) {
             Value r = IsMax ? maxS(nb, nl, a[0], a[2], uns)
                             : addS(nb, nl, a[0], a[2]);
             nb.create<linalg::YieldOp>(nl, r);
           })
          .getResult(0);
  if (!IsMax) {
    bool includePad = ctx.attrInt("count_include_pad", 0);
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, mctx);
    pooled = buildIndexed(
        b, loc, outShape, elem, {pooled}, {id},
        [&](OpBuilder &nb, Location nl, ValueRange idx, ValueRange a) -> Value {
          Value n =
              windowCount(nb, nl, explicitWin, spatial, includePad, idx, elem);
          return nb.create<arith::DivFOp>(nl, a[0], n);
        });
  }
  if (dq) {
    auto integers = std::make_shared<GraphValue>();
    integers->dtype = dtype;
    integers->shape = outShape;
    integers->value = pooled;
    auto record = std::make_shared<GraphValue::Dequantized>(*dq);
    record->source = integers.get();
    record->owner = std::move(integers);
    ctx.setOutput(0, dequantizeLike(b, loc, pooled, dtype, *record),
                  ctx.dtype(0));
    ctx.results()[0].dequantized = std::move(record);
    return success();
  }
  ctx.setOutput(0, pooled, ctx.dtype(0), outShape);
  return success();
}

template <bool IsMax> LogicalResult buildGlobalPool(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  if (rank < 3)
    return ctx.error() << "expects an input of rank >= 3";
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<int64_t> axes;
  int64_t count = 1;
  for (int64_t i = 2; i < rank; ++i) {
    axes.push_back(i);
    count *= ctx.shape(0)[i];
  }
  Type elem = ctx.elementType(ctx.dtype(0));
  Value r;
  if (IsMax) {
    r = buildReduction(b, loc, ctx.value(0), axes, true, -INFINITY,
                       [](OpBuilder &nb, Location nl, Value e, Value acc) {
                         return nb.create<arith::MaximumFOp>(nl, e, acc)
                             .getResult();
                       });
  } else {
    r = buildReduction(b, loc, ctx.value(0), axes, true, 0,
                       [](OpBuilder &nb, Location nl, Value e, Value acc) {
                         return nb.create<arith::AddFOp>(nl, e, acc).getResult();
                       });
    auto rs = cast<RankedTensorType>(r.getType()).getShape();
    r = buildElementwise(b, loc, r, rs, elem,
                         [&](OpBuilder &nb, Location nl, ValueRange a) {
                           return nb.create<arith::DivFOp>(
                                      nl, a[0], cst(nb, nl, elem, count))
                               .getResult();
                         });
  }
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

} // namespace

FailureOr<Value> onnx_import::buildNumpyMatmul(NodeContext &ctx, Value a,
                                               Value b) {
  return numpyMatmul(ctx, a, b);
}

void onnx_import::registerNeuralNetOps(OpTable &t) {
  t["Conv"] = buildConv;
  t["ConvTranspose"] = buildConvTranspose;
  t["MatMul"] = buildMatMul;
  t["Gemm"] = buildGemm;
  t["BatchNormalization"] = buildBatchNorm;
  t["LayerNormalization"] = buildLayerNorm;
  t["InstanceNormalization"] = buildInstanceNorm;
  t["Softmax"] = buildSoftmax<SoftKind::Softmax>;
  t["LogSoftmax"] = buildSoftmax<SoftKind::LogSoftmax>;
  t["Hardmax"] = buildSoftmax<SoftKind::Hardmax>;
  t["MaxPool"] = buildPool<true>;
  t["AveragePool"] = buildPool<false>;
  t["GlobalMaxPool"] = buildGlobalPool<true>;
  t["GlobalAveragePool"] = buildGlobalPool<false>;
}
