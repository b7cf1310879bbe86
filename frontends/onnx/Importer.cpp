//===- Importer.cpp - ONNX model to sparq graph IR ------------------------===//
//
// Walks the ONNX graph in dependency order and hands each node to the builder
// its op type names in the op table. Shapes are static unless the caller
// names run-time dimensions (DimTable.h): other symbolic dimensions are
// specialized from the shapes the caller gives, and shape computations are
// folded on the host while importing, symbolically where they involve
// run-time dims (RunTimeShapes.cpp).
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Importer.h"
#include "dialects/ConstantData.h"
#include "dialects/SparqDialect.h"
#include "frontends/onnx/Builders.h"
#include "frontends/onnx/DimTable.h"
#include "frontends/onnx/NodeContext.h"
#include "runtime/io/TensorProto.h"

#include "onnx/defs/schema.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

using namespace mlir;
using namespace ::sparq;
using namespace ::sparq::onnx_import;

namespace {

/// Checks a node's inputs and outputs against the ONNX schema of its opset
/// (from the ONNX library): how many there are, and that no required input
/// is the empty name. Builders may then read every required input.
LogicalResult checkArity(NodeContext &nc) {
  const onnx::NodeProto &node = nc.node;
  const onnx::OpSchema *schema = onnx::OpSchemaRegistry::Schema(
      node.op_type(), static_cast<int>(nc.opset), "");
  // An operator newer than the model's opset is held to its latest schema.
  if (!schema)
    schema = onnx::OpSchemaRegistry::Schema(node.op_type(), INT32_MAX, "");
  if (!schema)
    return success(); // not an ONNX operator: the op table says so
  int inputs = node.input_size(), outputs = node.output_size();
  if (inputs < schema->min_input() || inputs > schema->max_input())
    return nc.error() << "expects " << schema->min_input() << " to "
                      << schema->max_input() << " inputs, got " << inputs;
  if (outputs < schema->min_output() || outputs > schema->max_output())
    return nc.error() << "expects " << schema->min_output() << " to "
                      << schema->max_output() << " outputs, got " << outputs;
  const auto &formal = schema->inputs();
  for (int i = 0; i < inputs; ++i) {
    const auto &param = formal[std::min<size_t>(i, formal.size() - 1)];
    if (param.GetOption() != onnx::OpSchema::Optional && node.input(i).empty())
      return nc.error() << "input " << i << " ('" << param.GetName()
                        << "') is required";
  }
  return success();
}

const OpTable &opTable() {
  static const OpTable table = [] {
    OpTable t;
    registerElementwiseOps(t);
    registerNeuralNetOps(t);
    registerShapeOps(t);
    registerReduceOps(t);
    registerRecurrentOps(t);
    registerDetectionOps(t);
    registerQuantizedOps(t);
    registerResizeOps(t);
    registerMiscOps(t);
    registerLossOps(t);
    return t;
  }();
  return table;
}

class GraphImporter {
public:
  /// Takes the bytes of `model`'s initializers (they are freed as read).
  GraphImporter(MLIRContext &ctx, onnx::ModelProto &model, std::string baseDir,
                const ImportOptions &options)
      : ctx(ctx), model(model), baseDir(std::move(baseDir)), options(options),
        b(&ctx) {}

  FailureOr<ImportedModel> run();

private:
  LogicalResult readOpset();
  LogicalResult addInitializers(onnx::GraphProto &graph);
  LogicalResult addInputs(const onnx::GraphProto &graph,
                          SmallVectorImpl<Type> &argTypes);
  /// The symbol of input `name`'s axis `axis` (declared `decl`), if the
  /// caller made it a run-time dimension; failure on a bad request.
  FailureOr<std::optional<int>>
  runTimeSymbol(const std::string &name, int inputIndex, int axis,
                const onnx::TensorShapeProto *decl);
  LogicalResult checkDynamicOptions(const onnx::GraphProto &graph);
  ValueInfo valueInfo(const std::string &name, const GraphValue &v) const;
  Value atBounds(const GraphValue &v);
  void planKvCaches(const onnx::GraphProto &graph);
  void addKvCacheLengths(SmallVectorImpl<Type> &argTypes);
  LogicalResult buildKvCacheAppend(NodeContext &nc);
  FailureOr<std::vector<const onnx::NodeProto *>>
  sortNodes(const onnx::GraphProto &graph);
  LogicalResult importNode(const onnx::NodeProto &node);
  void recordDequantized(const onnx::NodeProto &node, NodeContext &nc);
  void recordIntegerOps(const onnx::NodeProto &node, NodeContext &nc);
  InFlightDiagnostic graphError() { return emitError(UnknownLoc::get(&ctx)); }

