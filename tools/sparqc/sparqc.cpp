//===- sparqc.cpp - the sparq compiler driver -----------------------------===//
//
//   sparqc compile MODEL.onnx --target host [-o OUTDIR] [options]
//   sparqc run     MODEL.onnx [-i NAME=FILE]... [-o OUTDIR] [options]
//   sparqc report  MODEL.onnx [options]
//   sparqc generate MODEL.onnx --ids FILE [--max-new-tokens N] [options]
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "runtime/io/Npy.h"
#include "runtime/io/TensorProto.h"
#include "targets/Target.h"
#include "targets/host/DecodeSession.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace sparq;
namespace fs = std::filesystem;

namespace {

const char *kUsage =
    R"(sparqc - the sparq compiler for compressed neural networks

usage:
  sparqc compile MODEL.onnx [--target host] [-o OUTDIR] [options]
  sparqc run     MODEL.onnx [-i NAME=FILE]... [-o OUTDIR] [options]
  sparqc report  MODEL.onnx [options]
  sparqc generate MODEL.onnx --ids FILE [--max-new-tokens N] [options]
  sparqc <command> --help

common options:
  --shape NAME=DxDx..   static shape for input NAME (specializes symbolic dims)
  --dynamic NAME:AXIS<=N  keep input NAME's AXIS a run-time dimension of at
                        most N: one compiled model serves every extent up
                        to N (a sequence length, a KV cache)
  --dynamic DIM<=N      the same for every input axis of dim_param DIM
  --pass-pipeline P     run pass pipeline P on the graph IR before lowering
  --emit mlir|llvm      print the graph IR (mlir) or the lowered IR (llvm)
  --mlir-timing         print the time of each phase and pass
  --mlir-print-debuginfo  print locations (ONNX node names) with --emit
  -O0..-O3              LLVM optimization level (default -O3)

compression (run first; --pass-pipeline runs after):
  --prune G:R           prune a fraction R of each layer's weight groups by
                        magnitude; G = element, vector, kernel, filter,
                        channel or blockRxC; or --prune N:M (e.g. 2:4)
  --ternary[=T]         TTQ ternary weights, threshold T*max|w| (default
                        0.05); first and last layers stay fp32
  --int4 [group=G]      4-bit weight-only groups of G inputs (default 128)
                        for MatMul/Gemm, int8 per channel for Conv
  --int8 [group=G]      the same with 8 bits
  --awq CALIB.npz       before --int4/--int8: activation-aware scaling (AWQ)
                        of the MatMul weights, calibrated on the model's
                        inputs in CALIB.npz
  --codebook B          k-means weight sharing, 2^B values per layer
  --int8-activations    int8 activations for the matrix-vector products on
                        ternary, int4 and 4-bit codebook MatMul/Gemm
                        weights (batch 1; about 2x faster with AVX-512 VNNI)
  --pe-balance P[:R]    ESE load-balanced pruning over P PEs to ratio R
                        (default 0.9), stored as interleaved CSC
  --layers PATTERNS     apply the flags above only to these layers (comma-
                        separated ONNX node names, '*' wildcards)
  --no-detect           do not encode the sparsity and quantization the
                        weights already have (on by default)
  --no-fuse             do not fuse domain patterns into sparq ops (BEV
                        pooling: sparq-fuse-bev-pool; PatchNet's patchwise
                        correlation: sparq-fuse-correlation; on by default)
)";

const char *kRunUsage =
    R"(usage: sparqc run MODEL.onnx [-i NAME=FILE]... [-o OUTDIR] [options]

Compiles MODEL for the host CPU and runs it.
  -i NAME=FILE       input NAME from FILE (.npy, or ONNX TensorProto .pb)
  -i FILE.npz        every array of FILE.npz, by key
  -o OUTDIR          write each output as OUTDIR/<output-name>.npy
  --repeat N         run N more times after the first (for timing)
  --threads N        threads for the kernels (default: SPARQ_NUM_THREADS,
                     else 2); the outputs are the same for every N
  --timing-json F    write {"compile_ms": .., "run_ms": [..]} to F
  --print-outputs    print every output's values (default: a summary)
