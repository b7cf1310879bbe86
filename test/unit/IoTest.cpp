//===- IoTest.cpp - Tests for runtime/io ----------------------------------===//
//
// Part of sparq.
//
// Round trips through .npy, .npz and ONNX TensorProto; files written by NumPy
// (generated at test time with /usr/bin/python3, skipped when it or NumPy is
// absent); and malformed input, which must give an error and never a crash.
//
//===----------------------------------------------------------------------===//

#include "runtime/io/HostTensor.h"
#include "runtime/io/Npy.h"
#include "runtime/io/TensorProto.h"
#include "runtime/io/WeightsFile.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

using namespace sparq::io;
namespace fs = std::filesystem;

namespace {

const DType kAllDTypes[] = {DType::F32, DType::F64, DType::F16, DType::BF16,
                            DType::I8,  DType::I16, DType::I32, DType::I64,
                            DType::U8,  DType::U16, DType::U32, DType::U64,
                            DType::Bool};

bool isSignedInt(DType d) {
  return d == DType::I8 || d == DType::I16 || d == DType::I32 ||
         d == DType::I64;
}

float halfToFloat(uint16_t h) {
  int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float value;
  if (exponent == 0)
    value = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31)
    value = mantissa ? NAN : INFINITY;
  else
    value = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  return sign ? -value : value;
}

/// float16 bits of a small non-negative integer (exact below 2048).
uint16_t smallIntToHalf(unsigned n) {
  if (n == 0)
    return 0;
  int e = 0;
  while ((2u << e) <= n)
    ++e;
  return static_cast<uint16_t>(((e + 15) << 10) |
                               ((n - (1u << e)) << (10 - e)));
}

uint16_t floatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return static_cast<uint16_t>(bits >> 16);
}

/// Element i of `t` as a double.
double elementAt(const HostTensor &t, size_t i) {
  switch (t.dtype) {
  case DType::F32:
    return t.as<float>()[i];
  case DType::F64:
    return t.as<double>()[i];
  case DType::F16:
    return halfToFloat(t.as<uint16_t>()[i]);
  case DType::BF16: {
    uint32_t bits = static_cast<uint32_t>(t.as<uint16_t>()[i]) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  case DType::I8:
    return t.as<int8_t>()[i];
  case DType::I16:
    return t.as<int16_t>()[i];
  case DType::I32:
    return t.as<int32_t>()[i];
  case DType::I64:
    return static_cast<double>(t.as<int64_t>()[i]);
  case DType::U8:
    return t.as<uint8_t>()[i];
  case DType::U16:
    return t.as<uint16_t>()[i];
  case DType::U32:
    return t.as<uint32_t>()[i];
  case DType::U64:
    return static_cast<double>(t.as<uint64_t>()[i]);
  case DType::Bool:
    return t.as<uint8_t>()[i];
  }
  return NAN;
}

/// The value the sequence tensors hold at index i: i - 12 for signed
/// integers, i % 2 for bool, i otherwise. NumPy generates the same values.
double sequenceValue(DType d, size_t i) {
  if (d == DType::Bool)
    return static_cast<double>(i % 2);
  if (isSignedInt(d))
    return static_cast<double>(i) - 12;
  return static_cast<double>(i);
}

HostTensor makeSequence(DType d, std::vector<int64_t> shape,
                        std::string name = "") {
  HostTensor t;
  t.name = std::move(name);
  t.dtype = d;
  t.shape = std::move(shape);
  size_t n = static_cast<size_t>(t.numElements());
  t.data.resize(n * dtypeSize(d));
  for (size_t i = 0; i < n; ++i) {
    double v = sequenceValue(d, i);
    switch (d) {
    case DType::F32:
      t.as<float>()[i] = static_cast<float>(v);
      break;
    case DType::F64:
      t.as<double>()[i] = v;
      break;
    case DType::F16:
      t.as<uint16_t>()[i] = smallIntToHalf(static_cast<unsigned>(v));
      break;
    case DType::BF16:
      t.as<uint16_t>()[i] = floatToBf16(static_cast<float>(v));
      break;
    case DType::I8:
      t.as<int8_t>()[i] = static_cast<int8_t>(v);
      break;
    case DType::I16:
      t.as<int16_t>()[i] = static_cast<int16_t>(v);
      break;
    case DType::I32:
      t.as<int32_t>()[i] = static_cast<int32_t>(v);
      break;
    case DType::I64:
      t.as<int64_t>()[i] = static_cast<int64_t>(v);
      break;
    case DType::U8:
    case DType::Bool:
      t.as<uint8_t>()[i] = static_cast<uint8_t>(v);
      break;
    case DType::U16:
      t.as<uint16_t>()[i] = static_cast<uint16_t>(v);
      break;
    case DType::U32:
      t.as<uint32_t>()[i] = static_cast<uint32_t>(v);
      break;
    case DType::U64:
      t.as<uint64_t>()[i] = static_cast<uint64_t>(v);
      break;
    }
  }
  return t;
}

void expectSequence(const HostTensor &t, DType d,
                    const std::vector<int64_t> &shape) {
  ASSERT_EQ(t.dtype, d) << dtypeName(t.dtype) << " vs " << dtypeName(d);
  ASSERT_EQ(t.shape, shape);
  ASSERT_EQ(t.data.size(), t.numBytes());
  for (size_t i = 0; i < static_cast<size_t>(t.numElements()); ++i)
    ASSERT_EQ(elementAt(t, i), sequenceValue(d, i))
        << dtypeName(d) << " element " << i;
}

std::vector<uint8_t> readBytes(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void writeBytes(const fs::path &path, const void *data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char *>(data),
            static_cast<std::streamsize>(size));
}

void writeText(const fs::path &path, const std::string &text) {
  writeBytes(path, text.data(), text.size());
}

/// A .npy image with the given header dict and `dataBytes` bytes of data.
// NOLINTNEXTLINE(bugprone-easily-swappable-parameters)
std::vector<uint8_t> npyImage(const std::string &dict, size_t dataBytes,
                              int major = 1) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0)
    header += ' ';
  header += '\n';
  std::vector<uint8_t> bytes = {
      0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  for (size_t i = 0; i < prefix - 8; ++i)
    bytes.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + dataBytes, 0);
  return bytes;
}

/// Parses an in-memory .npy image; returns the error ("" on success).
std::string npyError(const std::vector<uint8_t> &bytes) {
  HostTensor t;
  std::string error;
  if (parseNpy(bytes.data(), bytes.size(), "test.npy", t, error))
    return "";
  EXPECT_FALSE(error.empty());
  return error.empty() ? "<empty error>" : error;
}

struct ZipMember {
  std::string name;
  std::vector<uint8_t> data;
  bool deflate = false;
  /// When set, recorded as the uncompressed size instead of the real one.
  uint32_t forgedSize = 0;
};

std::vector<uint8_t> rawDeflate(const std::vector<uint8_t> &in) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&s, in.size()));
  s.next_in = const_cast<Bytef *>(in.data());
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

void put16(std::vector<uint8_t> &v, uint32_t x) {
  v.push_back(static_cast<uint8_t>(x));
  v.push_back(static_cast<uint8_t>(x >> 8));
}
void put32(std::vector<uint8_t> &v, uint32_t x) {
  put16(v, x & 0xffff);
  put16(v, x >> 16);
}

void put64(std::vector<uint8_t> &v, uint64_t x) {
  put32(v, static_cast<uint32_t>(x));
  put32(v, static_cast<uint32_t>(x >> 32));
}

