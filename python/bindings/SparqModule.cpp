//===- SparqModule.cpp - the `sparq._sparq` extension module --------------===//
//
// pybind11 bindings over the C++ Compiler API (compiler/Compiler.h): import,
// compression recipe, host lowering, JIT, run, per-layer report. The Python
// package (python/sparq) adds argument handling and nothing the compiler
// does. Inputs are read where NumPy keeps them; outputs are handed to NumPy
// without a copy; the GIL is released while a model compiles or runs.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/LayerReport.h"
#include "compiler/Recipe.h"
#include "python/bindings/TrainBindings.h"
#include "targets/Target.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace py = pybind11;
using namespace sparq;

namespace {

/// Raised as sparq.CompileError: the model could not be read or compiled.
struct CompileFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Raised as sparq.InputError: a call's inputs do not fit the model.
struct InputFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The NumPy dtype that holds each element type: bfloat16, which NumPy
/// lacks, travels as its 16-bit patterns in uint16 (the package views them
/// as torch.bfloat16).
const char *numpyName(io::DType t) {
  switch (t) {
  case io::DType::F32:
    return "float32";
  case io::DType::F64:
    return "float64";
  case io::DType::F16:
    return "float16";
  case io::DType::BF16:
    return "uint16";
  case io::DType::I8:
    return "int8";
  case io::DType::I16:
    return "int16";
  case io::DType::I32:
    return "int32";
  case io::DType::I64:
    return "int64";
  case io::DType::U8:
    return "uint8";
  case io::DType::U16:
    return "uint16";
  case io::DType::U32:
    return "uint32";
  case io::DType::U64:
    return "uint64";
  case io::DType::Bool:
    return "bool";
  }
  return "?";
}

/// A model to read: a file, or serialized bytes (with the folder its
/// external data lives in).
struct Source {
  std::string path;
  std::string_view bytes;
  std::string baseDir;
};

Source sourceOf(const py::object &model, const std::string &baseDir) {
  Source s;
  if (py::isinstance<py::bytes>(model)) {
    char *data = nullptr;
    Py_ssize_t size = 0;
    PyBytes_AsStringAndSize(model.ptr(), &data, &size);
    s.bytes = std::string_view(data, size_t(size));
  } else {
    s.path = model.cast<std::string>();
  }
  s.baseDir = baseDir;
  return s;
}

/// The element type NumPy's dtype holds, if sparq has it.
std::optional<io::DType> dtypeOf(const py::dtype &d) {
  char kind = d.kind();
  size_t size = d.itemsize();
  if (kind == 'f')
    return size == 4   ? std::optional(io::DType::F32)
           : size == 8 ? std::optional(io::DType::F64)
           : size == 2 ? std::optional(io::DType::F16)
                       : std::nullopt;
  if (kind == 'i' || kind == 'u') {
    static const io::DType s[] = {io::DType::I8, io::DType::I16, io::DType::I32,
                                  io::DType::I64};
    static const io::DType u[] = {io::DType::U8, io::DType::U16, io::DType::U32,
                                  io::DType::U64};
    int log = size == 1   ? 0
              : size == 2 ? 1
              : size == 4 ? 2
              : size == 8 ? 3
                          : -1;
    if (log < 0)
      return std::nullopt;
    return kind == 'i' ? s[log] : u[log];
  }
  if (kind == 'b' && size == 1)
    return io::DType::Bool;
  return std::nullopt;
}

/// The compile options the Python package passes as keywords. Example
/// inputs go through CompileOptions::addExample, as sparqc run's -i files
/// do, except those with run-time axes: those give their other extents
/// (an image's height and width beside a run-time batch), the run-time
/// ones coming at call time.
CompileOptions
optionsOf(const std::string &recipe,
          const std::map<std::string, std::vector<int64_t>> &shapes,
          const std::map<std::string, py::array> &examples,
          const std::map<std::string, std::map<int64_t, int64_t>> &dynamicAxes,
          const std::map<std::string, int64_t> &dimParams,
          const std::string &passPipeline, int optLevel) {
  CompileOptions o;
  std::string err = parseRecipe(recipe, o.compression);
  if (!err.empty())
    throw CompileFailure(err);
  o.inputShapes = shapes;
  o.dynamicAxes = dynamicAxes;
  o.dynamicDimParams = dimParams;
  for (const auto &[name, a] : examples) {
    if (dynamicAxes.count(name)) {
      if (!o.inputShapes.count(name))
        o.inputShapes[name].assign(a.shape(), a.shape() + a.ndim());
      continue;
    }
    std::optional<io::DType> type = dtypeOf(a.dtype());
    if (!type)
      throw InputFailure("example input '" + name + "': dtype " +
                         std::string(py::str(a.dtype())) +
                         " is not one sparq has");
    io::HostTensor t;
    t.name = name;
    t.dtype = *type;
    t.shape.assign(a.shape(), a.shape() + a.ndim());
    // Only a small example's bytes are kept (copied: the options outlive
    // this call); a large one gives its shape.
    if (CompileOptions::isFoldableExample(t.shape)) {
      py::array c = py::array::ensure(a, py::array::c_style);
      auto *p = static_cast<const uint8_t *>(c.data());
      t.data.assign(p, p + c.nbytes());
    }
    o.addExample(name, t);
  }
  // A run-time axis of a given shape stands at its bound.
  for (const auto &[name, axes] : dynamicAxes) {
    auto it = o.inputShapes.find(name);
    if (it == o.inputShapes.end())
      continue;
    for (const auto &[axis, bound] : axes)
      if (axis >= 0 && axis < static_cast<int64_t>(it->second.size()))
        it->second[axis] = bound;
  }
  o.passPipeline = passPipeline;
  o.optLevel = optLevel;
  return o;
}

bool importSource(Compiler &c, const Source &s, const CompileOptions &o) {
  return s.path.empty() ? c.importOnnxBytes(
                              llvm::StringRef(s.bytes.data(), s.bytes.size()),
                              s.baseDir, o)
                        : c.importOnnx(s.path, o);
}

/// A model compiled for the host and JIT-compiled in this process.
class Model {
public:
  std::unique_ptr<HostExecutable> exe;
  std::vector<std::string> warnings;