  MLIRContext &ctx;
  onnx::ModelProto &model;
  std::string baseDir;
  const ImportOptions &options;
  OpBuilder b;
  int64_t opset = 0;
  std::unordered_map<std::string, std::unique_ptr<GraphValue>> values;
  /// How many more times each value is read (inputs of nodes not yet
  /// imported, graph outputs).
  std::unordered_map<std::string, int64_t> readsLeft;
  std::vector<ValueInfo> inputInfos, outputInfos;
  std::vector<NodeSummary> summaries;
  std::unordered_set<std::string> initializerNames;
  DimTable dims;
  std::map<std::string, int> dimParamSymbols;
  /// Bounds of run-time dim_params: named, or of an axis named by input.
  std::map<std::string, int64_t> paramBounds;
  /// KV caches kept in place, by their `past` input's name.
  struct CachePlan {
    const onnx::NodeProto *concat = nullptr;
    int64_t axis = 0;
    io::KvCacheSpec spec;
    Value buffer; // the function argument
  };
  std::map<std::string, CachePlan> cachePlans;
};

/// Finds the graph outputs that are Concat(past input, new, ...) along one
/// axis, with `past` read by nothing else but Shape.
void GraphImporter::planKvCaches(const onnx::GraphProto &graph) {
  std::unordered_map<std::string, const onnx::NodeProto *> producer;
  std::unordered_map<std::string, int> otherUses;
  for (const onnx::NodeProto &n : graph.node()) {
    for (const std::string &out : n.output())
      producer[out] = &n;
    for (const std::string &in : n.input())
      if (n.op_type() != "Shape")
        ++otherUses[in];
  }
  std::unordered_set<std::string> inputs;
  for (const onnx::ValueInfoProto &in : graph.input())
    if (!initializerNames.count(in.name()))
      inputs.insert(in.name());
  for (int k = 0; k < graph.output_size(); ++k) {
    auto it = producer.find(graph.output(k).name());
    if (it == producer.end())
      continue;
    const onnx::NodeProto &n = *it->second;
    if (n.op_type() != "Concat" || n.input_size() < 2 ||
        !inputs.count(n.input(0)) || otherUses[n.input(0)] != 1 ||
        cachePlans.count(n.input(0)))
      continue;
    CachePlan plan;
    plan.concat = &n;
    for (const onnx::AttributeProto &a : n.attribute())
      if (a.name() == "axis")
        plan.axis = a.i();
    plan.spec.outputName = graph.output(k).name();
    cachePlans[n.input(0)] = plan;
  }
}

/// One scalar int64 input per cache length symbol, after the graph's.
void GraphImporter::addKvCacheLengths(SmallVectorImpl<Type> &argTypes) {
  std::map<int, int> lengthInput;
  for (auto &[name, plan] : cachePlans) {
    int sym = plan.spec.symbol;
    auto [it, inserted] = lengthInput.try_emplace(sym, inputInfos.size());
    if (inserted) {
      std::string lengthName = "kv_length." + dims.symbols()[sym].name;
      argTypes.push_back(RankedTensorType::get({}, b.getI64Type()));
      inputInfos.push_back({lengthName, io::DType::I64, {}, {}});
      dims.setSource(sym, it->second, -1);
    }
    plan.spec.lengthInput = it->second;
  }
}

/// A planned cache's Concat: the new entries written into the buffer after
/// its `length` entries; the result is the buffer's first entries.
LogicalResult GraphImporter::buildKvCacheAppend(NodeContext &nc) {
  CachePlan &plan = cachePlans.at(nc.node.input(0));
  const std::vector<int64_t> &past = nc.shape(0);
  int64_t rank = past.size(), axis = plan.spec.axis;
  io::DimExpr end = dims.exprOf(past[axis]);
  Value acc = plan.buffer;
  for (size_t i = 1; i < nc.numInputs(); ++i) {
    const std::vector<int64_t> &s = nc.shape(i);
    if (nc.dtype(i) != nc.dtype(0) || !matchesOffAxis(past, s, axis))
      return nc.error() << "cannot append " << dims.shapeStr(s)
                        << " to the KV cache " << dims.shapeStr(past);
    SmallVector<OpFoldResult> offs, sizes, strides;
    for (int64_t d = 0; d < rank; ++d) {
      offs.push_back(d == axis ? dims.size(b, nc.loc, dims.dimOf(end))
                               : b.getIndexAttr(0));
      sizes.push_back(dims.size(b, nc.loc, s[d]));
      strides.push_back(b.getIndexAttr(1));
    }
    acc = b.create<tensor::InsertSliceOp>(nc.loc, nc.value(i), acc, offs, sizes,
                                          strides);
    if (!end.add(dims.exprOf(s[axis])))
      return nc.error() << "the KV cache's length overflows";
  }
  std::vector<int64_t> shape = past;
  shape[axis] = dims.dimOf(end);
  plan.spec.appended = end;
  SmallVector<OpFoldResult> zeros(rank, b.getIndexAttr(0)),
      ones(rank, b.getIndexAttr(1)), sizes;
  for (int64_t d : shape)
    sizes.push_back(dims.size(b, nc.loc, d));
  Value present = b.create<tensor::ExtractSliceOp>(
      nc.loc,
      RankedTensorType::get(mlirShape(shape), nc.elementType(nc.dtype(0))), acc,
      zeros, sizes, ones);
  nc.setOutput(0, present, nc.dtype(0), shape);
  return success();
}

/// An output whose size the model computes is returned in a buffer of its
/// bound shape, the valid part at the start of each axis: the caller
/// allocated that much before the call and compacts it after
/// (HostExecutable::run).
Value GraphImporter::atBounds(const GraphValue &v) {
  Location loc = UnknownLoc::get(&ctx);
  auto type = cast<RankedTensorType>(v.value.getType());
  std::vector<int64_t> bounds = dims.boundShape(v.shape);
  Value full = b.create<tensor::EmptyOp>(loc, bounds, type.getElementType());
  int64_t rank = bounds.size();
  SmallVector<OpFoldResult> zeros(rank, b.getIndexAttr(0)),
      ones(rank, b.getIndexAttr(1)),
      sizes = tensor::getMixedSizes(b, loc, v.value);
  return b.create<tensor::InsertSliceOp>(loc, v.value, full, zeros, sizes,
                                         ones);
}

ValueInfo GraphImporter::valueInfo(const std::string &name,
                                   const GraphValue &v) const {
  io::SymbolicShape s = dims.symbolicShape(v.shape);
  return {name, v.dtype, s.bounds, s.dims};
}

FailureOr<std::optional<int>>
GraphImporter::runTimeSymbol(const std::string &name, int inputIndex, int axis,
                             const onnx::TensorShapeProto *decl) {
  std::string param;
  if (decl && axis < decl->dim_size() && decl->dim(axis).has_dim_param())
    param = decl->dim(axis).dim_param();
  std::optional<int64_t> bound;
  auto byName = options.dynamicAxes.find(name);
  if (byName != options.dynamicAxes.end()) {
    auto it = byName->second.find(axis);
    if (it != byName->second.end())
      bound = it->second;
  }
  auto byParam = param.empty() ? paramBounds.end() : paramBounds.find(param);
  if (byParam != paramBounds.end())
    bound = bound ? std::min(*bound, byParam->second) : byParam->second;
  if (!bound && !param.empty() && options.defaultRunTimeBound > 0 &&
      !options.inputShapes.count(name))
    bound = options.defaultRunTimeBound;
  // An axis of a dim_param another run-time axis has is that symbol too.
  auto known =
      param.empty() ? dimParamSymbols.end() : dimParamSymbols.find(param);
  if (known != dimParamSymbols.end())
    return std::optional<int>(known->second);
  if (!bound)
    return std::optional<int>();
  if (*bound < 1 || *bound > kMaxElements) {
    graphError() << "run-time dimension bound " << *bound << " of input '"
                 << printable(name) << "' axis " << axis << " is out of range";
    return failure();
  }
  std::string symName =
      param.empty() ? name + ":" + std::to_string(axis) : param;
  int sym = dims.addSymbol({printable(symName), *bound, inputIndex, axis});
  if (!param.empty())
    dimParamSymbols[param] = sym;
  return std::optional<int>(sym);
}

/// Every run-time dimension the caller names exists in the model.
LogicalResult
GraphImporter::checkDynamicOptions(const onnx::GraphProto &graph) {
  for (const auto &entry : options.dynamicAxes) {
    const std::string &name = entry.first;
    const auto &axes = entry.second;
    const onnx::ValueInfoProto *in = nullptr;
    for (const onnx::ValueInfoProto &v : graph.input())
      if (v.name() == name && !initializerNames.count(name))
        in = &v;
    if (!in)
      return graphError() << "--dynamic names '" << printable(name)
                          << "', which is not an input of the model";
    auto info = llvm::find_if(
        inputInfos, [&](const ValueInfo &i) { return i.name == name; });
    for (const auto &axis : axes)
      if (axis.first < 0 ||
          axis.first >= static_cast<int64_t>(info->shape.size()))
        return graphError()
               << "--dynamic names axis " << axis.first << " of input '"
               << printable(name) << "', which has rank " << info->shape.size();
  }
  for (const auto &param : options.dynamicDimParams)
    if (!dimParamSymbols.count(param.first))
      return graphError() << "--dynamic names '" << printable(param.first)
                          << "', which is neither an input axis (NAME:AXIS) "
                             "nor a symbolic dimension of an input";
  return success();
}

LogicalResult GraphImporter::readOpset() {
  for (const onnx::OperatorSetIdProto &id : model.opset_import())
    if (id.domain().empty() || id.domain() == "ai.onnx")
      opset = id.version();
  if (opset == 0 && model.opset_import_size() == 0)
    opset = 1; // IR version 1-2 models carry no opset import.
  // A model of other domains only (training, ML) fails at its first node.
  if (opset == 0)
    return success();
  if (opset < 1 || opset > 18)
    return graphError() << "model imports ONNX opset " << opset
                        << "; supported opsets are 1 to 18 (tested: 7-17)";
  return success();
}

LogicalResult GraphImporter::addInitializers(onnx::GraphProto &graph) {
  for (onnx::TensorProto &init : *graph.mutable_initializer()) {
    for (int64_t d : init.dims())
      if (d < 0)
        return graphError() << "initializer '" << printable(init.name())
                            << "' has a negative dimension " << d;
    if (!fitsLimits(
            std::vector<int64_t>(init.dims().begin(), init.dims().end())))
      return graphError() << "initializer '" << printable(init.name())
                          << "' is too large";
    auto value = std::make_unique<GraphValue>();
    auto host = std::make_shared<io::HostTensor>();
    std::string err;
    // The tensor takes the parsed model's bytes over (or maps its external
    // data): the import holds the weights once, never twice.
    if (!io::takeTensorFromProto(init, baseDir, *host, err))
      return graphError() << "initializer '" << printable(init.name())
                          << "': " << err;
    std::string().swap(*init.mutable_raw_data());
    value->dtype = host->dtype;
    value->shape = host->shape;
    value->constant = std::move(host);
    value->initializer = true;
    values[init.name()] = std::move(value);
    initializerNames.insert(init.name());
  }
  return success();
}

LogicalResult GraphImporter::addInputs(const onnx::GraphProto &graph,
                                       SmallVectorImpl<Type> &argTypes) {
  // An axis made run-time by input name makes its dim_param run-time in
  // every input, whatever their order.
  paramBounds = options.dynamicDimParams;
  for (const onnx::ValueInfoProto &in : graph.input()) {
    auto axes = options.dynamicAxes.find(in.name());
    if (axes == options.dynamicAxes.end() || !in.type().has_tensor_type())
      continue;
    const onnx::TensorShapeProto &decl = in.type().tensor_type().shape();
    for (const auto &[axis, bound] : axes->second)
      if (axis >= 0 && axis < decl.dim_size() &&
          decl.dim(axis).has_dim_param()) {
        auto [it, inserted] =
            paramBounds.try_emplace(decl.dim(axis).dim_param(), bound);
        if (!inserted)
          it->second = std::min(it->second, bound);
      }
  }
  for (const onnx::ValueInfoProto &in : graph.input()) {
    // Older exporters list initializers among the inputs too.
    if (values.count(in.name()))
      continue;
    const onnx::TypeProto &type = in.type();
    if (!type.has_tensor_type())
      return graphError() << "input '" << printable(in.name())
                          << "' is not a tensor (sequences, maps and "
                             "optionals are not supported)";
    io::DType dtype;
    if (!io::dtypeFromOnnx(type.tensor_type().elem_type(), dtype))
      return graphError() << "input '" << printable(in.name())
                          << "' has unsupported element type "
                          << type.tensor_type().elem_type();
    std::vector<int64_t> shape;
    auto given = options.inputShapes.find(in.name());
    const onnx::TensorShapeProto &decl = type.tensor_type().shape();
    int inputIndex = static_cast<int>(inputInfos.size());
    // Axes the caller made run-time dims: their symbols, by axis.
    std::map<int, int> runTime;
    int declRank = type.tensor_type().has_shape() ? decl.dim_size() : -1;
    int rankKnown = given != options.inputShapes.end()
                        ? static_cast<int>(given->second.size())
                        : declRank;
    for (int i = 0; i < rankKnown; ++i) {
      auto sym = runTimeSymbol(in.name(), inputIndex, i,
                               declRank >= 0 ? &decl : nullptr);
      if (failed(sym))
        return failure();
      if (*sym)
        runTime[i] = **sym;
    }
    if (given != options.inputShapes.end()) {
      shape = given->second;
      if (type.tensor_type().has_shape() &&
          decl.dim_size() != static_cast<int>(shape.size()))
        return graphError() << "input '" << printable(in.name())
                            << "' has rank " << decl.dim_size()
                            << ", but the shape given is " << shapeStr(shape);
      for (int i = 0; i < decl.dim_size(); ++i)
        if (decl.dim(i).has_dim_value() && !runTime.count(i) &&
            decl.dim(i).dim_value() != shape[i])
          return graphError()
                 << "input '" << printable(in.name()) << "' expects dimension "
                 << i << " to be " << decl.dim(i).dim_value()
                 << ", but the shape given is " << shapeStr(shape);
    } else {
      if (!type.tensor_type().has_shape())
        return graphError() << "input '" << printable(in.name())
                            << "' has no shape; give one (sparqc: --shape "
                            << printable(in.name()) << "=...)";
      for (const auto &dim : decl.dim()) {
        if (!dim.has_dim_value() && !runTime.count(shape.size()))
          return graphError()
                 << "input '" << printable(in.name())
                 << "' has a symbolic dimension '" << printable(dim.dim_param())
                 << "'; give its shape (sparqc: --shape "
                 << printable(in.name())
                 << "=... or an input file) or make it a run-time dimension "
                    "(--dynamic "
                 << printable(dim.dim_param().empty()
                                  ? in.name() + ":" +
                                        std::to_string(shape.size())
                                  : dim.dim_param())
                 << "<=BOUND)";
        shape.push_back(dim.has_dim_value() ? dim.dim_value() : 0);
      }
    }
    for (const auto &[axis, sym] : runTime)
      shape[axis] = dims.dimOf(io::DimExpr::ofSymbol(sym));
    // A KV cache in place: a buffer of its bound, its length a symbol.
    std::vector<int64_t> argShape = shape;
    auto plan = cachePlans.find(in.name());
    if (plan != cachePlans.end()) {
      int64_t axis = normalizeAxis(plan->second.axis, shape.size());
      auto sym = axis >= 0 ? dims.exprOf(shape[axis]).asSymbol() : std::nullopt;
      if (!sym) {
        cachePlans.erase(plan);
      } else {
        plan->second.axis = axis;
        plan->second.spec.axis = axis;
        plan->second.spec.symbol = *sym;
        plan->second.spec.input = inputIndex;
        plan->second.spec.capacity = dims.symbols()[*sym].bound;
        argShape[axis] = plan->second.spec.capacity;
      }
    }
    if (!fitsLimits(dims.boundShape(shape)))
      return graphError() << "input '" << printable(in.name()) << "' of shape "
                          << shapeStr(shape) << " is too large";
    auto value = std::make_unique<GraphValue>();
    value->dtype = dtype;
    value->shape = shape;
    auto known = options.inputValues.find(in.name());
    if (known != options.inputValues.end() && known->second.dtype == dtype &&
        known->second.shape == shape) {
      value->constant = std::make_shared<io::HostTensor>(known->second);
      value->specialized = true;
    }
    argTypes.push_back(
        RankedTensorType::get(mlirShape(argShape), toMlirType(&ctx, dtype)));
    if (cachePlans.count(in.name()))
      inputInfos.push_back({in.name(), dtype, argShape, {}});
    else
      inputInfos.push_back(valueInfo(in.name(), *value));
    values[in.name()] = std::move(value);
  }
  return success();
}

/// Orders nodes so that every value is defined before use (Kahn); reports
/// undefined inputs and cycles.
FailureOr<std::vector<const onnx::NodeProto *>>
GraphImporter::sortNodes(const onnx::GraphProto &graph) {
  int n = graph.node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i)
    for (const std::string &out : graph.node(i).output())
      if (!out.empty())
        producer[out] = i;
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> users(n);
  for (int i = 0; i < n; ++i) {
    const onnx::NodeProto &node = graph.node(i);
    for (const std::string &in : node.input()) {
      if (in.empty() || values.count(in))
        continue;
      auto it = producer.find(in);
      if (it == producer.end())
        return emitError(NameLoc::get(StringAttr::get(&ctx, nodeName(node))))
               << "node '" << printable(nodeName(node)) << "' ("
               << printable(node.op_type()) << "): input '" << printable(in)
               << "' is not defined by any node, initializer or graph input";
      ++pending[i];
      users[it->second].push_back(i);
    }
  }
  std::deque<int> ready;
  for (int i = 0; i < n; ++i)
    if (pending[i] == 0)
      ready.push_back(i);
  std::vector<const onnx::NodeProto *> order;
  while (!ready.empty()) {
    int i = ready.front();
    ready.pop_front();
    order.push_back(&graph.node(i));
    for (int u : users[i])
      if (--pending[u] == 0)
        ready.push_back(u);
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i)
      if (pending[i] > 0)
        return graphError() << "the graph has a cycle through node '"
                            << printable(nodeName(graph.node(i))) << "' ("
                            << graph.node(i).op_type() << ")";
  }
  return order;
}