/// A minimal zip writer for tests, with optional deflate. With `zip64`, every
/// size and offset goes through zip64 extra fields and end records.
std::vector<uint8_t> buildZip(const std::vector<ZipMember> &members,
                              bool zip64 = false) {
  std::vector<uint8_t> zip, central;
  for (const ZipMember &m : members) {
    std::vector<uint8_t> payload = m.deflate ? rawDeflate(m.data) : m.data;
    uint32_t crc = static_cast<uint32_t>(
        crc32(0, m.data.data(), static_cast<uInt>(m.data.size())));
    uint32_t size =
        m.forgedSize ? m.forgedSize : static_cast<uint32_t>(m.data.size());
    uint32_t offset = static_cast<uint32_t>(zip.size());
    uint16_t method = m.deflate ? 8 : 0;
    uint32_t saturated = 0xffffffffu;
    put32(zip, 0x04034b50);
    put16(zip, zip64 ? 45 : 20);
    put16(zip, 0);
    put16(zip, method);
    put32(zip, 0);
    put32(zip, crc);
    put32(zip, zip64 ? saturated : static_cast<uint32_t>(payload.size()));
    put32(zip, zip64 ? saturated : size);
    put16(zip, static_cast<uint32_t>(m.name.size()));
    put16(zip, zip64 ? 20 : 0);
    zip.insert(zip.end(), m.name.begin(), m.name.end());
    if (zip64) {
      put16(zip, 1);
      put16(zip, 16);
      put64(zip, size);
      put64(zip, payload.size());
    }
    zip.insert(zip.end(), payload.begin(), payload.end());
    put32(central, 0x02014b50);
    put16(central, zip64 ? 45 : 20);
    put16(central, zip64 ? 45 : 20);
    put16(central, 0);
    put16(central, method);
    put32(central, 0);
    put32(central, crc);
    put32(central, zip64 ? saturated : static_cast<uint32_t>(payload.size()));
    put32(central, zip64 ? saturated : size);
    put16(central, static_cast<uint32_t>(m.name.size()));
    put16(central, zip64 ? 28 : 0);
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put32(central, 0);
    put32(central, zip64 ? saturated : offset);
    central.insert(central.end(), m.name.begin(), m.name.end());
    if (zip64) {
      put16(central, 1);
      put16(central, 24);
      put64(central, size);
      put64(central, payload.size());
      put64(central, offset);
    }
  }
  uint32_t cdOffset = static_cast<uint32_t>(zip.size());
  zip.insert(zip.end(), central.begin(), central.end());
  if (zip64) {
    uint64_t record = zip.size();
    put32(zip, 0x06064b50);
    put64(zip, 44);
    put16(zip, 45);
    put16(zip, 45);
    put32(zip, 0);
    put32(zip, 0);
    put64(zip, members.size());
    put64(zip, members.size());
    put64(zip, central.size());
    put64(zip, cdOffset);
    put32(zip, 0x07064b50);
    put32(zip, 0);
    put64(zip, record);
    put32(zip, 1);
  }
  put32(zip, 0x06054b50);
  put16(zip, 0);
  put16(zip, 0);
  put16(zip, zip64 ? 0xffff : static_cast<uint32_t>(members.size()));
  put16(zip, zip64 ? 0xffff : static_cast<uint32_t>(members.size()));
  put32(zip, zip64 ? 0xffffffffu : static_cast<uint32_t>(central.size()));
  put32(zip, zip64 ? 0xffffffffu : cdOffset);
  put16(zip, 0);
  return zip;
}

std::vector<uint8_t> npyBytes(const HostTensor &t) {
  std::vector<uint8_t> bytes;
  std::string error;
  EXPECT_TRUE(serializeNpy(t, bytes, error)) << error;
  return bytes;
}

bool havePythonWith(const std::string &modules) {
  std::string cmd =
      "/usr/bin/python3 -c 'import " + modules + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

#define REQUIRE_PYTHON(modules)                                                \
  do {                                                                         \
    if (!havePythonWith(modules)) {                                            \
      std::printf("skipping: /usr/bin/python3 with %s is not available\n",     \
                  (modules));                                                  \
      GTEST_SKIP() << "/usr/bin/python3 with " << (modules)                    \
                   << " is not available";                                     \
    }                                                                          \
  } while (false)

class IoTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string templ =
        (fs::temp_directory_path() / "sparq-iotest-XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir = templ;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  /// Runs a Python script with the temp dir as argv[1]; returns the status.
  int runPython(const std::string &script) {
    fs::path file = dir / "script.py";
    writeText(file, script);
    std::string cmd =
        "/usr/bin/python3 '" + file.string() + "' '" + dir.string() + "'";
    return std::system(cmd.c_str());
  }

  std::string path(const std::string &name) const {
    return (dir / name).string();
  }

  fs::path dir; // NOLINT(misc-non-private-member-variables-in-classes)
};

//===----------------------------------------------------------------------===//
// DType and HostTensor
//===----------------------------------------------------------------------===//

TEST(DTypeTest, SizesNamesAndOnnxCodes) {
  EXPECT_EQ(dtypeSize(DType::F32), 4u);
  EXPECT_EQ(dtypeSize(DType::F64), 8u);
  EXPECT_EQ(dtypeSize(DType::F16), 2u);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
  EXPECT_EQ(dtypeSize(DType::I8), 1u);
  EXPECT_EQ(dtypeSize(DType::U64), 8u);
  EXPECT_EQ(dtypeSize(DType::Bool), 1u);
  EXPECT_STREQ(dtypeName(DType::F32), "f32");
  EXPECT_STREQ(dtypeName(DType::I64), "i64");
  EXPECT_STREQ(dtypeName(DType::BF16), "bf16");
  EXPECT_STREQ(dtypeName(DType::Bool), "bool");
  EXPECT_EQ(dtypeToOnnx(DType::F32), onnx::TensorProto_DataType_FLOAT);
  EXPECT_EQ(dtypeToOnnx(DType::BF16), onnx::TensorProto_DataType_BFLOAT16);
  EXPECT_EQ(dtypeToOnnx(DType::Bool), onnx::TensorProto_DataType_BOOL);
  for (DType d : kAllDTypes) {
    DType back;
    ASSERT_TRUE(dtypeFromOnnx(dtypeToOnnx(d), back)) << dtypeName(d);
    EXPECT_EQ(back, d);
  }
  DType unused;
  EXPECT_FALSE(dtypeFromOnnx(onnx::TensorProto_DataType_STRING, unused));
  EXPECT_FALSE(dtypeFromOnnx(onnx::TensorProto_DataType_UNDEFINED, unused));
  EXPECT_FALSE(dtypeFromOnnx(onnx::TensorProto_DataType_COMPLEX64, unused));
  EXPECT_FALSE(dtypeFromOnnx(1000, unused));
}

TEST(HostTensorTest, ShapeStringElementsAndValidate) {
  HostTensor t = makeSequence(DType::F32, {1, 3, 224, 224}, "x");
  EXPECT_EQ(t.shapeString(), "1x3x224x224");
  EXPECT_EQ(t.numElements(), 3 * 224 * 224);
  EXPECT_EQ(t.numBytes(), 4u * 3 * 224 * 224);
  std::string error;
  EXPECT_TRUE(t.validate(error)) << error;
  t.data.resize(t.data.size() - 1);
  EXPECT_FALSE(t.validate(error));
  EXPECT_NE(error.find("'x'"), std::string::npos) << error;

  HostTensor scalar = makeSequence(DType::I64, {});
  EXPECT_EQ(scalar.shapeString(), "scalar");
  EXPECT_EQ(scalar.numElements(), 1);
  HostTensor empty = makeSequence(DType::I64, {4, 0});
  EXPECT_EQ(empty.numElements(), 0);
  EXPECT_TRUE(empty.validate(error)) << error;
}

TEST(HostTensorTest, CheckedSizeRejectsOverflowAndNegativeDims) {
  TensorSize size;
  std::string error;
  EXPECT_FALSE(
      checkedTensorSize({int64_t(1) << 62, 16}, DType::F32, size, error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(checkedTensorSize({3, -1}, DType::F32, size, error));
  EXPECT_NE(error.find("negative"), std::string::npos) << error;
  EXPECT_TRUE(checkedTensorSize({2, 3, 5}, DType::F64, size, error)) << error;
  EXPECT_EQ(size.numElements, 30u);
  EXPECT_EQ(size.numBytes, 240u);
  // A zero dimension makes the tensor empty even next to huge ones.
  EXPECT_TRUE(checkedTensorSize({0, int64_t(1) << 62, 1 << 30}, DType::F64,
                                size, error));
  EXPECT_EQ(size.numElements, 0u);
  EXPECT_EQ(size.numBytes, 0u);
}

//===----------------------------------------------------------------------===//
// .npy round trips
//===----------------------------------------------------------------------===//

TEST_F(IoTest, NpyRoundTripEveryDType) {
  for (DType d : kAllDTypes) {
    HostTensor t = makeSequence(d, {2, 3, 4});
    std::string file = path(std::string("rt_") + dtypeName(d) + ".npy");
    std::string error;
    ASSERT_TRUE(writeNpy(file, t, error)) << error;
    HostTensor back;
    ASSERT_TRUE(readNpy(file, back, error)) << error;
    expectSequence(back, d, {2, 3, 4});
    EXPECT_EQ(back.data, t.data) << dtypeName(d);
  }
}

TEST_F(IoTest, NpyRoundTripScalarsAndEmptyShapes) {
  const std::vector<std::vector<int64_t>> shapes = {
      {}, {0}, {3, 0, 2}, {1}, {7}, {1, 1, 1, 1, 1, 1, 1, 1}};
  for (DType d : {DType::F32, DType::I64, DType::Bool, DType::BF16}) {
    for (const auto &shape : shapes) {
      HostTensor t = makeSequence(d, shape);
      std::string file = path("shape.npy");
      std::string error;
      ASSERT_TRUE(writeNpy(file, t, error)) << error;
      HostTensor back;
      ASSERT_TRUE(readNpy(file, back, error)) << error;
      EXPECT_EQ(back.dtype, d);
      EXPECT_EQ(back.shape, shape) << formatShape(shape);
      EXPECT_EQ(back.data, t.data) << formatShape(shape);
    }
  }
}

TEST(NpyTest, WriterHeaderIsVersion1AndAligned) {
  for (DType d : kAllDTypes) {
    std::vector<uint8_t> bytes = npyBytes(makeSequence(d, {5, 3}));
    ASSERT_GE(bytes.size(), 10u);
    EXPECT_EQ(std::memcmp(bytes.data(), "\x93NUMPY", 6), 0);
    EXPECT_EQ(bytes[6], 1);
    EXPECT_EQ(bytes[7], 0);
    size_t headerLength = bytes[8] | (bytes[9] << 8);
    EXPECT_EQ((10 + headerLength) % 64, 0u);
    EXPECT_EQ(bytes[10 + headerLength - 1], '\n');
    EXPECT_EQ(bytes.size(), 10 + headerLength + 15 * dtypeSize(d));
  }
}

TEST(NpyTest, WriterRejectsInconsistentTensor) {
  HostTensor t = makeSequence(DType::F32, {2, 3}, "bad");
  t.data.resize(7);
  std::vector<uint8_t> bytes;
  std::string error;
  EXPECT_FALSE(serializeNpy(t, bytes, error));
  EXPECT_NE(error.find("'bad'"), std::string::npos) << error;
}

TEST(NpyTest, ReadsAlternateSpellingsAndVersions) {
  struct Case {
    const char *descr;
    DType dtype;
  } cases[] = {{"<i1", DType::I8},  {"|i1", DType::I8},   {"<u1", DType::U8},
               {"|u1", DType::U8},  {"|b1", DType::Bool}, {"<V2", DType::BF16},
               {"|V2", DType::BF16}};
  for (const Case &c : cases) {
    for (int major : {1, 2, 3}) {
      std::string dict = std::string("{'descr': '") + c.descr +
                         "', 'fortran_order': False, 'shape': (2, 2), }";
      std::vector<uint8_t> bytes =
          npyImage(dict, 4 * dtypeSize(c.dtype), major);
      HostTensor t;
      std::string error;
      ASSERT_TRUE(parseNpy(bytes.data(), bytes.size(), "t.npy", t, error))
          << c.descr << " v" << major << ": " << error;
      EXPECT_EQ(t.dtype, c.dtype) << c.descr;
      EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 2}));
    }
  }
  // Double quotes, Python 2 longs, key order and spacing do not matter.
  std::vector<uint8_t> bytes = npyImage(
      "{\"shape\":(3L,),\"fortran_order\":False,\"descr\":\"<i8\"}", 24);
  HostTensor t;
  std::string error;
  ASSERT_TRUE(parseNpy(bytes.data(), bytes.size(), "t.npy", t, error)) << error;
  EXPECT_EQ(t.dtype, DType::I64);
  EXPECT_EQ(t.shape, std::vector<int64_t>{3});
}

