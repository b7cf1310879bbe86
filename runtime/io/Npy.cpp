//===- Npy.cpp - NumPy .npy files -----------------------------------------===//
//
// Part of sparq.
//
// The .npy format: the magic "\x93NUMPY", a major and minor version byte, the
// header length (uint16 for version 1.0, uint32 for 2.0 and 3.0), and a
// header that is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a newline; the raw C-order array data follows.
//
//===----------------------------------------------------------------------===//

#include "runtime/io/Npy.h"

#include <cstring>
#include <new>
#include <optional>
#include <stdexcept>

namespace sparq::io {
namespace {

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sparq::io assumes a little-endian host"
#endif

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kArrayAlign = 64;

/// One value of the header dict. Only the forms the .npy header uses are
/// understood: strings, True/False and tuples of integers.
struct HeaderValue {
  enum Kind { String, Bool, Tuple } kind = String;
  std::string str;
  bool boolean = false;
  std::vector<int64_t> tuple;
};

/// A recursive-descent parser for the header dict literal.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : text(text) {}

  bool parse(std::string &descr, bool &fortranOrder,
             std::vector<int64_t> &shape, std::string &error) {
    std::optional<HeaderValue> descrValue, fortranValue, shapeValue;
    skipSpace();
    if (!consume('{'))
      return fail("header is not a dict literal", error);
    while (true) {
      skipSpace();
      if (consume('}'))
        break;
      std::string key;
      if (!parseString(key))
        return fail("expected a quoted key in the header", error);
      skipSpace();
      if (!consume(':'))
        return fail("expected ':' after key '" + key + "'", error);
      skipSpace();
      HeaderValue value;
      if (!parseValue(key, value, error))
        return false;
      std::optional<HeaderValue> *slot = nullptr;
      if (key == "descr")
        slot = &descrValue;
      else if (key == "fortran_order")
        slot = &fortranValue;
      else if (key == "shape")
        slot = &shapeValue;
      else
        return fail("unexpected key '" + key + "' in the header", error);
      if (slot->has_value())
        return fail("duplicate key '" + key + "' in the header", error);
      *slot = std::move(value);
      skipSpace();
      if (consume(','))
        continue;
      skipSpace();
      if (consume('}'))
        break;
      return fail("expected ',' or '}' in the header", error);
    }
    skipSpace();
    if (pos != text.size())
      return fail("unexpected text after the header dict", error);

    if (!descrValue || !fortranValue || !shapeValue)
      return fail("header lacks one of the keys 'descr', 'fortran_order' and "
                  "'shape'",
                  error);
    if (descrValue->kind != HeaderValue::String)
      return fail("'descr' is not a string", error);
    if (fortranValue->kind != HeaderValue::Bool)
      return fail("'fortran_order' is not True or False", error);
    if (shapeValue->kind != HeaderValue::Tuple)
      return fail("'shape' is not a tuple of integers", error);
    descr = descrValue->str;
    fortranOrder = fortranValue->boolean;
    shape = shapeValue->tuple;
    return true;
  }

private:
  bool fail(const std::string &message, std::string &error) {
    error = message;
    return false;
  }

  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  bool consume(char c) {
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }

  bool consumeWord(const char *word) {
    size_t n = std::strlen(word);
    if (text.compare(pos, n, word) != 0)
      return false;
    pos += n;
    return true;
  }

  bool parseString(std::string &out) {
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
      return false;
    char quote = text[pos++];
    size_t end = text.find(quote, pos);
    if (end == std::string::npos)
      return false;
    out = text.substr(pos, end - pos);
    // The header never needs escapes; refuse them rather than misread them.
    if (out.find('\\') != std::string::npos)
      return false;
    pos = end + 1;
    return true;
  }

  bool parseInt(int64_t &out) {
    bool negative = consume('-');
    if (pos >= text.size() || text[pos] < '0' || text[pos] > '9')
      return false;
    uint64_t value = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      uint64_t digit = static_cast<uint64_t>(text[pos] - '0');
      if (value > (static_cast<uint64_t>(INT64_MAX) - digit) / 10)
        return false;
      value = value * 10 + digit;
      ++pos;
    }
    consume('L'); // Python 2 longs: "(3L, 4L)".
    out = negative ? -static_cast<int64_t>(value) : static_cast<int64_t>(value);
    return true;
  }

