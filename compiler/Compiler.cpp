//===- Compiler.cpp - sparq's embeddable C++ API --------------------------===//

#include "compiler/Compiler.h"
#include "compiler/Awq.h"
#include "dialects/ConstantData.h"
#include "dialects/SparqDialect.h"
#include "frontends/onnx/Importer.h"
#include "passes/Passes.h"
#include "passes/Weights.h"
#include "runtime/formats/Packed.h"
#include "runtime/io/WeightsFile.h"
#include "runtime/kernels/HostKernels.h"
#include "runtime/kernels/ThreadPool.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/raw_ostream.h"

using namespace sparq;

struct Compiler::Impl {
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;
  /// The weights moved out of the lowered module (null before lowering or
  /// with HostPipelineOptions::externalWeights off).
  std::shared_ptr<io::WeightsBlob> weights;
  /// The model importOnnx read.
  std::string modelPath;
  /// The --mlir-timing report: one timer per phase, the passes nested in
  /// theirs; null until a call with options.timing.
  std::unique_ptr<mlir::DefaultTimingManager> timing;
  mlir::TimingScope root;
  /// The blob-less resource printIR shows elided constants as.
  std::optional<mlir::DenseResourceElementsHandle> elided;

  mlir::TimingScope phase(const CompileOptions &options, llvm::StringRef name) {
    if (options.timing && !timing) {
      timing = std::make_unique<mlir::DefaultTimingManager>();
      timing->setEnabled(true);
      root = timing->getRootScope();
    }
    return timing ? root.nest(name) : mlir::TimingScope();
  }
};

namespace {
void registerEverything() {
  static bool done = [] {
    mlir::registerAllPasses();
    mlir::sparq::registerSparqPasses();
    mlir::sparq::registerHostPipeline();
    return true;
  }();
  (void)done;
}

/// A diagnostic as one line: "<message>", with the ONNX node name when the
/// message does not already carry it.
std::string formatDiagnostic(mlir::Diagnostic &diag) {
  std::string text;
  llvm::raw_string_ostream os(text);
  std::string message = diag.str();
  auto name = mlir::dyn_cast<mlir::NameLoc>(diag.getLocation());
  if (name && message.rfind("node '", 0) != 0)
    os << "node '" << name.getName().getValue() << "': ";
  os << message;
  for (mlir::Diagnostic &note : diag.getNotes())
    os << "\n  note: " << note;
  return os.str();
}
} // namespace

Compiler::Compiler() : impl(std::make_unique<Impl>()) {
  registerEverything();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::sparq::SparqDialect>();
  impl->context.appendDialectRegistry(registry);
  impl->context.loadAllAvailableDialects();
  impl->context.disableMultithreading();
  impl->handler = std::make_unique<mlir::ScopedDiagnosticHandler>(
      &impl->context, [this](mlir::Diagnostic &diag) {
        if (diag.getSeverity() == mlir::DiagnosticSeverity::Error) {
          if (!errors.empty())
            errors += "\n";
          errors += formatDiagnostic(diag);
        } else if (diag.getSeverity() == mlir::DiagnosticSeverity::Warning) {
          warningList.push_back(formatDiagnostic(diag));
        }
        return mlir::success();
      });
}

Compiler::~Compiler() {
  // The report prints when its manager goes, after every phase has ended.
  if (impl->timing) {
    impl->root.stop();
    impl->timing.reset();
  }
}

mlir::TimingScope Compiler::phase(llvm::StringRef name) {
  return impl->timing ? impl->root.nest(name) : mlir::TimingScope();
}

mlir::MLIRContext &Compiler::context() { return impl->context; }
mlir::ModuleOp Compiler::module() { return impl->module.get(); }

bool Compiler::importOnnx(const std::string &path,
                          const CompileOptions &options) {
  if (!importModel(options, path, [&](const onnx_import::ImportOptions &io) {
        return onnx_import::importOnnxFile(impl->context, path, io);
      }))
    return false;
  impl->modelPath = path;
  return true;
}

