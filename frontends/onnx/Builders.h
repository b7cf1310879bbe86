//===- Builders.h - helpers shared by the ONNX op builders ------*- C++ -*-===//
#ifndef SPARQ_FRONTENDS_ONNX_BUILDERS_H
#define SPARQ_FRONTENDS_ONNX_BUILDERS_H

#include "runtime/io/HostTensor.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <vector>

namespace sparq::onnx_import {

using BodyFn = llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                              mlir::ValueRange)>;
using CombineFn = llvm::function_ref<mlir::Value(
    mlir::OpBuilder &, mlir::Location, mlir::Value elem, mlir::Value acc)>;

// --- Host data ------------------------------------------------------------
/// Largest tensor the importer accepts (elements): beyond it a shape read
/// from a model is treated as corrupt, before anything is allocated or looped
/// over for it.
inline constexpr int64_t kMaxElements = int64_t(1) << 34;
/// Element count of `shape`: 0 if a dimension is 0, INT64_MAX if a dimension
/// is negative (dynamic) or the product overflows.
int64_t numElements(llvm::ArrayRef<int64_t> shape);
/// Whether a tensor of `shape` may exist: every dimension in
/// [0, kMaxElements] and at most kMaxElements elements.
bool fitsLimits(llvm::ArrayRef<int64_t> shape);
std::vector<int64_t> hostToInts(const io::HostTensor &t);
std::vector<double> hostToDoubles(const io::HostTensor &t);
/// Converts `values` to `dtype` (rounding toward zero for ints, as C does;
/// past an integer type's range saturating, NaN to 0).
io::HostTensor hostFromInts(io::DType dtype, std::vector<int64_t> shape,
                            const std::vector<int64_t> &values);
io::HostTensor hostFromDoubles(io::DType dtype, std::vector<int64_t> shape,
                               const std::vector<double> &values);
/// An `arith.constant` holding `t` (dialects/ConstantData.h: a large one
/// as a dense_resource blob; the shared and the moved forms do not copy).
mlir::Value materializeConstant(mlir::OpBuilder &b, mlir::Location loc,
                                const io::HostTensor &t);
mlir::Value materializeConstant(mlir::OpBuilder &b, mlir::Location loc,
                                io::HostTensor &&t);
mlir::Value materializeConstant(mlir::OpBuilder &b, mlir::Location loc,
                                std::shared_ptr<const io::HostTensor> t);

// --- Shapes ---------------------------------------------------------------
/// Numpy-style broadcast of `shapes`; false if they are incompatible.
bool broadcastShapes(llvm::ArrayRef<std::vector<int64_t>> shapes,
                     std::vector<int64_t> &out);
/// Whether `s` has the rank of `first` and its extents off `axis` (what
/// Concat requires of its operands).
bool matchesOffAxis(llvm::ArrayRef<int64_t> first, llvm::ArrayRef<int64_t> s,
                    int64_t axis);
/// `axis` in [-rank, rank) made non-negative, or -1 if out of range.
int64_t normalizeAxis(int64_t axis, int64_t rank);
std::string shapeStr(llvm::ArrayRef<int64_t> shape);

// --- IR -------------------------------------------------------------------
/// A tensor.empty of `shape`: a run-time dim (DimTable.h) takes its value
/// from the import's table; a kDynamic extent (from a type) is read off the
/// same axis, aligned right, of the first of `like` that has it dynamic.
mlir::Value emptyTensor(mlir::OpBuilder &b, mlir::Location loc,
                        llvm::ArrayRef<int64_t> shape, mlir::Type elem,
                        mlir::ValueRange like = {});
/// The extents of a ranked tensor: attributes, or tensor.dim values.
llvm::SmallVector<mlir::OpFoldResult>
sizesOf(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v);
mlir::Value scalarConstant(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Type elem, double value);
mlir::Value filledTensor(mlir::OpBuilder &b, mlir::Location loc,
                         llvm::ArrayRef<int64_t> shape, mlir::Type elem,
                         double value, mlir::ValueRange like = {});
