//===- NodeContext.cpp - what an op builder sees of its node --------------===//

#include "frontends/onnx/NodeContext.h"
#include "frontends/onnx/Builders.h"
#include "runtime/io/TensorProto.h"
#include "runtime/kernels/Transpose.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

std::string onnx_import::nodeName(const onnx::NodeProto &node) {
  if (!node.name().empty())
    return node.name();
  if (node.output_size() > 0)
    return node.output(0);
  return "<unnamed>";
}

std::string onnx_import::printable(llvm::StringRef s) {
  constexpr size_t kMaxBytes = 200;
  std::string out;
  size_t i = 0, n = std::min(s.size(), kMaxBytes);
  auto escape = [&](unsigned char c) {
    static const char *hex = "0123456789abcdef";
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 15];
  };
  while (i < n) {
    unsigned char c = s[i];
    // The length of a well-formed UTF-8 sequence starting at c, or 0.
    size_t len = c < 0x80                          ? 1
                 : (c & 0xE0) == 0xC0 && c >= 0xC2 ? 2
                 : (c & 0xF0) == 0xE0              ? 3
                 : (c & 0xF8) == 0xF0 && c <= 0xF4 ? 4
                                                   : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (!ok || (len == 1 && (c < 0x20 || c == 0x7F))) {
      escape(c);
      ++i;
      continue;
    }
    out.append(s.data() + i, len);
    i += len;
  }
  if (s.size() > kMaxBytes)
    out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

Type onnx_import::toMlirType(MLIRContext *ctx, io::DType dtype) {
  Builder b(ctx);
  switch (dtype) {
  case io::DType::F32:
    return b.getF32Type();
  case io::DType::F64:
    return b.getF64Type();
  case io::DType::F16:
    return b.getF16Type();
  case io::DType::BF16:
    return b.getBF16Type();
  case io::DType::I8:
  case io::DType::U8:
    return b.getIntegerType(8);
  case io::DType::I16:
  case io::DType::U16:
    return b.getIntegerType(16);
  case io::DType::I32:
  case io::DType::U32:
    return b.getIntegerType(32);
  case io::DType::I64:
  case io::DType::U64:
    return b.getIntegerType(64);
  case io::DType::Bool:
    return b.getI1Type();
  }
  return {};
}

bool onnx_import::isFloat(io::DType d) {
  return d == io::DType::F32 || d == io::DType::F64 || d == io::DType::F16 ||
         d == io::DType::BF16;
}
bool onnx_import::isUnsigned(io::DType d) {
  return d == io::DType::U8 || d == io::DType::U16 || d == io::DType::U32 ||
         d == io::DType::U64;
}
bool onnx_import::isBool(io::DType d) { return d == io::DType::Bool; }

NodeContext::NodeContext(const onnx::NodeProto &node, int64_t opset,
                         OpBuilder &b, Location loc,
                         std::vector<GraphValue *> inputs)
    : node(node), opset(opset), b(b), loc(loc), inputs(std::move(inputs)),
      lastRead(this->inputs.size(), false), outputs(node.output_size()) {}

std::shared_ptr<const io::HostTensor>
NodeContext::transposedConstant(size_t i) {
  GraphValue &v = *inputs[i];
  const io::HostTensor &t = *v.constant;
  int64_t rows = t.shape.at(0), cols = t.shape.at(1);
  // Small weights are copied: the transpose in place moves the bytes twice.
  constexpr size_t kInPlaceMinBytes = 16 << 20;
  if (lastRead[i] && v.initializer && v.constant.use_count() == 1 &&
      isFloat(t.dtype) && t.data.size() >= kInPlaceMinBytes) {
    auto own = std::const_pointer_cast<io::HostTensor>(v.constant);
    if (kernels::transposeInPlace(own->data.data(), rows, cols,
                                  static_cast<int>(io::dtypeSize(t.dtype)),
                                  own->data.size() / 8)) {
      own->shape = {cols, rows};
      v.constant.reset();
      return own;
    }
  }
  return std::make_shared<const io::HostTensor>(transposed2d(t));
}

Value NodeContext::value(size_t i) {
  GraphValue &v = *inputs[i];
  if (v.value)
    return v.value;
  if (v.constant) {
    v.value = materializeConstant(b, loc, v.constant);
    return v.value;
  }
  // Run-time dims as data: their index values, converted.
  Type elem = elementType(v.dtype);
  SmallVector<Value> elems;
  for (const io::DimExpr &e : *v.symbolic) {
    Value x = e.isConstant() ? b.create<arith::ConstantIndexOp>(loc, e.constant)
                             : dims().value(b, loc, dims().dimOf(e));
    elems.push_back(b.create<arith::IndexCastOp>(loc, elem, x));
  }
  v.value = b.create<tensor::FromElementsOp>(
      loc, RankedTensorType::get(v.shape, elem), elems);
  return v.value;
}

FailureOr<std::vector<io::DimExpr>>
NodeContext::symbolicInts(size_t i, const char *what) {
  if (hasInput(i) && inputs[i]->symbolic)
    return *inputs[i]->symbolic;
  auto ints = constInts(i, what);
  if (failed(ints))
    return failure();
  std::vector<io::DimExpr> r;
  for (int64_t v : *ints)
    r.push_back(io::DimExpr::ofConstant(v));
  return r;
}