/// A DequantizeLinear's output remembers its integer source, scale and
/// zero point when those are constants of the model (QDQ graphs), whether
/// the node was folded or built.
void GraphImporter::recordDequantized(const onnx::NodeProto &node,
                                      NodeContext &nc) {
  if (node.op_type() != "DequantizeLinear" || node.output_size() < 1 ||
      node.output(0).empty() || nc.numInputs() < 2 || !nc.hasInput(1))
    return;
  auto modelConstant = [&](size_t i) -> std::shared_ptr<const io::HostTensor> {
    if (!nc.hasInput(i) || nc.input(i).specialized)
      return nullptr;
    return nc.input(i).constant;
  };
  auto d = std::make_shared<GraphValue::Dequantized>();
  d->source = &nc.input(0);
  d->scale = modelConstant(1);
  d->zeroPoint = modelConstant(2);
  if (!d->scale || (nc.hasInput(2) && !d->zeroPoint))
    return;
  int64_t rank = nc.rank(0);
  d->axis = normalizeAxis(nc.attrInt("axis", 1), rank);
  values.at(node.output(0))->dequantized = std::move(d);
}

/// What a QuantizeLinear after this node may compute on integers: an Add
/// of two dequantized per-tensor activations of one shape, and a Relu of
/// that or of a convolution's integer sums (still those, clamped).
void GraphImporter::recordIntegerOps(const onnx::NodeProto &node,
                                     NodeContext &nc) {
  if (node.output_size() < 1 || node.output(0).empty())
    return;
  GraphValue &out = *values.at(node.output(0));
  if (node.op_type() == "Add" && nc.numInputs() == 2 && nc.hasInput(0) &&
      nc.hasInput(1) && perTensorDequantized(nc.input(0)) &&
      perTensorDequantized(nc.input(1)) && nc.shape(0) == out.shape &&
      nc.shape(1) == out.shape) {
    auto add = std::make_shared<GraphValue::IntegerAdd>();
    add->a = nc.input(0).dequantized;
    add->b = nc.input(1).dequantized;
    out.integerAdd = std::move(add);
  }
  if (node.op_type() != "Relu" || !nc.hasInput(0))
    return;
  const GraphValue &in = nc.input(0);
  if (in.integerSums && !in.integerSums->relu) {
    auto sums = std::make_shared<GraphValue::IntegerSums>(*in.integerSums);
    sums->relu = true;
    out.integerSums = std::move(sums);
  }
  if (in.integerAdd && !in.integerAdd->relu) {
    auto add = std::make_shared<GraphValue::IntegerAdd>(*in.integerAdd);
    add->relu = true;
    out.integerAdd = std::move(add);
  }
}