bool Compiler::importOnnxBytes(llvm::StringRef bytes,
                               const std::string &baseDir,
                               const CompileOptions &options) {
  impl->modelPath.clear();
  return importModel(
      options, "<bytes>", [&](const onnx_import::ImportOptions &io) {
        return onnx_import::importOnnxBytes(impl->context, bytes, baseDir, io);
      });
}

bool Compiler::importModel(
    const CompileOptions &options, const std::string &what,
    llvm::function_ref<mlir::FailureOr<onnx_import::ImportedModel>(
        const onnx_import::ImportOptions &)>
        import) {
  onnx_import::ImportOptions io;
  io.inputShapes = options.inputShapes;
  io.inputValues = options.inputValues;
  io.dynamicAxes = options.dynamicAxes;
  io.dynamicDimParams = options.dynamicDimParams;
  io.kvCacheInPlace = options.kvCacheInPlace;
  io.defaultRunTimeBound = options.defaultRunTimeBound;
  io.entryName = kEntryName;
  mlir::TimingScope scope = impl->phase(options, "import");
  auto imported = import(io);
  if (failed(imported)) {
    if (errors.empty())
      errors = "failed to import '" + what + "'";
    return false;
  }
  impl->module = std::move(imported->module);
  mlir::sparq::returnFreedMemory();
  inputSpecs.clear();
  outputSpecs.clear();
  for (const auto &v : imported->inputs)
    inputSpecs.push_back({v.name, v.dtype, v.shape, v.dims});
  for (const auto &v : imported->outputs)
    outputSpecs.push_back({v.name, v.dtype, v.shape, v.dims});
  dimSymbols = imported->symbols;
  kvCaches = imported->kvCaches;
  layerInfos.clear();
  for (const auto &n : imported->nodes) {
    LayerInfo l;
    l.name = n.name;
    l.opType = n.opType;
    l.inputShapes = n.inputShapes;
    l.outputShapes = n.outputShapes;
    l.parameters = n.parameters;
    l.parameterBytes = n.parameterBytes;
    l.macs = countMacs(n.opType, n.inputShapes, n.outputShapes, n.group);
    if (n.integerWeight) {
      WeightStats st;
      st.shape = n.integerWeight->shape;
      st.format = n.integerWeight->format;
      st.elements = n.integerWeight->elements;
      st.nonzeros = n.integerWeight->nonzeros;
      // Its bytes are the DequantizeLinear's parameters (the int8 codes
      // are initializers of that node): counted there, not twice.
      st.bytes = st.denseBytes = n.integerWeight->bytes;
      l.integerWeights.push_back(std::move(st));
    }
    layerInfos.push_back(std::move(l));
  }
  return true;
}

namespace {
bool runPipeline(mlir::MLIRContext &ctx, mlir::ModuleOp module,
                 const std::string &pipeline, mlir::TimingScope &timing,
                 std::string &errors) {
  mlir::PassManager pm(&ctx);
  std::string parseErrors;
  llvm::raw_string_ostream os(parseErrors);
  if (failed(mlir::parsePassPipeline(pipeline, pm, os))) {
    errors += (errors.empty() ? "" : "\n") +
              std::string("invalid pass "
                          "pipeline: ") +
              os.str();
    return false;
  }
  pm.enableTiming(timing);
  if (failed(pm.run(module))) {
    if (errors.empty())
      errors = "pass pipeline failed";
    return false;
  }
  return true;
}
} // namespace

