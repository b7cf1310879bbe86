//===- TensorProto.h - ONNX TensorProto <-> HostTensor ----------*- C++ -*-===//
//
// Part of sparq. Plain C++17 plus the ONNX protobuf classes: the runtime
// never depends on the compiler.
//
// Converts ONNX TensorProtos (model initializers and the input_N.pb /
// output_N.pb files of the ONNX backend tests) to HostTensors and back.
// String and complex tensors are not supported.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_RUNTIME_IO_TENSORPROTO_H
#define SPARQ_RUNTIME_IO_TENSORPROTO_H

#include "runtime/io/HostTensor.h"

#include <onnx/onnx_pb.h>

#include <string>

namespace sparq::io {

/// Reads a serialized TensorProto from `path`. External data is resolved
/// relative to the directory holding `path`. Errors name `path`.
bool readTensorProtoFile(const std::string &path, HostTensor &out,
                         std::string &error);

/// Converts `proto` to a HostTensor named after it.
///
/// The data may come from raw_data, from the typed field ONNX prescribes for
/// the element type (float_data; int32_data for int32, int8, int16, uint8,
/// uint16, bool, float16 and bfloat16; int64_data; double_data; uint64_data
/// for uint32 and uint64), or from external data (data_location = EXTERNAL
/// with the keys "location", "offset" and "length"). The amount of data must
/// match the dims exactly, and typed values must fit the element type.
///
/// External data: "location" is resolved relative to `baseDir` and, after
/// resolving ".." and symlinks, must name a file inside `baseDir`; absolute
/// locations and locations escaping `baseDir` are errors. An empty `baseDir`
/// forbids external data.
///
/// External data is mapped (copy-on-write), not read: the tensor shares the
/// file's pages until it writes them.
///
/// Errors name the tensor (and the location, for external data).
bool tensorFromProto(const onnx::TensorProto &proto, const std::string &baseDir,
                     HostTensor &out, std::string &error);
/// Same, but takes `proto`'s raw_data buffer over instead of copying it
/// (`proto` is left without it): an importer holds each weight once.
bool takeTensorFromProto(onnx::TensorProto &proto, const std::string &baseDir,
                         HostTensor &out, std::string &error);

/// Fills `proto` (cleared first) with `t`'s name, type, dims and raw_data.
void tensorToProto(const HostTensor &t, onnx::TensorProto &proto);

} // namespace sparq::io

#endif // SPARQ_RUNTIME_IO_TENSORPROTO_H
