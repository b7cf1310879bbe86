//===- TrainBindings.cpp - the formats library for training loops --------===//
//
// What sparq.train and sparq.dgc compute in C++: pruning masks at any
// granularity, ESE's balanced masks and PE loads, TTQ's ternary codes, and
// DGC's whole local step on a bucket and the decoding of the messages.
// Arrays are read and written where NumPy (or torch, through .numpy()) keeps
// them; the GIL is released around the long loops.
//
//===----------------------------------------------------------------------===//

#include "python/bindings/TrainBindings.h"

#include "runtime/formats/GradientMessage.h"
#include "runtime/formats/Pruning.h"
#include "runtime/formats/Quantize.h"
#include "runtime/kernels/GradientCompression.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <string>

namespace py = pybind11;
using namespace sparq;

namespace {

/// A float32 C-contiguous array, else ValueError naming the argument.
template <typename T = float>
T *elements(py::array &a, const char *name, bool writable) {
  if (!a.dtype().is(py::dtype::of<T>()) || !(a.flags() & py::array::c_style) ||
      (writable && !a.writeable()))
    throw py::value_error(
        std::string(name) + ": expects a " + (writable ? "writable " : "") +
        "C-contiguous " + std::string(py::str(py::dtype::of<T>())) +
        " array, got " + std::string(py::str(a.dtype())) +
        (a.flags() & py::array::c_style ? "" : " (not contiguous)"));
  return static_cast<T *>(a.mutable_data());
}

/// The NumPy array an argument written in place must be (a conversion would
/// write into a copy).
py::array ndarray(py::handle h, const char *name) {
  if (!py::isinstance<py::array>(h))
    throw py::value_error(std::string(name) +
                          ": expects a NumPy array (torch: tensor.numpy())");
  return py::reinterpret_borrow<py::array>(h);
}

template <typename T> py::array_t<T> arrayOf(std::vector<T> v) {
  auto *held = new std::vector<T>(std::move(v));
  py::capsule owner(held,
                    [](void *p) { delete static_cast<std::vector<T> *>(p); });
  return py::array_t<T>({py::ssize_t(held->size())}, held->data(), owner);
}

formats::PruneSpec specOf(const std::string &granularity, double ratio) {
  formats::PruneSpec spec;
  if (!formats::parseGranularity(granularity, spec))
    throw py::value_error("granularity: '" + granularity +
                          "' is not one of element, vector, kernel, filter, "
                          "channel, blockRxC, N:M");
  if (!(ratio >= 0 && ratio <= 1))
    throw py::value_error("sparsity: expects a ratio in [0, 1], got " +
                          std::to_string(ratio));
  spec.ratio = ratio;
  return spec;
}

} // namespace