bool Compiler::runGraphPipeline(const CompileOptions &options) {
  std::string custom = options.passPipeline;
  // Accept both "builtin.module(...)" and a bare pass list.
  if (custom.rfind("builtin.module(", 0) == 0 && custom.back() == ')')
    custom = custom.substr(15, custom.size() - 16);
  if (!options.awqCalibration.empty()) {
    if (options.compression.intBits == 0) {
      errors = "--awq scales weights for int quantization: give --int4 (or "
               "--int8) with it";
      return false;
    }
    if (impl->modelPath.empty()) {
      errors = "AWQ calibration re-reads the model: import it from a file";
      return false;
    }
    std::string err;
    mlir::TimingScope scope = impl->phase(options, "AWQ calibration");
    if (!applyAwq(*this, impl->modelPath, options, err)) {
      errors += (errors.empty() ? "" : "\n") + err;
      return false;
    }
  }
  std::string p = recipePipeline(options.compression);
  if (!custom.empty())
    p += (p.empty() ? "" : ",") + custom;
  if (p.empty())
    return true;
  mlir::TimingScope scope = impl->phase(options, "graph passes");
  return runPipeline(impl->context, module(), p, scope, errors);
}

std::string Compiler::modelPath() const { return impl->modelPath; }

std::vector<FusionInfo> Compiler::fusions() {
  std::vector<FusionInfo> out;
  // The ONNX node a fused op replaced: its location's first name.
  auto nodeName = [](mlir::Operation *op) -> std::string {
    mlir::Location loc = op->getLoc();
    if (auto fused = mlir::dyn_cast<mlir::FusedLoc>(loc))
      loc = fused.getLocations().front();
    if (auto n = mlir::dyn_cast<mlir::NameLoc>(loc))
      return n.getName().str();
    return "";
  };
  module().walk([&](mlir::sparq::BevPoolOp op) {
    FusionInfo f;
    f.op = "bev_pool";
    f.name = nodeName(op);
    f.detail = std::to_string(op.getNumPoints()) + " points in " +
               std::to_string(op.getNumIntervals()) + " of " +
               std::to_string(op.getNumCells()) + " cells, " +
               std::to_string(op.getNumChannels()) +
               " channels; no frustum tensor";
    auto bytes = [&](llvm::StringRef name) {
      auto a = op->getAttrOfType<mlir::IntegerAttr>(name);
      return a ? a.getInt() : int64_t(0);
    };
    f.unfusedBytes = bytes("sparq.unfused_bytes");
    f.fusedBytes = bytes("sparq.plan_bytes");
    out.push_back(f);
  });
  module().walk([&](mlir::sparq::CorrelationOp op) {
    FusionInfo f;
    f.op = "correlation";
    f.name = nodeName(op);
    auto pt = mlir::cast<mlir::RankedTensorType>(op.getPatches().getType());
    f.detail = std::to_string(pt.getDimSize(0)) + " patches " +
               std::to_string(pt.getDimSize(1)) + "x" +
               std::to_string(pt.getDimSize(2)) + "x" +
               std::to_string(pt.getDimSize(3)) + ", stride " +
               std::to_string(op.getStride()) + ", " +
               std::to_string(op.getMacs()) +
               " MACs; each window's energy once, no squared search";
    auto a = op->getAttrOfType<mlir::IntegerAttr>("sparq.unfused_bytes");
    f.unfusedBytes = a ? a.getInt() : 0;
    out.push_back(f);
  });
  return out;
}

