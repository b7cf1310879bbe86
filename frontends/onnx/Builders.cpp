//===- Builders.cpp - helpers shared by the ONNX op builders --------------===//

#include "frontends/onnx/Builders.h"
#include "dialects/ConstantData.h"
#include "frontends/onnx/DimTable.h"
#include "frontends/onnx/NodeContext.h"
#include "runtime/io/SizeMath.h"
#include "runtime/kernels/Transpose.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

//===----------------------------------------------------------------------===//
// Host data
//===----------------------------------------------------------------------===//

int64_t onnx_import::numElements(ArrayRef<int64_t> shape) {
  if (llvm::is_contained(shape, 0))
    return 0;
  SizeMath m;
  int64_t n = m.product(shape);
  return m.ok() ? n : std::numeric_limits<int64_t>::max();
}

bool onnx_import::fitsLimits(ArrayRef<int64_t> shape) {
  for (int64_t d : shape)
    if (d < 0 || d > kMaxElements)
      return false;
  return numElements(shape) <= kMaxElements;
}

namespace {
template <typename T, typename F> void forEachAs(const io::HostTensor &t, F f) {
  const T *p = t.as<T>();
  for (int64_t i = 0, e = t.numElements(); i < e; ++i)
    f(p[i]);
}

/// `v` converted to `R`. A float past an integer type's range (or NaN)
/// saturates (NaN to 0): the plain conversion is undefined, and the values
/// come from the model.
template <typename R> R convertTo(double v) {
  if constexpr (std::is_integral_v<R>) {
    if (std::isnan(v))
      return 0;
    if (v <= double(std::numeric_limits<R>::min()))
      return std::numeric_limits<R>::min();
    if (v >= double(std::numeric_limits<R>::max()))
      return std::numeric_limits<R>::max();
  }
  return static_cast<R>(v);
}

/// Calls `f(value)` for each element of `t` converted to `R`.
template <typename R, typename F>
void forEachElement(const io::HostTensor &t, F f) {
  switch (t.dtype) {
  case io::DType::F32:
    return forEachAs<float>(t, [&](float v) { f(convertTo<R>(v)); });
  case io::DType::F64:
    return forEachAs<double>(t, [&](double v) { f(convertTo<R>(v)); });
  case io::DType::F16:
  case io::DType::BF16: {
    // Widened through the exact IEEE bit patterns.
    bool bf = t.dtype == io::DType::BF16;
    return forEachAs<uint16_t>(t, [&](uint16_t h) {
      APFloat a(bf ? APFloat::BFloat() : APFloat::IEEEhalf(), APInt(16, h));
      bool lost;
      a.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
      f(convertTo<R>(a.convertToDouble()));
    });
  }
  case io::DType::I8:
    return forEachAs<int8_t>(t, [&](int8_t v) { f(static_cast<R>(v)); });
  case io::DType::I16:
    return forEachAs<int16_t>(t, [&](int16_t v) { f(static_cast<R>(v)); });
  case io::DType::I32:
    return forEachAs<int32_t>(t, [&](int32_t v) { f(static_cast<R>(v)); });
  case io::DType::I64:
    return forEachAs<int64_t>(t, [&](int64_t v) { f(static_cast<R>(v)); });
  case io::DType::U8:
  case io::DType::Bool:
    return forEachAs<uint8_t>(t, [&](uint8_t v) { f(static_cast<R>(v)); });
  case io::DType::U16:
    return forEachAs<uint16_t>(t, [&](uint16_t v) { f(static_cast<R>(v)); });
  case io::DType::U32:
    return forEachAs<uint32_t>(t, [&](uint32_t v) { f(static_cast<R>(v)); });
  case io::DType::U64:
    return forEachAs<uint64_t>(t, [&](uint64_t v) { f(static_cast<R>(v)); });
  }
}

template <typename T, typename V>
void storeAll(io::HostTensor &t, const std::vector<V> &values) {
  T *p = t.as<T>();
  for (size_t i = 0; i < values.size(); ++i) {
    if constexpr (std::is_floating_point_v<V>)
      p[i] = convertTo<T>(values[i]);
    else
      p[i] = static_cast<T>(values[i]);
  }
}

template <typename V>
io::HostTensor hostFrom(io::DType dtype, std::vector<int64_t> shape,
                        const std::vector<V> &values) {
  io::HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(values.size() * io::dtypeSize(dtype));
  switch (dtype) {
  case io::DType::F32:
    storeAll<float>(t, values);
    break;
  case io::DType::F64:
    storeAll<double>(t, values);
    break;
  case io::DType::F16:
  case io::DType::BF16: {
    uint16_t *p = t.as<uint16_t>();
    for (size_t i = 0; i < values.size(); ++i) {
      APFloat a(static_cast<double>(values[i]));
      bool lost;
      a.convert(dtype == io::DType::F16 ? APFloat::IEEEhalf()
                                        : APFloat::BFloat(),
                APFloat::rmNearestTiesToEven, &lost);
      p[i] = a.bitcastToAPInt().getZExtValue();
    }
    break;
  }
  case io::DType::I8:
    storeAll<int8_t>(t, values);
    break;
  case io::DType::I16:
    storeAll<int16_t>(t, values);
    break;
  case io::DType::I32:
    storeAll<int32_t>(t, values);
    break;
  case io::DType::I64:
    storeAll<int64_t>(t, values);
    break;
  case io::DType::U8:
    storeAll<uint8_t>(t, values);
    break;
  case io::DType::U16:
    storeAll<uint16_t>(t, values);
    break;
  case io::DType::U32:
    storeAll<uint32_t>(t, values);
    break;
  case io::DType::U64:
    storeAll<uint64_t>(t, values);
    break;
  case io::DType::Bool: {
    uint8_t *p = t.as<uint8_t>();
    for (size_t i = 0; i < values.size(); ++i)
      p[i] = values[i] != 0;
    break;
  }
  }
  return t;
}
} // namespace

