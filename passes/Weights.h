//===- Weights.h - the weights compression passes work on -------*- C++ -*-===//
//
// A weight is an f32 `arith.constant` of rank >= 2 whose every use is the
// filter of a `linalg.conv_2d_nchw_fchw`, the right operand of a
// `linalg.matmul_transpose_b` (the importer stores constant Gemm/MatMul
// operands output-major for this), or the input or recurrent weight of a
// sparq.lstm/gru/rnn. Its matrix view is weightMatrixShape's: output
// channels by inputs, a recurrent layer's directions stacked. Its encoding,
// when it has one, is the `#sparq.encoding` of the constant's type.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_PASSES_WEIGHTS_H
#define SPARQ_PASSES_WEIGHTS_H

#include "dialects/SparqDialect.h"
#include "runtime/formats/Layout.h"
#include "runtime/formats/Pruning.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::sparq {

namespace formats = ::sparq::formats;

struct Weight {
  mutable arith::ConstantOp cst; // op accessors are not const
  Operation *consumer = nullptr; // the first use
  std::string layer;             // the consumer's ONNX node name
  int64_t index = 0;             // position among the module's weights
  bool isConv = false;

  RankedTensorType type() const {
    return cast<RankedTensorType>(cst.getType());
  }
  int64_t rows() const { return weightMatrixShape(type().getShape()).first; }
  int64_t cols() const { return weightMatrixShape(type().getShape()).second; }
  std::vector<int64_t> shape() const {
    return std::vector<int64_t>(type().getShape().begin(),
                                type().getShape().end());
  }
  EncodingAttr encoding() const {
    return dyn_cast_or_null<EncodingAttr>(type().getEncoding());
  }
  /// The shape pruning patterns are named on: the weight's own, except a
  /// recurrent weight's stacked directions, which are its matrix.
  std::vector<int64_t> patternShape() const {
    if (type().getRank() == 3)
      return {rows(), cols()};
    return shape();
  }
  std::vector<float> values() const;
  /// The weight's floats where its constant stores them element by element
  /// (no copy), else copied into `scratch`.
  const float *floats(std::vector<float> &scratch) const;
};

/// formats::pack of weights at layouts, several at a time on the kernels'
/// threads. Each element of `out` is the packed bytes, or empty with the
/// format's error in `errors` at the same index.
void packInParallel(ArrayRef<const float *> values, ArrayRef<Weight> weights,
                    ArrayRef<formats::Layout> layouts,
                    std::vector<std::vector<uint8_t>> &out,
                    std::vector<std::string> &errors);

/// formats::pack of the weight constant `cst` (rows: its first dimension)
/// at `layout`: the blob, or empty with the format's complaint in `error`.
/// What the targets that write source store for a compressed weight.
std::vector<uint8_t> packConstant(arith::ConstantOp cst,
                                  const formats::Layout &layout,
                                  std::string &error);

/// The elements of a float dense or dense_resource attribute
/// (dialects/ConstantData.h); empty for a released one.
std::vector<float> floatValues(ElementsAttr attr);

/// The module's weights in program order.
std::vector<Weight> collectWeights(ModuleOp module);

/// Replaces the weight's constant by one holding `values` with `encoding`
/// (null: none), for all its uses; `w.cst` is updated. Fails, with an error
/// at the layer, if the encoding does not fit the weight.
LogicalResult setWeight(Weight &w, ArrayRef<float> values,
                        EncodingAttr encoding);
/// The same with the weight's values as they are (no copy of them).
LogicalResult setWeight(Weight &w, EncodingAttr encoding);

/// `enc` with its sparsity (or quant) part replaced.
EncodingAttr withSparsity(MLIRContext *ctx, EncodingAttr enc,
                          SparsityAttr sparsity);
EncodingAttr withQuant(MLIRContext *ctx, EncodingAttr enc, QuantAttr quant);

/// The storage an encoding describes for a weight of `shape`, for the
/// formats library (dense f32 for none).
formats::Layout toLayout(EncodingAttr enc, ArrayRef<int64_t> shape);

/// Which weights a pass touches: `layers` is a comma-separated list of
/// patterns matched against layer names ('*' matches any run of characters;
/// empty: all); the first/last weight is left alone when asked.
struct LayerFilter {
  std::string layers;
  bool skipFirst = false, skipLast = false;
  bool matches(const Weight &w, int64_t count) const;
};

/// The sparsity part recording a pruning pattern of `w`, stored as `format`.
/// On a matrix, whose patterns are named on its 2-D view, a filter is a
/// block of one row, a channel a block of one column, and vectors and
/// kernels are single weights.
SparsityAttr sparsityFor(const Weight &w, const formats::PruneSpec &pattern,
                         StorageFormat format = StorageFormat::Dense);

/// Reports a failure of `pass` on a layer at its consumer's location.
InFlightDiagnostic layerError(const Weight &w, StringRef pass);

/// The weights `filter` selects, in program order.
std::vector<Weight> selectWeights(ModuleOp module, const LayerFilter &filter);

/// Warns that `pass` leaves layer `w` as it is, because `why`.
void warnSkipped(const Weight &w, StringRef pass, StringRef why);

/// Attribute names sparq passes leave on weight constants for the report.
inline constexpr const char *kCostAttr = "sparq.cost";
inline constexpr const char *kBalanceAttr = "sparq.pe_balance";

} // namespace mlir::sparq

#endif // SPARQ_PASSES_WEIGHTS_H
