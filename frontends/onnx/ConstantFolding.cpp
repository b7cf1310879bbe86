//===- ConstantFolding.cpp - evaluate shape computations while importing --===//
//
// PyTorch exports compute shapes at run time (Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape). With static shapes all of that is known while
// importing; folding it here lets every later op see constant shapes.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Builders.h"
#include "frontends/onnx/NodeContext.h"

#include "mlir/IR/Operation.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

/// Folding is for shape-sized data; large constants stay IR.
constexpr int64_t kMaxFoldElements = 1 << 16;

OpTable &builders() {
  static OpTable t = [] {
    OpTable t;
    registerShapeOps(t);
    return t;
  }();
  return t;
}

/// Ops that only reinterpret the shape: run the IR builder to learn the
/// output shape, then drop the IR and keep the data.
LogicalResult foldByShape(NodeContext &ctx) {
  const io::HostTensor *in = ctx.knownValue(0);
  Block *block = ctx.b.getInsertionBlock();
  Operation *last = block->empty() ? nullptr : &block->back();
  // Builders materialize inputs; undo that afterwards.
  std::vector<Value> saved;
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    saved.push_back(ctx.hasInput(i) ? ctx.input(i).value : Value());
  LogicalResult built = builders().lookup(ctx.node.op_type())(ctx);
  SmallVector<Operation *> created;
  for (Operation &op : llvm::make_range(last ? std::next(Block::iterator(last))
                                             : block->begin(),
                                        block->end()))
    created.push_back(&op);
  for (Operation *op : llvm::reverse(created))
    op->erase();
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i))
      const_cast<GraphValue &>(ctx.input(i)).value = saved[i];
  if (failed(built))
    return failure();
  GraphValue &out = ctx.results()[0];
  io::HostTensor t = *in;
  t.shape = out.shape;
  out = GraphValue();
  ctx.setConstant(0, std::move(t));
  return success();
}

/// Row-major strides of `shape`.
std::vector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;)
    s[i - 1] = s[i] * shape[i];
  return s;
}

/// Index into `shape` broadcast to `out` for the output position `linear`.
int64_t broadcastIndex(int64_t linear, ArrayRef<int64_t> out,
                       ArrayRef<int64_t> shape) {
  int64_t idx = 0, stride = 1;
  size_t off = out.size() - shape.size();
  for (size_t i = out.size(); i-- > 0;) {
    int64_t coord = linear % out[i];
    linear /= out[i];
    if (i >= off) {
      size_t k = i - off;
      if (shape[k] != 1)
        idx += coord * stride;
      stride *= shape[k];
    }
  }
  return idx;
}

