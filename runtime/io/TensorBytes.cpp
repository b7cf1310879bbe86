//===- TensorBytes.cpp - A tensor's bytes, owned or shared ----------------===//

#include "runtime/io/TensorBytes.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace sparq::io {

TensorBytes::TensorBytes(const TensorBytes &other)
    : owned(other.begin(), other.end()) {}

TensorBytes::TensorBytes(TensorBytes &&other) noexcept
    : owned(std::move(other.owned)), shared(std::move(other.shared)),
      view(other.view), viewSize(other.viewSize) {
  other.view = nullptr;
  other.viewSize = 0;
}

TensorBytes &TensorBytes::operator=(const TensorBytes &other) {
  if (this != &other)
    *this = TensorBytes(other);
  return *this;
}

TensorBytes &TensorBytes::operator=(TensorBytes &&other) noexcept {
  owned = std::move(other.owned);
  shared = std::move(other.shared);
  view = other.view;
  viewSize = other.viewSize;
  other.view = nullptr;
  other.viewSize = 0;
  return *this;
}

TensorBytes &TensorBytes::operator=(std::vector<uint8_t> bytes) {
  shared.reset();
  view = nullptr;
  viewSize = 0;
  owned = std::move(bytes);
  return *this;
}

TensorBytes TensorBytes::adopt(std::string &&bytes) {
  TensorBytes t;
  auto held = std::make_shared<std::string>(std::move(bytes));
  bytes.clear();
  t.view = reinterpret_cast<uint8_t *>(held->data());
  t.viewSize = held->size();
  t.shared = std::move(held);
  return t;
}

TensorBytes TensorBytes::borrow(void *data, size_t size,
                                std::shared_ptr<void> owner) {
  TensorBytes t;
  if (!size)
    return t;
  t.view = static_cast<uint8_t *>(data);
  t.viewSize = size;
  // `shared` marks the bytes as shared, so it may not be null: without an
  // owner, one process-wide marker (no allocation per call).
  static const std::shared_ptr<void> kNoOwner = std::make_shared<char>();
  t.shared = owner ? std::move(owner) : kNoOwner;
  return t;
}

bool TensorBytes::map(const std::string &path, uint64_t offset, size_t length,
                      TensorBytes &out, std::string &error) {
  out = TensorBytes();
  if (length == 0)
    return true;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  // mmap wants a page-aligned offset: map from the page the bytes start in.
  uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t start = offset - offset % page;
  size_t span = static_cast<size_t>(offset - start) + length;
  void *base = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
                      static_cast<off_t>(start));
  int mapErrno = errno;
  ::close(fd);
  if (base == MAP_FAILED) {
    error = "cannot map " + std::to_string(length) + " bytes at offset " +
            std::to_string(offset) + " of '" + path +
            "': " + std::strerror(mapErrno);
    return false;
  }
  out.view = static_cast<uint8_t *>(base) + (offset - start);
  out.viewSize = length;
  out.shared =
      std::shared_ptr<void>(base, [span](void *p) { ::munmap(p, span); });
  return true;
}

bool TensorBytes::operator==(const TensorBytes &other) const {
  return size() == other.size() &&
         (empty() || std::memcmp(data(), other.data(), size()) == 0);
}

void TensorBytes::own() {
  if (!shared)
    return;
  std::vector<uint8_t> copy(view, view + viewSize);
  *this = std::move(copy);
}

void TensorBytes::resize(size_t n) {
  own();
  owned.resize(n);
}

void TensorBytes::assign(const uint8_t *first, const uint8_t *last) {
  *this = std::vector<uint8_t>(first, last);
}

void TensorBytes::assign(size_t n, uint8_t value) {
  *this = std::vector<uint8_t>(n, value);
}

void TensorBytes::clear() { *this = std::vector<uint8_t>(); }

} // namespace sparq::io