std::vector<int64_t> onnx_import::hostToInts(const io::HostTensor &t) {
  std::vector<int64_t> out;
  out.reserve(t.numElements());
  forEachElement<int64_t>(t, [&](int64_t v) { out.push_back(v); });
  return out;
}

std::vector<double> onnx_import::hostToDoubles(const io::HostTensor &t) {
  std::vector<double> out;
  out.reserve(t.numElements());
  forEachElement<double>(t, [&](double v) { out.push_back(v); });
  return out;
}

io::HostTensor onnx_import::hostFromInts(io::DType dtype,
                                         std::vector<int64_t> shape,
                                         const std::vector<int64_t> &values) {
  return hostFrom(dtype, std::move(shape), values);
}

io::HostTensor onnx_import::hostFromDoubles(io::DType dtype,
                                            std::vector<int64_t> shape,
                                            const std::vector<double> &values) {
  return hostFrom(dtype, std::move(shape), values);
}

Value onnx_import::materializeConstant(
    OpBuilder &b, Location loc, std::shared_ptr<const io::HostTensor> t) {
  auto type =
      RankedTensorType::get(t->shape, toMlirType(b.getContext(), t->dtype));
  ArrayRef<char> bytes(reinterpret_cast<const char *>(t->data.data()),
                       t->data.size());
  return b.create<arith::ConstantOp>(
      loc, mlir::sparq::constantAttr(type, bytes, std::move(t)));
}

Value onnx_import::materializeConstant(OpBuilder &b, Location loc,
                                       io::HostTensor &&t) {
  return materializeConstant(
      b, loc, std::make_shared<const io::HostTensor>(std::move(t)));
}