LogicalResult foldElementwise(NodeContext &ctx) {
  const std::string &op = ctx.node.op_type();
  std::vector<std::vector<int64_t>> shapes;
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    shapes.push_back(ctx.shape(i));
  std::vector<int64_t> out;
  if (!broadcastShapes(shapes, out) || numElements(out) > kMaxFoldElements)
    return failure();
  io::DType dt = ctx.dtype(op == "Where" ? 1 : 0);
  bool fl = isFloat(dt);
  std::vector<std::vector<double>> d;
  std::vector<std::vector<int64_t>> n;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    d.push_back(hostToDoubles(*ctx.knownValue(i)));
    n.push_back(hostToInts(*ctx.knownValue(i)));
  }
  int64_t count = numElements(out);
  std::vector<double> rd(count);
  std::vector<int64_t> ri(count);
  bool boolOut = op == "Equal" || op == "Less" || op == "Greater" ||
                 op == "Not" || op == "And" || op == "Or";
  for (int64_t e = 0; e < count; ++e) {
    auto at = [&](size_t i) { return broadcastIndex(e, out, shapes[i]); };
    double x = d[0][at(0)], y = ctx.numInputs() > 1 ? d[1][at(1)] : 0;
    int64_t xi = n[0][at(0)], yi = ctx.numInputs() > 1 ? n[1][at(1)] : 0;
    // Integers wrap on overflow, as the compiled arith ops do (two's
    // complement); in C++ signed overflow is undefined, so in uint64_t.
    auto wrap = [](uint64_t v) { return static_cast<int64_t>(v); };
    if (op == "Add")
      rd[e] = x + y, ri[e] = wrap(uint64_t(xi) + uint64_t(yi));
    else if (op == "Sub")
      rd[e] = x - y, ri[e] = wrap(uint64_t(xi) - uint64_t(yi));
    else if (op == "Mul")
      rd[e] = x * y, ri[e] = wrap(uint64_t(xi) * uint64_t(yi));
    else if (op == "Div") {
      // x / 0 and INT64_MIN / -1 are left to the compiled op.
      if (!fl && (yi == 0 || (yi == -1 && xi == INT64_MIN)))
        return failure();
      rd[e] = x / y, ri[e] = fl ? 0 : xi / yi;
    } else if (op == "Neg")
      rd[e] = -x, ri[e] = wrap(0 - uint64_t(xi));
    else if (op == "Abs")
      rd[e] = std::fabs(x), ri[e] = xi < 0 ? wrap(0 - uint64_t(xi)) : xi;
    else if (op == "Min")
      rd[e] = std::fmin(x, y), ri[e] = std::min(xi, yi);
    else if (op == "Max")
      rd[e] = std::fmax(x, y), ri[e] = std::max(xi, yi);
    else if (op == "Equal")
      ri[e] = fl ? x == y : xi == yi;
    else if (op == "Less")
      ri[e] = fl ? x < y : xi < yi;
    else if (op == "Greater")
      ri[e] = fl ? x > y : xi > yi;
    else if (op == "Not")
      ri[e] = !xi;
    else if (op == "And")
      ri[e] = xi && yi;
    else if (op == "Or")
      ri[e] = xi || yi;
    else if (op == "Where") {
      bool c = xi != 0;
      rd[e] = c ? d[1][at(1)] : d[2][at(2)];
      ri[e] = c ? n[1][at(1)] : n[2][at(2)];
    } else
      return failure();
  }
  if (boolOut)
    ctx.setConstant(0, hostFromInts(io::DType::Bool, out, ri));
  else if (fl)
    ctx.setConstant(0, hostFromDoubles(dt, out, rd));
  else
    ctx.setConstant(0, hostFromInts(dt, out, ri));
  return success();
}

LogicalResult foldCast(NodeContext &ctx) {
  io::DType to;
  const io::HostTensor &in = *ctx.knownValue(0);
  if (!io::dtypeFromOnnx(ctx.node.op_type() == "CastLike"
                             ? io::dtypeToOnnx(ctx.dtype(1))
                             : ctx.attrInt("to", 0),
                         to))
    return failure();
  if (isFloat(to) || isFloat(in.dtype)) {
    std::vector<double> v = hostToDoubles(in);
    if (!isFloat(to))
      for (double x : v)
        if (!std::isfinite(x))
          return failure();
    if (isFloat(to))
      ctx.setConstant(0, hostFromDoubles(to, in.shape, v));
    else
      ctx.setConstant(0, hostFromInts(to, in.shape,
                                      std::vector<int64_t>(v.begin(), v.end())));
  } else {
    ctx.setConstant(0, hostFromInts(to, in.shape, hostToInts(in)));
  }
  return success();
}

LogicalResult foldConcat(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (axis < 0)
    return failure();
  std::vector<int64_t> out = ctx.shape(0);
  out[axis] = 0;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    if (ctx.rank(i) != rank || ctx.dtype(i) != ctx.dtype(0))
      return failure();
    out[axis] += ctx.shape(i)[axis];
  }
  int64_t outer = numElements(ArrayRef<int64_t>(out).take_front(axis));
  size_t es = io::dtypeSize(ctx.dtype(0));
  io::HostTensor t;
  t.dtype = ctx.dtype(0);
  t.shape = out;
  std::vector<uint8_t> bytes;
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < ctx.numInputs(); ++i) {
      const io::HostTensor &in = *ctx.knownValue(i);
      size_t chunk =
          numElements(ArrayRef<int64_t>(in.shape).drop_front(axis)) * es;
      bytes.insert(bytes.end(), in.data.begin() + o * chunk,
                   in.data.begin() + (o + 1) * chunk);
    }
  t.data = std::move(bytes);
  ctx.setConstant(0, std::move(t));
  return success();
}