LogicalResult GraphImporter::importNode(const onnx::NodeProto &node) {
  std::string name = nodeName(node);
  Location loc = NameLoc::get(StringAttr::get(&ctx, name));
  std::vector<GraphValue *> inputs;
  // Fold when every input is known. Specialized inputs fold only as shape
  // computations do (integers, scalars), so that ops on run-time data are
  // still compiled; what they fold to is specialized too.
  bool foldable = true, fromSpecialized = false;
  for (const std::string &in : node.input()) {
    if (in.empty()) {
      inputs.push_back(nullptr);
      continue;
    }
    GraphValue *v = values.at(in).get();
    foldable &= v->constant != nullptr;
    if (v->specialized) {
      fromSpecialized = true;
      foldable &= !isFloat(v->dtype) || v->shape.empty();
    }
    inputs.push_back(v);
  }
  bool runTime = llvm::any_of(
      inputs, [](const GraphValue *v) { return v && v->isRunTimeShaped(); });
  NodeContext nc(node, opset, b, loc, std::move(inputs));
  nc.baseDir = baseDir;
  for (int i = 0; i < node.input_size(); ++i)
    if (!node.input(i).empty() && readsLeft[node.input(i)] == 1)
      nc.setLastRead(i);
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    return nc.error() << "unsupported operator (domain '"
                      << printable(node.domain()) << "')";
  if (failed(checkArity(nc)))
    return failure();
  bool folded = foldable && succeeded(foldNode(nc));
  auto plan =
      node.input_size() > 0 ? cachePlans.find(node.input(0)) : cachePlans.end();
  if (plan != cachePlans.end() && plan->second.concat == &node) {
    if (failed(buildKvCacheAppend(nc)))
      return failure();
    folded = true;
  } else if (runTime) {
    // Shape computations on run-time dims fold to expressions; other ops
    // must know how to size their results at run time.
    auto r = foldRunTimeShapes(nc);
    if (failed(r))
      return failure();
    folded = *r;
    if (!folded && failed(checkRunTimeDimsSupported(nc)))
      return failure();
  }
  if (!folded) {
    auto it = opTable().find(node.op_type());
    if (it == opTable().end())
      return nc.error() << "unsupported operator";
    if (failed(it->second(nc)))
      return failure();
  }
  for (int i = 0; i < node.output_size(); ++i) {
    if (node.output(i).empty())
      continue;
    GraphValue &out = nc.results()[i];
    if (!out.value && !out.constant && !out.symbolic)
      return nc.error() << "output " << i << " ('" << printable(node.output(i))
                        << "') is not supported";
    if (out.constant && fromSpecialized)
      out.specialized = true;
    if (runTime && llvm::is_contained(out.shape, ShapedType::kDynamic))
      return nc.error() << "cannot tell the run-time extents of output '"
                        << printable(node.output(i)) << "'";
    if (!fitsLimits(dims.boundShape(out.shape)))
      return nc.error() << "output '" << printable(node.output(i))
                        << "' of shape " << shapeStr(out.shape)
                        << " is too large";
    values[node.output(i)] = std::make_unique<GraphValue>(std::move(out));
  }
  recordDequantized(node, nc);
  recordIntegerOps(node, nc);
  NodeSummary summary;
  summary.name = name;
  summary.opType = node.op_type();
  summary.group = nc.attrInt("group", 1);
  summary.integerWeight = nc.integerWeight;
  for (const std::string &in : node.input()) {
    if (in.empty())
      continue;
    const GraphValue &v = *values.at(in);
    summary.inputShapes.push_back(dims.boundShape(v.shape));
    if (initializerNames.count(in)) {
      int64_t n = numElements(v.shape);
      summary.parameters += n;
      summary.parameterBytes += n * io::dtypeSize(v.dtype);
    }
  }
  for (const std::string &out : node.output())
    if (!out.empty())
      summary.outputShapes.push_back(dims.boundShape(values.at(out)->shape));
  summaries.push_back(std::move(summary));
  return success();
}