Value onnx_import::materializeConstant(OpBuilder &b, Location loc,
                                       const io::HostTensor &t) {
  return materializeConstant(b, loc, std::make_shared<const io::HostTensor>(t));
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

bool onnx_import::broadcastShapes(ArrayRef<std::vector<int64_t>> shapes,
                                  std::vector<int64_t> &out) {
  size_t rank = 0;
  for (const auto &s : shapes)
    rank = std::max(rank, s.size());
  out.assign(rank, 1);
  // A run-time dim (an id) matches itself or a static 1 only: it may be 1 at
  // run time, but the compiled code cannot broadcast on that.
  for (const auto &s : shapes) {
    for (size_t k = 0; k < s.size(); ++k) {
      int64_t &o = out[rank - s.size() + k];
      int64_t d = s[k];
      if (d == o || d == 1)
        continue;
      if (o != 1)
        return false;
      o = d;
    }
  }
  return true;
}

bool onnx_import::matchesOffAxis(ArrayRef<int64_t> first, ArrayRef<int64_t> s,
                                 int64_t axis) {
  if (s.size() != first.size())
    return false;
  for (size_t d = 0; d < s.size(); ++d)
    if (static_cast<int64_t>(d) != axis && s[d] != first[d])
      return false;
  return true;
}

int64_t onnx_import::normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return -1;
  return axis < 0 ? axis + rank : axis;
}

std::string onnx_import::shapeStr(ArrayRef<int64_t> shape) {
  if (hasRunTimeDims(shape) && DimTable::active())
    return DimTable::active()->shapeStr(shape);
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

//===----------------------------------------------------------------------===//
// IR
//===----------------------------------------------------------------------===//

Value onnx_import::emptyTensor(OpBuilder &b, Location loc,
                               ArrayRef<int64_t> shape, Type elem,
                               ValueRange like) {
  int64_t rank = shape.size();
  // A dynamic extent from a type: the same axis (aligned right) of a value
  // that has it dynamic, which the builder says is equal.
  auto likeAxis = [&](int64_t i) -> std::pair<Value, int64_t> {
    for (Value v : like) {
      auto t = cast<RankedTensorType>(v.getType());
      int64_t k = i - (rank - t.getRank());
      if (k >= 0 && t.isDynamicDim(k))
        return {v, k};
    }
    return {Value(), 0};
  };
  // Only run-time ids and dynamic extents a `like` has take values; other
  // negative extents (a hostile model's) stay as they were, for the
  // importer's size checks to reject.
  bool dynamic = false, unresolved = false;
  for (int64_t i = 0; i < rank; ++i) {
    dynamic |= isRunTimeDim(shape[i]);
    if (shape[i] == ShapedType::kDynamic) {
      bool found = likeAxis(i).first != nullptr;
      dynamic |= found;
      unresolved |= !found;
    }
  }
  if (!dynamic || unresolved)
    return b.create<tensor::EmptyOp>(loc, shape, elem);
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t d = shape[i];
    if (isRunTimeDim(d)) {
      sizes.push_back(DimTable::active()->value(b, loc, d));
      continue;
    }
    if (d != ShapedType::kDynamic) {
      sizes.push_back(b.getIndexAttr(d));
      continue;
    }
    auto [v, k] = likeAxis(i);
    sizes.push_back(b.create<tensor::DimOp>(loc, v, k).getResult());
  }
  return b.create<tensor::EmptyOp>(loc, sizes, elem);
}

SmallVector<OpFoldResult> onnx_import::sizesOf(OpBuilder &b, Location loc,
                                               Value v) {
  return tensor::getMixedSizes(b, loc, v);
}

Value onnx_import::scalarConstant(OpBuilder &b, Location loc, Type elem,
                                  double value) {
  if (auto ft = dyn_cast<FloatType>(elem))
    return b.create<arith::ConstantOp>(loc, b.getFloatAttr(ft, value));
  auto it = cast<IntegerType>(elem);
  unsigned w = it.getWidth();
  APInt v;
  if (std::isinf(value))
    v = value > 0 ? APInt::getSignedMaxValue(w) : APInt::getSignedMinValue(w);
  else
    v = APInt(w, static_cast<int64_t>(value), /*isSigned=*/true);
  return b.create<arith::ConstantOp>(loc, b.getIntegerAttr(it, v));
}