  /// Runs the model on C-contiguous buffers, one per input in order; the
  /// Python side has matched dtypes and made buffers contiguous.
  py::list run(const std::vector<py::buffer> &args) {
    const auto &specs = exe->inputSpecs();
    if (args.size() != specs.size())
      throw InputFailure("the model takes " + std::to_string(specs.size()) +
                         " inputs, got " + std::to_string(args.size()));
    std::vector<py::buffer_info> views;
    std::vector<io::HostTensor> inputs(args.size());
    std::vector<const io::HostTensor *> ptrs;
    for (size_t i = 0; i < args.size(); ++i) {
      views.push_back(args[i].request());
      const py::buffer_info &v = views.back();
      io::HostTensor &t = inputs[i];
      t.name = specs[i].name;
      t.dtype = specs[i].dtype;
      t.shape.assign(v.shape.begin(), v.shape.end());
      if (size_t(v.itemsize) != io::dtypeSize(t.dtype))
        throw InputFailure("input '" + t.name + "' expects " +
                           numpyName(t.dtype) + " elements, got " +
                           std::to_string(v.itemsize) + "-byte ones");
      // Row-major strides, or the bytes are not where the kernels read them.
      int64_t stride = v.itemsize;
      for (int d = int(v.ndim) - 1; d >= 0; --d) {
        if (v.shape[d] > 1 && v.strides[d] != stride)
          throw InputFailure("input '" + t.name + "' is not C-contiguous");
        stride *= v.shape[d];
      }
      t.data =
          io::TensorBytes::borrow(v.ptr, size_t(v.size * v.itemsize), nullptr);
      ptrs.push_back(&t);
    }
    std::vector<io::HostTensor> outputs;
    std::string error;
    bool ok;
    {
      py::gil_scoped_release unlocked;
      ok = exe->run(ptrs, outputs, error);
    }
    if (!ok)
      throw InputFailure(error);
    py::list result;
    for (io::HostTensor &t : outputs) {
      py::dtype dt(numpyName(t.dtype));
      if (t.data.empty()) {
        result.append(py::array(dt, t.shape));
        continue;
      }
      // NumPy takes the tensor's bytes over: the capsule frees them.
      auto *held = new io::HostTensor(std::move(t));
      py::capsule owner(
          held, [](void *p) { delete static_cast<io::HostTensor *>(p); });
      result.append(py::array(dt, held->shape, {}, held->data.data(), owner));
    }
    return result;
  }
};

py::list specsOf(const std::vector<TensorSpec> &specs) {
  py::list l;
  for (const TensorSpec &s : specs) {
    py::list runTime;
    for (size_t d = 0; d < s.dims.size(); ++d)
      if (s.dims[d])
        runTime.append(d);
    l.append(py::make_tuple(
        s.name, s.dtype == io::DType::BF16 ? "bfloat16" : numpyName(s.dtype),
        s.shape, runTime));
  }
  return l;
}

} // namespace