FailureOr<ImportedModel> GraphImporter::run() {
  if (!model.has_graph())
    return graphError() << "the model has no graph";
  const onnx::GraphProto &graph = model.graph();
  DimTable::Scope scope(dims);
  if (failed(readOpset()) || failed(addInitializers(*model.mutable_graph())))
    return failure();
  SmallVector<Type> argTypes;
  if (options.kvCacheInPlace)
    planKvCaches(graph);
  if (failed(addInputs(graph, argTypes)) || failed(checkDynamicOptions(graph)))
    return failure();
  addKvCacheLengths(argTypes);

  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));
  b.setInsertionPointToEnd(module->getBody());
  auto func = b.create<func::FuncOp>(UnknownLoc::get(&ctx), options.entryName,
                                     b.getFunctionType(argTypes, {}));
  func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *entry = func.addEntryBlock();
  for (unsigned i = 0; i < argTypes.size(); ++i) {
    // The caller owns input buffers: bufferization must not write to them,
    // but for the KV caches kept in place.
    const std::string &name = inputInfos[i].name;
    func.setArgAttr(i, "bufferization.writable",
                    b.getBoolAttr(cachePlans.count(name) != 0));
    func.setArgAttr(i, "onnx.name", b.getStringAttr(name));
    if (values.count(name))
      values.at(name)->value = entry->getArgument(i);
  }
  b.setInsertionPointToStart(entry);
  // Run-time dims are read off the inputs once, at the top; what is derived
  // from them is computed before the anchor (DimTable::value).
  for (int k = 0, e = dims.symbols().size(); k < e; ++k) {
    const io::DimSymbol &sym = dims.symbols()[k];
    Location loc = UnknownLoc::get(&ctx);
    Value arg = entry->getArgument(sym.input);
    if (sym.axis >= 0) {
      dims.bindSymbol(k, b.create<tensor::DimOp>(loc, arg, sym.axis));
      continue;
    }
    Value v = b.create<tensor::ExtractOp>(loc, arg, ValueRange{});
    dims.bindSymbol(k, b.create<arith::IndexCastOp>(loc, b.getIndexType(), v));
  }
  dims.setAnchor(b.create<arith::ConstantIndexOp>(UnknownLoc::get(&ctx), 0));
  // A cache's past entries: the first `length` of its buffer.
  for (auto &[name, plan] : cachePlans) {
    GraphValue &past = *values.at(name);
    plan.buffer = past.value;
    Location loc = UnknownLoc::get(&ctx);
    int64_t rank = past.shape.size();
    SmallVector<OpFoldResult> zeros(rank, b.getIndexAttr(0)),
        ones(rank, b.getIndexAttr(1)), sizes;
    for (int64_t d : past.shape)
      sizes.push_back(dims.size(b, loc, d));
    past.value = b.create<tensor::ExtractSliceOp>(
        loc,
        RankedTensorType::get(mlirShape(past.shape),
                              toMlirType(&ctx, past.dtype)),
        plan.buffer, zeros, sizes, ones);
  }

  auto order = sortNodes(graph);
  if (failed(order))
    return failure();
  // A float constant no node reads any more is dropped: the importer's
  // copy of a weight it transposed or folded would otherwise stay to the
  // end. (Integer constants stay: a DequantizeLinear's codes are read
  // again by its consumer, GraphValue::Dequantized.)
  readsLeft.clear();
  for (const onnx::NodeProto *node : *order)
    for (const std::string &in : node->input())
      ++readsLeft[in];
  for (const onnx::ValueInfoProto &out : graph.output())
    ++readsLeft[out.name()];
  for (const onnx::NodeProto *node : *order) {
    if (failed(importNode(*node)))
      return failure();
    for (const std::string &in : node->input()) {
      if (in.empty() || --readsLeft[in] > 0)
        continue;
      GraphValue &v = *values.at(in);
      if (!v.constant ||
          (v.dtype != io::DType::F32 && v.dtype != io::DType::F16 &&
           v.dtype != io::DType::BF16 && v.dtype != io::DType::F64))
        continue;
      v.constant.reset();
      // Materialized, then left for a copy the builder made (a weight
      // transposed to output-major): the constant goes now.
      // (Another value may be this one passed through, an Identity's.)
      auto held = [&](Value x) {
        return llvm::any_of(values, [&](const auto &kv) {
          return kv.second.get() != &v && kv.second->value == x;
        });
      };
      if (auto cst = v.value ? v.value.getDefiningOp<arith::ConstantOp>()
                             : arith::ConstantOp();
          cst && cst->use_empty() && !held(cst)) {
        Attribute data = cst.getValue();
        cst->erase();
        mlir::sparq::releaseConstant(data);
        v.value = Value();
      }
    }
  }

  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  for (const onnx::ValueInfoProto &out : graph.output()) {
    auto it = values.find(out.name());
    if (it == values.end())
      return graphError() << "graph output '" << printable(out.name())
                          << "' is not produced by any node";
    GraphValue &v = *it->second;
    if (!v.value && !v.constant)
      return graphError() << "graph output '" << printable(out.name())
                          << "' is a shape computed from run-time dimensions "
                             "(not supported as an output)";
    if (!v.value)
      v.value = materializeConstant(b, func.getLoc(), v.constant);
    auto cache = llvm::find_if(cachePlans, [&](const auto &p) {
      return p.second.spec.outputName == out.name();
    });
    if (cache != cachePlans.end())
      continue; // written in place, not returned
    results.push_back(v.value);
    if (io::readsComputed(dims.symbolicShape(v.shape), dims.symbols()))
      results.back() = atBounds(v);
    resultTypes.push_back(results.back().getType());
    outputInfos.push_back(valueInfo(out.name(), v));
  }
  // Counts computed by the model (data-dependent sizes) come back in one
  // more result, after the outputs: the caller allocated the outputs at
  // their bounds and trims them to these.
  SmallVector<Value> computed = dims.computedValues();
  if (!computed.empty()) {
    Location loc = UnknownLoc::get(&ctx);
    for (Value &v : computed)
      v = b.create<arith::IndexCastOp>(loc, b.getI64Type(), v);
    results.push_back(b.create<tensor::FromElementsOp>(loc, computed));
    resultTypes.push_back(results.back().getType());
  }
  b.create<func::ReturnOp>(UnknownLoc::get(&ctx), results);
  func.setType(b.getFunctionType(argTypes, resultTypes));
  for (unsigned i = 0; i < outputInfos.size(); ++i)
    func.setResultAttr(i, "onnx.name", b.getStringAttr(outputInfos[i].name));
  if (!computed.empty())
    func.setResultAttr(outputInfos.size(), "onnx.name",
                       b.getStringAttr("sparq.computed_dims"));
  if (failed(mlir::verify(*module)))
    return failure();
  ImportedModel result;
  result.module = std::move(module);
  result.inputs = std::move(inputInfos);
  result.outputs = std::move(outputInfos);
  result.nodes = std::move(summaries);
  result.symbols = dims.symbols();
  for (const auto &[name, plan] : cachePlans)
    result.kvCaches.push_back(plan.spec);
  return result;
}

} // namespace

