//===- HostExecutable.cpp - JIT-compiled model on the host CPU ------------===//

#include "targets/host/HostExecutable.h"
#include "passes/Passes.h"
#include "runtime/formats/Simd.h"
#include "runtime/kernels/HostKernels.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <cstring>
#include <filesystem>

using namespace sparq;

int64_t TensorSpec::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

HostExecutable::~HostExecutable() = default;

namespace {
/// The CPU to build for when the SIMD level is capped below the host's (a
/// function's target-cpu attribute with empty target-features replaces the
/// host's features); null to build for the host.
const char *cappedCpu() {
  SimdLevel level = simdLevel();
  if (level == detectedSimd() || level >= SimdLevel::Avx512)
    return nullptr;
  return level == SimdLevel::Avx2 ? "x86-64-v3" : "x86-64";
}

/// LLVM's default pipeline at `optLevel` (as MLIR's makeOptimizingTransformer
/// builds it: vectorizers on), except that loops are not unrolled before the
/// vectorizers see them. Fully unrolled, a 32-iteration elementwise loop
/// whose loads and stores may alias became 128 scalar instructions the SLP
/// vectorizer cannot reorder, where the loop vectorizer would have emitted
/// two vector iterations behind a run-time alias check; and the machine
/// scheduler is quadratic in the size of such blocks (a 2 M-parameter
/// decoder took 40 s to compile, 97% of it there). Vectorized loops are
/// still interleaved.
llvm::Error optimizeModule(llvm::Module &m, int optLevel,
                           llvm::TargetMachine *tm) {
  llvm::PipelineTuningOptions tuning;
  tuning.LoopUnrolling = false;
  tuning.LoopInterleaving = true;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(tm, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::OptimizationLevel level = optLevel <= 0   ? llvm::OptimizationLevel::O0
                                  : optLevel == 1 ? llvm::OptimizationLevel::O1
                                  : optLevel == 2 ? llvm::OptimizationLevel::O2
                                                  : llvm::OptimizationLevel::O3;
  if (optLevel > 0) {
    // Each top-level loop nest becomes a function of its own, kept out of
    // line: LLVM's optimizer and code generator are superlinear in the size
    // of one function (four times the layers took seven times as long as
    // one function), linear over many small ones. Identical nests (a
    // decoder's layers differ in their weights' addresses, which come in
    // as arguments) are then merged before the optimizer sees them: a 12-layer
    // decoder's LLVM time went from 5.5 s to 2.2 s, its object from 190 KB
    // to 69 KB.
    llvm::DenseSet<llvm::Function *> before;
    for (llvm::Function &f : m)
      before.insert(&f);
    llvm::ModulePassManager extract;
    if (auto err = pb.parsePassPipeline(
            extract,
            "function(break-crit-edges,loop-simplify),loop-extract,mergefunc"))
      return err;
    extract.run(m, mam);
    for (llvm::Function &f : m)
      if (!before.contains(&f))
        f.addFnAttr(llvm::Attribute::NoInline);
  }
  llvm::ModulePassManager mpm = optLevel <= 0
                                    ? pb.buildO0DefaultPipeline(level)
                                    : pb.buildPerModuleDefaultPipeline(level);
  mpm.run(m, mam);
  return llvm::Error::success();
}
} // namespace

std::unique_ptr<HostExecutable> HostExecutable::create(
    mlir::ModuleOp llvmModule, const std::string &entry,
    std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs,
    std::vector<io::DimSymbol> symbols, int optLevel,
    std::shared_ptr<const io::WeightsBlob> weights, std::string &error) {
  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;
  mlir::DialectRegistry registry;
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  llvmModule->getContext()->appendDialectRegistry(registry);

  mlir::ExecutionEngineOptions options;
  // Under a SIMD cap (SPARQ_SIMD, limitSimd), the generated loops are built
  // for the capped CPU too, so that a whole model runs as on such a CPU.
  const char *cpu = cappedCpu();
  // The IR optimizer needs the target's cost model: without a TargetMachine
  // LLVM's vectorizers see a machine without vector registers and leave
  // every generated loop scalar (a QuantizeLinear ran a float at a time).
  auto tmBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmBuilder) {
    error =
        "cannot target the host CPU: " + llvm::toString(tmBuilder.takeError());
    return nullptr;
  }
  if (cpu) {
    tmBuilder->setCPU(cpu);
    tmBuilder->getFeatures() = llvm::SubtargetFeatures();
  }
  tmBuilder->setCodeGenOptLevel(static_cast<llvm::CodeGenOptLevel>(optLevel));
  auto targetMachine = tmBuilder->createTargetMachine();
  if (!targetMachine) {
    error = "cannot target the host CPU: " +
            llvm::toString(targetMachine.takeError());
    return nullptr;
  }
  // options.transformer is a function_ref: the function must outlive create.
  llvm::TargetMachine *tm = targetMachine->get();
  std::function<llvm::Error(llvm::Module *)> transformer =
      [&](llvm::Module *m) {
        if (cpu)
          for (llvm::Function &f : *m) {
            f.addFnAttr("target-cpu", cpu);
            f.addFnAttr("target-features", "");
          }
        return optimizeModule(*m, optLevel, tm);
      };
  options.transformer = transformer;
  options.jitCodeGenOptLevel = static_cast<llvm::CodeGenOptLevel>(optLevel);
  options.enableObjectDump = true;
  // Runtime helpers the lowering calls (memrefCopy for strided copies).
  llvm::SmallVector<llvm::StringRef, 1> libs = {SPARQ_MLIR_C_RUNNER_UTILS};
  options.sharedLibPaths = libs;
  auto engineOrErr = mlir::ExecutionEngine::create(llvmModule, options);
  if (!engineOrErr) {
    error =
        "JIT compilation failed: " + llvm::toString(engineOrErr.takeError());
    return nullptr;
  }
  std::unique_ptr<HostExecutable> exe(new HostExecutable());
  exe->engine = std::move(*engineOrErr);
  exe->engine->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap symbols;
    kernels::forEachHostKernel([&](const char *name, void *address) {
      symbols[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                 llvm::JITSymbolFlags::Exported};
    });
    return symbols;
  });
  exe->entry = entry;
  // ORC generates code on the first lookup: do it now, so that compiling
  // is done (and timed) here and every run calls the entry directly.
  auto packed = exe->engine->lookupPacked("_mlir_ciface_" + entry);
  if (!packed) {
    error =
        "could not compile the model: " + llvm::toString(packed.takeError());
    return nullptr;
  }
  exe->packedEntry = *packed;
  // Point the code at its weights before anything runs.
  auto slot = exe->engine->lookup(mlir::sparq::kWeightsSymbol);
  if (slot && !weights) {
    error = "the compiled model reads its weights from a weights blob, and "
            "none was given";
    return nullptr;
  }
  if (!slot) {
    llvm::consumeError(slot.takeError());
    if (weights) {
      error = "the compiled model has no '" +
              std::string(mlir::sparq::kWeightsSymbol) +
              "' to bind its weights to";
      return nullptr;
    }
  } else {
    *static_cast<const void **>(*slot) = weights->data();
    exe->weights = std::move(weights);
  }
  exe->inputs = std::move(inputs);
  exe->outputs = std::move(outputs);
  exe->dimSymbols = std::move(symbols);
  for (size_t k = 0; k < exe->dimSymbols.size(); ++k)
    if (exe->dimSymbols[k].computed())
      exe->computedSymbols.push_back(k);
  for (const TensorSpec &o : exe->outputs)
    exe->outputSizedAfterCall.push_back(
        io::readsComputed(o.symbolicShape(), exe->dimSymbols));
  return exe;
}