Shapes of the inputs given specialize the model's symbolic dimensions,
except those made run-time dimensions with --dynamic.
)";

const char *kCompileUsage =
    R"(usage: sparqc compile MODEL.onnx --target NAME [-o OUTDIR] [options]

Compiles MODEL ahead of time for a target and writes its package into
OUTDIR (without -o: compiles and checks, writing nothing). For host, the
weights file is mapped by the program that links model.o, which points
__sparq_weights at it before the first call (runtime/io/WeightsFile.h);
model.mlir has constants over 16 elements elided, as with --emit mlir.
  --emit source      cuda, arm: print the generated source (model.cu, the
                     Halide generator pipeline.cpp)
  --halide-target T  arm: the Halide target of the pipeline (default
                     arm-64-linux; "host" builds it for this machine with
                     g++, to compare); needs Halide 21 (SPARQ_HALIDE_DIR)
                     and, for aarch64, aarch64-linux-gnu-g++ (SPARQ_ARM_CXX)
)";

const char *kGenerateUsage =
    R"(usage: sparqc generate MODEL.onnx --ids FILE [--max-new-tokens N] [options]

Greedy decoding with a KV cache. MODEL is a decoder exported with past
keys/values as inputs and present keys/values as outputs (present =
Concat(past, new), as PyTorch exports LLaMA and GPT-2). It is compiled once
for the host with its caches in place: prefill and each new token run the
same code, and no cache is copied per token.
  --ids FILE           the prompt's token ids (.npy, int64, [S] or [1, S])
  -i NAME=FILE         another input of the prompt step (an image's
                       embeddings); later steps pass it with its run-time
                       axes empty
  --max-new-tokens N   tokens to generate (default 16)
  -o OUTDIR            write tokens.npy (int64 [1, S + N], prompt first) and
                       logits.npy (f32 [N, vocab], the logits each new token
                       was chosen from)
  --threads N          threads for the kernels
  --timing-json F      write {"compile_ms", "prefill_ms", "decode_ms": [..]}
The model's inputs: the token ids (input_ids, ids or tokens), optionally the
positions (position_ids, pos or positions), and the caches. Its symbolic
dimensions become run-time dimensions bounded by S + N unless --dynamic
bounds them (default: the prompt's length, plus the largest extent of an
-i input, plus N). Recipe flags (--int4, ...) apply as for compile.
)";

const char *kReportUsage =
    R"(usage: sparqc report MODEL.onnx [--json FILE] [--html FILE] [options]

Prints a per-layer table after the compression flags given: op, output and
weight shapes, sparsity pattern, storage format, density, bits per weight
(index bits included), bytes dense > stored, ratio, MACs dense > effective
and PE balance, with totals.
  --json FILE    also write the table as JSON (per-layer "ratio" fields)
  --html FILE    also write a self-contained HTML page with a picture of
                 each weight's sparsity and the per-PE load bars
)";

struct Args {
  std::string command, model, outDir, target = "host", emit, timingJson,
                                      jsonOut, htmlOut;
  std::vector<std::pair<std::string, std::string>> inputs; // name (or ""), file
  CompileOptions options;
  int repeat = 0;
  int threads = 0; // 0: the default
  std::string idsFile;
  int maxNewTokens = 16;
  bool help = false, printOutputs = false, debugInfo = false;
};

int fail(const std::string &msg) {
  std::cerr << "error: " << msg << "\n";
  return 1;
}

/// Runs the graph passes (compression included) and prints what they warned
/// of: a layer a recipe flag left alone, and why.
bool runGraph(Compiler &compiler, const CompileOptions &options) {
  bool ok = compiler.runGraphPipeline(options);
  for (const std::string &w : compiler.warnings())
    std::cerr << "warning: " << w << "\n";
  return ok;
}

bool parseShape(const std::string &text, std::vector<int64_t> &shape) {
  shape.clear();
  if (text == "scalar")
    return true;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    if (part.empty() ||
        part.find_first_not_of("0123456789") != std::string::npos ||
        part.size() > 12)
      return false;
    shape.push_back(std::stoll(part));
  }
  return !shape.empty();
}