FailureOr<std::vector<int64_t>> NodeContext::constInts(size_t i,
                                                       const char *what) {
  const io::HostTensor *t = knownValue(i);
  if (!t || isFloat(t->dtype)) {
    error() << what << " (input " << i
            << ") must be an integer tensor known at compile time";
    return failure();
  }
  return hostToInts(*t);
}

FailureOr<std::vector<double>> NodeContext::constFloats(size_t i,
                                                        const char *what) {
  const io::HostTensor *t = knownValue(i);
  if (!t) {
    error() << what << " (input " << i << ") must be known at compile time";
    return failure();
  }
  return hostToDoubles(*t);
}

namespace {
/// The one value of a compile-time input read as `values`, or an error.
template <typename T>
FailureOr<T> onlyValue(NodeContext &ctx, size_t i, const char *what,
                       FailureOr<std::vector<T>> values) {
  if (failed(values))
    return failure();
  if (values->size() != 1) {
    ctx.error() << what << " (input " << i << ") must hold one value, not "
                << values->size();
    return failure();
  }
  return (*values)[0];
}
} // namespace

FailureOr<int64_t> NodeContext::constInt(size_t i, const char *what) {
  return onlyValue(*this, i, what, constInts(i, what));
}

FailureOr<double> NodeContext::constFloat(size_t i, const char *what) {
  return onlyValue(*this, i, what, constFloats(i, what));
}

const onnx::AttributeProto *NodeContext::attr(const std::string &name) const {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t NodeContext::attrInt(const std::string &name, int64_t def) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->i() : def;
}

float NodeContext::attrFloat(const std::string &name, float def) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->f() : def;
}

std::string NodeContext::attrString(const std::string &name,
                                    const std::string &def) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->s() : def;
}

std::vector<int64_t> NodeContext::attrInts(const std::string &name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return {};
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> NodeContext::attrFloats(const std::string &name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return {};
  return {a->floats().begin(), a->floats().end()};
}

std::vector<std::string>
NodeContext::attrStrings(const std::string &name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return {};
  return {a->strings().begin(), a->strings().end()};
}

FailureOr<io::HostTensor> NodeContext::attrTensor(const std::string &name) {
  const onnx::AttributeProto *a = attr(name);
  if (!a || !a->has_t()) {
    error() << "expects a tensor attribute '" << name << "'";
    return failure();
  }
  io::HostTensor t;
  std::string err;
  // External data resolves inside the model's folder, as initializers' do.
  if (!io::tensorFromProto(a->t(), baseDir, t, err)) {
    error() << "attribute '" << name << "': " << err;
    return failure();
  }
  return t;
}

void NodeContext::setOutput(size_t i, Value v, io::DType dtype) {
  // An output the node does not list is not wanted.
  if (i >= outputs.size())
    return;
  GraphValue &out = outputs[i];
  out.value = v;
  out.dtype = dtype;
  auto type = cast<RankedTensorType>(v.getType());
  out.shape.assign(type.getShape().begin(), type.getShape().end());
  if (type.hasStaticShape() || !broadcastRunTimeDims)
    return;
  std::vector<std::vector<int64_t>> shapes;
  for (GraphValue *in : inputs)
    if (in)
      shapes.push_back(in->shape);
  std::vector<int64_t> bc;
  if (!broadcastShapes(shapes, bc) || bc.size() != out.shape.size())
    return;
  for (size_t k = 0; k < bc.size(); ++k)
    if (out.shape[k] == ShapedType::kDynamic && isRunTimeDim(bc[k]))
      out.shape[k] = bc[k];
}

void NodeContext::setOutput(size_t i, Value v, io::DType dtype,
                            ArrayRef<int64_t> shape) {
  if (i >= outputs.size())
    return;
  GraphValue &out = outputs[i];
  out.value = v;
  out.dtype = dtype;
  out.shape.assign(shape.begin(), shape.end());
}

void NodeContext::setSymbolic(size_t i, io::DType dtype,
                              std::vector<int64_t> shape,
                              std::vector<io::DimExpr> elements) {
  if (i >= outputs.size())
    return;
  if (llvm::all_of(elements,
                   [](const io::DimExpr &e) { return e.isConstant(); })) {
    std::vector<int64_t> values;
    for (const io::DimExpr &e : elements)
      values.push_back(e.constant);
    setConstant(i, hostFromInts(dtype, std::move(shape), values));
    return;
  }
  GraphValue &out = outputs[i];
  out.dtype = dtype;
  out.shape = std::move(shape);
  out.symbolic =
      std::make_shared<const std::vector<io::DimExpr>>(std::move(elements));
}

void NodeContext::setConstant(size_t i, io::HostTensor t) {
  if (i >= outputs.size())
    return;
  GraphValue &out = outputs[i];
  out.dtype = t.dtype;
  out.shape = t.shape;
  out.constant = std::make_shared<const io::HostTensor>(std::move(t));
}

InFlightDiagnostic NodeContext::error() {
  return emitError(loc) << "node '" << printable(nodeName(node)) << "' ("
                        << printable(node.op_type()) << "): ";
}

Type NodeContext::elementType(io::DType dtype) const {
  return toMlirType(b.getContext(), dtype);
}

RankedTensorType NodeContext::tensorType(ArrayRef<int64_t> shape,
                                         io::DType dtype) const {
  return RankedTensorType::get(mlirShape(shape), elementType(dtype));
}