  bool parseValue(const std::string &key, HeaderValue &value,
                  std::string &error) {
    if (pos < text.size() && (text[pos] == '\'' || text[pos] == '"')) {
      value.kind = HeaderValue::String;
      if (!parseString(value.str))
        return fail("malformed string for key '" + key + "'", error);
      return true;
    }
    if (consumeWord("True")) {
      value.kind = HeaderValue::Bool;
      value.boolean = true;
      return true;
    }
    if (consumeWord("False")) {
      value.kind = HeaderValue::Bool;
      value.boolean = false;
      return true;
    }
    if (consume('(')) {
      value.kind = HeaderValue::Tuple;
      while (true) {
        skipSpace();
        if (consume(')'))
          return true;
        int64_t dim = 0;
        if (!parseInt(dim))
          return fail("malformed integer in '" + key + "'", error);
        value.tuple.push_back(dim);
        skipSpace();
        if (consume(','))
          continue;
        skipSpace();
        if (consume(')'))
          return true;
        return fail("malformed tuple for key '" + key + "'", error);
      }
    }
    if (key == "descr" && pos < text.size() && text[pos] == '[')
      return fail("structured dtypes are not supported", error);
    return fail("unsupported value for key '" + key + "'", error);
  }

  const std::string &text;
  size_t pos = 0;
};

/// Maps a NumPy type string to a DType; big-endian and types without a DType
/// are errors.
bool dtypeFromDescr(const std::string &descr, DType &out, std::string &error) {
  auto unsupported = [&](const std::string &why) {
    error = "unsupported dtype '" + descr + "'" + why;
    return false;
  };
  if (descr.size() < 3)
    return unsupported("");
  char order = descr[0];
  char kind = descr[1];
  std::string sizeText = descr.substr(2);
  if (order != '<' && order != '>' && order != '|' && order != '=')
    return unsupported("");
  if (sizeText.size() != 1 || sizeText[0] < '1' || sizeText[0] > '8')
    return unsupported("");
  int size = sizeText[0] - '0';
  if (order == '>' && size > 1)
    return unsupported(" (big-endian data is not supported)");
  if (order == '|' && size > 1 && kind != 'V')
    return unsupported("");
  switch (kind) {
  case 'f':
    if (size == 2)
      out = DType::F16;
    else if (size == 4)
      out = DType::F32;
    else if (size == 8)
      out = DType::F64;
    else
      return unsupported("");
    return true;
  case 'i':
    if (size == 1)
      out = DType::I8;
    else if (size == 2)
      out = DType::I16;
    else if (size == 4)
      out = DType::I32;
    else if (size == 8)
      out = DType::I64;
    else
      return unsupported("");
    return true;
  case 'u':
    if (size == 1)
      out = DType::U8;
    else if (size == 2)
      out = DType::U16;
    else if (size == 4)
      out = DType::U32;
    else if (size == 8)
      out = DType::U64;
    else
      return unsupported("");
    return true;
  case 'b':
    if (size != 1)
      return unsupported("");
    out = DType::Bool;
    return true;
  case 'V':
    // NumPy stores ml_dtypes.bfloat16 arrays as two-byte void.
    if (size != 2)
      return unsupported("");
    out = DType::BF16;
    return true;
  default:
    return unsupported("");
  }
}

const char *descrFromDType(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "<f4";
  case DType::F64:
    return "<f8";
  case DType::F16:
    return "<f2";
  case DType::BF16:
    return "<V2";
  case DType::I8:
    return "|i1";
  case DType::I16:
    return "<i2";
  case DType::I32:
    return "<i4";
  case DType::I64:
    return "<i8";
  case DType::U8:
    return "|u1";
  case DType::U16:
    return "<u2";
  case DType::U32:
    return "<u4";
  case DType::U64:
    return "<u8";
  case DType::Bool:
    return "|b1";
  }
  return "";
}