bool Compiler::collectCompression() {
  for (LayerInfo &l : layerInfos)
    l.weights = l.integerWeights;
  std::map<std::string, LayerInfo *> byName;
  for (LayerInfo &l : layerInfos)
    byName[l.name] = &l;
  for (mlir::sparq::Weight &w : mlir::sparq::collectWeights(module())) {
    auto it = byName.find(w.layer);
    if (it == byName.end())
      continue;
    WeightStats st;
    st.shape = w.shape();
    int64_t rows = w.rows(), cols = w.cols();
    std::vector<float> v = w.values();
    st.elements = rows * cols;
    st.denseBytes = st.elements * 4;
    for (float x : v)
      st.nonzeros += x != 0;
    mlir::sparq::EncodingAttr enc = w.encoding();
    formats::Layout layout = mlir::sparq::toLayout(enc, w.type().getShape());
    st.format = formats::describe(layout);
    if (enc && enc.getSparsity()) {
      auto sp = enc.getSparsity();
      st.pattern = mlir::sparq::stringifySparsityPattern(sp.getPattern()).str();
      if (!sp.getGroup().empty())
        st.pattern +=
            std::to_string(sp.getGroup()[0]) +
            (sp.getPattern() == mlir::sparq::SparsityPattern::NM ? ":" : "x") +
            std::to_string(sp.getGroup()[1]);
    }
    // sparq-select-layout measured the stored bytes already (passes that
    // change a weight drop the attribute); else measure by packing.
    auto cost =
        w.cst->getAttrOfType<mlir::DictionaryAttr>(mlir::sparq::kCostAttr);
    if (auto bytes = cost ? cost.getAs<mlir::IntegerAttr>("bytes")
                          : mlir::IntegerAttr()) {
      st.bytes = bytes.getInt();
    } else {
      try {
        std::vector<uint8_t> blob = formats::pack(v.data(), rows, cols, layout);
        st.bytes = formats::PackedView(blob.data(), blob.size()).payloadBytes();
      } catch (const formats::FormatError &e) {
        errors = "layer '" + w.layer + "': " + e.what();
        return false;
      }
    }
    if (auto bal = w.cst->getAttrOfType<mlir::DictionaryAttr>(
            mlir::sparq::kBalanceAttr)) {
      auto f = [&](const char *k) {
        auto a = bal.getAs<mlir::FloatAttr>(k);
        return a ? a.getValueAsDouble() : -1.0;
      };
      auto arr = [&](const char *k) {
        auto a = bal.getAs<mlir::DenseI64ArrayAttr>(k);
        return a ? std::vector<int64_t>(a.asArrayRef().begin(),
                                        a.asArrayRef().end())
                 : std::vector<int64_t>();
      };
      st.peBefore = f("before");
      st.peAfter = f("after");
      st.peNonzeros = arr("nonzeros");
      st.peNonzerosBefore = arr("nonzeros_before");
    }
    // The picture: at most 32 x 64 cells over the matrix.
    st.gridRows = std::min<int64_t>(rows, 32);
    st.gridCols = std::min<int64_t>(cols, 64);
    std::vector<int64_t> count(st.gridRows * st.gridCols, 0);
    st.grid.assign(count.size(), 0.0f);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        int64_t cell =
            (r * st.gridRows / rows) * st.gridCols + c * st.gridCols / cols;
        ++count[cell];
        st.grid[cell] += v[r * cols + c] != 0;
      }
    for (size_t i = 0; i < count.size(); ++i)
      st.grid[i] = count[i] ? st.grid[i] / count[i] : 0.0f;
    it->second->weights.push_back(std::move(st));
  }
  return true;
}

bool Compiler::lowerForHost(const CompileOptions &options) {
  impl->weights.reset();
  {
    mlir::TimingScope scope = impl->phase(options, "host lowering");
    if (!runPipeline(impl->context, module(),
                     mlir::sparq::hostLoweringPipeline(options.host), scope,
                     errors))
      return false;
  }
  if (!options.host.externalWeights)
    return true;
  mlir::TimingScope scope = impl->phase(options, "externalize weights");
  auto blob = std::make_shared<io::WeightsBlob>();
  if (failed(mlir::sparq::externalizeWeights(module(), *blob))) {
    if (errors.empty())
      errors = "could not move the weights out of the code";
    return false;
  }
  impl->weights = std::move(blob);
  mlir::sparq::returnFreedMemory();
  return true;
}

const io::WeightsBlob *Compiler::weights() const { return impl->weights.get(); }