TEST(NpyTest, BoolValuesAreNormalized) {
  std::vector<uint8_t> bytes =
      npyImage("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 3);
  bytes[bytes.size() - 1] = 7;
  HostTensor t;
  std::string error;
  ASSERT_TRUE(parseNpy(bytes.data(), bytes.size(), "t.npy", t, error)) << error;
  EXPECT_EQ(t.data, (std::vector<uint8_t>{0, 0, 1}));
}

//===----------------------------------------------------------------------===//
// Malformed .npy
//===----------------------------------------------------------------------===//

TEST(NpyMalformedTest, BadMagicAndVersion) {
  std::vector<uint8_t> good = npyBytes(makeSequence(DType::F32, {2, 3}));
  std::vector<uint8_t> bytes = good;
  bytes[1] = 'X';
  EXPECT_NE(npyError(bytes).find("magic"), std::string::npos);
  bytes = good;
  bytes[6] = 4;
  EXPECT_NE(npyError(bytes).find("version"), std::string::npos);
  std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  EXPECT_NE(npyError(text), "");
  EXPECT_NE(npyError({}), "");
}

TEST(NpyMalformedTest, EveryTruncationIsAnError) {
  std::vector<uint8_t> good = npyBytes(makeSequence(DType::F64, {3, 5}));
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> prefix(good.begin(),
                                good.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_NE(npyError(prefix), "") << "prefix of " << n << " bytes";
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  EXPECT_NE(npyError(longer).find("trailing"), std::string::npos);
}

TEST(NpyMalformedTest, HugeShapeIsRejectedBeforeAllocating) {
  // 1e15 float32 elements (4 PB) claimed by a 128-byte file.
  std::string error = npyError(
      npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, "
               "1000000), }",
               16));
  EXPECT_NE(error.find("4000000000000000"), std::string::npos) << error;
  // A shape whose byte size overflows 64 bits.
  error = npyError(npyImage("{'descr': '<f8', 'fortran_order': False, "
                            "'shape': (4611686018427387904, 16), }",
                            16));
  EXPECT_NE(error.find("bad shape"), std::string::npos) << error;
  // A dimension that does not fit in int64.
  error = npyError(npyImage("{'descr': '<f8', 'fortran_order': False, "
                            "'shape': (99999999999999999999999,), }",
                            16));
  EXPECT_NE(error, "");
  error = npyError(npyImage(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 16));
  EXPECT_NE(error.find("negative"), std::string::npos) << error;
}

TEST(NpyMalformedTest, HeaderProblemsAreErrors) {
  auto headerError = [](const std::string &dict) {
    return npyError(npyImage(dict, 64));
  };
  EXPECT_NE(headerError("{'descr': '>f4', 'fortran_order': False, "
                        "'shape': (16,), }")
                .find("big-endian"),
            std::string::npos);
  EXPECT_NE(headerError("{'descr': '<c8', 'fortran_order': False, "
                        "'shape': (8,), }")
                .find("'<c8'"),
            std::string::npos);
  EXPECT_NE(headerError("{'descr': '<U4', 'fortran_order': False, "
                        "'shape': (4,), }")
                .find("unsupported dtype"),
            std::string::npos);
  EXPECT_NE(headerError("{'descr': [('a', '<f4')], 'fortran_order': False, "
                        "'shape': (16,), }")
                .find("structured"),
            std::string::npos);
  EXPECT_NE(headerError("{'descr': '<f4', 'fortran_order': True, "
                        "'shape': (4, 4), }")
                .find("Fortran"),
            std::string::npos);
  EXPECT_NE(headerError("{'descr': '<f4', 'shape': (16,), }").find("lacks"),
            std::string::npos);
  EXPECT_NE(headerError("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (16,), 'extra': 1}")
                .find("'extra'"),
            std::string::npos);
  EXPECT_NE(headerError("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (16,), 'shape': (16,)}"),
            "");
  EXPECT_NE(headerError("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (16,)"),
            "");
  EXPECT_NE(headerError("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': [16], }"),
            "");
  EXPECT_NE(headerError("{'descr': '<f4', 'fortran_order': 0, "
                        "'shape': (16,), }"),
            "");
  EXPECT_NE(headerError("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (16,), } junk"),
            "");
  EXPECT_NE(headerError("not a dict"), "");
  EXPECT_NE(headerError(""), "");

  // A header length pointing past the end of the file.
  std::vector<uint8_t> bytes = npyBytes(makeSequence(DType::F32, {2}));
  bytes[8] = 0xff;
  bytes[9] = 0xff;
  EXPECT_NE(npyError(bytes).find("truncated"), std::string::npos);
}

TEST(NpyMalformedTest, RandomCorruptionNeverCrashes) {
  std::vector<uint8_t> good = npyBytes(makeSequence(DType::I32, {4, 6}));
  std::mt19937 rng(1234);
  int failures = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::vector<uint8_t> bytes = good;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      // Bias edits towards the header, where the parser lives.
      size_t at = rng() % 2 ? rng() % 80 : rng() % bytes.size();
      bytes[at] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0)
      bytes.resize(rng() % bytes.size());
    HostTensor t;
    std::string error;
    if (parseNpy(bytes.data(), bytes.size(), "fuzz.npy", t, error)) {
      EXPECT_TRUE(t.validate(error)) << error;
    } else {
      EXPECT_FALSE(error.empty());
      ++failures;
    }
  }
  EXPECT_GT(failures, 0);
}

