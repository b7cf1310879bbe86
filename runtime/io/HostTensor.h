//===- HostTensor.h - A dense tensor held in host memory --------*- C++ -*-===//
//
// Part of sparq. Plain C++17: the runtime never depends on the compiler.
//
// A HostTensor is the common currency of the tensor readers and writers in
// runtime/io (.npy, .npz, ONNX TensorProto): a name, an element type, a
// row-major shape and the little-endian bytes of its elements.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_IO_HOSTTENSOR_H
#define SPARQ_RUNTIME_IO_HOSTTENSOR_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/io/TensorBytes.h"

namespace sparq::io {

/// Element types. F16 and BF16 are stored as their 16-bit patterns; Bool is
/// one byte per element holding 0 or 1.
enum class DType : uint8_t {
  F32,
  F64,
  F16,
  BF16,
  I8,
  I16,
  I32,
  I64,
  U8,
  U16,
  U32,
  U64,
  Bool
};

/// Bytes per element (Bool = 1).
size_t dtypeSize(DType dtype);
/// Short lower-case name: "f32", "bf16", "i64", "u8", "bool", ...
const char *dtypeName(DType dtype);
/// Maps an onnx::TensorProto_DataType value to a DType. Returns false for
/// types with no DType (undefined, string, complex, unknown values).
bool dtypeFromOnnx(int32_t onnxElemType, DType &out);
/// The onnx::TensorProto_DataType value of `dtype`.
int32_t dtypeToOnnx(DType dtype);

/// The number of elements and bytes of a tensor.
struct TensorSize {
  uint64_t numElements = 0;
  uint64_t numBytes = 0;
};

/// Computes the size of a tensor of `shape` and `dtype`, rejecting negative
/// dimensions and sizes that do not fit in size_t and int64_t. On failure
/// fills `error` with a message (without a file name; callers prefix their
/// own context).
bool checkedTensorSize(const std::vector<int64_t> &shape, DType dtype,
                       TensorSize &size, std::string &error);

/// Formats a shape as "1x3x224x224", "scalar" for rank 0.
std::string formatShape(const std::vector<int64_t> &shape);

/// `s` as a JSON string, quoted and escaped: a model's names are arbitrary
/// bytes, and the JSON files written about it must still parse.
std::string jsonString(const std::string &s);

struct HostTensor {
  std::string name;
  DType dtype = DType::F32;
  /// Row-major, C-contiguous; an empty shape is a scalar.
  std::vector<int64_t> shape;
  /// numElements() * dtypeSize(dtype) bytes, little-endian.
  TensorBytes data;

  /// Product of the dimensions (1 for a scalar).
  int64_t numElements() const;
  /// numElements() * dtypeSize(dtype).
  size_t numBytes() const;

  template <typename T> T *as() { return reinterpret_cast<T *>(data.data()); }
  template <typename T> const T *as() const {
    return reinterpret_cast<const T *>(data.data());
  }

  /// "1x3x224x224", "scalar" for rank 0.
  std::string shapeString() const;

  /// Checks that the dimensions are non-negative and that `data` holds
  /// exactly numElements() * dtypeSize(dtype) bytes.
  bool validate(std::string &error) const;
};

/// Reads a whole regular file into `bytes`. Errors name `path`.
bool readFileBytes(const std::string &path, std::vector<uint8_t> &bytes,
                   std::string &error);
/// Writes `size` bytes to `path`, replacing it. Errors name `path`.
bool writeFileBytes(const std::string &path, const void *bytes, size_t size,
                    std::string &error);

} // namespace sparq::io

#endif // SPARQ_RUNTIME_IO_HOSTTENSOR_H