/// Parses argv; returns an error message or "".
std::string parseArgs(int argc, char **argv, Args &a) {
  if (argc < 2)
    return "missing command (compile, run or report); see sparqc --help";
  a.command = argv[1];
  if (a.command == "--help" || a.command == "-h") {
    a.help = true;
    return "";
  }
  if (a.command != "compile" && a.command != "run" && a.command != "report" &&
      a.command != "generate")
    return "unknown command '" + a.command +
           "' (expected compile, run, report or generate)";
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *flag) -> std::optional<std::string> {
      if (i + 1 >= argc)
        return std::nullopt;
      (void)flag;
      return std::string(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") {
      a.help = true;
    } else if (arg == "-i" || arg == "--input") {
      auto v = value("-i");
      if (!v)
        return "option '" + arg + "' expects NAME=FILE";
      size_t eq = v->find('=');
      if (eq == std::string::npos)
        a.inputs.push_back({"", *v});
      else
        a.inputs.push_back({v->substr(0, eq), v->substr(eq + 1)});
    } else if (arg == "-o" || arg == "--output") {
      auto v = value("-o");
      if (!v || v->empty())
        return "option '-o' expects a directory";
      a.outDir = *v;
    } else if (arg == "--shape") {
      auto v = value("--shape");
      size_t eq = v ? v->find('=') : std::string::npos;
      std::vector<int64_t> shape;
      if (!v || eq == std::string::npos ||
          !parseShape(v->substr(eq + 1), shape))
        return "option '--shape' expects NAME=DIMxDIMx... (e.g. "
               "x=1x3x224x224), got '" +
               (v ? *v : std::string()) + "'";
      a.options.inputShapes[v->substr(0, eq)] = shape;
    } else if (arg == "--ids") {
      auto v = value("--ids");
      if (!v || v->empty())
        return "option '--ids' expects a .npy file of token ids";
      a.idsFile = *v;
    } else if (arg == "--max-new-tokens") {
      auto v = value("--max-new-tokens");
      if (!v || v->empty() ||
          v->find_first_not_of("0123456789") != std::string::npos ||
          v->size() > 6 || std::stoi(*v) < 1)
        return "option '--max-new-tokens' expects a count from 1 to 999999";
      a.maxNewTokens = std::stoi(*v);
    } else if (arg == "--dynamic") {
      auto v = value("--dynamic");
      std::string bad = "option '--dynamic' expects NAME:AXIS<=BOUND or "
                        "DIM_PARAM<=BOUND (e.g. ids:1<=128), got '" +
                        (v ? *v : std::string()) + "'";
      size_t le = v ? v->rfind("<=") : std::string::npos;
      if (le == std::string::npos || le == 0)
        return bad;
      std::string what = v->substr(0, le), boundText = v->substr(le + 2);
      if (boundText.empty() || boundText.size() > 12 ||
          boundText.find_first_not_of("0123456789") != std::string::npos ||
          std::stoll(boundText) < 1)
        return bad;
      int64_t bound = std::stoll(boundText);
      size_t colon = what.rfind(':');
      std::string axisText =
          colon == std::string::npos ? "" : what.substr(colon + 1);
      if (!axisText.empty() && axisText.size() <= 6 &&
          axisText.find_first_not_of("0123456789") == std::string::npos)
        a.options.dynamicAxes[what.substr(0, colon)][std::stoll(axisText)] =
            bound;
      else
        a.options.dynamicDimParams[what] = bound;
    } else if (arg == "--target") {
      auto v = value("--target");
      if (!v)
        return "option '--target' expects a target (built in: " +
               targetNames() + ")";
      a.target = *v;
    } else if (arg == "--halide-target") {
      auto v = value("--halide-target");
      if (!v || v->empty())
        return "option '--halide-target' expects a Halide target "
               "(arm-64-linux, host, ...)";
      a.options.halideTarget = *v;
    } else if (arg == "--emit") {
      auto v = value("--emit");
      if (!v || (*v != "mlir" && *v != "llvm" &&
                 (*v != "source" || a.command != "compile")))
        return a.command == "compile"
                   ? "option '--emit' expects mlir, llvm or source"
                   : "option '--emit' expects mlir or llvm";
      a.emit = *v;
    } else if (arg == "--pass-pipeline") {
      auto v = value("--pass-pipeline");
      if (!v)
        return "option '--pass-pipeline' expects a pipeline";
      a.options.passPipeline = *v;
    } else if (arg == "--repeat") {
      auto v = value("--repeat");
      if (!v || v->empty() ||
          v->find_first_not_of("0123456789") != std::string::npos ||
          v->size() > 7)
        return "option '--repeat' expects a count";
      a.repeat = std::stoi(*v);
    } else if (arg == "--threads") {
      auto v = value("--threads");
      if (!v || v->empty() ||
          v->find_first_not_of("0123456789") != std::string::npos ||
          v->size() > 4 || std::stoi(*v) < 1 || std::stoi(*v) > 1024)
        return "option '--threads' expects a count from 1 to 1024";
      a.threads = std::stoi(*v);
    } else if (arg == "--timing-json") {
      auto v = value("--timing-json");
      if (!v)
        return "option '--timing-json' expects a file";
      a.timingJson = *v;
    } else if (arg == "--html") {
      auto v = value("--html");
      if (!v)
        return "option '--html' expects a file";
      a.htmlOut = *v;
    } else if (arg == "--json") {
      auto v = value("--json");
      if (!v)
        return "option '--json' expects a file";
      a.jsonOut = *v;
    } else if (arg == "--prune" || arg == "--codebook" ||
               arg == "--pe-balance" || arg == "--layers") {
      // Recipe words with a value, spelled as the Python package's recipes.
      auto v = value(arg.c_str());
      std::string e = applyRecipeWord(arg.substr(2), v ? &*v : nullptr,
                                      a.options.compression);
      if (!e.empty())
        return "option '" + arg + "' " + e;
    } else if (arg == "--ternary" || arg.rfind("--ternary=", 0) == 0 ||
               arg == "--int4" || arg == "--int8" ||
               arg == "--int8-activations" || arg == "--no-detect" ||
               arg == "--no-fuse") {
      size_t eq = arg.find('=');
      std::string name = arg.substr(2, eq == std::string::npos ? eq : eq - 2);
      std::string v = eq == std::string::npos ? "" : arg.substr(eq + 1);
      std::string e = applyRecipeWord(
          name, eq == std::string::npos ? nullptr : &v, a.options.compression);
      // --int4/--int8 may be followed by group=G.
      if (e.empty() && (name == "int4" || name == "int8") && i + 1 < argc &&
          std::strncmp(argv[i + 1], "group=", 6) == 0) {
        std::string g = argv[++i] + 6;
        e = applyRecipeWord("group", &g, a.options.compression);
      }
      if (!e.empty())
        return "option '" + arg + "' " + e;
    } else if (arg == "--awq") {
      auto v = value("--awq");
      if (!v || v->empty())
        return "option '--awq' expects an .npz of calibration inputs";
      a.options.awqCalibration = *v;
    } else if (arg == "--mlir-print-debuginfo") {
      a.debugInfo = true;
    } else if (arg == "--mlir-timing") {
      a.options.timing = true;
    } else if (arg == "--print-outputs") {
      a.printOutputs = true;
    } else if (arg.size() == 3 && arg[0] == '-' && arg[1] == 'O' &&
               arg[2] >= '0' && arg[2] <= '3') {
      a.options.optLevel = arg[2] - '0';
    } else if (!arg.empty() && arg[0] == '-') {
      return "unknown option '" + arg + "' (see sparqc " + a.command +
             " --help)";
    } else if (a.model.empty()) {
      a.model = arg;
    } else {
      return "unexpected argument '" + arg + "' (one model per invocation)";
    }
  }
  if (!a.help && a.model.empty())
    return "missing model path (sparqc " + a.command + " MODEL.onnx ...)";
  return "";
}