LogicalResult foldGather(NodeContext &ctx) {
  const io::HostTensor &data = *ctx.knownValue(0);
  int64_t rank = data.shape.size();
  int64_t axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (axis < 0)
    return failure();
  std::vector<int64_t> idx = hostToInts(*ctx.knownValue(1));
  int64_t dim = data.shape[axis];
  for (int64_t &i : idx) {
    if (i < 0)
      i += dim;
    if (i < 0 || i >= dim)
      return failure();
  }
  int64_t outer = numElements(ArrayRef<int64_t>(data.shape).take_front(axis));
  int64_t inner =
      numElements(ArrayRef<int64_t>(data.shape).drop_front(axis + 1));
  size_t es = io::dtypeSize(data.dtype);
  io::HostTensor t;
  t.dtype = data.dtype;
  t.shape.assign(data.shape.begin(), data.shape.begin() + axis);
  t.shape.insert(t.shape.end(), ctx.shape(1).begin(), ctx.shape(1).end());
  t.shape.insert(t.shape.end(), data.shape.begin() + axis + 1,
                 data.shape.end());
  std::vector<uint8_t> bytes;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i : idx) {
      auto begin = data.data.begin() + ((o * dim + i) * inner) * es;
      bytes.insert(bytes.end(), begin, begin + inner * es);
    }
  t.data = std::move(bytes);
  ctx.setConstant(0, std::move(t));
  return success();
}

LogicalResult foldSlice(NodeContext &ctx) {
  auto spec = resolveSlice(ctx);
  if (failed(spec))
    return failure();
  const io::HostTensor &in = *ctx.knownValue(0);
  size_t es = io::dtypeSize(in.dtype);
  std::vector<int64_t> inStrides = stridesOf(in.shape);
  io::HostTensor t;
  t.dtype = in.dtype;
  t.shape = spec->sizes;
  int64_t n = numElements(spec->sizes);
  t.data.resize(n * es);
  for (int64_t e = 0; e < n; ++e) {
    int64_t rem = e, src = 0;
    for (size_t d = spec->sizes.size(); d-- > 0;) {
      int64_t coord = rem % spec->sizes[d];
      rem /= spec->sizes[d];
      src += (spec->offsets[d] + coord * spec->strides[d]) * inStrides[d];
    }
    std::memcpy(&t.data[e * es], &in.data[src * es], es);
  }
  ctx.setConstant(0, std::move(t));
  return success();
}

} // namespace

LogicalResult onnx_import::foldNode(NodeContext &ctx) {
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i) &&
        numElements(ctx.shape(i)) > kMaxFoldElements)
      return failure();
  const std::string &op = ctx.node.op_type();
  if (ctx.numInputs() == 0 || !ctx.hasInput(0))
    return failure();
  if (op == "Identity" || op == "Reshape" || op == "Squeeze" ||
      op == "Unsqueeze" || op == "Flatten")
    return foldByShape(ctx);
  if (op == "Cast" || op == "CastLike")
    return foldCast(ctx);
  if (op == "Concat")
    return foldConcat(ctx);
  if (op == "Gather")
    return foldGather(ctx);
  if (op == "Slice")
    return foldSlice(ctx);
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" ||
      op == "Neg" || op == "Abs" || op == "Min" || op == "Max" ||
      op == "Equal" || op == "Less" || op == "Greater" || op == "Not" ||
      op == "And" || op == "Or" || op == "Where") {
    // Mixed element types are an error the builder reports.
    for (size_t i = 1; i < ctx.numInputs(); ++i)
      if (op != "Where" && ctx.dtype(i) != ctx.dtype(0))
        return failure();
    return foldElementwise(ctx);
  }
  return failure();
}