void HostExecutable::setKvCaches(std::vector<io::KvCacheSpec> specs) {
  caches = std::move(specs);
}

namespace {
/// A ranked memref descriptor laid out as the LLVM lowering expects:
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
std::vector<int64_t> makeDescriptor(void *data,
                                    const std::vector<int64_t> &shape) {
  size_t rank = shape.size();
  std::vector<int64_t> desc(3 + 2 * rank);
  desc[0] = reinterpret_cast<int64_t>(data);
  desc[1] = reinterpret_cast<int64_t>(data);
  desc[2] = 0;
  int64_t stride = 1;
  for (size_t i = rank; i-- > 0;) {
    desc[3 + i] = shape[i];
    desc[3 + rank + i] = stride;
    stride *= shape[i];
  }
  return desc;
}

/// Moves the block [0, shape) of a row-major `bounds`-shaped buffer of
/// `elem`-byte elements to its start, row-major in `shape`. Forward order
/// is safe: an element's new offset is never past its old one.
void compactPrefix(uint8_t *data, size_t elem,
                   const std::vector<int64_t> &bounds,
                   const std::vector<int64_t> &shape) {
  int64_t rank = shape.size(), total = 1;
  for (int64_t d : shape)
    total *= d;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0; i < total; ++i) {
    int64_t from = 0;
    for (int64_t a = 0; a < rank; ++a)
      from = from * bounds[a] + idx[a];
    if (from != i)
      std::memmove(data + i * elem, data + from * elem, elem);
    for (int64_t a = rank - 1; a >= 0 && ++idx[a] == shape[a]; --a)
      idx[a] = 0;
  }
}
} // namespace