std::unique_ptr<HostExecutable> Compiler::jit(const CompileOptions &options) {
  std::string err;
  mlir::TimingScope scope = impl->phase(options, "LLVM code generation");
  auto exe =
      HostExecutable::create(module(), kEntryName, inputSpecs, outputSpecs,
                             dimSymbols, options.optLevel, impl->weights, err);
  if (!exe)
    errors += (errors.empty() ? "" : "\n") + err;
  else
    exe->setKvCaches(kvCaches);
  return exe;
}

std::unique_ptr<HostExecutable>
Compiler::compileForHost(const std::string &path,
                         const CompileOptions &options) {
  if (!importOnnx(path, options) || !runGraphPipeline(options) ||
      !lowerForHost(options))
    return nullptr;
  return jit(options);
}

void Compiler::appendOutputs(llvm::ArrayRef<mlir::Value> values,
                             const std::string &prefix) {
  auto func = module().lookupSymbol<mlir::func::FuncOp>(kEntryName);
  auto ret =
      llvm::cast<mlir::func::ReturnOp>(func.getBody().back().getTerminator());
  llvm::SmallVector<mlir::Value> results(ret.getOperands());
  llvm::SmallVector<mlir::DictionaryAttr> attrs;
  func.getAllResultAttrs(attrs);
  mlir::Builder b(&impl->context);
  for (mlir::Value v : values) {
    std::string name = prefix + std::to_string(outputSpecs.size());
    auto type = llvm::cast<mlir::RankedTensorType>(v.getType());
    results.push_back(v);
    attrs.push_back(b.getDictionaryAttr(
        {b.getNamedAttr("onnx.name", b.getStringAttr(name))}));
    outputSpecs.push_back(
        {name,
         io::DType::F32,
         std::vector<int64_t>(type.getShape().begin(), type.getShape().end()),
         {}});
  }
  ret->setOperands(results);
  func.setType(b.getFunctionType(func.getArgumentTypes(),
                                 mlir::ValueRange(results).getTypes()));
  func.setAllResultAttrs(attrs);
}

std::string Compiler::printIR(bool full, bool debugInfo) {
  std::string text;
  llvm::raw_string_ostream os(text);
  mlir::OpPrintingFlags flags;
  if (!full)
    flags.elideLargeElementsAttrs(16);
  if (debugInfo)
    flags.enableDebugInfo();
  // The printer hex-encodes a resource blob before it decides whether to
  // elide it (seconds and twice the bytes for a large model): elided, each
  // dense_resource constant refers to a blob-less "__elided__" while the
  // module prints, as elided dense constants print.
  std::vector<std::pair<mlir::Operation *, mlir::NamedAttribute>> swapped;
  if (!full) {
    auto &blobs =
        mlir::DenseResourceElementsHandle::getManagerInterface(&impl->context);
    if (!impl->elided)
      impl->elided = blobs.insert("__elided__");
    module()->walk([&](mlir::Operation *op) {
      for (mlir::NamedAttribute a : op->getAttrs())
        if (auto r =
                llvm::dyn_cast<mlir::DenseResourceElementsAttr>(a.getValue()))
          swapped.push_back({op, a});
    });
    for (auto &[op, a] : swapped)
      op->setAttr(a.getName(),
                  mlir::DenseResourceElementsAttr::get(
                      llvm::cast<mlir::DenseResourceElementsAttr>(a.getValue())
                          .getType(),
                      *impl->elided));
  }
  module()->print(os, flags);
  for (auto &[op, a] : swapped)
    op->setAttr(a.getName(), a.getValue());
  return os.str();
}

void sparq::setNumThreads(int threads) {
  kernels::setNumThreads(std::max(1, threads));
}

int sparq::numThreads() { return kernels::poolThreads(); }

bool CompileOptions::isFoldableExample(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return shape.size() <= 1 && n <= 64;
}

void CompileOptions::addExample(const std::string &name,
                                const io::HostTensor &t) {
  inputShapes.emplace(name, t.shape);
  if (isFoldableExample(t.shape))
    inputValues.emplace(name, t);
}
