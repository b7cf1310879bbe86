//===- CudaModule.cpp - the `sparq._sparq_cuda` extension module ----------===//
//
// DGC's local step for gradients in GPU memory (runtime/cuda), for
// sparq.dgc's hook when DDP runs on CUDA. Tensors arrive as device
// addresses (torch's data_ptr()) with the stream to run on. Built only
// where nvcc is found; the CUDA runtime is linked statically, so the module
// imports on a machine without a GPU and says why when called there.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/GradientCompressionCuda.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using namespace sparq;

namespace {

std::vector<kernels::GradientPart>
partsOf(const std::vector<uintptr_t> &u, const std::vector<uintptr_t> &v,
        const std::vector<uintptr_t> &g, const std::vector<int64_t> &n,
        const std::vector<int64_t> &k, const std::vector<int64_t> &offsets,
        const std::vector<uint64_t> &seeds) {
  size_t count = u.size();
  if (v.size() != count || g.size() != count || n.size() != count ||
      k.size() != count || offsets.size() != count || seeds.size() != count)
    throw py::value_error("dgc (CUDA): lists of different lengths");
  std::vector<kernels::GradientPart> parts(count);
  for (size_t i = 0; i < count; ++i) {
    parts[i].u = reinterpret_cast<float *>(u[i]);
    parts[i].v = reinterpret_cast<float *>(v[i]); // 0: sent dense
    parts[i].g = reinterpret_cast<const float *>(g[i]);
    parts[i].n = n[i];
    parts[i].k = k[i];
    parts[i].offset = offsets[i];
    parts[i].seed = seeds[i];
    if (!parts[i].u ||
        (i && parts[i].offset < parts[i - 1].offset + parts[i - 1].n))
      throw py::value_error("dgc (CUDA): parts without u, or out of order");
  }
  return parts;
}

} // namespace

PYBIND11_MODULE(_sparq_cuda, m) {
  m.doc() = "DGC's local step on CUDA gradients (use sparq.dgc)";
  py::register_exception<gpu::CudaError>(m, "CudaError", PyExc_RuntimeError);

  m.def("available", []() {
    std::string why;
    bool ok = gpu::deviceAvailable(&why);
    return py::make_tuple(ok, why);
  });
  m.def(
      "capacity",
      [](std::vector<uintptr_t> u, std::vector<uintptr_t> v,
         std::vector<int64_t> n, std::vector<int64_t> k,
         std::vector<int64_t> offsets) {
        std::vector<uintptr_t> g(u.size(), 0);
        std::vector<uint64_t> seeds(u.size(), 0);
        return gpu::messageCapacity(partsOf(u, v, g, n, k, offsets, seeds));
      },
      py::arg("u"), py::arg("v"), py::arg("n"), py::arg("k"),
      py::arg("offsets"), "The most bytes these parts' message can take.");
  m.def(
      "compress",
      [](std::vector<uintptr_t> u, std::vector<uintptr_t> v,
         std::vector<uintptr_t> g, std::vector<int64_t> n,
         std::vector<int64_t> k, std::vector<int64_t> offsets,
         std::vector<uint64_t> seeds, float momentum, double sampleFraction,
         uintptr_t message, size_t capacity, uintptr_t stream) {
        auto parts = partsOf(u, v, g, n, k, offsets, seeds);
        kernels::SelectOptions o;
        o.sampleFraction = sampleFraction;
        py::gil_scoped_release unlocked;
        return gpu::compressGradients(
            parts, momentum, o, reinterpret_cast<uint8_t *>(message), capacity,
            reinterpret_cast<void *>(stream));
      },
      py::arg("u"), py::arg("v"), py::arg("grad"), py::arg("n"), py::arg("k"),
      py::arg("offsets"), py::arg("seeds"), py::arg("momentum"),
      py::arg("sample_fraction"), py::arg("message"), py::arg("capacity"),
      py::arg("stream"),
      "kernels::compressGradients on device memory; returns the message's "
      "size in bytes.");
  m.def(
      "unpack_add",
      [](uintptr_t messages, int64_t workers, int64_t bytes, uintptr_t out,
         int64_t n, uintptr_t stream) {
        py::gil_scoped_release unlocked;
        gpu::addGradientMessages(reinterpret_cast<const uint8_t *>(messages),
                                 workers, bytes, reinterpret_cast<float *>(out),
                                 n, reinterpret_cast<void *>(stream));
      },
      py::arg("messages"), py::arg("workers"), py::arg("bytes"), py::arg("out"),
      py::arg("n"), py::arg("stream"),
      "out += every worker's message, in order (device memory).");
}