/// Output names become file names: anything but [A-Za-z0-9_.-] becomes '_'.
std::string sanitize(const std::string &name) {
  std::string s = name;
  for (char &c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' &&
        c != '-')
      c = '_';
  if (s.empty() || s == "." || s == "..")
    s = "_" + s;
  return s;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Reads every -i into `tensors` by name.
std::string readInputs(const Args &a,
                       std::map<std::string, io::HostTensor> &tensors) {
  for (const auto &[name, file] : a.inputs) {
    std::string err;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
      return "input file '" + file + "' does not exist";
    if (endsWith(file, ".npz")) {
      std::vector<io::HostTensor> all;
      if (!io::readNpz(file, all, err))
        return err;
      for (auto &t : all) {
        std::string key = t.name;
        if (!name.empty() && all.size() == 1)
          key = name;
        tensors[key] = std::move(t);
      }
      continue;
    }
    io::HostTensor t;
    bool ok = endsWith(file, ".pb") ? io::readTensorProtoFile(file, t, err)
                                    : io::readNpy(file, t, err);
    if (!ok)
      return err;
    std::string key = name.empty() ? t.name : name;
    if (key.empty())
      return "input file '" + file + "' carries no name; write -i NAME=" + file;
    tensors[key] = std::move(t);
  }
  return "";
}

std::string summarize(const io::HostTensor &t, bool all) {
  std::ostringstream os;
  os << t.name << ": " << io::dtypeName(t.dtype) << "[" << t.shapeString()
     << "]";
  int64_t n = t.numElements(), shown = all ? n : std::min<int64_t>(n, 8);
  if (n == 0)
    return os.str();
  os << " = [";
  for (int64_t i = 0; i < shown; ++i) {
    if (i)
      os << ", ";
    switch (t.dtype) {
    case io::DType::F32:
      os << t.as<float>()[i];
      break;
    case io::DType::F64:
      os << t.as<double>()[i];
      break;
    case io::DType::I64:
      os << t.as<int64_t>()[i];
      break;
    case io::DType::I32:
      os << t.as<int32_t>()[i];
      break;
    case io::DType::Bool:
    case io::DType::U8:
      os << int(t.as<uint8_t>()[i]);
      break;
    case io::DType::I8:
      os << int(t.as<int8_t>()[i]);
      break;
    default:
      os << "?";
    }
  }
  if (shown < n)
    os << ", ... (" << n << " values)";
  os << "]";
  return os.str();
}

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

/// The imported model through the recipe, the host lowering and the JIT,
/// printing the IR --emit asks for; null on an error (compiler.error()).
std::unique_ptr<HostExecutable> lowerAndJit(Compiler &compiler, Args &a) {
  if (!runGraph(compiler, a.options))
    return nullptr;
  // The graph IR as compiled: after the compression passes.
  if (a.emit == "mlir")
    std::cout << compiler.printIR(false, a.debugInfo);
  if (!compiler.lowerForHost(a.options))
    return nullptr;
  if (a.emit == "llvm")
    std::cout << compiler.printIR(false, a.debugInfo);
  return compiler.jit(a.options);
}

int runCommand(Args &a) {
  if (a.threads)
    setNumThreads(a.threads);
  std::map<std::string, io::HostTensor> tensors;
  std::string err = readInputs(a, tensors);
  if (!err.empty())
    return fail(err);
  // Inputs given specialize the model's shapes (unless --shape says so)
  // and, when small, the values ops need at compile time.
  for (const auto &[name, t] : tensors)
    a.options.addExample(name, t);
  auto start = std::chrono::steady_clock::now();
  Compiler compiler;
  if (!compiler.importOnnx(a.model, a.options))
    return fail(compiler.error());
  for (const auto &[name, t] : tensors) {
    bool known = false;
    for (const TensorSpec &s : compiler.inputs())
      known |= s.name == name;
    if (!known) {
      std::string names;
      for (const TensorSpec &s : compiler.inputs())
        names += (names.empty() ? "" : ", ") + s.name;
      return fail("-i " + name + ": the model has no input named '" + name +
                  "' (inputs: " + (names.empty() ? "none" : names) + ")");
    }
  }
  std::vector<const io::HostTensor *> args;
  for (const TensorSpec &s : compiler.inputs()) {
    auto it = tensors.find(s.name);
    if (it == tensors.end())
      return fail("missing input '" + s.name + "' (give -i " + s.name +
                  "=FILE)");
    if (it->second.dtype != s.dtype)
      return fail("input '" + s.name + "' expects element type " +
                  io::dtypeName(s.dtype) + ", got " +
                  io::dtypeName(it->second.dtype));
    args.push_back(&it->second);
  }
  auto exe = lowerAndJit(compiler, a);
  if (!exe)
    return fail(compiler.error());
  double compileMs = msSince(start);

  std::vector<io::HostTensor> outputs;
  std::vector<double> runMs;
  for (int r = 0; r <= a.repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    if (!exe->run(args, outputs, err))
      return fail(err);
    // The first run warms caches; --repeat times the ones after it.
    if (r > 0 || a.repeat == 0)
      runMs.push_back(msSince(t0));
  }
  if (!a.outDir.empty()) {
    std::error_code ec;
    fs::create_directories(a.outDir, ec);
    if (ec)
      return fail("cannot create output directory '" + a.outDir +
                  "': " + ec.message());
    for (const io::HostTensor &t : outputs)
      if (!io::writeNpy(
              (fs::path(a.outDir) / (sanitize(t.name) + ".npy")).string(), t,
              err))
        return fail(err);
  }
  if (!a.timingJson.empty()) {
    std::ofstream f(a.timingJson);
    f << "{\"compile_ms\": " << compileMs << ", \"run_ms\": [";
    for (size_t i = 0; i < runMs.size(); ++i)
      f << (i ? ", " : "") << runMs[i];
    f << "]}\n";
    if (!f)
      return fail("cannot write '" + a.timingJson + "'");
  }
  if (a.emit.empty()) {
    for (const io::HostTensor &t : outputs)
      std::cout << summarize(t, a.printOutputs) << "\n";
    std::sort(runMs.begin(), runMs.end());
    fprintf(stderr, "compile: %.1f ms, run: %.3f ms (median of %zu)\n",
            compileMs, runMs[runMs.size() / 2], runMs.size());
  }
  return 0;
}

int compileCommand(Args &a) {
  std::string err;
  // Before the import: an unknown target fails at once.
  if (!findTarget(a.target, &err))
    return fail(err);
  Compiler compiler;
  if (!compiler.importOnnx(a.model, a.options))
    return fail(compiler.error());
  if (!runGraph(compiler, a.options))
    return fail(compiler.error());
  PackageRequest request;
  request.outDir = a.outDir;
  request.emit = a.emit;
  request.debugInfo = a.debugInfo;
  request.out = &std::cout;
  if (!buildPackage(compiler, a.target, a.options, request, err))
    return fail(err);
  return 0;
}

/// The index of the largest of `n` floats (the first, on ties).
int64_t argmax(const float *v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (v[i] > v[best])
      best = i;
  return best;
}

/// An int64 [1, n] tensor of `first`, `first` + 1, ... or of values.
io::HostTensor rowOfIds(const int64_t *values, int64_t first, int64_t n) {
  io::HostTensor t;
  t.dtype = io::DType::I64;
  t.shape = {1, n};
  t.data.resize(n * sizeof(int64_t));
  for (int64_t k = 0; k < n; ++k)
    t.as<int64_t>()[k] = values ? values[k] : first + k;
  return t;
}

int generateCommand(Args &a) {
  if (a.idsFile.empty())
    return fail("generate needs the prompt: --ids FILE");
  if (a.threads)
    setNumThreads(a.threads);
  io::HostTensor prompt;
  std::string err;
  if (!io::readNpy(a.idsFile, prompt, err))
    return fail(err);
  if (prompt.dtype != io::DType::I64 || prompt.shape.empty() ||
      prompt.shape.size() > 2 ||
      (prompt.shape.size() == 2 && prompt.shape[0] != 1) ||
      prompt.numElements() < 1)
    return fail("--ids " + a.idsFile +
                ": expected int64 token ids of shape [S] or [1, S], got " +
                io::dtypeName(prompt.dtype) + " " + prompt.shapeString());
  int64_t promptLen = prompt.numElements();
  // Other inputs (-i) feed the prompt only: an image's embeddings before
  // its tokens, say. Later steps pass them with their run-time axes empty.
  std::map<std::string, io::HostTensor> prefill;
  err = readInputs(a, prefill);
  if (!err.empty())
    return fail(err);
  int64_t prefillExtent = 0;
  for (const auto &[name, t] : prefill)
    for (int64_t d : t.shape)
      prefillExtent = std::max(prefillExtent, d);
  a.options.kvCacheInPlace = true;
  a.options.defaultRunTimeBound = promptLen + prefillExtent + a.maxNewTokens;
  auto start = std::chrono::steady_clock::now();
  Compiler compiler;
  if (!compiler.importOnnx(a.model, a.options))
    return fail(compiler.error());
  auto exe = lowerAndJit(compiler, a);
  if (!exe)
    return fail(compiler.error());
  double compileMs = msSince(start);
  if (exe->kvCaches().empty())
    return fail("'" + a.model +
                "' keeps no KV cache: generate needs past keys/values as "
                "inputs whose present outputs are Concat(past, new) along a "
                "symbolic axis");
  DecodeSession session(*exe);
  // The last token generated is not run: the caches hold one fewer.
  if (session.capacity() < promptLen + a.maxNewTokens - 1)
    return fail("the KV cache holds " + std::to_string(session.capacity()) +
                " entries; the prompt and new tokens need " +
                std::to_string(promptLen + a.maxNewTokens - 1));
  // What each step input is: token ids, positions, or given (-i).
  int tokenInput = -1, positionInput = -1;
  const auto &specs = session.stepInputs();
  std::vector<io::HostTensor> given(specs.size()), givenLater(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string &n = specs[i].name;
    auto it = prefill.find(n);
    if (it != prefill.end()) {
      given[i] = std::move(it->second);
      prefill.erase(it);
      givenLater[i] = given[i];
      for (size_t k = 0; k < specs[i].dims.size(); ++k)
        if (specs[i].dims[k] && k < givenLater[i].shape.size())
          givenLater[i].shape[k] = 0;
      givenLater[i].data.resize(givenLater[i].numBytes());
      continue;
    }
    bool ids = n == "input_ids" || n == "ids" || n == "tokens";
    bool pos = n == "position_ids" || n == "pos" || n == "positions";
    if ((!ids && !pos) || specs[i].dtype != io::DType::I64 ||
        specs[i].shape.size() != 2)
      return fail("generate cannot fill the model's input '" + n +
                  "': it knows int64 [1, S] token ids (input_ids, ids, "
                  "tokens) and positions (position_ids, pos, positions)");
    (ids ? tokenInput : positionInput) = static_cast<int>(i);
  }
  if (tokenInput < 0)
    return fail("the model has no token ids input (input_ids, ids or tokens)");
  if (!prefill.empty())
    return fail("-i " + prefill.begin()->first +
                ": the model has no such input (besides its caches)");
  if (exe->outputSpecs().empty() || exe->outputSpecs()[0].shape.size() != 3 ||
      exe->outputSpecs()[0].dtype != io::DType::F32)
    return fail("the model's first output is not f32 logits [1, S, vocab]");

  std::vector<int64_t> tokens(prompt.as<int64_t>(),
                              prompt.as<int64_t>() + promptLen);
  int64_t vocab = exe->outputSpecs()[0].shape[2];
  std::vector<float> chosenLogits;
  double prefillMs = 0;
  std::vector<double> decodeMs;
  std::vector<io::HostTensor> outputs;
  for (int t = 0; t < a.maxNewTokens; ++t) {
    // Prefill runs the prompt; each step after it the last new token.
    int64_t first = t == 0 ? 0 : promptLen + t - 1;
    int64_t count = t == 0 ? promptLen : 1;
    io::HostTensor ids = rowOfIds(&tokens[first], 0, count);
    io::HostTensor pos = rowOfIds(nullptr, first, count);
    std::vector<const io::HostTensor *> args(specs.size());
    for (size_t i = 0; i < specs.size(); ++i)
      args[i] = t == 0 ? &given[i] : &givenLater[i];
    args[tokenInput] = &ids;
    if (positionInput >= 0)
      args[positionInput] = &pos;
    auto t0 = std::chrono::steady_clock::now();
    if (!session.step(args, outputs, err))
      return fail(err);
    (t == 0 ? prefillMs : decodeMs.emplace_back()) = msSince(t0);
    // The last row: the logits may also cover an image's entries.
    const io::HostTensor &logits = outputs[0];
    const float *last =
        logits.as<float>() + (logits.numElements() / vocab - 1) * vocab;
    chosenLogits.insert(chosenLogits.end(), last, last + vocab);
    tokens.push_back(argmax(last, vocab));
  }
  std::cout << "prompt:";
  for (int64_t k = 0; k < promptLen; ++k)
    std::cout << " " << tokens[k];
  std::cout << "\ngenerated:";
  for (size_t k = promptLen; k < tokens.size(); ++k)
    std::cout << " " << tokens[k];
  std::cout << "\n";
  double decodeTotal = 0;
  for (double ms : decodeMs)
    decodeTotal += ms;
  fprintf(stderr,
          "compile: %.1f ms, prefill (%lld tokens): %.2f ms, decode: %.3f ms "
          "per token (%.1f tokens/s)\n",
          compileMs, static_cast<long long>(promptLen), prefillMs,
          decodeMs.empty() ? 0.0 : decodeTotal / decodeMs.size(),
          decodeMs.empty() ? 0.0 : 1000.0 * decodeMs.size() / decodeTotal);
  if (!a.outDir.empty()) {
    std::error_code ec;
    fs::create_directories(a.outDir, ec);
    if (ec)
      return fail("cannot create output directory '" + a.outDir +
                  "': " + ec.message());
    io::HostTensor tok = rowOfIds(tokens.data(), 0, tokens.size());
    io::HostTensor lg;
    lg.shape = {a.maxNewTokens, vocab};
    lg.data.resize(chosenLogits.size() * sizeof(float));
    std::memcpy(lg.data.data(), chosenLogits.data(), lg.data.size());
    if (!io::writeNpy((fs::path(a.outDir) / "tokens.npy").string(), tok, err) ||
        !io::writeNpy((fs::path(a.outDir) / "logits.npy").string(), lg, err))
      return fail(err);
  }
  if (!a.timingJson.empty()) {
    std::ofstream f(a.timingJson);
    f << "{\"compile_ms\": " << compileMs << ", \"prefill_ms\": " << prefillMs
      << ", \"decode_ms\": [";
    for (size_t i = 0; i < decodeMs.size(); ++i)
      f << (i ? ", " : "") << decodeMs[i];
    f << "]}\n";
    if (!f)
      return fail("cannot write '" + a.timingJson + "'");
  }
  return 0;
}

int reportCommand(Args &a) {
  Compiler compiler;
  if (!compiler.importOnnx(a.model, a.options) ||
      !runGraph(compiler, a.options) || !compiler.collectCompression())
    return fail(compiler.error());
  std::vector<FusionInfo> fusions = compiler.fusions();
  std::cout << formatLayerTable(compiler.layers(), fusions);
  auto write = [&](const std::string &path, const std::string &text) {
    std::ofstream f(path);
    f << text;
    return static_cast<bool>(f);
  };
  if (!a.jsonOut.empty() &&
      !write(a.jsonOut, formatLayerJson(compiler.layers(), fusions)))
    return fail("cannot write '" + a.jsonOut + "'");
  if (!a.htmlOut.empty() &&
      !write(a.htmlOut,
             formatLayerHtml(compiler.layers(),
                             "sparq report: " +
                                 fs::path(a.model).filename().string())))
    return fail("cannot write '" + a.htmlOut + "'");
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Args a;
  std::string err = parseArgs(argc, argv, a);
  if (!err.empty())
    return fail(err);
  if (a.help) {
    if (a.command == "run")
      std::cout << kRunUsage;
    else if (a.command == "compile") {
      std::cout << kCompileUsage << "\nTargets built in:\n";
      for (const Target &t : targets())
        std::cout << "  " << t.name << "  " << t.summary << "\n";
    } else if (a.command == "report")
      std::cout << kReportUsage;
    else if (a.command == "generate")
      std::cout << kGenerateUsage;
    else
      std::cout << kUsage;
    return 0;
  }
  std::error_code ec;
  if (!fs::is_regular_file(a.model, ec))
    return fail("cannot open model '" + a.model + "': no such file");
  if (a.command == "run")
    return runCommand(a);
  if (a.command == "compile")
    return compileCommand(a);
  if (a.command == "generate")
    return generateCommand(a);
  return reportCommand(a);
}
