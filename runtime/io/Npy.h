//===- Npy.h - NumPy .npy and .npz files ------------------------*- C++ -*-===//
//
// Part of sparq. Plain C++17: the runtime never depends on the compiler.
//
// Reads and writes the NumPy array formats used by `sparqc run` for model
// inputs and outputs:
//
//   .npy  format versions 1.0, 2.0 and 3.0, C order, little-endian. Supported
//         descrs: '<f4' '<f8' '<f2' '|i1' '<i2' '<i4' '<i8' '|u1' '<u2' '<u4'
//         '<u8' '|b1' (also the '<i1', '<u1' spellings). bfloat16 has no NumPy
//         descr: it is written as '<V2', which is what NumPy stores for an
//         ml_dtypes.bfloat16 array, and '<V2'/'|V2' are read back as bf16.
//   .npz  a zip archive of .npy members (np.savez stores them,
//         np.savez_compressed deflates them); member "x.npy" is the tensor "x".
//         Zip64 archives (as written by NumPy's zipfile) are supported.
//
// Every function returns false and fills `error` with a message naming the
// file (and the array) on failure; malformed input never crashes.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_IO_NPY_H
#define SPARQ_RUNTIME_IO_NPY_H

#include "runtime/io/HostTensor.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sparq::io {

/// Reads the .npy file at `path`. The tensor's name is set to "".
bool readNpy(const std::string &path, HostTensor &out, std::string &error);

/// Parses an in-memory .npy image of `size` bytes. `what` names the source in
/// error messages (a file name, or "archive.npz (array 'x')"). The tensor's
/// name is set to "".
bool parseNpy(const uint8_t *bytes, size_t size, const std::string &what,
              HostTensor &out, std::string &error);

/// Writes `t` as a version 1.0 .npy file (version 2.0 only if the header does
/// not fit in 64 KiB) whose data starts at a 64-byte aligned offset, as NumPy
/// does.
bool writeNpy(const std::string &path, const HostTensor &t, std::string &error);

/// Serializes `t` to an in-memory .npy image.
bool serializeNpy(const HostTensor &t, std::vector<uint8_t> &bytes,
                  std::string &error);

/// Reads every member of the .npz archive at `path`, in archive order.
/// Member "x.npy" yields a tensor named "x".
bool readNpz(const std::string &path, std::vector<HostTensor> &out,
             std::string &error);

/// Parses an in-memory .npz image; `what` names it in error messages.
bool parseNpz(const uint8_t *bytes, size_t size, const std::string &what,
              std::vector<HostTensor> &out, std::string &error);

/// Writes `tensors` as an uncompressed .npz archive (like np.savez). Each
/// tensor becomes the member "<name>.npy"; an unnamed tensor i becomes
/// "arr_<i>.npy". Names must be unique.
bool writeNpz(const std::string &path, const std::vector<HostTensor> &tensors,
              std::string &error);

} // namespace sparq::io

#endif // SPARQ_RUNTIME_IO_NPY_H
