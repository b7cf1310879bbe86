//===- NodeContext.h - what an op builder sees of its node ------*- C++ -*-===//
//
// The importer is a table from ONNX op type to one small builder function
// (ops/*.cpp). A builder reads its node's inputs and attributes through a
// NodeContext, emits upstream ops (linalg, tensor, arith, math) or sparq ops,
// and sets the node's outputs. Values known at compile time (initializers,
// Constant nodes, folded shape computations) stay host data until an op needs
// them as SSA values.
//
//===----------------------------------------------------------------------===//
#ifndef SPARQ_FRONTENDS_ONNX_NODECONTEXT_H
#define SPARQ_FRONTENDS_ONNX_NODECONTEXT_H

#include "frontends/onnx/DimTable.h"
#include "frontends/onnx/Importer.h"
#include "runtime/io/HostTensor.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringMap.h"

#include <onnx/onnx_pb.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sparq::onnx_import {

/// A value of the ONNX graph.
struct GraphValue {
  io::DType dtype = io::DType::F32;
  std::vector<int64_t> shape;
  /// The SSA value once materialized.
  mlir::Value value;
  /// The data, when known at compile time.
  std::shared_ptr<const io::HostTensor> constant;
  /// An integer tensor (rank 0 or 1) of run-time dims: a shape computation
  /// on a tensor with run-time extents (Shape, Gather, Concat, ...), whose
  /// elements are known functions of the symbols (DimTable.h).
  std::shared_ptr<const std::vector<io::DimExpr>> symbolic;
  /// True if the tensor has run-time extents or values.
  bool isRunTimeShaped() const {
    return symbolic != nullptr || hasRunTimeDims(shape);
  }
  /// True if `constant` holds the value of a graph input that the caller
  /// specialized on (sparqc run knows its inputs): usable where an op needs a
  /// compile-time operand, never folded into other constants.
  bool specialized = false;
  /// True if `constant` is an initializer's own tensor, made mutable: the
  /// last node to read it may reuse its bytes (NodeContext::
  /// transposedConstant).
  bool initializer = false;
  /// The output of a DequantizeLinear whose scale and zero point are
  /// constants of the model: what it dequantizes, so that a consumer can run
  /// on the integers instead (QDQ models; ops/Quantized.cpp).
  struct Dequantized {
    const GraphValue *source; // the integer tensor
    std::shared_ptr<const io::HostTensor> scale,
        zeroPoint; // zeroPoint: or null
    int64_t axis;  // of a 1-D scale
    /// Holds `source` when it is no value of the graph (an integer tensor
    /// an op made, as a max pool on integers).
    std::shared_ptr<const GraphValue> owner;
  };
  std::shared_ptr<const Dequantized> dequantized;
  /// The output of a convolution run on integers (QDQ; ops/Quantized.cpp),
  /// or of a Relu of one: its int32 sums and how they became this float
  /// value, per output channel (axis 1): float(acc - shift) * scale + bias,
  /// then max(0, .) if `relu`. A QuantizeLinear of it requantizes the sums
  /// directly, to bytes, without the float tensor.
  struct IntegerSums {
    mlir::Value acc;
    std::vector<int64_t> shift;
    std::vector<double> scale, bias;
    bool relu = false;
    /// A MatMul's sums are a 1x1 convolution's, [1, N, 1, M], of its M rows:
    /// the value is their transpose, of this shape ([..., N]); empty for a
    /// convolution.
    std::vector<int64_t> rowsShape;
  };
  std::shared_ptr<const IntegerSums> integerSums;
  /// The output of an Add of two run-time uint8/int8 tensors dequantized
  /// per tensor, of one shape (a QDQ model's residual connection), or of a
  /// Relu of one: a QuantizeLinear of it adds the integers directly
  /// (ops/Quantized.cpp).
  struct IntegerAdd {
    std::shared_ptr<const Dequantized> a, b;
    bool relu = false;
  };
  std::shared_ptr<const IntegerAdd> integerAdd;
};

class NodeContext;
using OpBuildFn = mlir::LogicalResult (*)(NodeContext &);
using OpTable = llvm::StringMap<OpBuildFn>;

class NodeContext {
public:
  NodeContext(const onnx::NodeProto &node, int64_t opset, mlir::OpBuilder &b,
              mlir::Location loc, std::vector<GraphValue *> inputs);

  const onnx::NodeProto &node;
  /// The default-domain opset the model imports.
  const int64_t opset;
  mlir::OpBuilder &b;
  const mlir::Location loc;