Value onnx_import::filledTensor(OpBuilder &b, Location loc,
                                ArrayRef<int64_t> shape, Type elem,
                                double value, ValueRange like) {
  Value scalar = scalarConstant(b, loc, elem, value);
  return b
      .create<linalg::FillOp>(loc, scalar,
                              emptyTensor(b, loc, shape, elem, like))
      .getResult(0);
}

Value onnx_import::buildElementwise(OpBuilder &b, Location loc,
                                    ValueRange inputs,
                                    ArrayRef<int64_t> outShape, Type outElem,
                                    BodyFn body) {
  MLIRContext *ctx = b.getContext();
  int64_t rank = outShape.size();
  SmallVector<AffineMap> maps;
  for (Value in : inputs) {
    auto shape = cast<RankedTensorType>(in.getType()).getShape();
    int64_t r = shape.size();
    SmallVector<AffineExpr> exprs;
    for (int64_t k = 0; k < r; ++k) {
      int64_t o = rank - r + k;
      if (shape[k] == 1 && outShape[o] != 1)
        exprs.push_back(getAffineConstantExpr(0, ctx));
      else
        exprs.push_back(getAffineDimExpr(o, ctx));
    }
    maps.push_back(AffineMap::get(rank, 0, exprs, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  Value init = emptyTensor(b, loc, outShape, outElem, inputs);
  auto op = b.create<linalg::GenericOp>(
      loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value r = body(nb, nloc, args.drop_back());
        nb.create<linalg::YieldOp>(nloc, r);
      });
  return op.getResult(0);
}

Value onnx_import::castScalar(OpBuilder &b, Location loc, Value v,
                              io::DType from, io::DType to) {
  Type toType = toMlirType(b.getContext(), to);
  Type fromType = v.getType();
  if (fromType == toType)
    return v;
  bool fromFloat = isFloat(from), toFloat = isFloat(to);
  // Bools and unsigned ints widen with zeros.
  bool fromUnsigned = isUnsigned(from) || isBool(from);
  if (isBool(to)) {
    if (fromFloat)
      return b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNE, v,
                                     scalarConstant(b, loc, fromType, 0));
    return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, v,
                                   scalarConstant(b, loc, fromType, 0));
  }
  if (fromFloat && toFloat) {
    if (fromType.getIntOrFloatBitWidth() < toType.getIntOrFloatBitWidth())
      return b.create<arith::ExtFOp>(loc, toType, v);
    if (fromType.getIntOrFloatBitWidth() > toType.getIntOrFloatBitWidth())
      return b.create<arith::TruncFOp>(loc, toType, v);
    // f16 <-> bf16: through f32.
    Value wide = b.create<arith::ExtFOp>(loc, b.getF32Type(), v);
    return b.create<arith::TruncFOp>(loc, toType, wide);
  }
  if (fromFloat) {
    if (isUnsigned(to))
      return b.create<arith::FPToUIOp>(loc, toType, v);
    return b.create<arith::FPToSIOp>(loc, toType, v);
  }
  if (toFloat) {
    if (fromUnsigned)
      return b.create<arith::UIToFPOp>(loc, toType, v);
    return b.create<arith::SIToFPOp>(loc, toType, v);
  }
  unsigned fw = fromType.getIntOrFloatBitWidth(),
           tw = toType.getIntOrFloatBitWidth();
  if (fw < tw) {
    if (fromUnsigned)
      return b.create<arith::ExtUIOp>(loc, toType, v);
    return b.create<arith::ExtSIOp>(loc, toType, v);
  }
  return b.create<arith::TruncIOp>(loc, toType, v);
}