bool parseNpyImpl(const uint8_t *bytes, size_t size, const std::string &what,
                  HostTensor &out, std::string &error) {
  auto fail = [&](const std::string &message) {
    error = what + ": " + message;
    return false;
  };
  if (size < kMagicSize + 2 || std::memcmp(bytes, kMagic, kMagicSize) != 0)
    return fail("not a .npy file (bad magic)");
  uint8_t major = bytes[6];
  uint8_t minor = bytes[7];
  if (major < 1 || major > 3 || minor != 0)
    return fail("unsupported .npy format version " + std::to_string(major) +
                "." + std::to_string(minor));
  size_t lengthBytes = major == 1 ? 2 : 4;
  size_t prefix = kMagicSize + 2 + lengthBytes;
  if (size < prefix)
    return fail("truncated .npy header");
  uint64_t headerLength = bytes[8] | (static_cast<uint64_t>(bytes[9]) << 8);
  if (major > 1)
    headerLength |= (static_cast<uint64_t>(bytes[10]) << 16) |
                    (static_cast<uint64_t>(bytes[11]) << 24);
  if (headerLength > size - prefix)
    return fail("truncated .npy header: it claims " +
                std::to_string(headerLength) + " bytes, the file has " +
                std::to_string(size - prefix) + " after the preamble");
  std::string header(reinterpret_cast<const char *>(bytes) + prefix,
                     static_cast<size_t>(headerLength));
  if (header.find('\0') != std::string::npos)
    return fail("malformed .npy header: it contains a NUL byte");

  std::string descr, why;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  if (!HeaderParser(header).parse(descr, fortranOrder, shape, why))
    return fail("malformed .npy header: " + why);
  DType dtype = DType::F32;
  if (!dtypeFromDescr(descr, dtype, why))
    return fail(why);
  if (fortranOrder) {
    // np.save writes fortran_order True only for arrays that are Fortran- but
    // not C-contiguous, i.e. whose bytes are in column-major order.
    return fail("Fortran-order (column-major) arrays are not supported; save "
                "the array with np.ascontiguousarray");
  }

  size_t dataOffset = prefix + static_cast<size_t>(headerLength);
  size_t available = size - dataOffset;
  TensorSize tensorSize;
  if (!checkedTensorSize(shape, dtype, tensorSize, why))
    return fail("bad shape: " + why);
  if (tensorSize.numBytes != available)
    return fail(std::string(tensorSize.numBytes > available
                                ? "truncated data: "
                                : "trailing bytes: ") +
                "shape " + formatShape(shape) + " of " + dtypeName(dtype) +
                " needs " + std::to_string(tensorSize.numBytes) +
                " bytes, the file has " + std::to_string(available));

  out.name.clear();
  out.dtype = dtype;
  out.shape = std::move(shape);
  out.data.assign(bytes + dataOffset, bytes + size);
  if (dtype == DType::Bool)
    for (uint8_t &b : out.data)
      b = b != 0;
  return true;
}

} // namespace

bool parseNpy(const uint8_t *bytes, size_t size, const std::string &what,
              HostTensor &out, std::string &error) {
  if (!bytes && size != 0) {
    error = what + ": no data";
    return false;
  }
  try {
    return parseNpyImpl(bytes, size, what, out, error);
  } catch (const std::bad_alloc &) {
    error = what + ": out of memory";
  } catch (const std::length_error &) {
    error = what + ": out of memory";
  }
  return false;
}

bool readNpy(const std::string &path, HostTensor &out, std::string &error) {
  std::vector<uint8_t> bytes;
  if (!readFileBytes(path, bytes, error))
    return false;
  return parseNpy(bytes.data(), bytes.size(), path, out, error);
}

bool serializeNpy(const HostTensor &t, std::vector<uint8_t> &bytes,
                  std::string &error) {
  if (!t.validate(error))
    return false;
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (i)
      shape += ", ";
    shape += std::to_string(t.shape[i]);
  }
  if (t.shape.size() == 1)
    shape += ",";
  shape += ")";
  std::string header = std::string("{'descr': '") + descrFromDType(t.dtype) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces and a final newline so that the data starts at a multiple
  // of kArrayAlign, as NumPy does.
  size_t version = 1;
  size_t prefix = kMagicSize + 2 + 2;
  size_t total = (prefix + header.size() + 1 + kArrayAlign - 1) / kArrayAlign *
                 kArrayAlign;
  if (total - prefix > 0xffff) {
    version = 2;
    prefix = kMagicSize + 2 + 4;
    total = (prefix + header.size() + 1 + kArrayAlign - 1) / kArrayAlign *
            kArrayAlign;
  }
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  try {
    bytes.clear();
    bytes.reserve(total + t.data.size());
    bytes.insert(bytes.end(), kMagic, kMagic + kMagicSize);
    bytes.push_back(static_cast<uint8_t>(version));
    bytes.push_back(0);
    uint64_t length = header.size();
    for (size_t i = 0; i < prefix - kMagicSize - 2; ++i)
      bytes.push_back(static_cast<uint8_t>(length >> (8 * i)));
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.insert(bytes.end(), t.data.begin(), t.data.end());
  } catch (const std::bad_alloc &) {
    error = "tensor '" + t.name + "': out of memory";
    return false;
  }
  return true;
}

bool writeNpy(const std::string &path, const HostTensor &t,
              std::string &error) {
  std::vector<uint8_t> bytes;
  if (!serializeNpy(t, bytes, error)) {
    error = path + ": " + error;
    return false;
  }
  return writeFileBytes(path, bytes.data(), bytes.size(), error);
}

} // namespace sparq::io
