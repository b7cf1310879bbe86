//===- TensorProto.cpp - ONNX TensorProto <-> HostTensor ------------------===//
//
// Part of sparq.
//
//===----------------------------------------------------------------------===//

#include "runtime/io/TensorProto.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <new>
#include <stdexcept>
#include <type_traits>

namespace sparq::io {
namespace {

namespace fs = std::filesystem;

std::string quote(const std::string &s) { return "'" + s + "'"; }

/// Parses a non-negative decimal integer.
bool parseUnsigned(const std::string &text, uint64_t &out) {
  if (text.empty())
    return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return false;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10)
      return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

/// True if `path` is `dir` or lies under it (both canonical).
bool isWithin(const fs::path &path, const fs::path &dir) {
  auto dirIt = dir.begin(), pathIt = path.begin();
  for (; dirIt != dir.end(); ++dirIt, ++pathIt) {
    // A trailing separator shows up as an empty last element.
    if (dirIt->empty() && std::next(dirIt) == dir.end())
      return true;
    if (pathIt == path.end() || *pathIt != *dirIt)
      return false;
  }
  return true;
}

/// Maps the external data of `proto` into `data` (`numBytes` bytes).
bool readExternalData(const onnx::TensorProto &proto,
                      const std::string &baseDir, uint64_t numBytes,
                      TensorBytes &data, std::string &error) {
  const std::string tensor = "tensor " + quote(proto.name());
  std::string location, offsetText, lengthText;
  bool hasLocation = false, hasOffset = false, hasLength = false;
  for (const onnx::StringStringEntryProto &entry : proto.external_data()) {
    const std::string &key = entry.key();
    if (key == "location") {
      location = entry.value();
      hasLocation = true;
    } else if (key == "offset") {
      offsetText = entry.value();
      hasOffset = true;
    } else if (key == "length") {
      lengthText = entry.value();
      hasLength = true;
    }
    // Other keys (e.g. "checksum") are informational.
  }
  if (!hasLocation || location.empty()) {
    error = tensor + ": external data has no location";
    return false;
  }
  const std::string where =
      tensor + " (external data location " + quote(location) + ")";
  uint64_t offset = 0, length = 0;
  if (hasOffset && !parseUnsigned(offsetText, offset)) {
    error = where + ": offset " + quote(offsetText) +
            " is not a non-negative integer";
    return false;
  }
  if (hasLength && !parseUnsigned(lengthText, length)) {
    error = where + ": length " + quote(lengthText) +
            " is not a non-negative integer";
    return false;
  }
  if (baseDir.empty()) {
    error = where + ": external data is not allowed here (no base directory)";
    return false;
  }
  if (location.find('\0') != std::string::npos) {
    error = where + ": location contains a NUL character";
    return false;
  }
  fs::path relative(location);
  if (relative.is_absolute() || relative.has_root_path()) {
    error = where + ": absolute locations are not allowed (they point "
                    "outside the model's directory); the location must be "
                    "relative to it";
    return false;
  }
  std::error_code ec;
  fs::path base = fs::canonical(fs::path(baseDir), ec);
  if (ec) {
    error = where + ": cannot resolve base directory " + quote(baseDir) + ": " +
            ec.message();
    return false;
  }
  fs::path resolved = fs::weakly_canonical(base / relative, ec);
  if (ec) {
    error = where + ": cannot resolve the location: " + ec.message();
    return false;
  }
  if (!isWithin(resolved, base)) {
    error = where + ": the location resolves to " + quote(resolved.string()) +
            ", outside the model's directory " + quote(base.string());
    return false;
  }
  if (!fs::is_regular_file(resolved, ec)) {
    error = where + ": " + quote(resolved.string()) +
            " does not exist or is not a regular file";
    return false;
  }
  uint64_t fileSize = fs::file_size(resolved, ec);
  if (ec) {
    error = where + ": cannot stat " + quote(resolved.string()) + ": " +
            ec.message();
    return false;
  }
  if (offset > fileSize) {
    error = where + ": offset " + std::to_string(offset) +
            " lies past the end of the " + std::to_string(fileSize) +
            "-byte file";
    return false;
  }
  if (!hasLength)
    length = fileSize - offset;
  if (length > fileSize - offset) {
    error = where + ": offset " + std::to_string(offset) + " + length " +
            std::to_string(length) + " lies past the end of the " +
            std::to_string(fileSize) + "-byte file";
    return false;
  }
  if (length != numBytes) {
    error = where + ": holds " + std::to_string(length) +
            " bytes, the tensor needs " + std::to_string(numBytes);
    return false;
  }
  if (offset >
      static_cast<uint64_t>(std::numeric_limits<std::streamoff>::max())) {
    error = where + ": offset is too large";
    return false;
  }
  // Bytes at an offset a float or int64 cannot be read from in place, and
  // small tensors, are read; the rest are mapped.
  constexpr uint64_t kMapMinBytes = 64 * 1024;
  if (numBytes >= kMapMinBytes && offset % 64 == 0) {
    std::string why;
    if (!TensorBytes::map(resolved.string(), offset,
                          static_cast<size_t>(numBytes), data, why)) {
      error = where + ": " + why;
      return false;
    }
    return true;
  }
  std::ifstream file(resolved, std::ios::binary);
  if (!file) {
    error = where + ": cannot open " + quote(resolved.string()) + ": " +
            std::strerror(errno);
    return false;
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(numBytes));
  file.seekg(static_cast<std::streamoff>(offset));
  if (numBytes != 0)
    file.read(reinterpret_cast<char *>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  if (!file || static_cast<uint64_t>(file.gcount()) != numBytes) {
    error = where + ": cannot read " + std::to_string(numBytes) +
            " bytes at offset " + std::to_string(offset) + " of " +
            quote(resolved.string());
    return false;
  }
  data = std::move(bytes);
  return true;
}

/// Copies a typed repeated field whose element type is the tensor's own.
template <typename T, typename Field>
void copySame(const Field &field, TensorBytes &data) {
  data.resize(static_cast<size_t>(field.size()) * sizeof(T));
  if (!data.empty())
    std::memcpy(data.data(), field.data(), data.size());
}

/// Narrows the values of `field` to T, checking each lies in [lo, hi].
template <typename T, typename Field>
bool copyNarrowed(const Field &field, int64_t lo, int64_t hi, TensorBytes &data,
                  std::string &why) {
  data.resize(static_cast<size_t>(field.size()) * sizeof(T));
  T *dst = reinterpret_cast<T *>(data.data());
  for (int i = 0; i < field.size(); ++i) {
    auto value = field.Get(i);
    bool inRange;
    if constexpr (std::is_unsigned_v<decltype(value)>)
      inRange = value <= static_cast<uint64_t>(hi);
    else
      inRange = value >= lo && value <= hi;
    if (!inRange) {
      why = "value " + std::to_string(value) + " at index " +
            std::to_string(i) + " does not fit the element type";
      return false;
    }
    dst[i] = static_cast<T>(value);
  }
  return true;
}

/// `takeRaw`, when given, is `proto`'s raw_data, whose buffer the tensor
/// takes over.
bool tensorFromProtoImpl(const onnx::TensorProto &proto,
                         const std::string &baseDir, HostTensor &out,
                         std::string &error, std::string *takeRaw) {
  const std::string tensor = "tensor " + quote(proto.name());
  auto fail = [&](const std::string &message) {
    error = tensor + ": " + message;
    return false;
  };

  DType dtype = DType::F32;
  int32_t onnxType = proto.data_type();
  if (!dtypeFromOnnx(onnxType, dtype)) {
    std::string typeName = onnx::TensorProto_DataType_IsValid(onnxType)
                               ? onnx::TensorProto_DataType_Name(onnxType)
                               : std::to_string(onnxType);
    if (onnxType == onnx::TensorProto_DataType_STRING)
      return fail("string tensors are not supported");
    if (onnxType == onnx::TensorProto_DataType_UNDEFINED)
      return fail("the element type is undefined");
    return fail("element type " + typeName + " is not supported");
  }
  if (proto.has_segment())
    return fail("segmented tensors are not supported");

  std::vector<int64_t> shape(proto.dims().begin(), proto.dims().end());
  TensorSize tensorSize;
  std::string why;
  if (!checkedTensorSize(shape, dtype, tensorSize, why))
    return fail("bad dims: " + why);
  const std::string shapeText = formatShape(shape);

  const uint64_t typedCount =
      static_cast<uint64_t>(proto.float_data_size()) + proto.int32_data_size() +
      proto.string_data_size() + proto.int64_data_size() +
      proto.double_data_size() + proto.uint64_data_size();
  const bool external =
      proto.data_location() == onnx::TensorProto_DataLocation_EXTERNAL;

  TensorBytes data;
  if (external) {
    if (proto.has_raw_data() || typedCount != 0)
      return fail("has both external data and inline data");
    if (!readExternalData(proto, baseDir, tensorSize.numBytes, data, error))
      return false;
  } else if (proto.has_raw_data()) {
    if (typedCount != 0)
      return fail("has both raw_data and typed data fields");
    const std::string &raw = proto.raw_data();
    if (raw.size() != tensorSize.numBytes)
      return fail("raw_data holds " + std::to_string(raw.size()) +
                  " bytes, shape " + shapeText + " of " + dtypeName(dtype) +
                  " needs " + std::to_string(tensorSize.numBytes));
    // Large buffers are taken over (malloc'ed, so aligned for any element
    // type); small ones copied, as bytes: one memcpy, not an element loop.
    constexpr size_t kTakeMinBytes = 4096;
    const auto *bytes = reinterpret_cast<const uint8_t *>(raw.data());
    if (takeRaw && raw.size() >= kTakeMinBytes)
      data = TensorBytes::adopt(std::move(*takeRaw));
    else
      data.assign(bytes, bytes + raw.size());
  } else {
    // The typed field ONNX prescribes for each element type.
    const char *field = "";
    uint64_t count = 0;
    switch (dtype) {
    case DType::F32:
      field = "float_data";
      count = proto.float_data_size();
      break;
    case DType::F64:
      field = "double_data";
      count = proto.double_data_size();
      break;
    case DType::I64:
      field = "int64_data";
      count = proto.int64_data_size();
      break;
    case DType::U32:
    case DType::U64:
      field = "uint64_data";
      count = proto.uint64_data_size();
      break;
    default:
      field = "int32_data";
      count = proto.int32_data_size();
      break;
    }
    if (count != tensorSize.numElements || typedCount != count)
      return fail(
          std::string(field) + " holds " + std::to_string(count) + " values" +
          (typedCount != count ? " (and other typed fields hold " +
                                     std::to_string(typedCount - count) + ")"
                               : std::string()) +
          ", shape " + shapeText + " of " + dtypeName(dtype) + " needs " +
          std::to_string(tensorSize.numElements));
    bool ok = true;
    switch (dtype) {
    case DType::F32:
      copySame<float>(proto.float_data(), data);
      break;
    case DType::F64:
      copySame<double>(proto.double_data(), data);
      break;
    case DType::I32:
      copySame<int32_t>(proto.int32_data(), data);
      break;
    case DType::I64:
      copySame<int64_t>(proto.int64_data(), data);
      break;
    case DType::U64:
      copySame<uint64_t>(proto.uint64_data(), data);
      break;
    case DType::U32:
      ok =
          copyNarrowed<uint32_t>(proto.uint64_data(), 0, UINT32_MAX, data, why);
      break;
    case DType::I8:
      ok = copyNarrowed<int8_t>(proto.int32_data(), INT8_MIN, INT8_MAX, data,
                                why);
      break;
    case DType::U8:
      ok = copyNarrowed<uint8_t>(proto.int32_data(), 0, UINT8_MAX, data, why);
      break;
    case DType::I16:
      ok = copyNarrowed<int16_t>(proto.int32_data(), INT16_MIN, INT16_MAX, data,
                                 why);
      break;
    case DType::U16:
      ok = copyNarrowed<uint16_t>(proto.int32_data(), 0, UINT16_MAX, data, why);
      break;
    case DType::F16:
    case DType::BF16:
      // The 16-bit patterns, usually zero-extended; accept sign-extended ones.
      ok = copyNarrowed<uint16_t>(proto.int32_data(), INT16_MIN, UINT16_MAX,
                                  data, why);
      break;
    case DType::Bool:
      ok = copyNarrowed<uint8_t>(proto.int32_data(), 0, 1, data, why);
      break;
    }
    if (!ok)
      return fail(std::string(field) + ": " + why);
  }

  if (dtype == DType::Bool)
    for (uint8_t &b : data)
      b = b != 0;
  out.name = proto.name();
  out.dtype = dtype;
  out.shape = std::move(shape);
  out.data = std::move(data);
  return true;
}

} // namespace

namespace {
bool guardedFromProto(const onnx::TensorProto &proto,
                      const std::string &baseDir, HostTensor &out,
                      std::string &error, std::string *takeRaw) {
  try {
    return tensorFromProtoImpl(proto, baseDir, out, error, takeRaw);
  } catch (const std::bad_alloc &) {
    error = "tensor " + quote(proto.name()) + ": out of memory";
  } catch (const std::length_error &) {
    error = "tensor " + quote(proto.name()) + ": out of memory";
  } catch (const fs::filesystem_error &e) {
    error = "tensor " + quote(proto.name()) + ": " + e.what();
  }
  return false;
}
} // namespace

bool tensorFromProto(const onnx::TensorProto &proto, const std::string &baseDir,
                     HostTensor &out, std::string &error) {
  return guardedFromProto(proto, baseDir, out, error, nullptr);
}

bool takeTensorFromProto(onnx::TensorProto &proto, const std::string &baseDir,
                         HostTensor &out, std::string &error) {
  return guardedFromProto(proto, baseDir, out, error,
                          proto.has_raw_data() ? proto.mutable_raw_data()
                                               : nullptr);
}

bool readTensorProtoFile(const std::string &path, HostTensor &out,
                         std::string &error) {
  std::vector<uint8_t> bytes;
  if (!readFileBytes(path, bytes, error))
    return false;
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    error = path + ": file is too large for a serialized TensorProto";
    return false;
  }
  onnx::TensorProto proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    error = path + ": not a valid serialized onnx.TensorProto";
    return false;
  }
  std::string baseDir = fs::path(path).parent_path().string();
  if (baseDir.empty())
    baseDir = ".";
  if (!tensorFromProto(proto, baseDir, out, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

void tensorToProto(const HostTensor &t, onnx::TensorProto &proto) {
  proto.Clear();
  proto.set_name(t.name);
  proto.set_data_type(dtypeToOnnx(t.dtype));
  for (int64_t d : t.shape)
    proto.add_dims(d);
  proto.set_raw_data(t.data.data(), t.data.size());
}

} // namespace sparq::io