namespace {
SmallVector<ReassociationIndices> allDims(int64_t rank) {
  SmallVector<ReassociationIndices> r;
  if (rank == 0)
    return r;
  r.emplace_back();
  for (int64_t i = 0; i < rank; ++i)
    r[0].push_back(i);
  return r;
}

/// Groups each extent other than 1 with the 1s before it (trailing 1s join
/// the last group): how a shape collapses to its extents other than 1.
SmallVector<ReassociationIndices> unitGroups(ArrayRef<int64_t> shape) {
  SmallVector<ReassociationIndices> groups;
  ReassociationIndices pending;
  for (int64_t i = 0, e = shape.size(); i < e; ++i) {
    pending.push_back(i);
    if (shape[i] != 1) {
      groups.push_back(pending);
      pending.clear();
    }
  }
  if (!pending.empty() && !groups.empty())
    groups.back().append(pending.begin(), pending.end());
  return groups;
}

SmallVector<int64_t> nonUnit(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> r;
  for (int64_t d : shape)
    if (d != 1)
      r.push_back(d);
  return r;
}
} // namespace

Value onnx_import::reshapeTensor(OpBuilder &b, Location loc, Value v,
                                 ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> target = mlirShape(shape);
  if (type.getShape() == ArrayRef<int64_t>(target))
    return v;
  Type elem = type.getElementType();
  auto resultType = RankedTensorType::get(target, elem);
  // (A hostile model's static shapes may hold kDynamic: those take the
  // static path, whose types the verifier and the size checks reject.)
  if (!type.hasStaticShape() || hasRunTimeDims(shape)) {
    // Run-time extents. Adding or dropping 1s keeps the other extents in
    // order: collapse to them, expand to the target, reading each dynamic
    // extent off the collapsed value.
    SmallVector<int64_t> core = nonUnit(type.getShape());
    if (core == nonUnit(target)) {
      auto coreType = RankedTensorType::get(core, elem);
      Value c = v;
      if (type.getRank() != coreType.getRank())
        c = b.create<tensor::CollapseShapeOp>(loc, coreType, v,
                                              unitGroups(type.getShape()));
      if (resultType.getRank() == coreType.getRank())
        return c;
      SmallVector<OpFoldResult> sizes;
      int64_t k = 0;
      for (int64_t d : target)
        sizes.push_back(d == 1 ? OpFoldResult(b.getIndexAttr(1))
                               : tensor::getMixedSize(b, loc, c, k++));
      return b.create<tensor::ExpandShapeOp>(loc, resultType, c,
                                             unitGroups(target), sizes);
    }
    // Otherwise through 1-D, the target's run-time extents from the table.
    int64_t n = type.hasStaticShape() ? numElements(type.getShape())
                                      : ShapedType::kDynamic;
    auto natural = RankedTensorType::get({n}, elem);
    Value flat = v;
    if (type.getRank() == 0)
      flat = b.create<tensor::ExpandShapeOp>(loc, natural, v, allDims(0));
    else if (type.getRank() > 1)
      flat = b.create<tensor::CollapseShapeOp>(loc, natural, v,
                                               allDims(type.getRank()));
    // Static on one side, dynamic on the other: reshapes want both alike.
    auto flatType = RankedTensorType::get({resultType.hasStaticShape()
                                               ? numElements(target)
                                               : ShapedType::kDynamic},
                                          elem);
    if (flatType != natural)
      flat = b.create<tensor::CastOp>(loc, flatType, flat);
    if (shape.empty())
      return b.create<tensor::CollapseShapeOp>(loc, resultType, flat,
                                               allDims(0));
    SmallVector<OpFoldResult> sizes;
    for (int64_t d : shape) {
      assert(d != ShapedType::kDynamic && "a reshape to an unknown extent");
      sizes.push_back(DimTable::active()->size(b, loc, d));
    }
    return b.create<tensor::ExpandShapeOp>(loc, resultType, flat,
                                           allDims(shape.size()), sizes);
  }
  // Through 1-D: collapse then expand; both stay views of one buffer.
  auto flatType = RankedTensorType::get({numElements(type.getShape())}, elem);
  Value flat = v;
  if (type.getRank() == 0)
    flat = b.create<tensor::ExpandShapeOp>(loc, flatType, v, allDims(0));
  else if (type.getRank() > 1)
    flat = b.create<tensor::CollapseShapeOp>(loc, flatType, v,
                                             allDims(type.getRank()));
  if (shape.size() == 1)
    return flat;
  if (shape.empty())
    return b.create<tensor::CollapseShapeOp>(loc, resultType, flat, allDims(0));
  return b.create<tensor::ExpandShapeOp>(loc, resultType, flat,
                                         allDims(shape.size()));
}