TEST_F(IoTest, ReadErrorsNameTheFile) {
  HostTensor t;
  std::string error;
  std::string missing = path("missing.npy");
  EXPECT_FALSE(readNpy(missing, t, error));
  EXPECT_NE(error.find(missing), std::string::npos) << error;
  EXPECT_FALSE(readNpy(dir.string(), t, error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;

  std::string bad = path("bad.npy");
  writeText(bad, std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_FALSE(readNpy(bad, t, error));
  EXPECT_NE(error.find(bad), std::string::npos) << error;

  EXPECT_FALSE(writeNpy(path("no/such/dir/x.npy"),
                        makeSequence(DType::F32, {1}), error));
  EXPECT_NE(error.find("no/such/dir"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// .npz
//===----------------------------------------------------------------------===//

TEST_F(IoTest, NpzRoundTrip) {
  std::vector<HostTensor> tensors;
  for (DType d : kAllDTypes)
    tensors.push_back(
        makeSequence(d, {3, 2}, std::string("t_") + dtypeName(d)));
  tensors.push_back(makeSequence(DType::F32, {}, "scalar"));
  tensors.push_back(makeSequence(DType::I8, {0, 4}, "empty"));
  tensors.push_back(makeSequence(DType::U8, {2}, ""));
  std::string file = path("rt.npz");
  std::string error;
  ASSERT_TRUE(writeNpz(file, tensors, error)) << error;
  std::vector<HostTensor> back;
  ASSERT_TRUE(readNpz(file, back, error)) << error;
  ASSERT_EQ(back.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::string expectedName =
        tensors[i].name.empty() ? "arr_" + std::to_string(i) : tensors[i].name;
    EXPECT_EQ(back[i].name, expectedName);
    EXPECT_EQ(back[i].dtype, tensors[i].dtype);
    EXPECT_EQ(back[i].shape, tensors[i].shape);
    EXPECT_EQ(back[i].data, tensors[i].data);
  }

  std::vector<HostTensor> duplicate = {makeSequence(DType::F32, {1}, "a"),
                                       makeSequence(DType::F32, {1}, "a")};
  EXPECT_FALSE(writeNpz(path("dup.npz"), duplicate, error));
  EXPECT_NE(error.find("duplicate"), std::string::npos) << error;
}

TEST(NpzTest, DeflatedMembers) {
  HostTensor big = makeSequence(DType::F32, {100, 100}, "w");
  HostTensor flags = makeSequence(DType::Bool, {50}, "b");
  std::vector<uint8_t> zip = buildZip({{"w.npy", npyBytes(big), true},
                                       {"b.npy", npyBytes(flags), true},
                                       {"dir/", {}, false}});
  std::vector<HostTensor> out;
  std::string error;
  ASSERT_TRUE(parseNpz(zip.data(), zip.size(), "mem.npz", out, error)) << error;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "w");
  EXPECT_EQ(out[0].data, big.data);
  EXPECT_EQ(out[1].name, "b");
  EXPECT_EQ(out[1].data, flags.data);
}

TEST(NpzTest, Zip64Archives) {
  HostTensor a = makeSequence(DType::I64, {7, 3}, "a");
  HostTensor b = makeSequence(DType::F16, {20}, "b");
  std::vector<uint8_t> zip =
      buildZip({{"a.npy", npyBytes(a), true}, {"b.npy", npyBytes(b), false}},
               /*zip64=*/true);
  std::vector<HostTensor> out;
  std::string error;
  ASSERT_TRUE(parseNpz(zip.data(), zip.size(), "z64.npz", out, error)) << error;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "a");
  EXPECT_EQ(out[0].data, a.data);
  EXPECT_EQ(out[1].name, "b");
  EXPECT_EQ(out[1].data, b.data);

  // Every truncation of a zip64 archive is an error too.
  for (size_t n = 0; n < zip.size(); ++n)
    EXPECT_FALSE(parseNpz(zip.data(), n, "z64.npz", out, error)) << n;
  // A zip64 end record pointing outside the file.
  std::vector<uint8_t> bad = zip;
  size_t locator = bad.size() - 22 - 20;
  bad[locator + 8] = 0xff;
  bad[locator + 12] = 0x7f;
  EXPECT_FALSE(parseNpz(bad.data(), bad.size(), "z64.npz", out, error));
  EXPECT_NE(error.find("zip64"), std::string::npos) << error;
}

TEST(NpzMalformedTest, ArchiveProblemsAreErrors) {
  HostTensor t = makeSequence(DType::I16, {10, 10}, "x");
  auto npzError = [](const std::vector<uint8_t> &zip) {
    std::vector<HostTensor> out;
    std::string error;
    if (parseNpz(zip.data(), zip.size(), "bad.npz", out, error))
      return std::string();
    EXPECT_NE(error.find("bad.npz"), std::string::npos) << error;
    return error;
  };
  // A deflated member claiming an impossible uncompressed size.
  std::string error =
      npzError(buildZip({{"x.npy", npyBytes(t), true, 0xfffffff0u}}));
  EXPECT_NE(error.find("impossible"), std::string::npos) << error;
  // A deflated member claiming a slightly wrong size.
  error = npzError(buildZip({{"x.npy", npyBytes(t), true,
                              static_cast<uint32_t>(npyBytes(t).size() - 1)}}));
  EXPECT_NE(error.find("decompresses to"), std::string::npos) << error;
  error = npzError(buildZip({{"x.npy", npyBytes(t), true,
                              static_cast<uint32_t>(npyBytes(t).size() + 1)}}));
  EXPECT_NE(error, "");
  // A member that is not .npy, duplicates, a corrupt member.
  error = npzError(buildZip({{"notes.txt", {'h', 'i'}, false}}));
  EXPECT_NE(error.find("notes.txt"), std::string::npos) << error;
  error = npzError(
      buildZip({{"x.npy", npyBytes(t), false}, {"x.npy", npyBytes(t), true}}));
  EXPECT_NE(error.find("duplicate"), std::string::npos) << error;
  std::vector<uint8_t> badNpy = npyBytes(t);
  badNpy[0] = 'Z';
  error = npzError(buildZip({{"x.npy", badNpy, false}}));
  EXPECT_NE(error.find("array 'x'"), std::string::npos) << error;
  EXPECT_NE(error.find("magic"), std::string::npos) << error;
  // Corrupt payload bytes: the CRC or zlib notices.
  for (bool deflate : {false, true}) {
    std::vector<uint8_t> zip = buildZip({{"x.npy", npyBytes(t), deflate}});
    size_t payload = zip[18] | (zip[19] << 8);
    zip[30 + 5 + payload / 2] ^= 0x5a;
    EXPECT_NE(npzError(zip), "") << (deflate ? "deflate" : "stored");
  }
  // Not a zip at all.
  EXPECT_NE(npzError(npyBytes(t)).find("not a zip"), std::string::npos);
  EXPECT_NE(npzError({}), "");
}

TEST(NpzMalformedTest, EveryTruncationIsAnError) {
  HostTensor t = makeSequence(DType::F32, {8, 8}, "x");
  std::vector<uint8_t> zip =
      buildZip({{"x.npy", npyBytes(t), true}, {"y.npy", npyBytes(t), false}});
  for (size_t n = 0; n < zip.size(); ++n) {
    std::vector<HostTensor> out;
    std::string error;
    EXPECT_FALSE(parseNpz(zip.data(), n, "trunc.npz", out, error))
        << "prefix of " << n << " bytes";
    EXPECT_FALSE(error.empty());
  }
}

TEST(NpzMalformedTest, RandomCorruptionNeverCrashes) {
  HostTensor t = makeSequence(DType::F32, {8, 8}, "x");
  const std::vector<uint8_t> archives[] = {
      buildZip({{"x.npy", npyBytes(t), true}, {"y.npy", npyBytes(t), false}}),
      buildZip({{"x.npy", npyBytes(t), true}, {"y.npy", npyBytes(t), false}},
               /*zip64=*/true)};
  std::mt19937 rng(99);
  int failures = 0;
  for (int iter = 0; iter < 6000; ++iter) {
    std::vector<uint8_t> bytes = archives[iter % 2];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e)
      bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    std::vector<HostTensor> out;
    std::string error;
    if (parseNpz(bytes.data(), bytes.size(), "fuzz.npz", out, error)) {
      for (const HostTensor &x : out)
        EXPECT_TRUE(x.validate(error)) << error;
    } else {
      EXPECT_FALSE(error.empty());
      ++failures;
    }
  }
  EXPECT_GT(failures, 0);
}

//===----------------------------------------------------------------------===//
// Files written by NumPy, and NumPy reading ours
//===----------------------------------------------------------------------===//

const char *const kNumpyDTypes = R"(
DTYPES = {'f32': '<f4', 'f64': '<f8', 'f16': '<f2', 'i8': 'i1', 'i16': '<i2',
          'i32': '<i4', 'i64': '<i8', 'u8': 'u1', 'u16': '<u2', 'u32': '<u4',
          'u64': '<u8', 'bool': '?'}

def sequence(name, n):
    if name == 'bool':
        return np.arange(n) % 2 == 1
    if name.startswith('i'):
        return (np.arange(n) - 12).astype(DTYPES[name])
    return np.arange(n).astype(DTYPES[name])
)";

TEST_F(IoTest, ReadsNpyWrittenByNumpy) {
  REQUIRE_PYTHON("numpy");
  ASSERT_EQ(runPython(std::string("import sys\nimport numpy as np\n") +
                      kNumpyDTypes + R"(
d = sys.argv[1]
for name in DTYPES:
    np.save(f'{d}/np_{name}.npy', sequence(name, 24).reshape(2, 3, 4))
np.save(f'{d}/scalar.npy', np.float64(3.5))
np.save(f'{d}/empty.npy', np.zeros((0, 3), np.int32))
np.save(f'{d}/strided.npy', np.arange(12, dtype=np.int16).reshape(3, 4)[:, ::2])
for v in (1, 2, 3):
    with open(f'{d}/v{v}.npy', 'wb') as f:
        np.lib.format.write_array(f, np.arange(6, dtype=np.float32).reshape(2, 3),
                                  version=(v, 0))
np.save(f'{d}/fortran.npy', np.asfortranarray(np.ones((2, 3), np.float32)))
np.save(f'{d}/bigendian.npy', np.arange(6, dtype='>i4'))
np.save(f'{d}/complex.npy', np.zeros(3, np.complex64))
np.save(f'{d}/strings.npy', np.array(['a', 'bc']))
np.save(f'{d}/object.npy', np.array([1, 'a'], dtype=object))
np.save(f'{d}/record.npy', np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')]))
)"),
            0);

  std::string error;
  for (DType d : kAllDTypes) {
    if (d == DType::BF16)
      continue; // NumPy has no bfloat16.
    HostTensor t;
    ASSERT_TRUE(
        readNpy(path(std::string("np_") + dtypeName(d) + ".npy"), t, error))
        << error;
    expectSequence(t, d, {2, 3, 4});
  }

  HostTensor t;
  ASSERT_TRUE(readNpy(path("scalar.npy"), t, error)) << error;
  EXPECT_EQ(t.dtype, DType::F64);
  EXPECT_TRUE(t.shape.empty());
  EXPECT_EQ(t.shapeString(), "scalar");
  EXPECT_EQ(t.as<double>()[0], 3.5);

  ASSERT_TRUE(readNpy(path("empty.npy"), t, error)) << error;
  EXPECT_EQ(t.dtype, DType::I32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(t.data.empty());

  ASSERT_TRUE(readNpy(path("strided.npy"), t, error)) << error;
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 2}));
  const int16_t strided[] = {0, 2, 4, 6, 8, 10};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(t.as<int16_t>()[i], strided[i]);

  for (int v = 1; v <= 3; ++v) {
    std::string file = path("v" + std::to_string(v) + ".npy");
    ASSERT_TRUE(readNpy(file, t, error)) << error;
    EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(t.as<float>()[5], 5.0f);
  }

  const std::pair<const char *, const char *> rejected[] = {
      {"fortran.npy", "Fortran"},
      {"bigendian.npy", "big-endian"},
      {"complex.npy", "'<c8'"},
      {"strings.npy", "unsupported dtype"},
      {"object.npy", "unsupported dtype"},
      {"record.npy", "structured"}};
  for (const auto &[name, message] : rejected) {
    EXPECT_FALSE(readNpy(path(name), t, error)) << name;
    EXPECT_NE(error.find(path(name)), std::string::npos) << error;
    EXPECT_NE(error.find(message), std::string::npos) << error;
  }
}

TEST_F(IoTest, ReadsNpzWrittenByNumpy) {
  REQUIRE_PYTHON("numpy");
  ASSERT_EQ(runPython(R"(
import sys
import numpy as np
d = sys.argv[1]
np.savez(f'{d}/plain.npz', x=np.arange(6, dtype=np.float32).reshape(2, 3),
         y=np.array([True, False, True]), s=np.int64(-7))
big = (np.arange(100000, dtype=np.float32) / 7).reshape(100, 1000)
np.savez_compressed(f'{d}/compressed.npz', w=big, b=np.arange(1000) % 3 == 0,
                    e=np.zeros((0,), np.uint8))
np.savez(f'{d}/positional.npz', np.arange(3, dtype=np.int8),
         np.arange(2, dtype=np.uint16))
)"),
            0);
  std::string error;
  std::vector<HostTensor> out;
  ASSERT_TRUE(readNpz(path("plain.npz"), out, error)) << error;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].name, "x");
  EXPECT_EQ(out[0].dtype, DType::F32);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(out[0].as<float>()[4], 4.0f);
  EXPECT_EQ(out[1].name, "y");
  EXPECT_EQ(out[1].dtype, DType::Bool);
  EXPECT_EQ(out[1].data, (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(out[2].name, "s");
  EXPECT_TRUE(out[2].shape.empty());
  EXPECT_EQ(out[2].as<int64_t>()[0], -7);

  ASSERT_TRUE(readNpz(path("compressed.npz"), out, error)) << error;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].name, "w");
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{100, 1000}));
  for (int i = 0; i < 100000; i += 997)
    EXPECT_FLOAT_EQ(out[0].as<float>()[i], static_cast<float>(i) / 7.0f);
  EXPECT_EQ(out[1].name, "b");
  ASSERT_EQ(out[1].data.size(), 1000u);
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(out[1].data[i], i % 3 == 0 ? 1 : 0) << i;
  EXPECT_EQ(out[2].name, "e");
  EXPECT_EQ(out[2].shape, std::vector<int64_t>{0});

  ASSERT_TRUE(readNpz(path("positional.npz"), out, error)) << error;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "arr_0");
  EXPECT_EQ(out[1].name, "arr_1");
  EXPECT_EQ(out[1].dtype, DType::U16);

  // Corrupting the compressed archive gives an error, not a crash.
  std::vector<uint8_t> bytes = readBytes(dir / "compressed.npz");
  for (size_t at = 200; at < bytes.size() / 2; at += bytes.size() / 16) {
    std::vector<uint8_t> corrupt = bytes;
    corrupt[at] ^= 0xff;
    EXPECT_FALSE(parseNpz(corrupt.data(), corrupt.size(), "c.npz", out, error))
        << "byte " << at;
  }
  EXPECT_FALSE(
      parseNpz(bytes.data(), bytes.size() / 2, "half.npz", out, error));
  EXPECT_NE(error.find("half.npz"), std::string::npos) << error;
}