  // --- Inputs -----------------------------------------------------------
  size_t numInputs() const { return inputs.size(); }
  /// True if input `i` exists and is not the empty name of an absent
  /// optional input.
  bool hasInput(size_t i) const {
    return i < inputs.size() && inputs[i] != nullptr;
  }
  const GraphValue &input(size_t i) const { return *inputs[i]; }
  io::DType dtype(size_t i) const { return inputs[i]->dtype; }
  const std::vector<int64_t> &shape(size_t i) const { return inputs[i]->shape; }
  int64_t rank(size_t i) const { return inputs[i]->shape.size(); }
  /// Input `i` as an SSA tensor (materializing constants).
  mlir::Value value(size_t i);
  /// Input `i`'s data if it is a constant of the model, else null.
  const io::HostTensor *constant(size_t i) const {
    return hasInput(i) && !inputs[i]->specialized ? inputs[i]->constant.get()
                                                  : nullptr;
  }
  /// Input `i`'s data if known at compile time: a constant of the model or a
  /// specialized graph input.
  const io::HostTensor *knownValue(size_t i) const {
    return hasInput(i) ? inputs[i]->constant.get() : nullptr;
  }
  /// Input `i`'s 2-D constant transposed, [K, N] -> [N, K] (a weight
  /// stored output-major). A large float initializer this node reads last,
  /// which nothing else holds, is transposed in place and leaves the graph:
  /// a weight never exists twice (a real-size model's LM head).
  std::shared_ptr<const io::HostTensor> transposedConstant(size_t i);
  /// Set by the importer: this node is the last to read input `i`.
  void setLastRead(size_t i) { lastRead.at(i) = true; }
  /// Set by the importer: the model's folder, where tensor attributes'
  /// external data lives (a model over 2 GiB keeps large Constants there).
  /// Empty: external data is an error.
  std::string baseDir;
  /// Reads a compile-time integer input (shapes, axes, pads...). Emits an
  /// error naming `what` and fails if the input is not known at compile time.
  mlir::FailureOr<std::vector<int64_t>> constInts(size_t i, const char *what);
  /// Same for float inputs (scales, ...).
  mlir::FailureOr<std::vector<double>> constFloats(size_t i, const char *what);
  /// An integer input known at compile time or as run-time dims (a shape
  /// computed from a tensor with run-time extents). Emits an error naming
  /// `what` otherwise.
  mlir::FailureOr<std::vector<io::DimExpr>> symbolicInts(size_t i,
                                                         const char *what);
  /// The table of run-time dims of this import.
  DimTable &dims() const { return *DimTable::active(); }
  /// A compile-time scalar input (one element, of any shape): k, depth,
  /// axis, ... Emits an error naming `what` otherwise.
  mlir::FailureOr<int64_t> constInt(size_t i, const char *what);
  mlir::FailureOr<double> constFloat(size_t i, const char *what);

  // --- Attributes -------------------------------------------------------
  const onnx::AttributeProto *attr(const std::string &name) const;
  bool hasAttr(const std::string &name) const { return attr(name) != nullptr; }
  int64_t attrInt(const std::string &name, int64_t def) const;
  float attrFloat(const std::string &name, float def) const;
  std::string attrString(const std::string &name, const std::string &def) const;
  std::vector<int64_t> attrInts(const std::string &name) const;
  std::vector<float> attrFloats(const std::string &name) const;
  std::vector<std::string> attrStrings(const std::string &name) const;
  /// A tensor attribute decoded to host data, or failure with an error.
  mlir::FailureOr<io::HostTensor> attrTensor(const std::string &name);

  // --- Outputs ----------------------------------------------------------
  size_t numOutputs() const { return node.output_size(); }
  /// True if output `i` exists with a non-empty name.
  bool wantsOutput(size_t i) const {
    return static_cast<int>(i) < node.output_size() && !node.output(i).empty();
  }
  /// Sets output `i`. Its shape is the type's; extents the type has dynamic
  /// are the broadcast inputs' run-time dims when `broadcastRunTimeDims` is
  /// set (elementwise ops), else unknown (an error) unless given in `shape`.
  void setOutput(size_t i, mlir::Value v, io::DType dtype);
  void setOutput(size_t i, mlir::Value v, io::DType dtype,
                 llvm::ArrayRef<int64_t> shape);
  void setConstant(size_t i, io::HostTensor t);
  /// Sets output `i` to a shape computation on run-time dims (a constant if
  /// every element is).
  void setSymbolic(size_t i, io::DType dtype, std::vector<int64_t> shape,
                   std::vector<io::DimExpr> elements);
  /// Set by the importer for ops whose outputs broadcast their inputs.
  bool broadcastRunTimeDims = false;
  std::vector<GraphValue> &results() { return outputs; }

  // --- Errors -----------------------------------------------------------
  /// Set by a builder that runs the node on an integer weight (for the
  /// report).
  std::optional<IntegerWeight> integerWeight;

  /// An error prefixed with "node 'NAME' (OpType): ".
  mlir::InFlightDiagnostic error();

  // --- Types ------------------------------------------------------------
  mlir::Type elementType(io::DType dtype) const;
  mlir::RankedTensorType tensorType(llvm::ArrayRef<int64_t> shape,
                                    io::DType dtype) const;

private:
  std::vector<GraphValue *> inputs;
  std::vector<bool> lastRead;
  std::vector<GraphValue> outputs;
};

/// The display name of a node: its name, else its first output.
std::string nodeName(const onnx::NodeProto &node);

/// A name or string from a model as an error message prints it: bytes that
/// are not printable or not valid UTF-8 as \xNN, and cut after 200 bytes
/// with a marker (a hostile model's names are arbitrary bytes).
std::string printable(llvm::StringRef s);