Value onnx_import::transposeTensor(OpBuilder &b, Location loc, Value v,
                                   ArrayRef<int64_t> perm) {
  auto type = cast<RankedTensorType>(v.getType());
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i)
    identity &= perm[i] == static_cast<int64_t>(i);
  if (identity)
    return v;
  SmallVector<OpFoldResult> in = sizesOf(b, loc, v), sizes;
  for (int64_t p : perm)
    sizes.push_back(in[p]);
  Value init = b.create<tensor::EmptyOp>(loc, sizes, type.getElementType());
  return b.create<linalg::TransposeOp>(loc, v, init, perm).getResult()[0];
}

Value onnx_import::buildReduction(
    OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes,
    bool keepDims, double init, CombineFn combine,
    function_ref<Value(OpBuilder &, Location, Value)> pre) {
  auto type = cast<RankedTensorType>(input.getType());
  MLIRContext *ctx = b.getContext();
  int64_t rank = type.getRank();
  SmallVector<int64_t> outShape, keptShape;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iters;
  for (int64_t i = 0; i < rank; ++i) {
    bool reduced = llvm::is_contained(axes, i);
    iters.push_back(reduced ? utils::IteratorType::reduction
                            : utils::IteratorType::parallel);
    keptShape.push_back(reduced ? 1 : type.getDimSize(i));
    if (!reduced) {
      outShape.push_back(type.getDimSize(i));
      outExprs.push_back(getAffineDimExpr(i, ctx));
    }
  }
  Type elem = type.getElementType();
  SmallVector<OpFoldResult> inSizes = sizesOf(b, loc, input), outSizes;
  for (int64_t i = 0; i < rank; ++i)
    if (!llvm::is_contained(axes, i))
      outSizes.push_back(inSizes[i]);
  Value acc = b.create<linalg::FillOp>(
                   loc, scalarConstant(b, loc, elem, init),
                   b.create<tensor::EmptyOp>(loc, outSizes, elem).getResult())
                  .getResult(0);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  auto op = b.create<linalg::GenericOp>(
      loc, TypeRange{acc.getType()}, ValueRange{input}, ValueRange{acc}, maps,
      iters, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value x = pre ? pre(nb, nloc, args[0]) : args[0];
        nb.create<linalg::YieldOp>(nloc, combine(nb, nloc, x, args[1]));
      });
  Value result = op.getResult(0);
  if (keepDims)
    result = reshapeTensor(b, loc, result, keptShape);
  return result;
}

Value onnx_import::padTensor(OpBuilder &b, Location loc, Value v,
                             ArrayRef<int64_t> low, ArrayRef<int64_t> high,
                             Value padScalar) {
  if (llvm::all_of(low, [](int64_t x) { return x == 0; }) &&
      llvm::all_of(high, [](int64_t x) { return x == 0; }))
    return v;
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < type.getRank(); ++i)
    shape.push_back(type.isDynamicDim(i)
                        ? ShapedType::kDynamic
                        : type.getDimSize(i) + low[i] + high[i]);
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  SmallVector<OpFoldResult> lo, hi;
  for (size_t i = 0; i < low.size(); ++i) {
    lo.push_back(b.getIndexAttr(low[i]));
    hi.push_back(b.getIndexAttr(high[i]));
  }
  return b.create<tensor::PadOp>(loc, resultType, v, lo, hi, padScalar);
}