TEST_F(IoTest, NumpyLoadsFilesWeWrite) {
  REQUIRE_PYTHON("numpy");
  std::string error;
  std::vector<HostTensor> members;
  for (DType d : kAllDTypes) {
    HostTensor t = makeSequence(d, {2, 3, 4}, dtypeName(d));
    ASSERT_TRUE(
        writeNpy(path(std::string("ours_") + dtypeName(d) + ".npy"), t, error))
        << error;
    members.push_back(t);
  }
  HostTensor scalar = makeSequence(DType::F64, {});
  scalar.as<double>()[0] = 3.5;
  ASSERT_TRUE(writeNpy(path("ours_scalar.npy"), scalar, error)) << error;
  ASSERT_TRUE(
      writeNpy(path("ours_empty.npy"), makeSequence(DType::I32, {0, 3}), error))
      << error;
  ASSERT_TRUE(writeNpz(path("ours.npz"), members, error)) << error;

  EXPECT_EQ(runPython(std::string("import sys\nimport numpy as np\n") +
                      kNumpyDTypes + R"(
d = sys.argv[1]
ok = True
def check(what, cond):
    global ok
    if not cond:
        print('mismatch:', what)
        ok = False
z = np.load(f'{d}/ours.npz')
for name in DTYPES:
    for a in (np.load(f'{d}/ours_{name}.npy'), z[name]):
        check(name, a.dtype == np.dtype(DTYPES[name]) and a.shape == (2, 3, 4)
              and np.array_equal(a, sequence(name, 24).reshape(2, 3, 4)))
bf16 = (np.arange(24, dtype=np.float32).view(np.uint32) >> 16).astype('<u2')
for a in (np.load(f'{d}/ours_bf16.npy'), z['bf16']):
    check('bf16', a.dtype.itemsize == 2 and a.shape == (2, 3, 4)
          and a.tobytes() == bf16.tobytes())
s = np.load(f'{d}/ours_scalar.npy')
check('scalar', s.shape == () and s.dtype == np.float64 and s == 3.5)
e = np.load(f'{d}/ours_empty.npy')
check('empty', e.shape == (0, 3) and e.dtype == np.int32)
check('npz keys', sorted(z.files) == sorted(list(DTYPES) + ['bf16']))
sys.exit(0 if ok else 1)
)"),
            0);
}

//===----------------------------------------------------------------------===//
// ONNX TensorProto
//===----------------------------------------------------------------------===//

onnx::TensorProto makeProto(const std::string &name, int32_t type,
                            std::vector<int64_t> dims) {
  onnx::TensorProto proto;
  proto.set_name(name);
  proto.set_data_type(type);
  for (int64_t d : dims)
    proto.add_dims(d);
  return proto;
}

std::string protoError(const onnx::TensorProto &proto,
                       const std::string &baseDir = "") {
  HostTensor t;
  std::string error;
  if (tensorFromProto(proto, baseDir, t, error))
    return "";
  EXPECT_FALSE(error.empty());
  return error.empty() ? "<empty error>" : error;
}

TEST_F(IoTest, TensorProtoRoundTripEveryDType) {
  for (DType d : kAllDTypes) {
    HostTensor t = makeSequence(d, {4, 6}, std::string("w_") + dtypeName(d));
    onnx::TensorProto proto;
    tensorToProto(t, proto);
    EXPECT_EQ(proto.data_type(), dtypeToOnnx(d));
    EXPECT_TRUE(proto.has_raw_data());
    std::string file = path("t.pb");
    std::string serialized = proto.SerializeAsString();
    writeText(file, serialized);
    HostTensor back;
    std::string error;
    ASSERT_TRUE(readTensorProtoFile(file, back, error)) << error;
    EXPECT_EQ(back.name, t.name);
    expectSequence(back, d, {4, 6});
  }
  HostTensor scalar = makeSequence(DType::I64, {}, "s");
  onnx::TensorProto proto;
  tensorToProto(scalar, proto);
  HostTensor back;
  std::string error;
  ASSERT_TRUE(tensorFromProto(proto, "", back, error)) << error;
  EXPECT_TRUE(back.shape.empty());
  EXPECT_EQ(back.as<int64_t>()[0], -12);
}