PYBIND11_MODULE(_sparq, m) {
  m.doc() = "sparq's compiler, bound from C++ (use the `sparq` package)";

  // sparq.Error > CompileError, and InputError (also a ValueError).
  static PyObject *error = PyErr_NewExceptionWithDoc(
      "sparq.Error", "Base of the errors sparq raises.", PyExc_Exception,
      nullptr);
  static PyObject *compileError = PyErr_NewExceptionWithDoc(
      "sparq.CompileError",
      "The model could not be read or compiled; the text is the compiler's "
      "diagnostic, naming the ONNX node.",
      error, nullptr);
  py::tuple inputBases =
      py::make_tuple(py::handle(error), py::handle(PyExc_ValueError));
  static PyObject *inputError = PyErr_NewExceptionWithDoc(
      "sparq.InputError",
      "A compiled model was called with inputs that do not fit it (count, "
      "shape, dtype).",
      inputBases.ptr(), nullptr);
  m.attr("Error") = py::handle(error);
  m.attr("CompileError") = py::handle(compileError);
  m.attr("InputError") = py::handle(inputError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const CompileFailure &e) {
      PyErr_SetString(compileError, e.what());
    } catch (const InputFailure &e) {
      PyErr_SetString(inputError, e.what());
    }
  });

  py::class_<Model>(m, "Model")
      .def("run", &Model::run, py::arg("inputs"))
      .def_property_readonly(
          "inputs", [](const Model &x) { return specsOf(x.exe->inputSpecs()); })
      .def_property_readonly(
          "outputs",
          [](const Model &x) { return specsOf(x.exe->outputSpecs()); })
      .def_readonly("warnings", &Model::warnings);

  m.def(
      "compile",
      [](const py::object &model, const std::string &baseDir,
         const std::string &recipe,
         const std::map<std::string, std::vector<int64_t>> &shapes,
         const std::map<std::string, py::array> &examples,
         const std::map<std::string, std::map<int64_t, int64_t>> &dynamicAxes,
         const std::map<std::string, int64_t> &dimParams,
         const std::string &passPipeline, int optLevel) {
        Source src = sourceOf(model, baseDir);
        CompileOptions o = optionsOf(recipe, shapes, examples, dynamicAxes,
                                     dimParams, passPipeline, optLevel);
        auto result = std::make_unique<Model>();
        std::string error;
        {
          py::gil_scoped_release unlocked;
          Compiler c;
          if (importSource(c, src, o) && c.runGraphPipeline(o) &&
              c.lowerForHost(o))
            result->exe = c.jit(o);
          if (!result->exe)
            error = c.error();
          result->warnings = c.warnings();
        }
        if (!result->exe)
          throw CompileFailure(error.empty() ? "compilation failed" : error);
        return result;
      },
      py::arg("model"), py::arg("base_dir"), py::arg("recipe"),
      py::arg("shapes"), py::arg("examples"), py::arg("dynamic_axes"),
      py::arg("dim_params"), py::arg("pass_pipeline"), py::arg("opt_level"));

  m.def(
      "report",
      [](const py::object &model, const std::string &baseDir,
         const std::string &recipe,
         const std::map<std::string, std::vector<int64_t>> &shapes,
         const std::map<std::string, py::array> &examples,
         const std::string &title) {
        Source src = sourceOf(model, baseDir);
        CompileOptions o = optionsOf(recipe, shapes, examples, {}, {}, "", 3);
        std::string json, table, html, error;
        std::vector<std::string> warnings;
        bool ok;
        {
          py::gil_scoped_release unlocked;
          Compiler c;
          ok = importSource(c, src, o) && c.runGraphPipeline(o) &&
               c.collectCompression();
          if (ok) {
            std::vector<FusionInfo> fusions = c.fusions();
            json = formatLayerJson(c.layers(), fusions);
            table = formatLayerTable(c.layers(), fusions);
            html = formatLayerHtml(c.layers(), title);
          }
          error = c.error();
          warnings = c.warnings();
        }
        if (!ok)
          throw CompileFailure(error.empty() ? "report failed" : error);
        return py::make_tuple(json, table, html, warnings);
      },
      py::arg("model"), py::arg("base_dir"), py::arg("recipe"),
      py::arg("shapes"), py::arg("examples"), py::arg("title"));

  m.def("targets", []() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Target &t : targets())
      out.emplace_back(t.name, t.summary);
    return out;
  });

  m.def(
      "build_package",
      [](const py::object &model, const std::string &baseDir,
         const std::string &target, const std::string &outDir,
         const std::string &recipe,
         const std::map<std::string, std::vector<int64_t>> &shapes,
         const std::map<std::string, py::array> &examples,
         const std::map<std::string, std::map<int64_t, int64_t>> &dynamicAxes,
         const std::map<std::string, int64_t> &dimParams,
         const std::string &passPipeline, int optLevel) {
        Source src = sourceOf(model, baseDir);
        CompileOptions o = optionsOf(recipe, shapes, examples, dynamicAxes,
                                     dimParams, passPipeline, optLevel);
        PackageRequest request;
        request.outDir = outDir;
        std::string error;
        std::vector<std::string> warnings;
        bool ok;
        {
          py::gil_scoped_release unlocked;
          Compiler c;
          ok = importSource(c, src, o) && c.runGraphPipeline(o);
          if (ok)
            ok = buildPackage(c, target, o, request, error);
          else
            error = c.error();
          warnings = c.warnings();
        }
        if (!ok)
          throw CompileFailure(error.empty() ? "build failed" : error);
        return warnings;
      },
      py::arg("model"), py::arg("base_dir"), py::arg("target"),
      py::arg("out_dir"), py::arg("recipe"), py::arg("shapes"),
      py::arg("examples"), py::arg("dynamic_axes"), py::arg("dim_params"),
      py::arg("pass_pipeline"), py::arg("opt_level"));

  m.def(
      "recipe_pipeline",
      [](const std::string &recipe) {
        CompressionRecipe r;
        std::string err = parseRecipe(recipe, r);
        if (!err.empty())
          throw CompileFailure(err);
        return recipePipeline(r);
      },
      py::arg("recipe"));
  m.def("set_num_threads", &setNumThreads, py::arg("threads"));
  m.def("num_threads", &numThreads);
  bindTraining(m);
}
