//===- TensorBytes.h - A tensor's bytes, owned or shared --------*- C++ -*-===//
//
// Part of sparq. Plain C++17: the runtime never depends on the compiler.
//
// The bytes of a HostTensor. Usually a vector of its own; a weight read from
// a model instead keeps the memory it was read into — the parsed model's
// raw_data string, or a copy-on-write mapping of an external-data file — so
// that importing a real-size model holds each weight once, not twice.
// Copies are deep (a copy never aliases the original's bytes).
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_IO_TENSORBYTES_H
#define SPARQ_RUNTIME_IO_TENSORBYTES_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sparq::io {

class TensorBytes {
public:
  TensorBytes() = default;
  TensorBytes(std::vector<uint8_t> bytes) : owned(std::move(bytes)) {}
  TensorBytes(const TensorBytes &other);
  TensorBytes(TensorBytes &&other) noexcept;
  TensorBytes &operator=(const TensorBytes &other);
  TensorBytes &operator=(TensorBytes &&other) noexcept;
  TensorBytes &operator=(std::vector<uint8_t> bytes);

  /// Takes over `bytes`' buffer without copying it; `bytes` is left empty.
  static TensorBytes adopt(std::string &&bytes);
  /// Shares `size` bytes at `data` that `owner` keeps alive (a NumPy
  /// array's buffer, held by the Python package for as long as the tensor).
  static TensorBytes borrow(void *data, size_t size,
                            std::shared_ptr<void> owner);
  /// Maps `length` bytes at `offset` of the file `path` privately:
  /// read-only pages shared with the page cache until written, writes stay
  /// in this process. Fails (filling `error`, naming the file) where the
  /// file cannot be opened or mapped.
  static bool map(const std::string &path, uint64_t offset, size_t length,
                  TensorBytes &out, std::string &error);

  uint8_t *data() { return shared ? view : owned.data(); }
  const uint8_t *data() const { return shared ? view : owned.data(); }
  size_t size() const { return shared ? viewSize : owned.size(); }
  bool empty() const { return size() == 0; }
  uint8_t *begin() { return data(); }
  uint8_t *end() { return data() + size(); }
  const uint8_t *begin() const { return data(); }
  const uint8_t *end() const { return data() + size(); }
  uint8_t &operator[](size_t i) { return data()[i]; }
  const uint8_t &operator[](size_t i) const { return data()[i]; }
  bool operator==(const TensorBytes &other) const;
  bool operator!=(const TensorBytes &other) const { return !(*this == other); }

  /// Resizes as a vector would (new bytes are zero); shared bytes are
  /// copied into a vector of this tensor's own first.
  void resize(size_t n);
  void assign(const uint8_t *first, const uint8_t *last);
  void assign(size_t n, uint8_t value);
  void clear();
  /// True while the bytes live in memory shared with where they were read.
  bool isShared() const { return shared != nullptr; }

private:
  void own();

  std::vector<uint8_t> owned;
  /// Keeps shared bytes alive (the adopted string, the mapping).
  std::shared_ptr<void> shared;
  uint8_t *view = nullptr;
  size_t viewSize = 0;
};

} // namespace sparq::io

#endif // SPARQ_RUNTIME_IO_TENSORBYTES_H