void onnx_import::registerImporterDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, func::FuncDialect, linalg::LinalgDialect,
                  math::MathDialect, scf::SCFDialect, tensor::TensorDialect,
                  mlir::sparq::SparqDialect>();
}

namespace {
void prepareContext(MLIRContext &context) {
  DialectRegistry registry;
  onnx_import::registerImporterDialects(registry);
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
}

/// Parses a whole ModelProto from `coded` and imports its graph; `what`
/// names the model in errors, `baseDir` is where external data lives.
FailureOr<ImportedModel>
importCoded(MLIRContext &context, google::protobuf::io::CodedInputStream &coded,
            const std::string &what, const std::string &baseDir,
            const ImportOptions &options) {
  onnx::ModelProto model;
  coded.SetTotalBytesLimit(INT32_MAX);
  // Arbitrary bytes can decode as unknown fields: a model without a graph
  // did not parse either.
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage() ||
      !model.has_graph())
    return emitError(UnknownLoc::get(&context))
           << "failed to parse ONNX model " << what
           << ": not a valid ONNX protobuf (truncated or another format)";
  GraphImporter importer(context, model, baseDir, options);
  return importer.run();
}
} // namespace

FailureOr<ImportedModel>
onnx_import::importOnnxFile(MLIRContext &context, const std::string &path,
                            const ImportOptions &options) {
  prepareContext(context);

  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return emitError(UnknownLoc::get(&context))
           << "cannot open model '" << path << "': no such file";
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return emitError(UnknownLoc::get(&context))
           << "cannot open model '" << path << "'";
  google::protobuf::io::IstreamInputStream raw(&in);
  google::protobuf::io::CodedInputStream coded(&raw);
  std::string baseDir = std::filesystem::absolute(path).parent_path().string();
  return importCoded(context, coded, "'" + path + "'", baseDir, options);
}

FailureOr<ImportedModel>
onnx_import::importOnnxBytes(MLIRContext &context, llvm::StringRef bytes,
                             const std::string &baseDir,
                             const ImportOptions &options) {
  prepareContext(context);
  if (bytes.size() > static_cast<size_t>(INT32_MAX))
    return emitError(UnknownLoc::get(&context))
           << "failed to parse ONNX model: " << bytes.size()
           << " bytes is over protobuf's 2 GiB limit";
  google::protobuf::io::CodedInputStream coded(
      reinterpret_cast<const uint8_t *>(bytes.data()),
      static_cast<int>(bytes.size()));
  return importCoded(context, coded, "from memory", baseDir, options);
}