/// Elementwise `body` over `inputs` broadcast (numpy rules) to `outShape`.
mlir::Value buildElementwise(mlir::OpBuilder &b, mlir::Location loc,
                             mlir::ValueRange inputs,
                             llvm::ArrayRef<int64_t> outShape,
                             mlir::Type outElem, BodyFn body);
/// Converts a scalar between ONNX element types (Cast semantics).
mlir::Value castScalar(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                       io::DType from, io::DType to);
mlir::Value reshapeTensor(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                          llvm::ArrayRef<int64_t> shape);
mlir::Value transposeTensor(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value v, llvm::ArrayRef<int64_t> perm);
/// Reduces `input` over the (non-negative, sorted) `axes` with `combine`,
/// starting from `init`; keeps reduced dims as size 1 if `keepDims`.
/// `pre`, if given, maps each element before it is combined.
mlir::Value
buildReduction(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input,
               llvm::ArrayRef<int64_t> axes, bool keepDims, double init,
               CombineFn combine,
               llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                              mlir::Value)>
                   pre = nullptr);
/// Pads with a constant scalar.
mlir::Value padTensor(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                      llvm::ArrayRef<int64_t> low, llvm::ArrayRef<int64_t> high,
                      mlir::Value padScalar);
/// Static slice with positive strides.
mlir::Value sliceTensor(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                        llvm::ArrayRef<int64_t> offsets,
                        llvm::ArrayRef<int64_t> sizes,
                        llvm::ArrayRef<int64_t> strides);
/// A 2-D host tensor transposed.
io::HostTensor transposed2d(const io::HostTensor &t);

/// lhs[M, K] times a weight stored output-major, w[N, K]: a
/// linalg.matmul_transpose_b into zeros (or into `acc` when given). Constant
/// weights keep this [out, in] orientation, the one compression passes and
/// packed kernels work on.
mlir::Value matmulWeight(mlir::OpBuilder &b, mlir::Location loc,
                         mlir::Value lhs, mlir::Value w, mlir::Value acc = {});

/// [.., M, K] x [.., K, N] with equal (already broadcast) batch dims, or
/// plain 2-D; accumulates in the element type.
mlir::Value matmul(mlir::OpBuilder &b, mlir::Location loc, mlir::Value lhs,
                   mlir::Value rhs);
/// Materializes `v` broadcast to `shape` (numpy rules).
mlir::Value broadcastTo(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                        llvm::ArrayRef<int64_t> shape);

/// An index constant.
mlir::Value indexConstant(mlir::OpBuilder &b, mlir::Location loc, int64_t v);
/// Row-major coordinates of `linear` (an index) in `shape`.
llvm::SmallVector<mlir::Value> delinearize(mlir::OpBuilder &b,
                                           mlir::Location loc,
                                           mlir::Value linear,
                                           llvm::ArrayRef<int64_t> shape);
/// A linalg.generic over `outShape` whose body computes each element from
/// the loop indices and the elements of `inputs` (read through `inputMaps`);
/// gather-like ops read other tensors with tensor.extract in `body`.
mlir::Value buildIndexed(
    mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<int64_t> outShape,
    mlir::Type elem, mlir::ValueRange inputs,
    llvm::ArrayRef<mlir::AffineMap> inputMaps,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                   mlir::ValueRange idx, mlir::ValueRange args)>
        body);

// Scalar arithmetic that picks the float, signed or unsigned arith op.
mlir::Value addS(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                 mlir::Value y);
mlir::Value mulS(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                 mlir::Value y);
mlir::Value maxS(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                 mlir::Value y, bool isUnsigned = false);
mlir::Value minS(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                 mlir::Value y, bool isUnsigned = false);

} // namespace sparq::onnx_import

#endif // SPARQ_FRONTENDS_ONNX_BUILDERS_H
