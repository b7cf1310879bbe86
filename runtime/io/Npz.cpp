//===- Npz.cpp - NumPy .npz archives --------------------------------------===//
//
// Part of sparq.
//
// An .npz file is a zip archive whose members are .npy files. np.savez stores
// them uncompressed, np.savez_compressed deflates them; NumPy's zipfile
// always writes zip64 extra fields in local headers, and very large archives
// need the zip64 end-of-central-directory records. The reader walks the
// central directory (which holds the authoritative sizes), checks every
// offset and size against the file size before using it, and verifies each
// member's CRC-32.
//
//===----------------------------------------------------------------------===//

#include "runtime/io/Npy.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <new>
#include <set>
#include <stdexcept>

namespace sparq::io {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr uint32_t kZip64EndOfCentralDirSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kLocalHeaderSize = 30;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kEndOfCentralDirSize = 22;
constexpr size_t kZip64EndOfCentralDirSize = 56;
constexpr size_t kZip64LocatorSize = 20;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kMethodStored = 0;
constexpr uint16_t kMethodDeflate = 8;
/// Deflate cannot compress better than about 1032:1; a member that claims
/// more is corrupt, and must not make us allocate its claimed size.
constexpr uint64_t kMaxDeflateRatio = 1032;

uint16_t load16(const uint8_t *p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t load32(const uint8_t *p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t load64(const uint8_t *p) {
  return static_cast<uint64_t>(load32(p)) |
         (static_cast<uint64_t>(load32(p + 4)) << 32);
}
void store16(std::vector<uint8_t> &out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void store32(std::vector<uint8_t> &out, uint32_t v) {
  store16(out, static_cast<uint16_t>(v));
  store16(out, static_cast<uint16_t>(v >> 16));
}

/// True if [offset, offset + length) lies inside a buffer of `size` bytes.
bool inBounds(uint64_t offset, uint64_t length, size_t size) {
  return offset <= size && length <= size - offset;
}

uint32_t crc32Of(const uint8_t *data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(size, UINT_MAX));
    crc = crc32(crc, data, chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

/// Inflates a raw deflate stream that must produce exactly `expected` bytes.
bool inflateRaw(const uint8_t *in, size_t inSize, uint64_t expected,
                std::vector<uint8_t> &out, std::string &error) {
  if (expected > kMaxDeflateRatio * static_cast<uint64_t>(inSize) + 64 ||
      expected >= SIZE_MAX) {
    error = "claims " + std::to_string(expected) + " uncompressed bytes from " +
            std::to_string(inSize) + " compressed ones, which is impossible";
    return false;
  }
  // One spare byte of output space detects a stream longer than claimed.
  out.resize(static_cast<size_t>(expected) + 1);
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) {
    error = "cannot initialize zlib";
    return false;
  }
  size_t inLeft = inSize, outLeft = out.size();
  stream.next_in = const_cast<Bytef *>(in);
  stream.next_out = out.data();
  int status = Z_OK;
  while (true) {
    // Feed at most UINT_MAX bytes at a time; avail_* are 32-bit.
    if (stream.avail_in == 0 && inLeft > 0) {
      stream.avail_in = static_cast<uInt>(std::min<size_t>(inLeft, UINT_MAX));
      inLeft -= stream.avail_in;
    }
    if (stream.avail_out == 0 && outLeft > 0) {
      stream.avail_out = static_cast<uInt>(std::min<size_t>(outLeft, UINT_MAX));
      outLeft -= stream.avail_out;
    }
    status = inflate(&stream, Z_NO_FLUSH);
    if (status == Z_STREAM_END)
      break;
    if (status == Z_BUF_ERROR) {
      // No progress is possible: the input ran out, or the output did.
      if (stream.avail_out == 0 && outLeft == 0)
        error = "decompresses to more than the " + std::to_string(expected) +
                " bytes recorded in the archive";
      else
        error = "compressed data is truncated";
      break;
    }
    if (status != Z_OK) {
      error = std::string("corrupt compressed data (zlib: ") +
              (stream.msg ? stream.msg : "error " + std::to_string(status)) +
              ")";
      break;
    }
  }
  uint64_t produced = stream.total_out;
  inflateEnd(&stream);
  if (status != Z_STREAM_END)
    return false;
  if (produced != expected) {
    error = "decompresses to " + std::to_string(produced) +
            " bytes, the archive records " + std::to_string(expected);
    return false;
  }
  out.resize(static_cast<size_t>(expected));
  return true;
}

/// Locates the central directory: its offset, size and number of entries.
bool findCentralDirectory(const uint8_t *bytes, size_t size, uint64_t &offset,
                          uint64_t &length, uint64_t &entries,
                          std::string &error) {
  if (size < kEndOfCentralDirSize) {
    error = "not a zip archive (too short)";
    return false;
  }
  // The end record sits at the end, followed by a comment of up to 64 KiB.
  size_t lowest = size - kEndOfCentralDirSize > 0xffff
                      ? size - kEndOfCentralDirSize - 0xffff
                      : 0;
  size_t eocd = SIZE_MAX;
  for (size_t pos = size - kEndOfCentralDirSize + 1; pos-- > lowest;) {
    if (load32(bytes + pos) == kEndOfCentralDirSig &&
        pos + kEndOfCentralDirSize + load16(bytes + pos + 20) <= size) {
      eocd = pos;
      break;
    }
  }
  if (eocd == SIZE_MAX) {
    error = "not a zip archive (no end of central directory record)";
    return false;
  }
  const uint8_t *rec = bytes + eocd;
  uint16_t disk = load16(rec + 4), cdDisk = load16(rec + 6);
  uint16_t diskEntries = load16(rec + 8);
  entries = load16(rec + 10);
  length = load32(rec + 12);
  offset = load32(rec + 16);
  if (entries == 0xffff || length == 0xffffffff || offset == 0xffffffff) {
    // Zip64: a locator just before the end record points to the zip64 end
    // record, which has the full-width values.
    if (eocd < kZip64LocatorSize ||
        load32(bytes + eocd - kZip64LocatorSize) != kZip64LocatorSig) {
      error = "zip64 archive without a zip64 end of central directory locator";
      return false;
    }
    const uint8_t *loc = bytes + eocd - kZip64LocatorSize;
    uint64_t recOffset = load64(loc + 8);
    if (load32(loc + 4) != 0 || load32(loc + 16) > 1) {
      error = "multi-disk zip archives are not supported";
      return false;
    }
    if (!inBounds(recOffset, kZip64EndOfCentralDirSize, size) ||
        load32(bytes + recOffset) != kZip64EndOfCentralDirSig) {
      error = "corrupt zip64 end of central directory record";
      return false;
    }
    const uint8_t *rec64 = bytes + recOffset;
    if (load32(rec64 + 16) != 0 || load32(rec64 + 20) != 0 ||
        load64(rec64 + 24) != load64(rec64 + 32)) {
      error = "multi-disk zip archives are not supported";
      return false;
    }
    entries = load64(rec64 + 32);
    length = load64(rec64 + 40);
    offset = load64(rec64 + 48);
  } else if (disk != 0 || cdDisk != 0 || diskEntries != entries) {
    error = "multi-disk zip archives are not supported";
    return false;
  }
  if (!inBounds(offset, length, size)) {
    error = "corrupt zip archive (central directory lies outside the file)";
    return false;
  }
  if (entries > length / kCentralHeaderSize) {
    error = "corrupt zip archive (central directory too small for " +
            std::to_string(entries) + " entries)";
    return false;
  }
  return true;
}

bool parseNpzImpl(const uint8_t *bytes, size_t size, const std::string &what,
                  std::vector<HostTensor> &out, std::string &error) {
  auto fail = [&](const std::string &message) {
    error = what + ": " + message;
    return false;
  };
  uint64_t cdOffset = 0, cdLength = 0, entries = 0;
  std::string why;
  if (!findCentralDirectory(bytes, size, cdOffset, cdLength, entries, why))
    return fail(why);

  std::vector<HostTensor> tensors;
  std::set<std::string> names;
  const uint8_t *cd = bytes + cdOffset;
  uint64_t pos = 0;
  for (uint64_t i = 0; i < entries; ++i) {
    if (!inBounds(pos, kCentralHeaderSize, cdLength) ||
        load32(cd + pos) != kCentralHeaderSig)
      return fail("corrupt central directory entry " + std::to_string(i));
    const uint8_t *entry = cd + pos;
    uint16_t flags = load16(entry + 8);
    uint16_t method = load16(entry + 10);
    uint32_t crc = load32(entry + 16);
    uint64_t compSize = load32(entry + 20);
    uint64_t uncompSize = load32(entry + 24);
    uint16_t nameLength = load16(entry + 28);
    uint16_t extraLength = load16(entry + 30);
    uint16_t commentLength = load16(entry + 32);
    uint64_t localOffset = load32(entry + 42);
    uint64_t entrySize =
        kCentralHeaderSize + uint64_t(nameLength) + extraLength + commentLength;
    if (!inBounds(pos, entrySize, cdLength))
      return fail("corrupt central directory entry " + std::to_string(i));
    std::string member(
        reinterpret_cast<const char *>(entry) + kCentralHeaderSize, nameLength);
    const uint8_t *extra = entry + kCentralHeaderSize + nameLength;
    pos += entrySize;
    std::string memberWhat = what + " (member '" + member + "')";
    auto memberFail = [&](const std::string &message) {
      error = memberWhat + ": " + message;
      return false;
    };

    // Zip64 extra field: full-width values for the fields saturated above,
    // in this order.
    if (uncompSize == 0xffffffff || compSize == 0xffffffff ||
        localOffset == 0xffffffff) {
      bool found = false;
      for (size_t e = 0; e + 4 <= extraLength;) {
        uint16_t id = load16(extra + e), fieldSize = load16(extra + e + 2);
        if (e + 4 + fieldSize > extraLength)
          break;
        if (id == kZip64ExtraId) {
          const uint8_t *field = extra + e + 4;
          size_t used = 0;
          for (uint64_t *value : {&uncompSize, &compSize, &localOffset}) {
            if (*value != 0xffffffff)
              continue;
            if (used + 8 > fieldSize)
              return memberFail("truncated zip64 extra field");
            *value = load64(field + used);
            used += 8;
          }
          found = true;
          break;
        }
        e += 4 + fieldSize;
      }
      if (!found)
        return memberFail("zip64 sizes without a zip64 extra field");
    }

    if (!member.empty() && member.back() == '/')
      continue; // A directory entry.
    if (flags & 0x1)
      return memberFail("encrypted members are not supported");
    if (method != kMethodStored && method != kMethodDeflate)
      return memberFail("compression method " + std::to_string(method) +
                        " is not supported (only stored and deflate)");
    const std::string suffix = ".npy";
    if (member.size() <= suffix.size() ||
        member.compare(member.size() - suffix.size(), suffix.size(), suffix) !=
            0)
      return memberFail("not a .npy member");
    std::string name = member.substr(0, member.size() - suffix.size());
    if (!names.insert(name).second)
      return memberFail("duplicate array '" + name + "'");

    // The local header repeats the name; its extra field may differ in size
    // from the central one, so the data offset is computed from it.
    if (!inBounds(localOffset, kLocalHeaderSize, size) ||
        load32(bytes + localOffset) != kLocalHeaderSig)
      return memberFail("corrupt local header");
    const uint8_t *local = bytes + localOffset;
    uint64_t dataOffset = localOffset + kLocalHeaderSize + load16(local + 26) +
                          load16(local + 28);
    if (load16(local + 26) != nameLength ||
        !std::equal(member.begin(), member.end(), local + kLocalHeaderSize))
      return memberFail("local header does not match the central directory");
    if (!inBounds(dataOffset, compSize, size))
      return memberFail(
          "member data is truncated: " + std::to_string(compSize) +
          " bytes recorded past the end of the file");
    const uint8_t *data = bytes + dataOffset;

    std::vector<uint8_t> inflated;
    const uint8_t *npy = data;
    size_t npySize = static_cast<size_t>(compSize);
    if (method == kMethodDeflate) {
      if (!inflateRaw(data, static_cast<size_t>(compSize), uncompSize, inflated,
                      why))
        return memberFail(why);
      npy = inflated.data();
      npySize = inflated.size();
    } else if (compSize != uncompSize) {
      return memberFail("stored member has compressed size " +
                        std::to_string(compSize) + " but uncompressed size " +
                        std::to_string(uncompSize));
    }
    if (crc32Of(npy, npySize) != crc)
      return memberFail("CRC-32 mismatch (corrupt data)");

    HostTensor tensor;
    if (!parseNpy(npy, npySize, what + " (array '" + name + "')", tensor,
                  error))
      return false;
    tensor.name = std::move(name);
    tensors.push_back(std::move(tensor));
  }
  out = std::move(tensors);
  return true;
}

} // namespace

bool parseNpz(const uint8_t *bytes, size_t size, const std::string &what,
              std::vector<HostTensor> &out, std::string &error) {
  if (!bytes && size != 0) {
    error = what + ": no data";
    return false;
  }
  try {
    return parseNpzImpl(bytes, size, what, out, error);
  } catch (const std::bad_alloc &) {
    error = what + ": out of memory";
  } catch (const std::length_error &) {
    error = what + ": out of memory";
  }
  return false;
}

bool readNpz(const std::string &path, std::vector<HostTensor> &out,
             std::string &error) {
  std::vector<uint8_t> bytes;
  if (!readFileBytes(path, bytes, error))
    return false;
  return parseNpz(bytes.data(), bytes.size(), path, out, error);
}

bool writeNpz(const std::string &path, const std::vector<HostTensor> &tensors,
              std::string &error) {
  // A plain (non-zip64) archive of stored members: enough for model inputs
  // and outputs, and readable by np.load.
  constexpr uint16_t kVersion = 20;
  constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1; // 1980-01-01
  std::vector<uint8_t> archive, central;
  std::set<std::string> names;
  try {
    for (size_t i = 0; i < tensors.size(); ++i) {
      const HostTensor &t = tensors[i];
      std::string name = t.name.empty() ? "arr_" + std::to_string(i) : t.name;
      if (!names.insert(name).second) {
        error = path + ": duplicate array name '" + name + "'";
        return false;
      }
      std::string member = name + ".npy";
      std::vector<uint8_t> npy;
      if (!serializeNpy(t, npy, error)) {
        error = path + ": " + error;
        return false;
      }
      uint64_t offset = archive.size();
      if (member.size() > 0xffff || npy.size() >= 0xffffffffu ||
          offset + kLocalHeaderSize + member.size() + npy.size() >=
              0xffffffffu) {
        error = path + ": array '" + name +
                "' makes the archive too large for a non-zip64 .npz";
        return false;
      }
      uint32_t crc = crc32Of(npy.data(), npy.size());
      auto u32 = [](uint64_t v) { return static_cast<uint32_t>(v); };
      store32(archive, kLocalHeaderSig);
      store16(archive, kVersion);
      store16(archive, 0); // flags
      store16(archive, kMethodStored);
      store16(archive, 0); // time
      store16(archive, kDosDate);
      store32(archive, crc);
      store32(archive, u32(npy.size()));
      store32(archive, u32(npy.size()));
      store16(archive, static_cast<uint16_t>(member.size()));
      store16(archive, 0); // extra length
      archive.insert(archive.end(), member.begin(), member.end());
      archive.insert(archive.end(), npy.begin(), npy.end());

      store32(central, kCentralHeaderSig);
      store16(central, kVersion); // made by
      store16(central, kVersion); // needed
      store16(central, 0);        // flags
      store16(central, kMethodStored);
      store16(central, 0); // time
      store16(central, kDosDate);
      store32(central, crc);
      store32(central, u32(npy.size()));
      store32(central, u32(npy.size()));
      store16(central, static_cast<uint16_t>(member.size()));
      store16(central, 0); // extra length
      store16(central, 0); // comment length
      store16(central, 0); // disk
      store16(central, 0); // internal attributes
      store32(central, 0); // external attributes
      store32(central, u32(offset));
      central.insert(central.end(), member.begin(), member.end());
    }
    if (tensors.size() >= 0xffff ||
        archive.size() + central.size() >= 0xffffffffu) {
      error = path + ": too many arrays for a non-zip64 .npz";
      return false;
    }
    uint32_t cdOffset = static_cast<uint32_t>(archive.size());
    uint32_t cdSize = static_cast<uint32_t>(central.size());
    archive.insert(archive.end(), central.begin(), central.end());
    store32(archive, kEndOfCentralDirSig);
    store16(archive, 0); // disk
    store16(archive, 0); // disk with the central directory
    store16(archive, static_cast<uint16_t>(tensors.size()));
    store16(archive, static_cast<uint16_t>(tensors.size()));
    store32(archive, cdSize);
    store32(archive, cdOffset);
    store16(archive, 0); // comment length
  } catch (const std::bad_alloc &) {
    error = path + ": out of memory";
    return false;
  }
  return writeFileBytes(path, archive.data(), archive.size(), error);
}

} // namespace sparq::io