TEST(TensorProtoTest, TypedFields) {
  std::string error;
  HostTensor t;
  {
    onnx::TensorProto p = makeProto("f", onnx::TensorProto_DataType_FLOAT, {2});
    p.add_float_data(1.5f);
    p.add_float_data(-2.0f);
    ASSERT_TRUE(tensorFromProto(p, "", t, error)) << error;
    EXPECT_EQ(t.name, "f");
    EXPECT_EQ(t.as<float>()[1], -2.0f);
  }
  {
    onnx::TensorProto p =
        makeProto("d", onnx::TensorProto_DataType_DOUBLE, {1, 1});
    p.add_double_data(0.25);
    ASSERT_TRUE(tensorFromProto(p, "", t, error)) << error;
    EXPECT_EQ(t.dtype, DType::F64);
    EXPECT_EQ(t.as<double>()[0], 0.25);
  }
  {
    onnx::TensorProto p =
        makeProto("i64", onnx::TensorProto_DataType_INT64, {});
    p.add_int64_data(-(int64_t(1) << 40));
    ASSERT_TRUE(tensorFromProto(p, "", t, error)) << error;
    EXPECT_TRUE(t.shape.empty());
    EXPECT_EQ(t.as<int64_t>()[0], -(int64_t(1) << 40));
  }
  {
    onnx::TensorProto p =
        makeProto("i32", onnx::TensorProto_DataType_INT32, {2});
    p.add_int32_data(INT32_MIN);
    p.add_int32_data(7);
    ASSERT_TRUE(tensorFromProto(p, "", t, error)) << error;
    EXPECT_EQ(t.as<int32_t>()[0], INT32_MIN);
    EXPECT_EQ(t.as<int32_t>()[1], 7);
  }
  {
    onnx::TensorProto p =
        makeProto("u64", onnx::TensorProto_DataType_UINT64, {2});
    p.add_uint64_data(UINT64_MAX);
    p.add_uint64_data(3);
    ASSERT_TRUE(tensorFromProto(p, "", t, error)) << error;
    EXPECT_EQ(t.as<uint64_t>()[0], UINT64_MAX);
  }
  {
    onnx::TensorProto p =
        makeProto("u32", onnx::TensorProto_DataType_UINT32, {2});
    p.add_uint64_data(UINT32_MAX);
    p.add_uint64_data(0);
    ASSERT_TRUE(tensorFromProto(p, "", t, error)) << error;
    EXPECT_EQ(t.dtype, DType::U32);
    EXPECT_EQ(t.as<uint32_t>()[0], UINT32_MAX);
  }
  struct Narrow {
    int32_t type;
    std::vector<int32_t> values;
    DType dtype;
  } narrow[] = {
      {onnx::TensorProto_DataType_INT8, {-128, 127, -1}, DType::I8},
      {onnx::TensorProto_DataType_UINT8, {0, 255, 17}, DType::U8},
      {onnx::TensorProto_DataType_INT16, {-32768, 32767, -2}, DType::I16},
      {onnx::TensorProto_DataType_UINT16, {0, 65535, 300}, DType::U16},
      {onnx::TensorProto_DataType_BOOL, {1, 0, 1}, DType::Bool},
      {onnx::TensorProto_DataType_FLOAT16,
       {0x3C00, 0xC000, 0x7C00},
       DType::F16},
      {onnx::TensorProto_DataType_BFLOAT16,
       {0x3F80, 0xC000, 0x4049},
       DType::BF16}};
  for (const Narrow &n : narrow) {
    onnx::TensorProto p = makeProto("n", n.type, {3});
    for (int32_t v : n.values)
      p.add_int32_data(v);
    ASSERT_TRUE(tensorFromProto(p, "", t, error)) << error;
    ASSERT_EQ(t.dtype, n.dtype);
    ASSERT_EQ(t.data.size(), 3 * dtypeSize(n.dtype));
    for (int i = 0; i < 3; ++i) {
      int64_t got = 0;
      switch (n.dtype) {
      case DType::I8:
        // NOLINTNEXTLINE(bugprone-signed-char-misuse): int8 data is signed.
        got = t.as<int8_t>()[i];
        break;
      case DType::I16:
        got = t.as<int16_t>()[i];
        break;
      case DType::U8:
      case DType::Bool:
        got = t.as<uint8_t>()[i];
        break;
      default:
        got = t.as<uint16_t>()[i];
        break;
      }
      EXPECT_EQ(got, n.values[i]) << dtypeName(n.dtype) << " " << i;
    }
  }
  // The decoded float16 / bfloat16 patterns mean what they should.
  onnx::TensorProto half =
      makeProto("h", onnx::TensorProto_DataType_FLOAT16, {2});
  half.add_int32_data(0x3C00);
  half.add_int32_data(0xC000);
  ASSERT_TRUE(tensorFromProto(half, "", t, error)) << error;
  EXPECT_EQ(elementAt(t, 0), 1.0);
  EXPECT_EQ(elementAt(t, 1), -2.0);
}

TEST(TensorProtoTest, DataSizeMismatchesNameTheTensor) {
  onnx::TensorProto p =
      makeProto("weights", onnx::TensorProto_DataType_FLOAT, {2, 3});
  for (int i = 0; i < 5; ++i)
    p.add_float_data(1.0f);
  std::string error = protoError(p);
  EXPECT_NE(error.find("'weights'"), std::string::npos) << error;
  EXPECT_NE(error.find("float_data holds 5"), std::string::npos) << error;
  EXPECT_NE(error.find("needs 6"), std::string::npos) << error;

  p.add_float_data(1.0f);
  p.add_float_data(1.0f);
  EXPECT_NE(protoError(p).find("holds 7"), std::string::npos);

  onnx::TensorProto raw =
      makeProto("r", onnx::TensorProto_DataType_FLOAT, {2, 3});
  raw.set_raw_data(std::string(20, '\0'));
  error = protoError(raw);
  EXPECT_NE(error.find("'r'"), std::string::npos) << error;
  EXPECT_NE(error.find("raw_data holds 20 bytes"), std::string::npos) << error;
  EXPECT_NE(error.find("needs 24"), std::string::npos) << error;

  // Data in the wrong typed field.
  onnx::TensorProto wrong =
      makeProto("wrong", onnx::TensorProto_DataType_INT64, {2});
  wrong.add_float_data(1);
  wrong.add_float_data(2);
  error = protoError(wrong);
  EXPECT_NE(error.find("int64_data holds 0"), std::string::npos) << error;

  // Both raw_data and typed data.
  onnx::TensorProto both =
      makeProto("both", onnx::TensorProto_DataType_FLOAT, {1});
  both.set_raw_data(std::string(4, '\0'));
  both.add_float_data(1);
  EXPECT_NE(protoError(both).find("both"), std::string::npos);

  // No data at all for a non-empty tensor; an empty tensor needs none.
  EXPECT_NE(
      protoError(makeProto("none", onnx::TensorProto_DataType_INT32, {3})), "");
  EXPECT_EQ(
      protoError(makeProto("zero", onnx::TensorProto_DataType_INT32, {3, 0})),
      "");
}

TEST(TensorProtoTest, TypedValuesMustFitTheElementType) {
  onnx::TensorProto p = makeProto("q", onnx::TensorProto_DataType_INT8, {2});
  p.add_int32_data(1);
  p.add_int32_data(200);
  std::string error = protoError(p);
  EXPECT_NE(error.find("'q'"), std::string::npos) << error;
  EXPECT_NE(error.find("200"), std::string::npos) << error;

  onnx::TensorProto u = makeProto("u", onnx::TensorProto_DataType_UINT32, {1});
  u.add_uint64_data(uint64_t(1) << 33);
  EXPECT_NE(protoError(u), "");

  onnx::TensorProto b = makeProto("b", onnx::TensorProto_DataType_UINT8, {1});
  b.add_int32_data(-1);
  EXPECT_NE(protoError(b), "");
}

TEST(TensorProtoTest, UnsupportedTensorsAreErrors) {
  onnx::TensorProto s =
      makeProto("str", onnx::TensorProto_DataType_STRING, {1});
  s.add_string_data("hello");
  std::string error = protoError(s);
  EXPECT_NE(error.find("'str'"), std::string::npos) << error;
  EXPECT_NE(error.find("string tensors are not supported"), std::string::npos)
      << error;
  EXPECT_NE(
      protoError(makeProto("c", onnx::TensorProto_DataType_COMPLEX64, {1}))
          .find("COMPLEX64"),
      std::string::npos);
  EXPECT_NE(
      protoError(makeProto("u", onnx::TensorProto_DataType_UNDEFINED, {1}))
          .find("undefined"),
      std::string::npos);
  EXPECT_NE(protoError(makeProto("x", 77, {1})).find("77"), std::string::npos);
  onnx::TensorProto neg =
      makeProto("neg", onnx::TensorProto_DataType_FLOAT, {2, -1});
  EXPECT_NE(protoError(neg).find("negative"), std::string::npos);
  onnx::TensorProto huge = makeProto("huge", onnx::TensorProto_DataType_FLOAT,
                                     {int64_t(1) << 40, int64_t(1) << 40});
  EXPECT_NE(protoError(huge).find("'huge'"), std::string::npos);
  onnx::TensorProto seg =
      makeProto("seg", onnx::TensorProto_DataType_FLOAT, {1});
  seg.mutable_segment()->set_begin(0);
  seg.add_float_data(1);
  EXPECT_NE(protoError(seg).find("segment"), std::string::npos);
}

