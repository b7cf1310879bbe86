//===- HostTensor.cpp - A dense tensor held in host memory ----------------===//
//
// Part of sparq.
//
//===----------------------------------------------------------------------===//

#include "runtime/io/HostTensor.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <stdexcept>

namespace sparq::io {

// Values of onnx::TensorProto_DataType, spelled out so that this file does not
// need the protobuf headers.
namespace {
enum OnnxElemType : int32_t {
  OnnxFloat = 1,
  OnnxUInt8 = 2,
  OnnxInt8 = 3,
  OnnxUInt16 = 4,
  OnnxInt16 = 5,
  OnnxInt32 = 6,
  OnnxInt64 = 7,
  OnnxBool = 9,
  OnnxFloat16 = 10,
  OnnxDouble = 11,
  OnnxUInt32 = 12,
  OnnxUInt64 = 13,
  OnnxBFloat16 = 16,
};
} // namespace

size_t dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F64:
  case DType::I64:
  case DType::U64:
    return 8;
  case DType::F32:
  case DType::I32:
  case DType::U32:
    return 4;
  case DType::F16:
  case DType::BF16:
  case DType::I16:
  case DType::U16:
    return 2;
  case DType::I8:
  case DType::U8:
  case DType::Bool:
    return 1;
  }
  return 1;
}

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::F64:
    return "f64";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I8:
    return "i8";
  case DType::I16:
    return "i16";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  case DType::U8:
    return "u8";
  case DType::U16:
    return "u16";
  case DType::U32:
    return "u32";
  case DType::U64:
    return "u64";
  case DType::Bool:
    return "bool";
  }
  return "unknown";
}

bool dtypeFromOnnx(int32_t onnxElemType, DType &out) {
  switch (onnxElemType) {
  case OnnxFloat:
    out = DType::F32;
    return true;
  case OnnxUInt8:
    out = DType::U8;
    return true;
  case OnnxInt8:
    out = DType::I8;
    return true;
  case OnnxUInt16:
    out = DType::U16;
    return true;
  case OnnxInt16:
    out = DType::I16;
    return true;
  case OnnxInt32:
    out = DType::I32;
    return true;
  case OnnxInt64:
    out = DType::I64;
    return true;
  case OnnxBool:
    out = DType::Bool;
    return true;
  case OnnxFloat16:
    out = DType::F16;
    return true;
  case OnnxDouble:
    out = DType::F64;
    return true;
  case OnnxUInt32:
    out = DType::U32;
    return true;
  case OnnxUInt64:
    out = DType::U64;
    return true;
  case OnnxBFloat16:
    out = DType::BF16;
    return true;
  default:
    return false;
  }
}

int32_t dtypeToOnnx(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return OnnxFloat;
  case DType::F64:
    return OnnxDouble;
  case DType::F16:
    return OnnxFloat16;
  case DType::BF16:
    return OnnxBFloat16;
  case DType::I8:
    return OnnxInt8;
  case DType::I16:
    return OnnxInt16;
  case DType::I32:
    return OnnxInt32;
  case DType::I64:
    return OnnxInt64;
  case DType::U8:
    return OnnxUInt8;
  case DType::U16:
    return OnnxUInt16;
  case DType::U32:
    return OnnxUInt32;
  case DType::U64:
    return OnnxUInt64;
  case DType::Bool:
    return OnnxBool;
  }
  return 0;
}

bool checkedTensorSize(const std::vector<int64_t> &shape, DType dtype,
                       TensorSize &size, std::string &error) {
  // Any zero dimension makes the tensor empty, whatever the other dimensions
  // claim; negative dimensions are always an error.
  bool empty = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      error = "dimension " + std::to_string(i) + " is negative (" +
              std::to_string(shape[i]) + ")";
      return false;
    }
    if (shape[i] == 0)
      empty = true;
  }
  if (empty) {
    size = TensorSize();
    return true;
  }
  const uint64_t elemSize = dtypeSize(dtype);
  // Limit everything to what fits in size_t and int64_t.
  uint64_t limit = std::numeric_limits<int64_t>::max();
  if (std::numeric_limits<size_t>::max() < limit)
    limit = std::numeric_limits<size_t>::max();
  uint64_t count = 1;
  for (int64_t dim : shape) {
    auto d = static_cast<uint64_t>(dim);
    if (count > limit / d || count * d > limit / elemSize) {
      error = "shape " + formatShape(shape) + " of " + dtypeName(dtype) +
              " needs more than " + std::to_string(limit) + " bytes";
      return false;
    }
    count *= d;
  }
  size.numElements = count;
  size.numBytes = count * elemSize;
  return true;
}

std::string jsonString(const std::string &s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
      continue;
    }
    out += ch;
  }
  return out + "\"";
}

std::string formatShape(const std::vector<int64_t> &shape) {
  if (shape.empty())
    return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += 'x';
    s += std::to_string(shape[i]);
  }
  return s;
}

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

size_t HostTensor::numBytes() const {
  return static_cast<size_t>(numElements()) * dtypeSize(dtype);
}

std::string HostTensor::shapeString() const { return formatShape(shape); }

bool HostTensor::validate(std::string &error) const {
  TensorSize size;
  std::string why;
  if (!checkedTensorSize(shape, dtype, size, why)) {
    error = "tensor '" + name + "': " + why;
    return false;
  }
  if (data.size() != size.numBytes) {
    error = "tensor '" + name + "' of shape " + shapeString() + " and type " +
            dtypeName(dtype) + " needs " + std::to_string(size.numBytes) +
            " bytes of data, has " + std::to_string(data.size());
    return false;
  }
  return true;
}

bool readFileBytes(const std::string &path, std::vector<uint8_t> &bytes,
                   std::string &error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    error = path + ": cannot open file: " +
            (ec ? ec.message() : std::string("no such file"));
    return false;
  }
  if (!fs::is_regular_file(status)) {
    error = path + ": not a regular file";
    return false;
  }
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file) {
    error = path + ": cannot open file: " + std::strerror(errno);
    return false;
  }
  bool ok = true;
  try {
    bytes.clear();
    uintmax_t expected = fs::file_size(path, ec);
    if (!ec && expected < std::numeric_limits<size_t>::max())
      bytes.reserve(static_cast<size_t>(expected));
    // Read in chunks rather than trusting the size reported up front, so that
    // a file that changes while it is read cannot overrun the buffer.
    uint8_t chunk[1 << 16];
    size_t n = 0;
    while ((n = std::fread(chunk, 1, sizeof(chunk), file)) > 0)
      bytes.insert(bytes.end(), chunk, chunk + n);
    if (std::ferror(file)) {
      error = path + ": read error: " + std::strerror(errno);
      ok = false;
    }
  } catch (const std::bad_alloc &) {
    error = path + ": file is too large to read into memory";
    ok = false;
  } catch (const std::length_error &) {
    error = path + ": file is too large to read into memory";
    ok = false;
  }
  std::fclose(file);
  if (!ok)
    bytes.clear();
  return ok;
}

bool writeFileBytes(const std::string &path, const void *bytes, size_t size,
                    std::string &error) {
  std::FILE *file = std::fopen(path.c_str(), "wb");
  if (!file) {
    error = path + ": cannot create file: " + std::strerror(errno);
    return false;
  }
  bool ok = size == 0 || std::fwrite(bytes, 1, size, file) == size;
  if (!ok)
    error = path + ": write error: " + std::strerror(errno);
  if (std::fclose(file) != 0 && ok) {
    error = path + ": write error: " + std::strerror(errno);
    ok = false;
  }
  return ok;
}

} // namespace sparq::io