bool HostExecutable::run(const std::vector<const io::HostTensor *> &args,
                         std::vector<io::HostTensor> &results,
                         std::string &error,
                         std::vector<int64_t> *symbolValuesOut) {
  if (args.size() != inputs.size()) {
    error = "expected " + std::to_string(inputs.size()) + " inputs, got " +
            std::to_string(args.size());
    return false;
  }
  // Run-time dims: bound from the inputs' shapes, which must agree with
  // each other and stay within the bounds, before any code runs.
  std::vector<int64_t> symbolValues;
  if (!dimSymbols.empty()) {
    std::vector<std::string> names;
    std::vector<io::SymbolicShape> specs;
    std::vector<std::vector<int64_t>> shapes;
    std::vector<const int64_t *> scalars;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (args[i]->dtype != inputs[i].dtype) {
        error = "input '" + inputs[i].name + "' expects " +
                io::dtypeName(inputs[i].dtype) + ", got " +
                io::dtypeName(args[i]->dtype);
        return false;
      }
      names.push_back(inputs[i].name);
      specs.push_back(inputs[i].symbolicShape());
      shapes.push_back(args[i]->shape);
      bool scalar = args[i]->dtype == io::DType::I64 && args[i]->shape.empty();
      scalars.push_back(scalar ? args[i]->as<int64_t>() : nullptr);
    }
    if (!io::bindSymbols(dimSymbols, names, specs, shapes, scalars,
                         symbolValues, error))
      return false;
    // New cache entries are written in place: they must fit.
    for (const io::KvCacheSpec &c : caches) {
      int64_t n = 0;
      if (!c.appended.evaluate(symbolValues, n) || n > c.capacity) {
        error = "the KV cache '" + inputs[c.input].name + "' holds " +
                std::to_string(c.capacity) + " entries; this call needs " +
                std::to_string(n);
        return false;
      }
    }
  }
  std::vector<std::vector<int64_t>> descs;
  descs.reserve(inputs.size() + outputs.size());
  // Inputs are never written: the importer marks them read-only for
  // bufferization, so the const_cast does not lead to writes.
  for (size_t i = 0; i < inputs.size(); ++i) {
    const io::HostTensor *t = args[i];
    if (t->dtype != inputs[i].dtype ||
        (inputs[i].dims.empty() && t->shape != inputs[i].shape)) {
      error = "input '" + inputs[i].name + "' expects " +
              io::dtypeName(inputs[i].dtype) + " of shape " +
              io::formatShape(inputs[i].shape) + ", got " +
              io::dtypeName(t->dtype) + " of shape " + t->shapeString();
      return false;
    }
    descs.push_back(
        makeDescriptor(const_cast<uint8_t *>(t->data.data()), t->shape));
  }
  // Outputs whose size the model computes are allocated at their bounds.
  const std::vector<size_t> &computed = computedSymbols;
  results.resize(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    io::HostTensor &r = results[i];
    r.name = outputs[i].name;
    r.dtype = outputs[i].dtype;
    r.shape = outputs[i].shape;
    if (!outputs[i].dims.empty() && !outputSizedAfterCall[i] &&
        !io::evaluateShape(outputs[i].symbolicShape(), symbolValues, r.shape,
                           error)) {
      error = "output '" + outputs[i].name + "': " + error;
      return false;
    }
    // One spare element so that zero-sized outputs still get a valid pointer.
    r.data.assign((r.numElements() + 1) * io::dtypeSize(r.dtype), 0);
    descs.push_back(makeDescriptor(r.data.data(), r.shape));
  }
  std::vector<int64_t> computedValues(computed.size() + 1, 0);
  if (!computed.empty())
    descs.push_back(
        makeDescriptor(computedValues.data(), {int64_t(computed.size())}));
  std::vector<void *> descPtrs(descs.size());
  std::vector<void *> packed(descs.size());
  for (size_t i = 0; i < descs.size(); ++i) {
    descPtrs[i] = descs[i].data();
    packed[i] = &descPtrs[i];
  }
  packedEntry(packed.data());
  // The computed counts give the true shapes. Such an output was written
  // in its buffer at bound shape, the valid part at the start of each axis
  // (the importer's atBounds): compact it in place.
  for (size_t j = 0; j < computed.size(); ++j)
    symbolValues[computed[j]] = computedValues[j];
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputSizedAfterCall[i])
      continue;
    std::vector<int64_t> bounds = results[i].shape;
    if (!io::evaluateShape(outputs[i].symbolicShape(), symbolValues,
                           results[i].shape, error)) {
      error = "output '" + outputs[i].name + "': " + error;
      return false;
    }
    compactPrefix(results[i].data.data(), io::dtypeSize(results[i].dtype),
                  bounds, results[i].shape);
  }
  if (symbolValuesOut)
    *symbolValuesOut = std::move(symbolValues);
  for (io::HostTensor &r : results)
    r.data.resize(r.numElements() * io::dtypeSize(r.dtype));
  return true;
}

bool HostExecutable::dumpObject(const std::string &path, std::string &error) {
  engine->dumpToObjectFile(path);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    error = "could not write the object file '" + path + "'";
    return false;
  }
  return true;
}