mlir::Type toMlirType(mlir::MLIRContext *ctx, io::DType dtype);
bool isFloat(io::DType dtype);
bool isUnsigned(io::DType dtype);
bool isBool(io::DType dtype);

// Op tables, one per file of ops/.
void registerElementwiseOps(OpTable &table);
void registerNeuralNetOps(OpTable &table);
void registerShapeOps(OpTable &table);
void registerReduceOps(OpTable &table);
void registerRecurrentOps(OpTable &table);
void registerDetectionOps(OpTable &table);

/// Convolution of `input` by `weight` (+ `bias`, may be null) with the
/// node's conv attributes (pads, strides, dilations, group, auto_pad); any
/// element type (integer convs accumulate in the input's type, or for 2-D
/// convolutions in `accType`). The padding holds `padValue`, else zero.
mlir::FailureOr<mlir::Value> buildConvCore(NodeContext &ctx, mlir::Value input,
                                           mlir::Value weight, mlir::Value bias,
                                           mlir::Value padValue = {},
                                           mlir::Type accType = {});
/// True if a node's convolution of input 0 by weight input `wAt` is 2-D
/// with valid groups: a named linalg op on the kernels, accumulating in any
/// type (other ranks become generated loops, accumulating in the input's).
bool convGroupsOnKernels(const NodeContext &ctx, size_t wAt);
/// A Conv whose input and weight are DequantizeLinear outputs (a QDQ
/// model: uint8/int8 activations per tensor, int8 weights per channel or
/// tensor, zero weight zero points; groups as convGroupsOnKernels) built on the
/// integers: an int8 x int8 -> int32 convolution, then one elementwise step
/// to float (zero point, scales, bias). True if built; false if the node is not
/// of that form (then it is built on floats); failure with an error.
mlir::FailureOr<bool> buildConvOnIntegers(NodeContext &ctx);
/// The same for a MatMul or Gemm (transA 0) of dequantized activations per
/// tensor and constant int8 weights [K, N] (or [N, K] with transB) per
/// tensor or output column: all rows in one 1x1 int8 convolution, the
/// bias of a Gemm known at compile time.
mlir::FailureOr<bool> buildMatMulOnIntegers(NodeContext &ctx);
/// The DequantizeLinear record of `v` when it dequantizes a run-time uint8
/// or int8 tensor per tensor with a positive f32 scale (a QDQ model's
/// activations): ops that commute with dequantizing (max pools) run on the
/// integers. Else null.
const GraphValue::Dequantized *perTensorDequantized(const GraphValue &v);
/// The f32 tensor (x - zero) * scale of an integer `x` (type `xt`) per
/// the record `d`'s scale and zero point (a perTensorDequantized one).
mlir::Value dequantizeLike(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value x, io::DType xt,
                           const GraphValue::Dequantized &d);
/// numpy.matmul of two SSA tensors (broadcast batch dims, 1-D promotion).
mlir::FailureOr<mlir::Value> buildNumpyMatmul(NodeContext &ctx, mlir::Value a,
                                              mlir::Value b);
void registerQuantizedOps(OpTable &table);
void registerResizeOps(OpTable &table);
void registerMiscOps(OpTable &table);
void registerLossOps(OpTable &table);

/// A Slice node's starts/ends/axes/steps resolved and clamped per axis.
struct SliceSpec {
  std::vector<int64_t> offsets, sizes, strides;
};
mlir::FailureOr<SliceSpec> resolveSlice(NodeContext &ctx);

/// Gather: `data`'s entries at `indices` (negative ones from the end) along
/// `axis`; `out` receives the result's shape (run-time extents as ids).
mlir::Value gatherAlongAxis(NodeContext &ctx, mlir::Value data,
                            llvm::ArrayRef<int64_t> dataShape, mlir::Type elem,
                            mlir::Value indices,
                            llvm::ArrayRef<int64_t> indicesShape, int64_t axis,
                            std::vector<int64_t> &out);

/// Folds a shape computation on run-time dims (Shape of a tensor with
/// run-time extents, Gather/Concat/Add/... of such shapes) to expressions
/// (GraphValue::symbolic). True if folded; false if the node is to be built;
/// failure with an error (RunTimeShapes.cpp).
mlir::FailureOr<bool> foldRunTimeShapes(NodeContext &ctx);
/// Whether the node's op builds with run-time extents on its inputs; an
/// error naming the node and the dims otherwise. Sets the context's
/// broadcastRunTimeDims for ops whose outputs broadcast their inputs.
mlir::LogicalResult checkRunTimeDimsSupported(NodeContext &ctx);
/// Reshape and Range whose shape or limit are run-time dims.
mlir::LogicalResult buildRunTimeReshape(NodeContext &ctx);
mlir::LogicalResult buildRunTimeRange(NodeContext &ctx);

/// Evaluates `node` on compile-time inputs (shape computations, small
/// constants). Returns failure when the op or case is not foldable; then the
/// node is built as IR instead.
mlir::LogicalResult foldNode(NodeContext &ctx);

} // namespace sparq::onnx_import

#endif // SPARQ_FRONTENDS_ONNX_NODECONTEXT_H