void sparq::bindTraining(py::module_ &m) {
  m.def(
      "prune_mask",
      [](py::array w, const std::string &granularity, double ratio) {
        const float *p = elements(w, "weight", false);
        std::vector<int64_t> shape(w.shape(), w.shape() + w.ndim());
        if (shape.empty() || shape.size() > 4)
          throw py::value_error("weight: expects rank 1 to 4, got rank " +
                                std::to_string(shape.size()));
        formats::PruneSpec spec = specOf(granularity, ratio);
        std::vector<uint8_t> mask;
        {
          py::gil_scoped_release unlocked;
          mask = formats::pruneMask(p, formats::weightShape(shape), spec);
        }
        return arrayOf(std::move(mask)).reshape(shape);
      },
      py::arg("weight"), py::arg("granularity"), py::arg("ratio"),
      "Keep-mask (1 = keep) of sparq-prune's magnitude pruning.");

  m.def(
      "balanced_prune_mask",
      [](py::array w, int64_t pes, double ratio) {
        const float *p = elements(w, "weight", false);
        if (w.ndim() != 2)
          throw py::value_error("weight: expects a matrix [rows, cols]");
        if (pes < 1)
          throw py::value_error("pes: expects at least 1, got " +
                                std::to_string(pes));
        specOf("element", ratio);
        int64_t rows = w.shape(0), cols = w.shape(1);
        std::vector<uint8_t> mask;
        {
          py::gil_scoped_release unlocked;
          mask = formats::balancedPruneMask(p, rows, cols, pes, ratio);
        }
        return arrayOf(std::move(mask)).reshape({rows, cols});
      },
      py::arg("weight"), py::arg("pes"), py::arg("ratio"),
      "Keep-mask of ESE's load-balance-aware pruning (row i on PE i % pes).");

  m.def(
      "pe_load",
      [](py::array w, int64_t pes) {
        const float *p = elements(w, "weight", false);
        if (w.ndim() != 2 || pes < 1)
          throw py::value_error("expects a matrix and pes >= 1");
        formats::PeLoad load = formats::peLoad(p, w.shape(0), w.shape(1), pes);
        return py::make_tuple(load.nonzeros, load.efficiency());
      },
      py::arg("weight"), py::arg("pes"),
      "(non-zeros per PE, balance efficiency mean/max).");

  m.def(
      "ternary_codes",
      [](py::array w, double threshold) {
        const float *p = elements(w, "weight", false);
        std::vector<int8_t> codes(w.size());
        formats::TernaryScales s;
        {
          py::gil_scoped_release unlocked;
          s = formats::ternaryCodes(p, w.size(), threshold, codes.data());
        }
        std::vector<int64_t> shape(w.shape(), w.shape() + w.ndim());
        return py::make_tuple(arrayOf(std::move(codes)).reshape(shape), s.wp,
                              s.wn);
      },
      py::arg("weight"), py::arg("threshold"),
      "TTQ's codes (+1, 0, -1) and the mean magnitude of each side.");

  m.def(
      "dgc_compress",
      [](py::list us, py::list vs, py::list grads, std::vector<int64_t> ks,
         std::vector<int64_t> offsets, std::vector<uint64_t> seeds,
         float momentum, double sampleFraction) {
        size_t count = us.size();
        if (vs.size() != count || grads.size() != count || ks.size() != count ||
            offsets.size() != count || seeds.size() != count)
          throw py::value_error("dgc_compress: lists of different lengths");
        std::vector<py::array> held; // keeps every array alive
        std::vector<kernels::GradientPart> parts(count);
        for (size_t i = 0; i < count; ++i) {
          kernels::GradientPart &p = parts[i];
          held.push_back(ndarray(us[i], "u"));
          p.u = elements(held.back(), "u", true);
          p.n = held.back().size();
          if (!vs[i].is_none()) {
            held.push_back(ndarray(vs[i], "v"));
            p.v = elements(held.back(), "v", true);
            if (held.back().size() != p.n)
              throw py::value_error("dgc_compress: u and v differ in size");
          }
          if (!grads[i].is_none()) {
            held.push_back(py::array::ensure(grads[i]));
            if (!held.back() || held.back().size() != p.n)
              throw py::value_error("dgc_compress: grad and u differ in size");
            p.g = elements(held.back(), "grad", false);
          }
          p.k = ks[i];
          p.offset = offsets[i];
          p.seed = seeds[i];
          if (i && p.offset < parts[i - 1].offset + parts[i - 1].n)
            throw py::value_error("dgc_compress: parts overlap or are not in "
                                  "bucket order");
        }
        kernels::SelectOptions o;
        o.sampleFraction = sampleFraction;
        std::vector<uint8_t> msg;
        {
          py::gil_scoped_release unlocked;
          msg = kernels::compressGradients(parts, momentum, o);
        }
        return arrayOf(std::move(msg));
      },
      py::arg("u"), py::arg("v"), py::arg("grad"), py::arg("k"),
      py::arg("offsets"), py::arg("seeds"), py::arg("momentum"),
      py::arg("sample_fraction") = 0.01,
      "DGC's local step on a bucket's parts (v None: sent dense; grad None: "
      "v selected as it is): momentum correction, selection, masking; "
      "returns the message.");

  m.def(
      "dgc_unpack_add",
      [](py::array messages, py::object outo) {
        py::array out = ndarray(outo, "out");
        float *po = elements(out, "out", true);
        const uint8_t *pm = elements<uint8_t>(messages, "messages", false);
        if (messages.ndim() != 2)
          throw py::value_error("messages: expects [workers, bytes]");
        int64_t workers = messages.shape(0), bytes = messages.shape(1);
        for (int64_t w = 0; w < workers; ++w)
          formats::addGradientMessage(pm + w * bytes, size_t(bytes), po,
                                      out.size());
      },
      py::arg("messages"), py::arg("out"),
      "out += every worker's message (one row each, zero-padded).");
}