Value onnx_import::sliceTensor(OpBuilder &b, Location loc, Value v,
                               ArrayRef<int64_t> offsets,
                               ArrayRef<int64_t> sizes,
                               ArrayRef<int64_t> strides) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getShape() == sizes &&
      llvm::all_of(offsets, [](int64_t o) { return o == 0; }))
    return v;
  auto resultType =
      RankedTensorType::get(mlirShape(sizes), type.getElementType());
  SmallVector<OpFoldResult> o, s, st;
  for (size_t i = 0; i < offsets.size(); ++i) {
    o.push_back(b.getIndexAttr(offsets[i]));
    s.push_back(isRunTimeDim(sizes[i])
                    ? OpFoldResult(DimTable::active()->value(b, loc, sizes[i]))
                    : OpFoldResult(b.getIndexAttr(sizes[i])));
    st.push_back(b.getIndexAttr(strides[i]));
  }
  return b.create<tensor::ExtractSliceOp>(loc, resultType, v, o, s, st);
}

io::HostTensor onnx_import::transposed2d(const io::HostTensor &t) {
  int64_t rows = t.shape[0], cols = t.shape[1];
  io::HostTensor r;
  r.name = t.name;
  r.dtype = t.dtype;
  r.shape = {cols, rows};
  r.data.resize(t.data.size());
  kernels::transpose(t.data.data(), cols, r.data.data(), rows, rows, cols,
                     static_cast<int>(io::dtypeSize(t.dtype)));
  return r;
}

Value onnx_import::matmulWeight(OpBuilder &b, Location loc, Value lhs, Value w,
                                Value acc) {
  auto lt = cast<RankedTensorType>(lhs.getType());
  auto wt = cast<RankedTensorType>(w.getType());
  if (!acc)
    acc = filledTensor(b, loc, {lt.getDimSize(0), wt.getDimSize(0)},
                       lt.getElementType(), 0, lhs);
  return b.create<linalg::MatmulTransposeBOp>(loc, ValueRange{lhs, w}, acc)
      .getResult(0);
}

Value onnx_import::matmul(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  auto lt = cast<RankedTensorType>(lhs.getType());
  auto rt = cast<RankedTensorType>(rhs.getType());
  Type elem = lt.getElementType();
  int64_t rank = lt.getRank();
  int64_t m = lt.getDimSize(rank - 2), n = rt.getDimSize(rank - 1);
  // Zeros of [..., M, N]: M read off lhs, N off rhs (run-time or not).
  auto zeros = [&](Value l, Value r, ArrayRef<OpFoldResult> lead) -> Value {
    SmallVector<OpFoldResult> sizes(lead.begin(), lead.end());
    int64_t rk = cast<RankedTensorType>(l.getType()).getRank();
    sizes.push_back(tensor::getMixedSize(b, loc, l, rk - 2));
    sizes.push_back(tensor::getMixedSize(b, loc, r, rk - 1));
    Value e = b.create<tensor::EmptyOp>(loc, sizes, elem);
    return b.create<linalg::FillOp>(loc, scalarConstant(b, loc, elem, 0), e)
        .getResult(0);
  };
  if (rank == 2) {
    Value acc = zeros(lhs, rhs, {});
    return b.create<linalg::MatmulOp>(loc, ValueRange{lhs, rhs}, acc)
        .getResult(0);
  }
  // Fold all batch dims into one for linalg.batch_matmul (grouped, so that
  // run-time extents of M, K and N stay their own).
  SmallVector<int64_t> batchShape(lt.getShape().begin(),
                                  lt.getShape().end() - 2);
  int64_t batch = ShapedType::isDynamicShape(batchShape)
                      ? ShapedType::kDynamic
                      : numElements(batchShape);
  int64_t k = lt.getDimSize(rank - 1);
  SmallVector<ReassociationIndices> groups(1);
  for (int64_t i = 0; i < rank - 2; ++i)
    groups[0].push_back(i);
  groups.push_back({rank - 2});
  groups.push_back({rank - 1});
  auto collapse = [&](Value v, int64_t d1, int64_t d2) -> Value {
    auto t = RankedTensorType::get({batch, d1, d2}, elem);
    return b.create<tensor::CollapseShapeOp>(loc, t, v, groups);
  };
  bool flat3 = rank == 3;
  Value l3 = flat3 ? lhs : collapse(lhs, m, k);
  Value r3 = flat3 ? rhs : collapse(rhs, k, n);
  Value acc = zeros(l3, r3, {tensor::getMixedSize(b, loc, l3, 0)});
  Value out = b.create<linalg::BatchMatmulOp>(loc, ValueRange{l3, r3}, acc)
                  .getResult(0);
  if (flat3)
    return out;
  SmallVector<int64_t> outShape = batchShape;
  outShape.append({m, n});
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, lhs);
  sizes.back() = tensor::getMixedSize(b, loc, out, 2);
  return b.create<tensor::ExpandShapeOp>(
      loc, RankedTensorType::get(outShape, elem), out, groups, sizes);
}