void setExternal(onnx::TensorProto &p, const std::string &location,
                 const std::string &offset = "",
                 const std::string &length = "") {
  p.set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  auto add = [&](const char *key, const std::string &value) {
    onnx::StringStringEntryProto *e = p.add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  add("location", location);
  if (!offset.empty())
    add("offset", offset);
  if (!length.empty())
    add("length", length);
}

class ExternalDataTest : public IoTest {
protected:
  void SetUp() override {
    IoTest::SetUp();
    base = dir / "model";
    fs::create_directories(base / "sub");
    // 8 bytes of padding, then six floats 0..5.
    std::vector<uint8_t> bytes(8, 0xee);
    for (int i = 0; i < 6; ++i) {
      float f = static_cast<float>(i);
      const uint8_t *p = reinterpret_cast<const uint8_t *>(&f);
      bytes.insert(bytes.end(), p, p + 4);
    }
    writeBytes(base / "weights.bin", bytes.data(), bytes.size());
    writeBytes(base / "sub" / "w.bin", bytes.data(), bytes.size());
    writeBytes(dir / "outside.bin", bytes.data(), bytes.size());
  }

  onnx::TensorProto weights(const std::string &location,
                            const std::string &offset = "8",
                            const std::string &length = "24") {
    onnx::TensorProto p =
        makeProto("conv.weight", onnx::TensorProto_DataType_FLOAT, {2, 3});
    setExternal(p, location, offset, length);
    return p;
  }

  void expectLoads(const onnx::TensorProto &p) {
    HostTensor t;
    std::string error;
    ASSERT_TRUE(tensorFromProto(p, base.string(), t, error)) << error;
    EXPECT_EQ(t.name, "conv.weight");
    EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
    for (int i = 0; i < 6; ++i)
      EXPECT_EQ(t.as<float>()[i], static_cast<float>(i));
  }

  /// Expects an error naming the tensor and `location`; returns it.
  std::string expectRejected(const onnx::TensorProto &p,
                             const std::string &location) {
    HostTensor t;
    std::string error;
    EXPECT_FALSE(tensorFromProto(p, base.string(), t, error)) << location;
    EXPECT_NE(error.find("'conv.weight'"), std::string::npos) << error;
    EXPECT_NE(error.find("'" + location + "'"), std::string::npos) << error;
    return error;
  }

  fs::path base; // NOLINT(misc-non-private-member-variables-in-classes)
};

TEST_F(ExternalDataTest, InsideTheDirectoryWorks) {
  expectLoads(weights("weights.bin"));
  expectLoads(weights("sub/w.bin"));
  expectLoads(weights("./sub/../weights.bin"));
  expectLoads(weights("weights.bin", "8", "")); // Length: to the end.
  // A trailing separator on the base directory is fine too.
  HostTensor t;
  std::string error;
  EXPECT_TRUE(
      tensorFromProto(weights("weights.bin"), base.string() + "/", t, error))
      << error;
}

// Large external data at an aligned offset is mapped, not read: the tensor
// shares the file's pages, and writing it leaves the file alone (a private,
// copy-on-write mapping). Small or unaligned data is read.
TEST_F(ExternalDataTest, LargeAlignedDataIsMappedCopyOnWrite) {
  const size_t count = 64 * 1024, offset = 4096;
  std::vector<uint8_t> bytes(offset + count * 4, 0xee);
  for (size_t i = 0; i < count; ++i) {
    float f = static_cast<float>(i);
    std::memcpy(&bytes[offset + 4 * i], &f, 4);
  }
  writeBytes(base / "big.bin", bytes.data(), bytes.size());
  onnx::TensorProto p = makeProto("big", onnx::TensorProto_DataType_FLOAT,
                                  {static_cast<int64_t>(count)});
  setExternal(p, "big.bin", std::to_string(offset));
  HostTensor t;
  std::string error;
  ASSERT_TRUE(tensorFromProto(p, base.string(), t, error)) << error;
  EXPECT_TRUE(t.data.isShared());
  for (size_t i = 0; i < count; i += 997)
    ASSERT_EQ(t.as<float>()[i], static_cast<float>(i));
  t.as<float>()[0] = -1;
  HostTensor again;
  ASSERT_TRUE(tensorFromProto(p, base.string(), again, error)) << error;
  EXPECT_EQ(again.as<float>()[0], 0.0f);
  // A copy is the copy's own.
  HostTensor copy = t;
  EXPECT_FALSE(copy.data.isShared());
  EXPECT_EQ(copy.data, t.data);

  HostTensor small;
  ASSERT_TRUE(
      tensorFromProto(weights("weights.bin"), base.string(), small, error))
      << error;
  EXPECT_FALSE(small.data.isShared());
}

// takeTensorFromProto takes a large raw_data buffer over (the proto is left
// without it) and copies a small one.
TEST(TensorProtoTest, TakeAdoptsLargeRawData) {
  onnx::TensorProto p =
      makeProto("w", onnx::TensorProto_DataType_FLOAT, {4096});
  std::string raw(4096 * 4, '\0');
  for (int i = 0; i < 4096; ++i) {
    float f = static_cast<float>(i) * 0.5f;
    std::memcpy(&raw[4 * i], &f, 4);
  }
  p.set_raw_data(raw);
  const char *buffer = p.raw_data().data();
  HostTensor t;
  std::string error;
  ASSERT_TRUE(takeTensorFromProto(p, "", t, error)) << error;
  EXPECT_TRUE(t.data.isShared());
  EXPECT_EQ(reinterpret_cast<const char *>(t.data.data()), buffer);
  EXPECT_TRUE(p.raw_data().empty());
  EXPECT_EQ(t.as<float>()[4095], 2047.5f);

  onnx::TensorProto q = makeProto("s", onnx::TensorProto_DataType_FLOAT, {2});
  q.set_raw_data(std::string(8, '\0'));
  ASSERT_TRUE(takeTensorFromProto(q, "", t, error)) << error;
  EXPECT_FALSE(t.data.isShared());
  EXPECT_EQ(q.raw_data().size(), 8u);
}

TEST_F(ExternalDataTest, EscapingLocationsAreRejected) {
  std::string error =
      expectRejected(weights("../outside.bin"), "../outside.bin");
  EXPECT_NE(error.find("outside"), std::string::npos) << error;
  expectRejected(weights("sub/../../outside.bin"), "sub/../../outside.bin");
  std::string absolute = (base / "weights.bin").string();
  error = expectRejected(weights(absolute), absolute);
  EXPECT_NE(error.find("absolute"), std::string::npos) << error;
  expectRejected(weights("/etc/passwd"), "/etc/passwd");

  // A symlink inside the directory that points outside of it.
  std::error_code ec;
  fs::create_symlink(dir / "outside.bin", base / "link.bin", ec);
  if (!ec)
    expectRejected(weights("link.bin"), "link.bin");
  fs::create_directory_symlink(dir, base / "up", ec);
  if (!ec)
    expectRejected(weights("up/outside.bin"), "up/outside.bin");

  // No base directory: external data is not allowed at all.
  HostTensor t;
  EXPECT_FALSE(tensorFromProto(weights("weights.bin"), "", t, error));
  EXPECT_NE(error.find("'conv.weight'"), std::string::npos) << error;
  EXPECT_NE(error.find("not allowed"), std::string::npos) << error;
}

TEST_F(ExternalDataTest, BadRangesAndFilesAreRejected) {
  EXPECT_NE(expectRejected(weights("weights.bin", "8", "20"), "weights.bin")
                .find("holds 20 bytes"),
            std::string::npos);
  EXPECT_NE(expectRejected(weights("weights.bin", "0", ""), "weights.bin")
                .find("holds 32 bytes"),
            std::string::npos);
  EXPECT_NE(expectRejected(weights("weights.bin", "64", "24"), "weights.bin")
                .find("past the end"),
            std::string::npos);
  EXPECT_NE(expectRejected(weights("weights.bin", "16", "24"), "weights.bin")
                .find("past the end"),
            std::string::npos);
  EXPECT_NE(expectRejected(weights("weights.bin", "-8", "24"), "weights.bin")
                .find("non-negative"),
            std::string::npos);
  EXPECT_NE(expectRejected(weights("weights.bin", "18446744073709551616", "24"),
                           "weights.bin")
                .find("non-negative"),
            std::string::npos);
  expectRejected(weights("missing.bin"), "missing.bin");
  expectRejected(weights("sub"), "sub");
  expectRejected(weights("."), ".");

  onnx::TensorProto noLocation =
      makeProto("conv.weight", onnx::TensorProto_DataType_FLOAT, {2, 3});
  noLocation.set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  EXPECT_NE(protoError(noLocation, base.string()).find("no location"),
            std::string::npos);

  onnx::TensorProto mixed = weights("weights.bin");
  mixed.set_raw_data(std::string(24, '\0'));
  EXPECT_NE(protoError(mixed, base.string()).find("both"), std::string::npos);
}

TEST_F(ExternalDataTest, ReadTensorProtoFileResolvesNextToTheFile) {
  std::string file = (base / "input_0.pb").string();
  writeText(file, weights("sub/w.bin").SerializeAsString());
  HostTensor t;
  std::string error;
  ASSERT_TRUE(readTensorProtoFile(file, t, error)) << error;
  EXPECT_EQ(t.as<float>()[5], 5.0f);

  writeText(file, weights("../outside.bin").SerializeAsString());
  EXPECT_FALSE(readTensorProtoFile(file, t, error));
  EXPECT_NE(error.find(file), std::string::npos) << error;
  EXPECT_NE(error.find("'../outside.bin'"), std::string::npos) << error;
}

TEST_F(IoTest, ReadTensorProtoFileErrors) {
  HostTensor t;
  std::string error;
  std::string missing = path("missing.pb");
  EXPECT_FALSE(readTensorProtoFile(missing, t, error));
  EXPECT_NE(error.find(missing), std::string::npos) << error;

  std::string garbage = path("garbage.pb");
  const uint8_t bytes[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  writeBytes(garbage, bytes, sizeof(bytes));
  EXPECT_FALSE(readTensorProtoFile(garbage, t, error));
  EXPECT_NE(error.find(garbage), std::string::npos) << error;

  // A .npy file is not a TensorProto either.
  std::string npy = path("x.npy");
  ASSERT_TRUE(writeNpy(npy, makeSequence(DType::F32, {3}), error)) << error;
  EXPECT_FALSE(readTensorProtoFile(npy, t, error));
  EXPECT_NE(error.find(npy), std::string::npos) << error;
}

const char *const kOnnxTestData = "/usr/share/libonnx-testdata/data/node";

TEST_F(IoTest, OnnxBackendTestDataMatchesNumpyHelper) {
  REQUIRE_PYTHON("numpy, onnx");
  if (!fs::is_directory(kOnnxTestData))
    GTEST_SKIP() << kOnnxTestData << " is not installed";
  const char *const files[] = {
      "test_abs/test_data_set_0/input_0.pb",
      "test_cast_FLOAT_to_FLOAT16/test_data_set_0/output_0.pb",
      "test_cast_FLOAT_to_DOUBLE/test_data_set_0/output_0.pb",
      "test_argmax_default_axis_example/test_data_set_0/output_0.pb",
      "test_and2d/test_data_set_0/input_0.pb",
      "test_quantizelinear/test_data_set_0/output_0.pb",
      "test_dequantizelinear/test_data_set_0/input_0.pb",
      "test_gather_0/test_data_set_0/input_1.pb",
  };
  std::string list;
  for (const char *f : files)
    if (fs::exists(fs::path(kOnnxTestData) / f))
      list += std::string("'") + kOnnxTestData + "/" + f + "', ";
  ASSERT_FALSE(list.empty());
  ASSERT_EQ(runPython(R"(
import sys
import numpy as np
import onnx
from onnx import numpy_helper
d = sys.argv[1]
for i, f in enumerate([)" +
                      list + R"(]):
    t = onnx.TensorProto()
    with open(f, 'rb') as fh:
        t.ParseFromString(fh.read())
    np.save(f'{d}/ref_{i}.npy', np.ascontiguousarray(numpy_helper.to_array(t)))
    with open(f'{d}/ref_{i}.txt', 'w') as fh:
        fh.write(f)
)"),
            0);
  int compared = 0;
  for (int i = 0; fs::exists(dir / ("ref_" + std::to_string(i) + ".npy"));
       ++i) {
    std::ifstream in(dir / ("ref_" + std::to_string(i) + ".txt"));
    std::string pb((std::istreambuf_iterator<char>(in)), {});
    HostTensor ours, ref;
    std::string error;
    ASSERT_TRUE(readTensorProtoFile(pb, ours, error)) << error;
    ASSERT_TRUE(readNpy(path("ref_" + std::to_string(i) + ".npy"), ref, error))
        << error;
    EXPECT_EQ(ours.dtype, ref.dtype) << pb;
    EXPECT_EQ(ours.shape, ref.shape) << pb;
    EXPECT_EQ(ours.data, ref.data) << pb;
    ++compared;
  }
  EXPECT_GE(compared, 4);
}

TEST(OnnxBackendData, EveryNodeTestFileReadsOrFailsCleanly) {
  if (!fs::is_directory(kOnnxTestData))
    GTEST_SKIP() << kOnnxTestData << " is not installed";
  int read = 0, failed = 0;
  for (const fs::directory_entry &e :
       fs::recursive_directory_iterator(kOnnxTestData)) {
    if (e.path().extension() != ".pb")
      continue;
    HostTensor t;
    std::string error;
    if (readTensorProtoFile(e.path().string(), t, error)) {
      ++read;
      EXPECT_TRUE(t.validate(error)) << error;
    } else {
      ++failed;
      EXPECT_NE(error.find(e.path().string()), std::string::npos) << error;
    }
  }
  EXPECT_GT(read, 1000);
  std::printf("read %d ONNX backend test tensors, %d rejected (strings, "
              "sequences, ...)\n",
              read, failed);
}

} // namespace

//===----------------------------------------------------------------------===//
// Weights file
//===----------------------------------------------------------------------===//

TEST_F(IoTest, WeightsFileRoundTripsAlignedConstants) {
  WeightsBlob blob;
  std::vector<float> a = {1.5f, -2.0f, 3.25f};
  int16_t seven = 7;
  uint64_t oa = blob.append(a.data(), a.size() * sizeof(float));
  uint64_t os = blob.append(&seven, 100 * sizeof(int16_t), 100);
  uint8_t one = 1;
  uint64_t ob = blob.append(&one, 1);
  EXPECT_EQ(oa, 0u);
  EXPECT_EQ(os, kWeightsAlignment);
  EXPECT_EQ(ob, 5 * kWeightsAlignment); // 64 + 200 bytes of the splat, up
  EXPECT_EQ(blob.size(), ob + 1);
  std::string err;
  ASSERT_TRUE(blob.write(path("w.weights"), err)) << err;
  EXPECT_EQ(fs::file_size(path("w.weights")), kWeightsHeaderBytes + ob + 1);

  auto m =
      MappedWeights::open(path("w.weights"), blob.size(), blob.digest(), err);
  ASSERT_TRUE(m) << err;
  ASSERT_EQ(m->size(), blob.size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m->data()) % kWeightsAlignment, 0u);
  float back[3];
  std::memcpy(back, m->data() + oa, sizeof(back));
  EXPECT_EQ(back[0], 1.5f);
  EXPECT_EQ(back[2], 3.25f);
  for (int i = 0; i < 100; ++i) {
    int16_t v;
    std::memcpy(&v, m->data() + os + 2 * i, 2);
    ASSERT_EQ(v, 7) << "at " << i;
  }
  // The gaps are zeros, so that the digest does not see stale memory.
  for (uint64_t i = 12; i < os; ++i)
    ASSERT_EQ(m->data()[i], 0) << "at " << i;
  EXPECT_EQ(m->data()[ob], 1);
  EXPECT_EQ(weightsDigest(m->data(), m->size()), blob.digest());
}

TEST_F(IoTest, WeightsFileRefusesAnotherModelsOrDamagedFile) {
  WeightsBlob blob;
  std::vector<uint8_t> bytes(1000);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = uint8_t(i * 37);
  blob.append(bytes.data(), bytes.size());
  std::string err;
  ASSERT_TRUE(blob.write(path("w.weights"), err)) << err;
  // Code compiled with other weights: size or digest differ.
  EXPECT_FALSE(MappedWeights::open(path("w.weights"), blob.size(),
                                   blob.digest() + 1, err));
  EXPECT_NE(err.find("belongs to another model or compilation"),
            std::string::npos)
      << err;
  EXPECT_FALSE(MappedWeights::open(path("w.weights"), blob.size() + 64,
                                   blob.digest(), err));
  EXPECT_NE(err.find("another model"), std::string::npos) << err;
  // Truncated payload, truncated header, not a weights file, missing.
  fs::resize_file(path("w.weights"), 500);
  EXPECT_FALSE(
      MappedWeights::open(path("w.weights"), blob.size(), blob.digest(), err));
  EXPECT_NE(err.find("is truncated: its header says 1000 bytes, it holds 436"),
            std::string::npos)
      << err;
  fs::resize_file(path("w.weights"), 10);
  EXPECT_FALSE(
      MappedWeights::open(path("w.weights"), blob.size(), blob.digest(), err));
  EXPECT_NE(err.find("no header"), std::string::npos) << err;
  writeText(path("npy.weights"), std::string(200, 'x'));
  EXPECT_FALSE(MappedWeights::open(path("npy.weights"), blob.size(),
                                   blob.digest(), err));
  EXPECT_NE(err.find("is not a sparq weights file"), std::string::npos) << err;
  EXPECT_FALSE(MappedWeights::open(path("none.weights"), 0, 0, err));
  EXPECT_NE(err.find("cannot open weights file"), std::string::npos) << err;
  EXPECT_FALSE(MappedWeights::open(dir.string(), 0, 0, err));
  EXPECT_NE(err.find("is not a regular file"), std::string::npos) << err;
}
