//===- WeightsFile.cpp - a compiled model's weights, beside its code ------===//

#include "runtime/io/WeightsFile.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace sparq::io;

namespace {
constexpr char kMagic[8] = {'S', 'P', 'A', 'R', 'Q', 'W', 'T', '1'};
constexpr uint64_t kVersion = 1;

struct Header {
  char magic[8];
  uint64_t version, payload, digest;
  uint8_t zeros[kWeightsHeaderBytes - 32];
};
static_assert(sizeof(Header) == kWeightsHeaderBytes, "header layout");

} // namespace

uint64_t sparq::io::weightsDigest(const uint8_t *data, uint64_t bytes) {
  // Four FNV-1a lanes over interleaved 8-byte words: one lane's multiplies
  // form a chain, four run side by side (a 900 MB payload took 0.2 s with
  // one).
  constexpr uint64_t kPrime = 0x100000001b3ull;
  uint64_t lane[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull,
                      0x9ce484222325cbf2ull, 0x2325cbf29ce48422ull};
  uint64_t words = bytes / 8, i = 0;
  for (; i + 4 <= words; i += 4)
    for (int l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, data + 8 * (i + l), 8);
      lane[l] = (lane[l] ^ w) * kPrime;
    }
  uint64_t h = lane[0];
  for (int l = 1; l < 4; ++l)
    h = (h ^ lane[l]) * kPrime;
  for (; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, data + 8 * i, 8);
    h = (h ^ w) * kPrime;
  }
  for (uint64_t b = 8 * words; b < bytes; ++b)
    h = (h ^ data[b]) * kPrime;
  return h;
}

WeightsBlob::WeightsBlob() = default;
WeightsBlob::~WeightsBlob() { std::free(buffer); }

void WeightsBlob::reserve(size_t bytes) {
  if (bytes <= capacity)
    return;
  size_t grown = alignedWeightBytes(std::max(bytes, 2 * capacity));
  auto *fresh =
      static_cast<uint8_t *>(std::aligned_alloc(kWeightsAlignment, grown));
  if (!fresh)
    throw std::bad_alloc();
  if (used)
    std::memcpy(fresh, buffer, used);
  std::free(buffer);
  buffer = fresh;
  capacity = grown;
}

uint64_t WeightsBlob::append(const void *data, size_t bytes, size_t count) {
  size_t offset = alignedWeightBytes(used);
  reserve(offset + bytes);
  std::memset(buffer + used, 0, offset - used);
  size_t unit = count ? bytes / count : 0;
  if (count <= 1)
    std::memcpy(buffer + offset, data, bytes);
  else
    for (size_t i = 0; i < count; ++i)
      std::memcpy(buffer + offset + i * unit, data, unit);
  used = offset + bytes;
  digestValid = false;
  return offset;
}

uint64_t WeightsBlob::digest() const {
  // The compiler asks three times (the code's constant, the file's header,
  // model.json): hashed once.
  if (!digestValid) {
    cachedDigest = weightsDigest(buffer, used);
    digestValid = true;
  }
  return cachedDigest;
}

bool WeightsBlob::write(const std::string &path, std::string &error) const {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kVersion;
  h.payload = used;
  h.digest = digest();
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) {
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  bool ok = std::fwrite(&h, sizeof(h), 1, f) == 1 &&
            (used == 0 || std::fwrite(buffer, used, 1, f) == 1);
  ok = std::fclose(f) == 0 && ok;
  if (!ok)
    error = "cannot write '" + path + "': " + std::strerror(errno);
  return ok;
}

MappedWeights::~MappedWeights() {
  if (base)
    munmap(base, mapped);
}

std::unique_ptr<MappedWeights> MappedWeights::open(const std::string &path,
                                                   uint64_t size,
                                                   uint64_t digest,
                                                   std::string &error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open weights file '" + path + "': " + std::strerror(errno);
    return nullptr;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    error = "weights file '" + path + "' is not a regular file";
    return nullptr;
  }
  uint64_t bytes = uint64_t(st.st_size);
  if (bytes < kWeightsHeaderBytes) {
    ::close(fd);
    error = "weights file '" + path + "' is truncated (no header)";
    return nullptr;
  }
  void *p = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    error = "cannot map weights file '" + path + "': " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<MappedWeights> m(new MappedWeights());
  m->base = static_cast<uint8_t *>(p);
  m->mapped = bytes;
  Header h;
  std::memcpy(&h, p, sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0 ||
      h.version != kVersion) {
    error = "'" + path + "' is not a sparq weights file (version 1)";
    return nullptr;
  }
  if (h.payload != bytes - kWeightsHeaderBytes) {
    error = "weights file '" + path + "' is truncated: its header says " +
            std::to_string(h.payload) + " bytes, it holds " +
            std::to_string(bytes - kWeightsHeaderBytes);
    return nullptr;
  }
  if (h.payload != size || h.digest != digest) {
    error = "weights file '" + path +
            "' belongs to another model or compilation (the code expects " +
            std::to_string(size) + " bytes with digest " +
            std::to_string(digest) + ", the file has " +
            std::to_string(h.payload) + " bytes with digest " +
            std::to_string(h.digest) + ")";
    return nullptr;
  }
  m->payload = h.payload;
  return m;
}