Value onnx_import::broadcastTo(OpBuilder &b, Location loc, Value v,
                               ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getShape() == ArrayRef<int64_t>(mlirShape(shape)))
    return v;
  return buildElementwise(
      b, loc, v, shape, type.getElementType(),
      [](OpBuilder &, Location, ValueRange a) { return a[0]; });
}

Value onnx_import::indexConstant(OpBuilder &b, Location loc, int64_t v) {
  return b.create<arith::ConstantIndexOp>(loc, v);
}

SmallVector<Value> onnx_import::delinearize(OpBuilder &b, Location loc,
                                            Value linear,
                                            ArrayRef<int64_t> shape) {
  SmallVector<Value> idx(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    Value d = indexConstant(b, loc, shape[i]);
    idx[i] = b.create<arith::RemUIOp>(loc, linear, d);
    linear = b.create<arith::DivUIOp>(loc, linear, d);
  }
  return idx;
}

Value onnx_import::buildIndexed(
    OpBuilder &b, Location loc, ArrayRef<int64_t> outShape, Type elem,
    ValueRange inputs, ArrayRef<AffineMap> inputMaps,
    function_ref<Value(OpBuilder &, Location, ValueRange idx, ValueRange args)>
        body) {
  int64_t rank = outShape.size();
  SmallVector<AffineMap> maps(inputMaps.begin(), inputMaps.end());
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, b.getContext()));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  Value init = emptyTensor(b, loc, outShape, elem);
  auto op = b.create<linalg::GenericOp>(
      loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        SmallVector<Value> idx;
        for (int64_t i = 0; i < rank; ++i)
          idx.push_back(nb.create<linalg::IndexOp>(nloc, i));
        nb.create<linalg::YieldOp>(nloc, body(nb, nloc, idx, args.drop_back()));
      });
  return op.getResult(0);
}

Value onnx_import::addS(OpBuilder &b, Location loc, Value x, Value y) {
  if (isa<FloatType>(x.getType()))
    return b.create<arith::AddFOp>(loc, x, y);
  return b.create<arith::AddIOp>(loc, x, y);
}

Value onnx_import::mulS(OpBuilder &b, Location loc, Value x, Value y) {
  if (isa<FloatType>(x.getType()))
    return b.create<arith::MulFOp>(loc, x, y);
  return b.create<arith::MulIOp>(loc, x, y);
}

Value onnx_import::maxS(OpBuilder &b, Location loc, Value x, Value y,
                        bool isUnsigned) {
  if (isa<FloatType>(x.getType()))
    return b.create<arith::MaximumFOp>(loc, x, y);
  if (isUnsigned)
    return b.create<arith::MaxUIOp>(loc, x, y);
  return b.create<arith::MaxSIOp>(loc, x, y);
}

Value onnx_import::minS(OpBuilder &b, Location loc, Value x, Value y,
                        bool isUnsigned) {
  if (isa<FloatType>(x.getType()))
    return b.create<arith::MinimumFOp>(loc, x, y);
  if (isUnsigned)
    return b.create<arith::MinUIOp>(loc, x, y);
  return b.create<arith::MinSIOp>(loc, x, y);
}
